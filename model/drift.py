"""Drift: Evidently (0.7) data drift of the features and of the predictions.

Reference: the sample of training rows (features + predictions) saved with the model.
Current: the features and predictions of the invoices open today. Evidently picks a test per
column (Kolmogorov–Smirnov p-value on small samples, Wasserstein distance on large ones); a
column drifts when its p-value is below, or its distance above, the test's threshold, and the
dataset drifts when at least half the columns do (Evidently's default drift share).
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from model.errors import ModelError
from model.predict import PREDICTION_COLUMNS

DRIFT_SHARE = 0.5


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

    columns = [c for c in reference.columns if c in current.columns]
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
    predictions = {k: v for k, v in per_column.items() if k in PREDICTION_COLUMNS}
    return {
        "n_reference": n_reference, "n_current": n_current,
        "share_of_drifted_features": share,
        "dataset_drift": share >= DRIFT_SHARE,
        "prediction_drift": any(v["drifted"] for v in predictions.values()),
        "columns": per_column,
    }
