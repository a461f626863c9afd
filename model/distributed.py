"""Training and scoring on a Dask cluster: ``lightgbm.dask`` on rows built partition by partition.

Rows come from :func:`model.dataset.labelled_rows` (time-to-payment rows, censored at the split)
and :func:`model.dataset.issue_rows` (test invoices at issue) run on each customer partition of a
:class:`features.distributed.DaskLedger` — the same functions as the pandas path, so the same
features, labels and censoring. Training mirrors :func:`model.train.fit_bundle`:

- the held-out cut C leaves the last ``valid_fraction`` of rows by scoring time after it (found
  from a per-day histogram, never by collecting the rows); the booster learns from the rows whose
  bin was over before C, starting from each bin's base log-odds (init score);
- ``DaskLGBMClassifier`` trains for at most ``max_rounds``; ``lightgbm.dask`` has no early
  stopping, so the validation loss of every iteration is computed on the workers (partial sums
  per partition) and the booster is cut where early stopping would have stopped;
- the per-bin calibrators are fitted on the held-out rows' predictions of that same booster
  (three columns collected); no refit.

The result is a plain :class:`model.bundle.ModelBundle`: ``Predictor``, MLflow and serving use it
unchanged. Scoring is ``Predictor.predict`` on every partition (:func:`predict_dask`).
"""
from __future__ import annotations

import datetime as dt
import uuid
import warnings
from dataclasses import asdict

import dask
import dask.dataframe as dd
import lightgbm as lgb
import numpy as np
import pandas as pd

from features.distributed import DaskLedger, map_ledger
from features.labels import INTERVAL_COLUMNS
from model.bundle import ModelBundle
from model.dataset import MODEL_FEATURES, Dataset, features_at_issue, issue_rows, labelled_rows
from model.errors import ModelError
from model.predict import PREDICTION_COLUMNS, Predictor
from model.survival import N_BINS
from model.train import BASE_PSEUDO_ROWS, REFERENCE_ROWS, TrainConfig, _calibrators

MAX_ROUNDS = 1000  # lightgbm.dask cannot stop early: train this many at most, then cut
FIRST_ROUNDS = 250  # first attempt; doubled while the validation loss is still improving
WINDOW = "window"
X_COLUMNS = [*MODEL_FEATURES, "days_overdue"]
TEST_COLUMNS = ["late", "severe", "days_late", "settled_date", "true_p_late"]


# ------------------------------------------------------------------------------------ rows


def rows_meta() -> pd.DataFrame:
    dtypes = {"invoice_id": object, "customer_id": object, "issue_date": "datetime64[ns]",
              "due_date": "datetime64[ns]", "amount": float, "bin": float,
              "scored_at": "datetime64[ns]", "bin_end": "datetime64[ns]", "paid": float,
              "landmark": float, "segment": object, "late": float, "severe": float, "days_late": float,
              "settled_date": "datetime64[ns]", "true_p_late": float}
    frame = pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in dtypes.items()})
    for name in X_COLUMNS:
        frame[f"x_{name}"] = pd.Series(dtype=float)
    frame[WINDOW] = pd.Series(dtype=object)
    return frame


def _as_frame(data: Dataset, window: str) -> pd.DataFrame:
    meta = rows_meta()
    frame = pd.DataFrame(index=range(len(data)))
    for column in meta.columns:
        if column in data.rows:
            frame[column] = data.rows[column].to_numpy()
        elif column.startswith("x_"):
            frame[column] = data.X[column[2:]].to_numpy(float)
        else:
            frame[column] = pd.Series(np.nan, index=frame.index).astype(meta[column].dtype)
    frame["bin"] = data.X["bin"].to_numpy(float)
    frame[WINDOW] = window
    return frame.astype({c: meta[c].dtype for c in meta.columns if c not in ("invoice_id",
                                                                               "customer_id",
                                                                               "segment",
                                                                               WINDOW)})


