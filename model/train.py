"""Training: one LightGBM time-to-payment (discrete-time hazard) model, calibrated out of time.

Rows are invoice × bin (:func:`model.dataset.labelled_rows`): "paid within this bin, given
unpaid when it started", with the bin index as a feature, so one booster learns every bin and
the answers of :mod:`model.survival` (P(late), P(severe), P(unpaid 30/90 days | unpaid today),
pay-date quantiles, expected days late) all come from it.

Within the training rows the most recent ``valid_fraction`` (by scoring time) is held out: the
booster learns from the rows whose bin was **over** before that date (censored there too, so
nothing from the held-out period leaks into the labels), stops early on the held-out rows, and
the per-bin calibrators are fitted on the held-out rows' predictions **of that same booster**,
which is the one served: no refit, so no calibrator fitted on one model and applied to another,
and no doubled training time. Nothing is ever split at random.
"""
from __future__ import annotations

import datetime as dt
import os
import uuid
from dataclasses import asdict, dataclass, field

import lightgbm as lgb
import numpy as np
import pandas as pd

from model.bundle import ModelBundle
from model.calibrate import fit_calibrator, improves_on_identity
from model.dataset import MODEL_FEATURES, Dataset
from model.errors import ModelError
from model.survival import N_BINS

REFERENCE_ROWS = 5000
MIN_CALIBRATION_ROWS = 100
BASE_PSEUDO_ROWS = 5.0
# Domain knowledge as monotone constraints on the hazard (the chance of being paid in the bin):
# a larger share of past invoices paid late (settled, or due and missed), a larger open or
# overdue balance and an open dispute on the invoice (or a habit of disputing) can only lower
# it (raise the risk); a booster left free learnt "a larger open balance pays sooner" from the
# large accounts. Without them a booster fits noise such as
# "a disputed invoice pays sooner".
DECREASING = ("hist_share_late", "hist_share_late_amount", "overdue_count", "overdue_amount",
              "open_count", "open_amount",
              "invoice_disputed", "disputes_count", "disputes_share", "due_share_late",
              "due_share_late_recent", "due_share_severe", "due_share_severe_recent",
              "due_still_open_recent")


