"""Drift: is today's book like the one the model learned from, and is the model still calibrated?

Like with like. The reference saved with the model is its most recent training rows: invoices at
a given age (bin), with their features and the calibrated hazard. Today's sample is the invoices
open today, each at its own age. Open invoices are older on average than training rows (every
training invoice starts at issue), so comparing them raw would "drift" on the age mix alone: the
reference is resampled to today's mix of ages (bins) first, then Evidently (0.7) tests each
column (Kolmogorov–Smirnov on small samples, Wasserstein distance on large ones); the dataset
drifts when at least half the columns do.

Drift of inputs is a warning, not a verdict. What decides is calibration on outcomes that came in
after training: the invoices issued since the training cut-off whose due date has passed, their
P(late) at issue against what happened. Retraining is recommended when that expected calibration
error exceeds ``max(2 × the error at training, error at training + 0.02)`` on at least
``MIN_OUTCOMES`` invoices — never on training day (nothing has come in yet).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from features.pipeline import build_features
from ledger.frames import LedgerFrames
from model.calibrate import ece
from model.errors import ModelError

DRIFT_SHARE = 0.5
MIN_OUTCOMES = 100
PREDICTION_COLUMNS = ["hazard"]
# compared columns: model inputs and the prediction, not the age itself (matched by design)
_SKIP = {"bin", "days_overdue", "age_bin"}


def current_sample(frames: LedgerFrames, predictor, *, as_of: pd.Timestamp) -> pd.DataFrame:
    """Invoices open at ``as_of`` (start of day): features, current bin, calibrated hazard."""
    from model.dataset import _current_bin

    features = build_features(frames, as_of=as_of)
    if features.empty:
        raise ModelError("no open invoice to compare with the training reference")
    X = features[[c for c in predictor.features if c != "bin"]].astype(float)
    X["bin"] = _current_bin(features["days_overdue"].to_numpy(float))
    X["days_overdue"] = features["days_overdue"].to_numpy(float)
    return X.assign(hazard=predictor.row_hazards(X))


def same_age_mix(reference: pd.DataFrame, current: pd.DataFrame, *, seed: int = 0) -> pd.DataFrame:
    """The reference resampled so that its share of each bin is today's (bins today that the
    reference lacks are left out of both: nothing to compare them with)."""
    rng = np.random.default_rng(seed)
    wanted = current["bin"].value_counts(normalize=True)
    size = max(len(reference), len(current))
    parts = []
    for k, share in wanted.items():
        pool = np.flatnonzero(reference["bin"].to_numpy() == k)
        if len(pool):
            parts.append(rng.choice(pool, size=max(1, round(share * size)), replace=True))
    if not parts:
        raise ModelError("the reference has none of today's invoice ages")
    return reference.iloc[np.concatenate(parts)].reset_index(drop=True)


def calibration_since(frames: LedgerFrames, predictor, *, since: pd.Timestamp) -> dict:
    """P(late) at issue of the invoices issued since ``since`` whose due date has passed,
    against what happened (the outcomes that came in after training)."""
    from model.dataset import issue_rows

    rows = issue_rows(frames, issued_from=since)
    if len(rows) == 0:
        return {"n": 0, "ece": None, "mean_p": None, "observed_rate": None}
    p = predictor.predict(rows.X)["p_late"].to_numpy(float)
    return {"n": len(rows), "ece": ece(rows.late, p), "mean_p": float(p.mean()),
            "observed_rate": float(rows.late.mean())}


def drift_check(frames: LedgerFrames, predictor, reference: pd.DataFrame, *,
                as_of: pd.Timestamp) -> dict:
    """The drift summary (like with like) and the retraining recommendation."""
    current = current_sample(frames, predictor, as_of=as_of)
    summary = drift_summary(same_age_mix(reference, current), current)
    meta = predictor.bundle.meta
    cutoff = pd.Timestamp(meta.get("train_cutoff", frames.as_of))
    calibration = calibration_since(frames, predictor, since=cutoff)
    at_training = (meta.get("metrics") or {}).get("ece")
    calibration["ece_at_training"] = at_training
    return summary | {"age_mix": {str(int(k)): float(v) for k, v in
                                  current["bin"].value_counts(normalize=True).sort_index().items()},
                      "calibration": calibration} | recommendation(calibration)


def recommendation(calibration: dict) -> dict:
    """Retrain or not, with the reason in French and English."""
    n, now, then = calibration["n"], calibration["ece"], calibration.get("ece_at_training")
    if n < MIN_OUTCOMES or now is None:
        return {"retrain_recommended": False, "recommendation": {
            "fr": f"Pas assez de factures échues depuis l'entraînement ({n}) pour juger la "
                  "calibration : rien à faire.",
            "en": f"Too few invoices due since training ({n}) to judge calibration: "
                  "nothing to do."}}
    limit = max(2 * then, then + 0.02) if then is not None else 0.05
    if now > limit:
        return {"retrain_recommended": True, "recommendation": {
            "fr": f"Calibration dégradée sur {n} factures échues depuis l'entraînement (erreur "
                  f"{now:.3f} contre {limit:.3f} tolérés) : réentraîner le modèle.",
            "en": f"Calibration degraded on {n} invoices due since training (error {now:.3f} "
                  f"against {limit:.3f} allowed): retrain the model."}}
    return {"retrain_recommended": False, "recommendation": {
        "fr": f"Calibration tenue sur {n} factures échues depuis l'entraînement (erreur "
              f"{now:.3f}, tolérance {limit:.3f}) : pas besoin de réentraîner.",
        "en": f"Calibration holds on {n} invoices due since training (error {now:.3f}, "
              f"allowed {limit:.3f}): no need to retrain."}}


def drift_summary(reference: pd.DataFrame, current: pd.DataFrame) -> dict:
    """Share of drifted columns, per-column scores and the dataset drift flag (JSON-ready)."""
    summary, _ = _run(reference, current)
    return summary


def drift_report(*, reference: pd.DataFrame, current: pd.DataFrame,
                 out_dir: Path | str) -> dict:
    """Writes ``drift.html`` (the Evidently report) and ``drift.json`` (the summary)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary, snapshot = _run(reference, current)
    snapshot.save_html(str(out / "drift.html"))
    (out / "drift.json").write_text(json.dumps(summary, indent=1))
    return summary | {"html": str(out / "drift.html"), "json": str(out / "drift.json")}