def dataset_of(frame: pd.DataFrame) -> Dataset:
    """A collected (pandas) slice of :func:`split_rows_dask` as a :class:`Dataset`: training
    rows (time-to-payment) or test rows (at issue), in the pandas path's order."""
    train = frame[WINDOW].eq("train").all() if len(frame) else True
    if train:
        frame = frame.sort_values(["scored_at", "invoice_id", "bin"], kind="stable",
                                  ignore_index=True)
        rows = frame[[*INTERVAL_COLUMNS, "landmark", "segment"]].astype(
            {"bin": int, "paid": np.int8, "landmark": int})
    else:
        frame = frame.sort_values(["issue_date", "invoice_id"], kind="stable", ignore_index=True)
        rows = frame[["invoice_id", "customer_id", "issue_date", "due_date", "amount", "segment",
                      *TEST_COLUMNS]].astype({"late": int})
    X = frame[[f"x_{name}" for name in X_COLUMNS]].set_axis(X_COLUMNS, axis=1)
    return Dataset(X=X.astype(float), rows=rows)


def split_rows_dask(ledger: DaskLedger, *, split_date: pd.Timestamp | str) -> dd.DataFrame:
    """Training (``window == "train"``: time-to-payment rows censored at D) and test (``"test"``:
    invoices issued from D, at issue) rows of a backtest at ``split_date``, partition by
    partition (features at issue computed once per partition)."""
    split = pd.Timestamp(split_date)

    def rows(frames) -> pd.DataFrame:
        features = features_at_issue(frames)
        parts = [_as_frame(labelled_rows(frames, cutoff=split, issued_before=split,
                                         features=features), "train")]
        test = issue_rows(frames, issued_from=split, features=features)
        if len(test):
            parts.append(_as_frame(test, "test"))
        return pd.concat(parts, ignore_index=True)

    return map_ledger(ledger, rows, meta=rows_meta())


def recent_split_date_dask(ledger: DaskLedger, *, fraction: float = 0.2) -> pd.Timestamp:
    """:func:`model.dataset.recent_split_date` from a per-day histogram (nothing collected)."""
    if not 0 < fraction < 1:
        raise ModelError(f"fraction must be in (0, 1), got {fraction}")
    invoices = ledger.tables["invoices"]
    if "kind" in invoices.columns:
        invoices = invoices[invoices["kind"].fillna("invoice") == "invoice"]
    issued = invoices[invoices["due_date"] < ledger.as_of]["issue_date"]
    days = issued.value_counts().compute().sort_index()
    if days.sum() < 20:
        raise ModelError(f"only {days.sum()} invoices are due by {ledger.as_of.date()}: "
                         "too few to train")
    return pd.Timestamp(_nth_day(days, int(days.sum() * (1 - fraction)))).normalize()


def _nth_day(days: pd.Series, n: int) -> pd.Timestamp:
    """The value at position ``n`` of the sorted values whose histogram is ``days``."""
    cumulative = days.cumsum().to_numpy()
    return days.index[int(np.searchsorted(cumulative, n, side="right"))]


# -------------------------------------------------------------------------------- training


