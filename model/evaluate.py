"""Evaluation: metrics, baselines, slices and the temporal backtest of the time-to-payment model.

``backtest`` trains on what was known before the split date D (time-to-payment rows censored at
D) and tests on what happened from D on; it never splits at random. The JSON (DESIGN.md):

- top level: P(late) of invoices issued from D, scored at issue (``auc`` … ``ece``), beside two
  baselines on the same rows (the payer's past late rate; a logistic regression on the same
  features) and, on synthetic ledgers, the oracle (the generator's true probability);
- ``severe``: P(more than 30 days late) on the test invoices whose 30-day window has closed by
  the end of the ledger (``n``, ``auc``, ``ece``, ``brier``, ``mean_p``, ``observed_rate``);
- ``overdue``: invoices already overdue at scoring dates every two weeks from D, label "not
  paid within 30 days of the scoring date" (windows closed by the end), same keys;
- ``forecast``: the 13-week cash forecast replayed (:mod:`model.forecast_backtest`);
- ``slices``: by segment, amount, tenure and cold start, the model beside the baselines, and
  ``overall``: AUCs with a 95 % interval from resampling customers (bootstrap).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from features.registry import FEATURE_COLUMNS
from ledger.frames import LedgerFrames
from model.bundle import ModelBundle
from model.calibrate import ece
from model.dataset import Dataset, overdue_rows, temporal_split
from model.errors import ModelError
from model.predict import Predictor
from model.train import TrainConfig, fit_bundle

AMOUNT_BANDS = [0, 100, 1_000, 10_000, np.inf]
TENURE_BANDS = [-1, 0, 180, 365, np.inf]
TENURE_LABELS = ["new", "<6 months", "6-12 months", ">1 year"]
OVERDUE_EVERY_DAYS = 14
BOOTSTRAP = 200
ISSUE_FEATURES = [name for name in FEATURE_COLUMNS if name != "days_overdue"]


def metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float | None]:
    """AUC, PR-AUC, Brier, log loss and ECE of probabilities ``p`` for outcomes ``y``."""
    y, p = np.asarray(y, dtype=int), np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
    both = len(np.unique(y)) == 2
    return {
        "auc": float(roc_auc_score(y, p)) if both else None,
        "pr_auc": float(average_precision_score(y, p)) if both else None,
        "brier": float(brier_score_loss(y, p)) if len(y) else None,
        "log_loss": float(log_loss(y, p, labels=[0, 1])) if len(y) else None,
        "ece": ece(y, p),
    }


def outcome_metrics(y: np.ndarray, p: np.ndarray) -> dict:
    """The ``severe`` / ``overdue`` block: n, metrics, mean predicted and observed rate."""
    y, p = np.asarray(y, dtype=int), np.asarray(p, dtype=float)
    return {"n": int(len(y)), **metrics(y, p),
            "mean_p": float(p.mean()) if len(p) else None,
            "observed_rate": float(y.mean()) if len(y) else None}


def payer_late_rate(test: Dataset, *, base_rate: float) -> np.ndarray:
    """Baseline: the share of the payer's settled invoices paid late, as known at issue."""
    share = test.X["hist_share_late"].to_numpy(float)
    return np.where(test.X["hist_cold_start"].to_numpy(float) == 1, base_rate, share)


def logistic_regression(train: Dataset, test: Dataset) -> np.ndarray:
    """Baseline: a standardised logistic regression on the same features, fitted on the
    training invoices whose P(late) is known (their bin-0 rows)."""
    at_issue = train.rows["bin"].to_numpy() == 0
    fitted = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    fitted.fit(train.X.loc[at_issue, ISSUE_FEATURES].to_numpy(float), 1 - train.paid[at_issue])
    return fitted.predict_proba(test.X[ISSUE_FEATURES].to_numpy(float))[:, 1]