@dataclass(frozen=True)
class TrainConfig:
    num_boost_round: int = 1000
    early_stopping_rounds: int = 50
    learning_rate: float = 0.08
    num_leaves: int = 31
    min_data_in_leaf: int = 50
    feature_fraction: float = 0.8
    lambda_l2: float = 1.0
    valid_fraction: float = 0.2
    # Platt scaling per bin: two numbers per bin cannot memorise noise or reach 0 or 1
    calibration: str = "platt"
    seed: int = 0
    # None: RELANCE_TRAIN_THREADS if set, else one per core (os.cpu_count()). On a machine of its
    # own training scales with cores; on a shared, busy one, OpenMP threads waiting for a core
    # cost more than they give (2 threads were measured 10× slower than 1 at load 8 on 2
    # cores): set RELANCE_TRAIN_THREADS=1 there (docs/model.md, benchmarks/README.md)
    num_threads: int | None = None
    features: tuple[str, ...] = field(default_factory=lambda: tuple(MODEL_FEATURES))

    def __post_init__(self) -> None:
        if not 0 < self.valid_fraction < 0.5:
            raise ModelError(f"valid_fraction must be in (0, 0.5), got {self.valid_fraction}")
        if self.num_boost_round < 1 or self.learning_rate <= 0:
            raise ModelError(f"bad boosting settings: {self.num_boost_round} rounds, "
                             f"learning rate {self.learning_rate}")

    @property
    def threads(self) -> int:
        if self.num_threads:
            return self.num_threads
        configured = os.environ.get("RELANCE_TRAIN_THREADS", "").strip()
        if configured.isdigit() and int(configured) > 0:
            return int(configured)
        return os.cpu_count() or 1

    def params(self, n_rows: int, features: list[str]) -> dict:
        return {
            "objective": "binary",
            "monotone_constraints": [-int(name in DECREASING) for name in features],
            "monotone_constraints_method": "intermediate",
            "learning_rate": self.learning_rate, "num_leaves": self.num_leaves,
            # small ledgers (the IBM sample has ~1,500 training invoices) need smaller leaves
            "min_data_in_leaf": int(min(self.min_data_in_leaf, max(5, n_rows // 100))),
            "feature_fraction": self.feature_fraction, "bagging_fraction": 0.8,
            "bagging_freq": 1, "lambda_l2": self.lambda_l2, "seed": self.seed,
            "deterministic": True, "num_threads": self.threads, "verbose": -1,
        }


def fit_bundle(train: Dataset, *, config: TrainConfig | None = None,
               train_cutoff: pd.Timestamp | None = None) -> ModelBundle:
    """Fit the hazard booster and its per-bin calibrators on time-to-payment rows."""
    config = config or TrainConfig()
    if len(train) < 50 or train.rows["paid"].nunique() < 2:
        raise ModelError(f"{len(train)} time-to-payment rows with one outcome only or too few "
                         "to learn")
    features = list(config.features)
    fit, valid, valid_from = _time_holdout(train, config.valid_fraction)
    base = bin_base_logits(fit)
    booster = _boost(fit, valid, features, config, base)
    bundle = ModelBundle(hazard=booster, calibrators={}, features=features,
                         meta={"bin_base_logit": base.tolist()})
    from model.predict import Predictor  # predict imports bundle, not train: no cycle

    raw = Predictor(bundle).row_hazards(valid.X, calibrated=False) if len(valid) else \
        np.array([])
    calibrators = _calibrators(raw, valid.paid if len(valid) else np.array([]),
                               valid.rows["bin"].to_numpy() if len(valid) else np.array([]),
                               config.calibration)
    cutoff = train_cutoff if train_cutoff is not None else train.rows["bin_end"].max() + \
        pd.Timedelta(days=1)
    meta = {
        "bundle_id": uuid.uuid4().hex[:12],
        "trained_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "train_cutoff": str(pd.Timestamp(cutoff).date()),
        "valid_from": str(valid_from.date()),
        "n_train": int(train.rows["invoice_id"].nunique()), "n_rows": len(train),
        "n_fit": len(fit), "n_valid": len(valid),
        "base_rate": float(1 - train.paid[train.rows["bin"].to_numpy() == 0].mean()),
        "best_iterations": {"hazard": booster.best_iteration or booster.current_iteration()},
        "refit": False, "config": asdict(config), "bin_base_logit": base.tolist(),
    }
    bundle = ModelBundle(hazard=booster, calibrators=calibrators, features=features, meta=meta)
    bundle.reference = _reference_sample(bundle, valid if len(valid) else fit)
    return bundle


def feature_importance(bundle: ModelBundle) -> pd.DataFrame:
    """Total gain of each feature in the hazard booster, largest first."""
    gain = bundle.hazard.feature_importance(importance_type="gain")
    return (pd.DataFrame({"feature": bundle.features, "gain": gain})
            .sort_values("gain", ascending=False, ignore_index=True))


def _time_holdout(train: Dataset, fraction: float) -> tuple[Dataset, Dataset, pd.Timestamp]:
    """(rows whose bin was over before C, rows scored from C on, C): C leaves ``fraction`` of
    the rows after it."""
    scored = train.rows["scored_at"]
    cut = scored.sort_values().iloc[int(len(scored) * (1 - fraction))]
    fit = train.take((train.rows["bin_end"] < cut).to_numpy())
    valid = train.take((scored >= cut).to_numpy())
    if len(fit) < 50 or fit.rows["paid"].nunique() < 2:
        # a ledger issued on very few distinct days: learn from everything, calibrate on nothing
        return train, train.take(np.zeros(len(train), dtype=bool)), cut
    return fit, valid, cut


def bin_base_logits(rows: Dataset) -> np.ndarray:
    """Log-odds of the pooled hazard of each bin, the booster's starting point (init score):
    the booster then learns how each invoice differs from its bin, and a bin with few rows
    (a year past due) still starts from its own observed rate, not from the average bin.
    Shrunk towards the rate of all bins after the first with ``BASE_PSEUDO_ROWS`` rows."""
    bins, paid = rows.rows["bin"].to_numpy(int), rows.paid
    later = bins > 0
    overall = paid[later].mean() if later.any() else 0.3
    n = np.bincount(bins, minlength=N_BINS)[:N_BINS]
    events = np.bincount(bins, weights=paid, minlength=N_BINS)[:N_BINS]
    rate = (events + BASE_PSEUDO_ROWS * overall) / (n + BASE_PSEUDO_ROWS)
    rate = np.clip(rate, 0.005, 0.995)
    return np.log(rate / (1 - rate))


def _calibrators(raw: np.ndarray, y: np.ndarray, bins: np.ndarray, method: str) -> dict:
    """Per bin when it has enough held-out rows; a sparse bin keeps the booster's own hazard
    (identity). Pooling the sparse late bins into one calibrator was tried: their held-out
    rows mix bins whose rates differ by tenfold, and the pooled fit moved hazards of 0.02 to
    0.6 (a year-late invoice "paid within the month")."""
    identity = fit_calibrator(raw, y, method="identity")
    found = {}
    for k in range(N_BINS):
        inside = bins == k
        fitted = fit_calibrator(raw[inside], y[inside], method=method) \
            if inside.sum() >= MIN_CALIBRATION_ROWS else identity
        # kept only when the held-out rows show a miscalibration beyond noise (a likelihood-
        # ratio test against identity): a calibrator fitted on noise costs more out of time
        found[str(k)] = fitted if improves_on_identity(fitted, raw[inside], y[inside]) \
            else identity
    return found


def landmark_weights(rows: Dataset) -> np.ndarray:
    """1 / (bin + 1): an invoice's outcome in bin k is a row for each of the k + 1 ages it
    was scored at (issue and each bin's start up to k), so each (invoice, bin) weighs one in
    all, as it would with one row, and the long-unpaid invoices do not outweigh the rest."""
    return 1.0 / (rows.rows["bin"].to_numpy(float) + 1.0)


def _boost(fit: Dataset, valid: Dataset, features: list[str], config: TrainConfig,
           base: np.ndarray) -> lgb.Booster:
    params = config.params(len(fit), features)
    # one binned Dataset, built once; the validation set shares its bins (reference)
    data = lgb.Dataset(fit.X[features], label=fit.paid, free_raw_data=True,
                       weight=landmark_weights(fit), init_score=base[fit.rows["bin"].to_numpy(int)])
    if len(valid) == 0 or valid.rows["paid"].nunique() < 2:
        return lgb.train(params, data, num_boost_round=min(config.num_boost_round, 200))
    held = lgb.Dataset(valid.X[features], label=valid.paid, reference=data,
                       weight=landmark_weights(valid),
                       init_score=base[valid.rows["bin"].to_numpy(int)])
    return lgb.train(params, data, num_boost_round=config.num_boost_round, valid_sets=[held],
                     callbacks=[lgb.early_stopping(config.early_stopping_rounds, verbose=False)])


def _reference_sample(bundle: ModelBundle, rows: Dataset) -> pd.DataFrame:
    """Features, bin and calibrated hazard of the most recent rows: the drift reference (drift
    compares it with open invoices bin by bin, so the age mix is the same)."""
    from model.predict import Predictor  # predict imports bundle, not train: no cycle

    recent = rows.X.tail(REFERENCE_ROWS).reset_index(drop=True)
    hazard = Predictor(bundle).row_hazards(recent)
    return recent.assign(hazard=hazard)