def fit_bundle_dask(train: dd.DataFrame, *, config: TrainConfig | None = None,
                    train_cutoff: pd.Timestamp | None = None,
                    max_rounds: int = MAX_ROUNDS) -> ModelBundle:
    """:func:`model.train.fit_bundle` on the cluster: ``train`` is the training window's rows.

    Needs a ``distributed.Client`` as the current client (``lightgbm.dask`` uses it).
    """
    config = config or TrainConfig()
    train = train.persist()
    days = train["scored_at"].value_counts().compute().sort_index()
    n = int(days.sum())
    paid_rate = float(train["paid"].mean().compute()) if n else 0.0
    if n < 50 or not 0 < paid_rate < 1:
        raise ModelError(f"{n} time-to-payment rows with one outcome only or too few to learn")
    cut = _nth_day(days, int(n * (1 - config.valid_fraction)))
    fit, valid = train[train["bin_end"] < cut], train[train["scored_at"] >= cut]
    counts = fit.groupby("bin")["paid"].agg(["count", "sum"]).compute()
    base = _base_logits(counts)
    booster, best = _train_until_stopped(fit, valid, base, config, max_rounds, n)
    collected = _collect_predictions(booster, valid, base)
    calibrators = _calibrators(collected["p"].to_numpy(float), collected["y"].to_numpy(int),
                               collected["bin"].to_numpy(int), config.calibration)
    n_fit = int(len(fit))
    at_issue = counts.loc[0] if 0 in counts.index else None
    meta = {
        "bundle_id": uuid.uuid4().hex[:12],
        "trained_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "train_cutoff": str(pd.Timestamp(train_cutoff or days.index.max()).date()),
        "valid_from": str(pd.Timestamp(cut).date()),
        "n_train": int(train["invoice_id"].nunique().compute()), "n_rows": n,
        "n_fit": n_fit, "n_valid": int(len(collected)),
        "base_rate": float(1 - at_issue["sum"] / at_issue["count"]) if at_issue is not None
        else None,
        "best_iterations": {"hazard": best}, "refit": False, "config": asdict(config),
        "bin_base_logit": base.tolist(), "engine": "dask", "max_rounds": max_rounds,
    }
    bundle = ModelBundle(hazard=booster, calibrators=calibrators, features=list(MODEL_FEATURES),
                         meta=meta)
    bundle.reference = _reference_sample(bundle, train, days)
    return bundle


def _base_logits(counts: pd.DataFrame) -> np.ndarray:
    """:func:`model.train.bin_base_logits` from per-bin counts and events."""
    counts = counts.reindex(range(N_BINS), fill_value=0)
    later = counts.index > 0
    overall = counts["sum"][later].sum() / max(counts["count"][later].sum(), 1) \
        if counts["count"][later].sum() else 0.3
    rate = (counts["sum"].to_numpy(float) + BASE_PSEUDO_ROWS * overall) / (
        counts["count"].to_numpy(float) + BASE_PSEUDO_ROWS)
    rate = np.clip(rate, 0.005, 0.995)
    return np.log(rate / (1 - rate))


def _features(part: pd.DataFrame | dd.DataFrame):
    return part[[f"x_{name}" for name in MODEL_FEATURES]].rename(
        columns={f"x_{name}": name for name in MODEL_FEATURES})


def _train(rows: dd.DataFrame, base: np.ndarray, config: TrainConfig, rounds: int,
           n_rows: int) -> lgb.Booster:
    from lightgbm.dask import DaskLGBMClassifier

    params = config.params(n_rows, list(MODEL_FEATURES))
    for name in ("verbose", "num_threads", "objective"):  # lightgbm.dask: workers' threads
        params.pop(name, None)
    estimator = DaskLGBMClassifier(n_estimators=rounds, verbosity=-1, **params)
    rows = rows.persist()
    X, y = _features(rows), rows["paid"].astype(int)
    init = rows["bin"].map_partitions(lambda b: pd.Series(base[b.to_numpy(int)], index=b.index),
                                      meta=("bin", float))
    # lightgbm.dask wants X, y and init_score chunked alike: all from the same persisted rows
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Parameter (n_jobs|num_threads) will be ignored")
        # the pandas path's weights (model.train.landmark_weights): each (invoice, bin) weighs one
        estimator.fit(X, y, init_score=init, sample_weight=_weights(rows))
    return estimator.booster_


def _weights(rows: dd.DataFrame) -> dd.Series:
    """1 / (bin + 1) per row, chunked like the rows (see model.train.landmark_weights)."""
    return rows["bin"].map_partitions(lambda b: 1.0 / (b.astype(float) + 1.0), meta=("bin", float))


def _train_until_stopped(fit: dd.DataFrame, valid: dd.DataFrame, base: np.ndarray,
                         config: TrainConfig, max_rounds: int,
                         n_rows: int) -> tuple[lgb.Booster, int]:
    """Train, cut at the early-stopping iteration; train longer only if it had not stopped yet."""
    rounds = min(max_rounds, config.num_boost_round, FIRST_ROUNDS)
    while True:
        booster = _train(fit, base, config, rounds, n_rows)
        best, stopped = _best_iteration(booster, valid, base, config)
        if stopped or rounds >= min(max_rounds, config.num_boost_round):
            return _truncate(booster, best), best
        rounds = min(max_rounds, config.num_boost_round, rounds * 2)