def slices(test: Dataset, p: np.ndarray, baselines: dict[str, np.ndarray]) -> dict:
    """Metrics by segment, amount band, tenure band and cold start, with the baselines' AUC
    beside the model's (a slice under 20 invoices → counts only), and the overall AUCs with a
    customer-bootstrap 95 % interval."""
    rows, y = test.rows, test.late
    keys = {
        "segment": rows["segment"].astype(str),
        "amount_band": pd.cut(test.X["amount"], AMOUNT_BANDS, right=False,
                              labels=["<100", "100-1k", "1k-10k", ">=10k"]).astype(str),
        "tenure_band": pd.cut(test.X["tenure_days"], TENURE_BANDS,
                              labels=TENURE_LABELS).astype(str),
        "cold_start": test.X["hist_cold_start"].map({1.0: "yes", 0.0: "no"}).astype(str),
    }
    out: dict = {}
    for name, key in keys.items():
        out[name] = []
        for value in sorted(key.unique()):
            inside = (key == value).to_numpy()
            entry = {"value": value, "n": int(inside.sum()), "base_rate": float(y[inside].mean()),
                     "mean_p": float(p[inside].mean())}
            if inside.sum() >= 20:
                found = metrics(y[inside], p[inside])
                entry |= {"auc": found["auc"], "brier": found["brier"], "baselines": {
                    b: metrics(y[inside], q[inside])["auc"] for b, q in baselines.items()}}
            out[name].append(entry)
    out["overall"] = {"n_customers": int(rows["customer_id"].nunique()),
                      "model": _auc_interval(y, p, rows["customer_id"]),
                      **{b: _auc_interval(y, q, rows["customer_id"]) for b, q in baselines.items()}}
    return out


def _auc_interval(y: np.ndarray, p: np.ndarray, customers: pd.Series, *,
                  draws: int = BOOTSTRAP, seed: int = 0) -> dict:
    """AUC and its 95 % interval from resampling customers with replacement (an invoice counts
    as often as its customer is drawn): invoices of one payer are not independent."""
    if len(np.unique(y)) < 2:
        return {"auc": None, "auc_ci_95": None}
    codes, uniques = pd.factorize(customers)
    rng = np.random.default_rng(seed)
    found = []
    for _ in range(draws):
        weight = np.bincount(rng.integers(0, len(uniques), len(uniques)),
                             minlength=len(uniques))[codes]
        keep = weight > 0
        if len(np.unique(y[keep])) == 2:
            found.append(roc_auc_score(y[keep], p[keep], sample_weight=weight[keep]))
    low, high = np.percentile(found, [2.5, 97.5]) if found else (np.nan, np.nan)
    return {"auc": float(roc_auc_score(y, p)), "auc_ci_95": [round(float(low), 4),
                                                              round(float(high), 4)]}


def evaluate(predictor: Predictor, test: Dataset) -> dict:
    """Metrics of P(late) at issue on test rows, with the oracle when the ledger has one."""
    p = predictor.predict(test.X)["p_late"].to_numpy(float)
    result = metrics(test.late, p)
    if test.has_oracle and result["auc"] is not None:
        result["oracle_auc"] = float(roc_auc_score(test.late, test.rows["true_p_late"]))
        result["auc_vs_oracle"] = result["auc"] / result["oracle_auc"]
    return result


@dataclass
class Backtest:
    report: dict  # the backtest JSON
    bundle: ModelBundle  # the model trained before the split date
    train: Dataset
    test: Dataset


def backtest(frames: LedgerFrames, *, split_date: pd.Timestamp | str,
             config: TrainConfig | None = None, features: pd.DataFrame | None = None) -> dict:
    """Train before ``split_date``, test from it on; the backtest JSON of DESIGN.md."""
    return run_backtest(frames, split_date=split_date, config=config, features=features).report


