"""MLflow tracking and registry: log a training run, register it, promote it only if it is better.

Tracking URI and artifacts come from settings (``mlflow_tracking_uri``, ``mlflow_artifacts``);
nothing is configured at import. A run stores the model bundle directory as its ``bundle``
artifact; the registered model version (``late-payment``) points at it. Promotion rule: the new
version becomes ``@champion`` only when its log loss of P(late) beats the champion's by at least
``MARGIN`` on the same recent rows (invoices issued after both models' training cut-offs, both
scored on exactly those rows): log loss rewards calibrated probabilities, not only ranking, and
the margin keeps noise from swapping models. Otherwise it becomes ``@challenger``. With no
champion yet (or one from before the time-to-payment model), the new model is champion.
"""
from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ledger.config import Settings, get_settings
from model.bundle import ModelBundle
from model.dataset import Dataset
from model.errors import NoModelError
from model.predict import Predictor
from model.store import EXPERIMENT, _local_path, client, resolve

__all__ = ["EXPERIMENT", "MARGIN", "Registered", "client", "log_and_register", "resolve",
           "train_and_register"]

MIN_COMPARISON_ROWS = 30
MARGIN = 0.002  # nats of log loss per invoice


@dataclass
class Registered:
    name: str
    version: str
    alias: str  # "champion" | "challenger"
    run_id: str
    candidate_log_loss: float | None
    champion_log_loss: float | None  # the previous champion on the same rows (None: none)
    n_compared: int


def log_and_register(bundle: ModelBundle, *, window: Dataset, evaluation: dict,
                     artifacts: dict[str, Path] | None = None,
                     settings: Settings | None = None) -> Registered:
    """Log a run (params, metrics, files), register a version and set its alias."""
    settings = settings or get_settings()
    mlflow_client = client(settings)
    experiment = mlflow_client.get_experiment_by_name(EXPERIMENT)
    run = mlflow_client.create_run(experiment.experiment_id,
                                   tags={"mlflow.runName": f"train-{bundle.meta['bundle_id']}"})
    run_id = run.info.run_id
    for key, value in _params(bundle).items():
        mlflow_client.log_param(run_id, key, value)
    for key, value in _flat_metrics(evaluation).items():
        mlflow_client.log_metric(run_id, key, value)
    with tempfile.TemporaryDirectory() as tmp:
        bundle.save(Path(tmp) / "bundle")
        mlflow_client.log_artifacts(run_id, str(Path(tmp) / "bundle"), "bundle")
        (Path(tmp) / "features.json").write_text(json.dumps(bundle.features))
        mlflow_client.log_artifact(run_id, str(Path(tmp) / "features.json"))
    for path in (artifacts or {}).values():
        mlflow_client.log_artifact(run_id, str(path))
    mlflow_client.set_terminated(run_id)

    name = settings.model_name
    if not mlflow_client.search_registered_models(filter_string=f"name = '{name}'"):
        mlflow_client.create_registered_model(
            name, description="time to payment: P(paid by day d | unpaid today), P(late), "
            "P(severe), P(unpaid 30/90 days), pay-date intervals")
    source = f"{run.info.artifact_uri}/bundle"
    version = mlflow_client.create_model_version(name, source=source, run_id=run_id).version
    return _promote(mlflow_client, name, str(version), run_id, bundle, window)