def _best_iteration(booster: lgb.Booster, valid: dd.DataFrame, base: np.ndarray,
                    config: TrainConfig) -> tuple[int, bool]:
    """The iteration ``lgb.early_stopping`` keeps, from the validation loss of every iteration,
    and whether early stopping would have stopped within the trained rounds."""
    rounds = booster.current_iteration()
    names = [str(i) for i in range(rounds)]

    def losses(part: pd.DataFrame) -> pd.DataFrame:
        out = np.zeros(rounds)
        if len(part):
            X, y = _features(part), part["paid"].to_numpy(float)
            raw = base[part["bin"].to_numpy(int)].astype(float)
            weight = 1.0 / (part["bin"].to_numpy(float) + 1.0)  # as the pandas path's valid set
            for i in range(rounds):
                # one tree at a time: the whole curve costs one prediction of the full model
                raw = raw + booster.predict(X, start_iteration=i, num_iteration=1,
                                            raw_score=True, num_threads=1)
                out[i] = (weight * (np.logaddexp(0, raw) - y * raw)).sum()
        return pd.DataFrame([out], columns=names)

    meta = pd.DataFrame({name: pd.Series(dtype=float) for name in names})
    curve = valid.map_partitions(losses, meta=meta).sum().compute().to_numpy()
    best, best_loss = 0, np.inf
    for i, loss in enumerate(curve):
        if loss < best_loss - 1e-12:
            best, best_loss = i, loss
        elif i - best >= config.early_stopping_rounds:
            return best + 1, True
    return best + 1, False


def _truncate(booster: lgb.Booster, iterations: int) -> lgb.Booster:
    return lgb.Booster(model_str=booster.model_to_string(num_iteration=iterations))


def _collect_predictions(booster: lgb.Booster, valid: dd.DataFrame,
                         base: np.ndarray) -> pd.DataFrame:
    def predict(part: pd.DataFrame) -> pd.DataFrame:
        bins = part["bin"].to_numpy(int)
        margin = booster.predict(_features(part), raw_score=True, num_threads=1) \
            if len(part) else np.array([])
        p = 1.0 / (1.0 + np.exp(-(margin + base[bins])))
        return pd.DataFrame({"p": p, "y": part["paid"].to_numpy(int), "bin": bins})

    meta = pd.DataFrame({"p": pd.Series(dtype=float), "y": pd.Series(dtype=int),
                         "bin": pd.Series(dtype=int)})
    return valid.map_partitions(predict, meta=meta).compute()


def _reference_sample(bundle: ModelBundle, train: dd.DataFrame, days: pd.Series) -> pd.DataFrame:
    """As :func:`model.train._reference_sample`: the most recent rows, with their hazard."""
    since = _nth_day(days, max(0, int(days.sum()) - REFERENCE_ROWS))
    recent = dataset_of(train[train["scored_at"] >= since].compute())
    X = recent.X.tail(REFERENCE_ROWS).reset_index(drop=True)
    return X.assign(hazard=Predictor(bundle).row_hazards(X))


# --------------------------------------------------------------------------------- scoring


