"""Training and scoring on a Dask cluster: ``lightgbm.dask`` on rows built partition by partition.

Rows come from :func:`model.dataset.labelled_rows` run on each customer partition of a
:class:`features.distributed.DaskLedger` (the same function as the pandas path, so the same
features, labels and censoring). Training mirrors :func:`model.train.fit_bundle`:

- the last ``valid_fraction`` of training rows by issue date is held out (the cut is found from a
  per-day histogram of issue dates, never by collecting the rows);
- each booster (P(late), P(severe), days late) is trained with ``DaskLGBMClassifier`` /
  ``DaskLGBMRegressor`` for at most ``max_rounds``; ``lightgbm.dask`` has no early stopping, so
  the validation loss of every iteration is computed on the workers (partial sums per partition)
  and the booster is cut at the iteration early stopping would have kept (same patience rule);
- calibrators are fitted on the held-out predictions (two float columns collected);
- with ``refit``, each booster is retrained on every training row for best / (1 - valid_fraction)
  rounds, as in the pandas path.

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
from features.registry import FEATURE_COLUMNS
from model.bundle import ModelBundle
from model.calibrate import fit_calibrator
from model.dataset import ROW_COLUMNS, Dataset, features_at_issue, labelled_rows
from model.errors import ModelError
from model.predict import PREDICTION_COLUMNS, Predictor
from model.train import REFERENCE_ROWS, TrainConfig

MAX_ROUNDS = 1000  # lightgbm.dask cannot stop early: train this many at most, then cut
FIRST_ROUNDS = 250  # first attempt; doubled while the validation loss is still improving
WINDOW = "window"


# ------------------------------------------------------------------------------------ rows


def rows_meta() -> pd.DataFrame:
    labels = {"invoice_id": object, "customer_id": object, "issue_date": "datetime64[ns]",
              "due_date": "datetime64[ns]", "amount": float, "segment": object, "late": "Int8",
              "severe": "Int8", "days_late": float, "censored": bool, "true_p_late": float}
    frame = pd.DataFrame({name: pd.Series(dtype=labels[name]) for name in ROW_COLUMNS})
    for name in FEATURE_COLUMNS:
        frame[f"x_{name}"] = pd.Series(dtype=float)
    frame[WINDOW] = pd.Series(dtype=object)
    return frame


def _as_frame(data: Dataset, window: str) -> pd.DataFrame:
    frame = data.rows.copy()
    for name in FEATURE_COLUMNS:  # prefixed: "amount" is both a row column and a feature
        frame[f"x_{name}"] = data.X[name].to_numpy(float)
    frame[WINDOW] = window
    return frame


def dataset_of(frame: pd.DataFrame) -> Dataset:
    """A collected (pandas) slice of :func:`split_rows_dask` as a :class:`Dataset`."""
    frame = frame.sort_values(["issue_date", "invoice_id"], kind="stable", ignore_index=True)
    X = frame[[f"x_{name}" for name in FEATURE_COLUMNS]].set_axis(FEATURE_COLUMNS, axis=1)
    return Dataset(X=X.astype(float), rows=frame[ROW_COLUMNS])


def split_rows_dask(ledger: DaskLedger, *, split_date: pd.Timestamp | str) -> dd.DataFrame:
    """Training (``window == "train"``) and test (``"test"``) rows of a backtest at ``split_date``.

    The rows of :func:`model.dataset.temporal_split`, computed partition by partition: features
    once per partition, labels censored at D for training and at ``as_of`` for testing.
    """
    split = pd.Timestamp(split_date)

    def rows(frames) -> pd.DataFrame:
        features = features_at_issue(frames)
        train = labelled_rows(frames, cutoff=split, issued_before=split, features=features)
        test = labelled_rows(frames, issued_from=split, features=features)
        return pd.concat([_as_frame(train, "train"), _as_frame(test, "test")], ignore_index=True)

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
    days = train["issue_date"].value_counts().compute().sort_index()
    n = int(days.sum())
    late_rate = float(train["late"].astype(float).mean().compute())
    if n < 50 or not 0 < late_rate < 1:
        raise ModelError(f"{n} training invoices with one class only or too few to learn")
    cut = _nth_day(days, int(n * (1 - config.valid_fraction)))
    fit, valid = train[train["issue_date"] < cut], train[train["issue_date"] >= cut]
    severe_known = ~train["severe"].isna()
    targets = {
        "late": (train, "binary", lambda p: p["late"].astype(int)),
        "severe": (train[severe_known], "binary", lambda p: p["severe"].astype(int)),
        "days": (train, "tweedie", lambda p: p["days_late"].clip(lower=0)),
    }
    boosters, calibrators, best_iterations = {}, {}, {}
    for name, (rows, objective, target) in targets.items():
        part_fit = rows[rows["issue_date"] < cut]
        part_valid = rows[rows["issue_date"] >= cut]
        booster, best = _train_until_stopped(part_fit, part_valid, target, objective, config,
                                             max_rounds, n)
        best_iterations[name] = best
        if objective == "binary":
            p, y = _collect_predictions(booster, part_valid, target)
            calibrators[name] = fit_calibrator(p, y, method=config.calibration)
        if config.refit:
            rounds = max(1, round(best / (1 - config.valid_fraction)))
            booster = _train(rows, target, objective, config, rounds, n)
        boosters[name] = booster
    n_fit = int(days[days.index < cut].sum())
    meta = {
        "bundle_id": uuid.uuid4().hex[:12],
        "trained_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "train_cutoff": str((train_cutoff or days.index.max()).date()),
        "valid_from": str(pd.Timestamp(cut).date()),
        "n_train": n, "n_fit": n_fit, "n_valid": n - n_fit, "base_rate": late_rate,
        "best_iterations": best_iterations, "refit": config.refit, "config": asdict(config),
        "engine": "dask", "max_rounds": max_rounds,
    }
    bundle = ModelBundle(**boosters, calibrators=calibrators, features=list(FEATURE_COLUMNS),
                         meta=meta)
    bundle.reference = _reference_sample(bundle, train, days)
    return bundle


def _features(part: pd.DataFrame | dd.DataFrame):
    return part[[f"x_{name}" for name in FEATURE_COLUMNS]].rename(
        columns={f"x_{name}": name for name in FEATURE_COLUMNS})


def _train(rows: dd.DataFrame, target, objective: str, config: TrainConfig, rounds: int,
           n_rows: int) -> lgb.Booster:
    from lightgbm.dask import DaskLGBMClassifier, DaskLGBMRegressor

    params = _params(config, objective, n_rows)
    for name in ("verbose", "num_threads"):  # lightgbm.dask uses the workers' threads
        params.pop(name, None)
    estimator_class = DaskLGBMClassifier if objective == "binary" else DaskLGBMRegressor
    estimator = estimator_class(n_estimators=rounds, verbosity=-1, **params)
    rows = rows.persist()
    X, y = _features(rows), target(rows)
    # lightgbm.dask wants X and y chunked alike: both come from the same persisted partitions
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Parameter (n_jobs|num_threads) will be ignored")
        estimator.fit(X, y)
    return estimator.booster_


def _train_until_stopped(fit: dd.DataFrame, valid: dd.DataFrame, target, objective: str,
                         config: TrainConfig, max_rounds: int,
                         n_rows: int) -> tuple[lgb.Booster, int]:
    """Train, cut at the early-stopping iteration; train longer only if it had not stopped yet."""
    rounds = min(max_rounds, config.num_boost_round, FIRST_ROUNDS)
    while True:
        booster = _train(fit, target, objective, config, rounds, n_rows)
        best, stopped = _best_iteration(booster, valid, target, objective, config)
        if stopped or rounds >= min(max_rounds, config.num_boost_round):
            return _truncate(booster, best), best
        rounds = min(max_rounds, config.num_boost_round, rounds * 2)


def _params(config: TrainConfig, objective: str, n_rows: int) -> dict:
    import inspect

    # the pandas path's parameters, whichever version of TrainConfig.params is installed
    if "features" in inspect.signature(config.params).parameters:
        return config.params(objective, n_rows, list(FEATURE_COLUMNS))
    return config.params(objective, n_rows)


def _best_iteration(booster: lgb.Booster, valid: dd.DataFrame, target, objective: str,
                    config: TrainConfig) -> tuple[int, bool]:
    """The iteration ``lgb.early_stopping`` keeps, from the validation loss of every iteration,
    and whether early stopping would have stopped within the trained rounds."""
    rounds = booster.current_iteration()
    names = [str(i) for i in range(rounds)]

    def losses(part: pd.DataFrame) -> pd.DataFrame:
        out = np.zeros(rounds)
        if len(part):
            X, y = _features(part), target(part).to_numpy(float)
            raw = np.zeros(len(part))
            for i in range(rounds):
                # one tree at a time: the whole curve costs one prediction of the full model
                raw = raw + booster.predict(X, start_iteration=i, num_iteration=1,
                                            raw_score=True, num_threads=1)
                out[i] = _loss(raw, y, objective).sum()
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


def _loss(raw: np.ndarray, y: np.ndarray, objective: str) -> np.ndarray:
    if objective == "binary":  # log loss from the raw margin, numerically stable
        return np.logaddexp(0, raw) - y * raw
    rho = 1.5  # tweedie deviance part that depends on the prediction (log link)
    return -y * np.exp((1 - rho) * raw) / (1 - rho) + np.exp((2 - rho) * raw) / (2 - rho)


def _truncate(booster: lgb.Booster, iterations: int) -> lgb.Booster:
    return lgb.Booster(model_str=booster.model_to_string(num_iteration=iterations))


def _collect_predictions(booster: lgb.Booster, valid: dd.DataFrame,
                         target) -> tuple[np.ndarray, np.ndarray]:
    def predict(part: pd.DataFrame) -> pd.DataFrame:
        p = booster.predict(_features(part), num_threads=1) if len(part) else np.array([])
        return pd.DataFrame({"p": p, "y": target(part).to_numpy(int)})

    collected = valid.map_partitions(
        predict, meta=pd.DataFrame({"p": pd.Series(dtype=float), "y": pd.Series(dtype=int)})
    ).compute()
    return collected["p"].to_numpy(float), collected["y"].to_numpy(int)


def _reference_sample(bundle: ModelBundle, train: dd.DataFrame, days: pd.Series) -> pd.DataFrame:
    """As :func:`model.train._reference_sample`: the most recent training rows, with predictions."""
    since = _nth_day(days, max(0, int(days.sum()) - REFERENCE_ROWS))
    recent = dataset_of(train[train["issue_date"] >= since].compute())
    X = recent.X.tail(REFERENCE_ROWS).reset_index(drop=True)
    return pd.concat([X, Predictor(bundle).predict(X)], axis=1)


# --------------------------------------------------------------------------------- scoring


def predict_dask(predictor: Predictor, rows: dd.DataFrame) -> dd.DataFrame:
    """``Predictor.predict`` on every partition: ``invoice_id``, ``customer_id`` + predictions.

    ``rows`` is either features (:func:`features.distributed.build_features_dask`) or rows of
    :func:`split_rows_dask` (features prefixed ``x_``).
    """
    predictor = dask.delayed(predictor, pure=True)  # shipped once to each worker, not per task
    prefixed = f"x_{FEATURE_COLUMNS[0]}" in rows.columns

    def predict(part: pd.DataFrame, model: Predictor) -> pd.DataFrame:
        X = _features(part) if prefixed else part
        out = part[["invoice_id", "customer_id"]].copy()
        for name, values in model.predict(X).items():
            out[name] = values.to_numpy(float)
        return out

    meta = pd.DataFrame({"invoice_id": pd.Series(dtype=object),
                         "customer_id": pd.Series(dtype=object),
                         **{name: pd.Series(dtype=float) for name in PREDICTION_COLUMNS}})
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
        "split_date": str(split.date()), "model": "lightgbm", "engine": "dask",
        "n_train": bundle.meta["n_train"], "n_test": len(scored),
        "base_rate": float(y.mean()), "train_base_rate": base_rate, **metrics(y, p),
        "baselines": {"payer_late_rate": metrics(y, payer)},
        "best_iterations": bundle.meta["best_iterations"],
        "calibration": bundle.calibrators["late"].method,
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
