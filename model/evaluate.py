"""Evaluation: metrics, baselines, per-slice metrics and the temporal backtest.

``backtest`` trains on invoices issued before the split date D (labels censored at D) and
tests on the invoices issued from D on; it never splits at random. Two baselines get the same
metrics on the same test rows: the payer's past late rate (point in time, the training base rate
for a new payer) and a logistic regression on the same features. When the ledger knows each
invoice's true probability (synthetic), ``oracle_auc`` is the AUC of that truth: the ceiling.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ledger.frames import LedgerFrames
from model.bundle import ModelBundle
from model.calibrate import ece
from model.dataset import Dataset, temporal_split
from model.predict import Predictor
from model.train import TrainConfig, fit_bundle

AMOUNT_BANDS = [0, 100, 1_000, 10_000, np.inf]
TENURE_BANDS = [-1, 0, 180, 365, np.inf]
TENURE_LABELS = ["new", "<6 months", "6-12 months", ">1 year"]


def metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float | None]:
    """AUC, PR-AUC, Brier, log loss and ECE of probabilities ``p`` for outcomes ``y``."""
    y, p = np.asarray(y, dtype=int), np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
    both = len(np.unique(y)) == 2
    return {
        "auc": float(roc_auc_score(y, p)) if both else None,
        "pr_auc": float(average_precision_score(y, p)) if both else None,
        "brier": float(brier_score_loss(y, p)),
        "log_loss": float(log_loss(y, p, labels=[0, 1])),
        "ece": ece(y, p),
    }


def payer_late_rate(test: Dataset, *, base_rate: float) -> np.ndarray:
    """Baseline: the share of the payer's settled invoices paid late, as known at issue."""
    share = test.X["hist_share_late"].to_numpy(float)
    return np.where(test.X["hist_cold_start"].to_numpy(float) == 1, base_rate, share)


def logistic_regression(train: Dataset, test: Dataset) -> np.ndarray:
    """Baseline: a standardised logistic regression on the same features."""
    fitted = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    fitted.fit(train.X.to_numpy(float), train.late)
    return fitted.predict_proba(test.X.to_numpy(float))[:, 1]


def slices(test: Dataset, p: np.ndarray) -> dict[str, list[dict]]:
    """Metrics by segment, amount band, tenure band and cold start (a slice too small → n only)."""
    rows, y = test.rows, test.late
    keys = {
        "segment": rows["segment"].astype(str),
        "amount_band": pd.cut(test.X["amount"], AMOUNT_BANDS, right=False,
                              labels=["<100", "100-1k", "1k-10k", ">=10k"]).astype(str),
        "tenure_band": pd.cut(test.X["tenure_days"], TENURE_BANDS,
                              labels=TENURE_LABELS).astype(str),
        "cold_start": test.X["hist_cold_start"].map({1.0: "yes", 0.0: "no"}).astype(str),
    }
    out: dict[str, list[dict]] = {}
    for name, key in keys.items():
        out[name] = []
        for value in sorted(key.unique()):
            inside = (key == value).to_numpy()
            entry = {"value": value, "n": int(inside.sum()), "base_rate": float(y[inside].mean()),
                     "mean_p": float(p[inside].mean())}
            if inside.sum() >= 20:
                found = metrics(y[inside], p[inside])
                entry |= {"auc": found["auc"], "brier": found["brier"]}
            out[name].append(entry)
    return out


def evaluate(predictor: Predictor, test: Dataset) -> dict:
    """Metrics of a fitted model on test rows, with the oracle when the ledger has one."""
    p = predictor.predict(test.X)["p_late"].to_numpy()
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
    split = pd.Timestamp(split_date)
    train, test = temporal_split(frames, split_date=split, features=features)
    bundle = fit_bundle(train, config=config, train_cutoff=split)
    predictor = Predictor(bundle)
    predicted = predictor.predict(test.X)
    p = predicted["p_late"].to_numpy()
    base_rate = float(train.late.mean())
    result = {
        "split_date": str(split.date()),
        "model": "lightgbm",
        "n_train": len(train), "n_test": len(test),
        "base_rate": float(test.late.mean()), "train_base_rate": base_rate,
        **evaluate(predictor, test),
        "baselines": {
            "payer_late_rate": metrics(test.late, payer_late_rate(test, base_rate=base_rate)),
            "logistic_regression": metrics(test.late, logistic_regression(train, test)),
        },
        "severe": _severe_metrics(test, predicted["p_severe"].to_numpy()),
        "days_late_mae": float(np.mean(np.abs(
            predicted["expected_days_late"].to_numpy()
            - np.clip(test.rows["days_late"].to_numpy(float), 0, None)))),
        "calibration": bundle.calibrators["late"].method,
        "best_iterations": bundle.meta["best_iterations"],
        "slices": slices(test, p),
    }
    return Backtest(report=result, bundle=bundle, train=train, test=test)


def _severe_metrics(test: Dataset, p: np.ndarray) -> dict:
    known = test.rows["severe"].notna().to_numpy()
    y = test.rows["severe"][known].to_numpy(int)
    return {"n": int(known.sum()), "base_rate": float(y.mean()) if len(y) else None,
            **metrics(y, p[known])}
