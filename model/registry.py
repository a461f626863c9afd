"""MLflow tracking and registry: log a training run, register it, promote it only if it is better.

Tracking URI and artifacts come from settings (``mlflow_tracking_uri``, ``mlflow_artifacts``);
nothing is configured at import. A run stores the model bundle directory as its ``bundle``
artifact; the registered model version (``late-payment``) points at it. Promotion rule: the new
version becomes ``@champion`` only when its AUC beats the champion's on the same recent rows
(invoices issued after both models' training cut-offs, both scored on exactly those rows);
otherwise it becomes ``@challenger``. With no champion yet, the first model is champion.
"""
from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
import pandas as pd

from ledger.config import Settings, get_settings
from model.bundle import ModelBundle
from model.dataset import Dataset
from model.errors import NoModelError

EXPERIMENT = "relance-late-payment"
MIN_COMPARISON_ROWS = 30


@dataclass
class Registered:
    name: str
    version: str
    alias: str  # "champion" | "challenger"
    run_id: str
    candidate_auc: float | None
    champion_auc: float | None  # the previous champion on the same rows (None: no champion)
    n_compared: int


def client(settings: Settings | None = None):
    """An MlflowClient on the configured store, with the experiment's artifacts under mlruns/."""
    import mlflow
    from mlflow import MlflowClient

    settings = settings or get_settings()
    if settings.mlflow_tracking_uri.startswith("sqlite:///"):
        Path(settings.mlflow_tracking_uri.removeprefix("sqlite:///")).parent.mkdir(
            parents=True, exist_ok=True)
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    mlflow_client = MlflowClient(tracking_uri=settings.mlflow_tracking_uri)
    if mlflow_client.get_experiment_by_name(EXPERIMENT) is None:
        artifacts = (settings.mlruns_dir / "artifacts").resolve()
        artifacts.mkdir(parents=True, exist_ok=True)
        mlflow_client.create_experiment(EXPERIMENT, artifact_location=artifacts.as_uri())
    return mlflow_client


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
        mlflow_client.create_registered_model(name, description="P(late), P(severe), days late")
    source = f"{run.info.artifact_uri}/bundle"
    version = mlflow_client.create_model_version(name, source=source, run_id=run_id).version
    return _promote(mlflow_client, name, str(version), run_id, bundle, window)


def resolve(source: str | Path | None = None,
            settings: Settings | None = None) -> tuple[Path, str]:
    """(local bundle directory, version label) for a ``models:/`` URI or a directory."""
    settings = settings or get_settings()
    source = source or f"models:/{settings.model_name}@champion"
    if not str(source).startswith("models:/"):
        return Path(source), f"local-{Path(source).name}"
    name, _, alias = str(source).removeprefix("models:/").partition("@")
    from mlflow.exceptions import MlflowException

    try:
        if alias:
            version = client(settings).get_model_version_by_alias(name, alias)
        else:
            name, _, number = name.partition("/")
            version = client(settings).get_model_version(name, number)
    except MlflowException as exc:
        raise NoModelError(f"no model at {source}") from exc
    return _local_path(version.source), f"{name}/v{version.version}"


def _promote(mlflow_client, name: str, version: str, run_id: str, bundle: ModelBundle,
             window: Dataset) -> Registered:
    from mlflow.exceptions import MlflowException
    from model.predict import Predictor

    try:
        champion = mlflow_client.get_model_version_by_alias(name, "champion")
    except MlflowException:
        champion = None
    if champion is None:
        mlflow_client.set_registered_model_alias(name, "champion", version)
        return Registered(name, version, "champion", run_id, None, None, 0)
    previous = Predictor(ModelBundle.load(_local_path(champion.source)))
    # rows neither model learned from: issued after both training cut-offs
    start = max(pd.Timestamp(bundle.meta["train_cutoff"]),
                pd.Timestamp(previous.bundle.meta["train_cutoff"]))
    rows = window.take((window.rows["issue_date"] >= start).to_numpy())
    candidate_auc = _auc(Predictor(bundle), rows)
    champion_auc = _auc(previous, rows)
    better = candidate_auc is not None and champion_auc is not None and \
        len(rows) >= MIN_COMPARISON_ROWS and candidate_auc > champion_auc
    alias = "champion" if better else "challenger"
    mlflow_client.set_registered_model_alias(name, alias, version)
    for key, value in (("compared_rows", len(rows)), ("candidate_auc", candidate_auc),
                       ("champion_auc", champion_auc)):
        mlflow_client.set_model_version_tag(name, version, key, str(value))
    return Registered(name, version, alias, run_id, candidate_auc, champion_auc, len(rows))


def _auc(predictor, rows: Dataset) -> float | None:
    from sklearn.metrics import roc_auc_score

    if len(rows) == 0 or rows.rows["late"].nunique() < 2:
        return None
    return float(roc_auc_score(rows.late, predictor.predict(rows.X)["p_late"]))


def _local_path(uri: str) -> Path:
    """Bundles live on the local artifact store; other stores are downloaded once."""
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        return Path(unquote(parsed.path))
    import mlflow

    return Path(mlflow.artifacts.download_artifacts(artifact_uri=uri))


def _params(bundle: ModelBundle) -> dict[str, str]:
    meta = bundle.meta
    params = {f"config.{k}": v for k, v in meta.get("config", {}).items()}
    params |= {k: meta[k] for k in ("train_cutoff", "valid_from", "n_train", "n_fit", "n_valid")
               if k in meta}
    params |= {f"best_iteration.{k}": v for k, v in meta.get("best_iterations", {}).items()}
    params["calibration"] = bundle.calibrators["late"].method
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
                                     "n_test", "base_rate", "baselines", "oracle_auc")
        if key in report} | {"window_from": str(split.date())}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        raw = result.bundle.late.predict(result.test.X[result.bundle.features], num_threads=1)
        calibrated = result.bundle.calibrators["late"](raw)
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