def _promote(mlflow_client, name: str, version: str, run_id: str, bundle: ModelBundle,
             window: Dataset) -> Registered:
    from mlflow.exceptions import MlflowException

    try:
        champion = mlflow_client.get_model_version_by_alias(name, "champion")
        previous = Predictor(ModelBundle.load(_local_path(champion.source)))
    except (MlflowException, NoModelError):  # none yet, or one from before this model
        champion = None
    if champion is None:
        mlflow_client.set_registered_model_alias(name, "champion", version)
        return Registered(name, version, "champion", run_id, None, None, 0)
    # rows neither model learned from: issued after both training cut-offs
    start = max(pd.Timestamp(bundle.meta["train_cutoff"]),
                pd.Timestamp(previous.bundle.meta["train_cutoff"]))
    rows = window.take((window.rows["issue_date"] >= start).to_numpy())
    candidate = _log_loss(Predictor(bundle), rows)
    incumbent = _log_loss(previous, rows)
    better = candidate is not None and incumbent is not None and \
        len(rows) >= MIN_COMPARISON_ROWS and candidate < incumbent - MARGIN
    alias = "champion" if better else "challenger"
    mlflow_client.set_registered_model_alias(name, alias, version)
    for key, value in (("compared_rows", len(rows)), ("candidate_log_loss", candidate),
                       ("champion_log_loss", incumbent), ("margin", MARGIN)):
        mlflow_client.set_model_version_tag(name, version, key, str(value))
    return Registered(name, version, alias, run_id, candidate, incumbent, len(rows))


def _log_loss(predictor, rows: Dataset) -> float | None:
    from sklearn.metrics import log_loss

    if len(rows) == 0:
        return None
    p = np.clip(predictor.predict(rows.X)["p_late"].to_numpy(float), 1e-6, 1 - 1e-6)
    return float(log_loss(rows.late, p, labels=[0, 1]))


def _params(bundle: ModelBundle) -> dict[str, str]:
    meta = bundle.meta
    params = {f"config.{k}": v for k, v in meta.get("config", {}).items()}
    params |= {k: meta[k] for k in ("train_cutoff", "valid_from", "n_train", "n_rows", "n_fit",
                                    "n_valid") if k in meta}
    params |= {f"best_iteration.{k}": v for k, v in meta.get("best_iterations", {}).items()}
    params["calibration"] = bundle.calibrators["0"].method
    params["n_features"] = len(bundle.features)
    return {k: str(v) for k, v in params.items()}


def _flat_metrics(evaluation: dict, prefix: str = "") -> dict[str, float]:
    flat: dict[str, float] = {}
    for key, value in evaluation.items():
        if isinstance(value, dict):
            flat |= _flat_metrics(value, f"{prefix}{key}.")
        elif isinstance(value, (int, float, np.floating)) and not isinstance(value, bool) \
                and value is not None and np.isfinite(value):
            flat[f"{prefix}{key}"] = float(value)
    return flat



def train_and_register(frames, *, config=None, recent_fraction: float = 0.2,
                       settings: Settings | None = None) -> tuple[Registered, dict]:
    """Train on all but the most recent invoices, evaluate on those, log, register, promote.

    The registered model is exactly the one evaluated: it never saw the recent window, whose
    rows also decide the champion. Returns the registration and the evaluation report.
    """
    from model.calibrate import calibration_plot
    from model.dataset import recent_split_date
    from model.evaluate import run_backtest
    from model.train import feature_importance

    split = recent_split_date(frames, fraction=recent_fraction)
    result = run_backtest(frames, split_date=split, config=config)
    report = dict(result.report)
    slices = report.pop("slices")
    # the served model carries its own evaluation: `GET /model` and the dashboard show it
    result.bundle.meta["metrics"] = {
        key: report[key] for key in ("auc", "pr_auc", "brier", "log_loss", "ece", "n_train",
                                     "n_test", "base_rate", "baselines", "oracle_auc", "severe",
                                     "overdue", "forecast")
        if key in report} | {"window_from": str(split.date())}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        served = Predictor(result.bundle)
        raw = 1 - served.row_hazards(result.test.X, calibrated=False)
        calibrated = 1 - served.row_hazards(result.test.X)
        files = {
            "calibration": calibration_plot(result.test.late, {"brut / raw": raw,
                                                               "calibré / calibrated": calibrated},
                                            folder / "calibration.png"),
            "importance": folder / "feature_importance.json",
            "slices": folder / "slices.json",
        }
        files["importance"].write_text(
            feature_importance(result.bundle).to_json(orient="records", indent=1))
        files["slices"].write_text(json.dumps(slices, indent=1))
        registered = log_and_register(result.bundle, window=result.test, evaluation=report,
                                      artifacts=files, settings=settings)
    return registered, result.report