def run_backtest(frames: LedgerFrames, *, split_date: pd.Timestamp | str,
                 config: TrainConfig | None = None,
                 features: pd.DataFrame | None = None) -> Backtest:
    """The backtest, keeping the fitted model and both windows (training reuses them)."""
    from model.forecast_backtest import forecast_backtest

    split = pd.Timestamp(split_date)
    train, test = temporal_split(frames, split_date=split, features=features)
    bundle = fit_bundle(train, config=config, train_cutoff=split)
    predictor = Predictor(bundle)
    predicted = predictor.predict(test.X)
    p = predicted["p_late"].to_numpy(float)
    base_rate = float(bundle.meta["base_rate"])
    baselines = {"payer_late_rate": payer_late_rate(test, base_rate=base_rate),
                 "logistic_regression": logistic_regression(train, test)}
    settled = test.rows["days_late"].notna().to_numpy()
    actual_days = np.clip(test.rows["days_late"].to_numpy(float)[settled], 0, None)
    payer_days = np.clip(test.X["hist_mean_days_late"].to_numpy(float)[settled], 0, None)
    result = {
        "split_date": str(split.date()),
        "model": "lightgbm-hazard",
        "n_train": int(train.rows["invoice_id"].nunique()), "n_train_rows": len(train),
        "n_test": len(test),
        "base_rate": float(test.late.mean()), "train_base_rate": base_rate,
        **evaluate(predictor, test),
        "baselines": {name: metrics(test.late, q) for name, q in baselines.items()},
        "severe": _severe(test, predicted["p_severe"].to_numpy(float)),
        "overdue": _overdue(frames, predictor, split),
        "forecast": forecast_backtest(frames, predictor, split=split),
        # settled test invoices (days late known): the model's median days late (the point
        # forecast an absolute error rewards), beside the payer's own mean delay so far; the
        # mean (expected_days_late, capped at 180 days) too
        "days_late_mae": float(np.mean(np.abs(_median_days(predictor, test)[settled]
                                              - actual_days))) if settled.any() else None,
        "days_late_mae_of_mean": float(np.mean(np.abs(np.clip(
            predicted["expected_days_late"].to_numpy(float)[settled], 0, 180) - actual_days)))
        if settled.any() else None,
        "baseline_days_late_mae": float(np.mean(np.abs(payer_days - actual_days)))
        if settled.any() else None,
        "calibration": bundle.calibrators["0"].method,
        "best_iterations": bundle.meta["best_iterations"],
        "slices": slices(test, p, baselines),
    }
    # the served model's weekly forecast interval: calibrated on every forecast it made after its
    # early-stopping date whose week has ended (model.forecast_interval), all out of time for it
    bundle.meta["forecast_interval"] = result["forecast"].get("served_interval")
    return Backtest(report=result, bundle=bundle, train=train, test=test)


def _median_days(predictor: Predictor, test: Dataset) -> np.ndarray:
    from model.survival import quantile_days

    days = quantile_days(predictor.hazards(test.X), test.X["days_overdue"].to_numpy(float), 0.5,
                         test.X["terms_days"].to_numpy(float))
    return np.clip(np.nan_to_num(days, nan=365.0), 0, None)


def _severe(test: Dataset, p: np.ndarray) -> dict:
    known = test.rows["severe"].notna().to_numpy()
    return outcome_metrics(test.rows["severe"].to_numpy(float)[known].astype(int), p[known])


def _overdue(frames: LedgerFrames, predictor: Predictor, split: pd.Timestamp) -> dict:
    dates = list(pd.date_range(split, frames.as_of, freq=f"{OVERDUE_EVERY_DAYS}D"))
    try:
        rows = overdue_rows(frames, dates=dates)
    except ModelError:  # no 30-day window closes after the split: nothing to measure
        return outcome_metrics(np.array([], dtype=int), np.array([]))
    features = rows.X.assign(scored_at=rows.rows["scored_at"].to_numpy())
    p = predictor.predict(features)["p_unpaid_30"].to_numpy(float)
    return outcome_metrics(rows.rows["unpaid"].to_numpy(int), p) | {
        "scoring_dates": len(rows.rows["scored_at"].unique())}