def _run(reference: pd.DataFrame, current: pd.DataFrame):
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    columns = [c for c in reference.columns if c in current.columns and c not in _SKIP]
    if not columns or len(reference) == 0 or len(current) == 0:
        raise ModelError(f"nothing to compare: {len(reference)} reference rows, "
                         f"{len(current)} current rows, {len(columns)} common columns")
    definition = DataDefinition(numerical_columns=columns)
    datasets = [Dataset.from_pandas(frame[columns].astype(float), data_definition=definition)
                for frame in (current, reference)]
    snapshot = Report([DataDriftPreset(drift_share=DRIFT_SHARE)]).run(*datasets)
    return _summarise(snapshot.dict(), columns, len(reference), len(current)), snapshot


def _summarise(result: dict, columns: list[str], n_reference: int, n_current: int) -> dict:
    per_column: dict[str, dict] = {}
    share = None
    for metric in result["metrics"]:
        config = metric["config"]
        if config["type"].endswith("DriftedColumnsCount"):
            share = float(metric["value"]["share"])
        elif config["type"].endswith("ValueDrift"):
            method, threshold, score = config["method"], config["threshold"], metric["value"]
            # p-value tests drift below the threshold, distances above it
            drifted = score < threshold if "p_value" in method else score >= threshold
            per_column[config["column"]] = {"method": method, "score": float(score),
                                            "threshold": float(threshold),
                                            "drifted": bool(drifted)}
    if share is None:
        share = sum(c["drifted"] for c in per_column.values()) / max(len(per_column), 1)
    predictions = {k: v for k, v in per_column.items() if k in PREDICTION_COLUMNS
                   or k.startswith("p_")}
    return {
        "n_reference": n_reference, "n_current": n_current,
        "share_of_drifted_features": share,
        "dataset_drift": share >= DRIFT_SHARE,
        "prediction_drift": any(v["drifted"] for v in predictions.values()),
        "columns": per_column,
    }