def predict_dask(predictor: Predictor, rows: dd.DataFrame) -> dd.DataFrame:
    """``Predictor.predict`` on every partition: ``invoice_id``, ``customer_id`` + predictions.

    ``rows`` is either features (:func:`features.distributed.build_features_dask`) or rows of
    :func:`split_rows_dask` (features prefixed ``x_``).
    """
    predictor = dask.delayed(predictor, pure=True)  # shipped once to each worker, not per task
    prefixed = f"x_{MODEL_FEATURES[0]}" in rows.columns
    numbers = [c for c in PREDICTION_COLUMNS if c.startswith("p_") or c.startswith("expected_d")]

    def predict(part: pd.DataFrame, model: Predictor) -> pd.DataFrame:
        X = part[[f"x_{n}" for n in X_COLUMNS]].set_axis(X_COLUMNS, axis=1) if prefixed \
            else part
        out = part[["invoice_id", "customer_id"]].copy()
        for name, values in model.predict(X)[numbers].items():
            out[name] = values.to_numpy(float)
        return out

    meta = pd.DataFrame({"invoice_id": pd.Series(dtype=object),
                         "customer_id": pd.Series(dtype=object),
                         **{name: pd.Series(dtype=float) for name in numbers}})
    return rows.map_partitions(predict, predictor, meta=meta)


# ------------------------------------------------------------------------- train & register

WINDOW_ROWS = 200_000  # recent test rows collected for the champion comparison


def backtest_dask(ledger: DaskLedger, *, split_date: pd.Timestamp | str,
                  config: TrainConfig | None = None,
                  max_rounds: int = MAX_ROUNDS) -> tuple[ModelBundle, dict, Dataset]:
    """Train before ``split_date`` on the cluster, evaluate on the invoices issued from it on.

    Returns the bundle, the report (metrics of :func:`model.evaluate.metrics` and the payer's
    past late rate as baseline; no logistic regression, which would need every row in one
    place) and the most recent ``WINDOW_ROWS`` test rows as a :class:`Dataset`.
    """
    from model.evaluate import metrics

    split = pd.Timestamp(split_date)
    rows = split_rows_dask(ledger, split_date=split).persist()
    train, test = rows[rows[WINDOW] == "train"], rows[rows[WINDOW] == "test"]
    bundle = fit_bundle_dask(train, config=config, train_cutoff=split, max_rounds=max_rounds)
    predicted = predict_dask(Predictor(bundle), test)
    columns = ["invoice_id", "issue_date", "late", "true_p_late", "x_hist_share_late",
               "x_hist_cold_start"]
    scored = test[columns].merge(predicted[["invoice_id", "p_late"]], on="invoice_id").compute()
    if len(scored) == 0 or scored["late"].nunique() < 2:
        raise ModelError(f"the test window at split date {split.date()} has {len(scored)} "
                         "labelled invoices and not both classes")
    y, p = scored["late"].to_numpy(int), scored["p_late"].to_numpy(float)
    base_rate = bundle.meta["base_rate"]
    payer = np.where(scored["x_hist_cold_start"] == 1, base_rate, scored["x_hist_share_late"])
    report = {
        "split_date": str(split.date()), "model": "lightgbm-hazard", "engine": "dask",
        "n_train": bundle.meta["n_train"], "n_test": len(scored),
        "base_rate": float(y.mean()), "train_base_rate": base_rate, **metrics(y, p),
        "baselines": {"payer_late_rate": metrics(y, payer)},
        "best_iterations": bundle.meta["best_iterations"],
        "calibration": bundle.calibrators["0"].method,
    }
    if scored["true_p_late"].notna().all() and report["auc"] is not None:
        from sklearn.metrics import roc_auc_score

        report["oracle_auc"] = float(roc_auc_score(y, scored["true_p_late"]))
    since = scored["issue_date"].sort_values().iloc[max(0, len(scored) - WINDOW_ROWS)]
    window = dataset_of(test[test["issue_date"] >= since].compute())
    return bundle, report, window


def train_and_register_dask(ledger: DaskLedger, *, config: TrainConfig | None = None,
                            recent_fraction: float = 0.2, settings=None,
                            max_rounds: int = MAX_ROUNDS) -> tuple[object, dict]:
    """:func:`model.registry.train_and_register` on the cluster: same registry, same promotion."""
    from model.registry import log_and_register

    split = recent_split_date_dask(ledger, fraction=recent_fraction)
    bundle, report, window = backtest_dask(ledger, split_date=split, config=config,
                                           max_rounds=max_rounds)
    registered = log_and_register(bundle, window=window, evaluation=report, settings=settings)
    return registered, report
