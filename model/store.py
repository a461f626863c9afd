"""The MLflow store: the client on the configured tracking URI, and where a model lives.

Split from :mod:`model.registry` so that loading a model (:meth:`model.predict.Predictor.load`)
does not import the registry, which itself scores models with :class:`~model.predict.Predictor`:
predict → store, registry → predict and store, no cycle.
"""
from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

from ledger.config import Settings, get_settings
from model.errors import NoModelError

EXPERIMENT = "relance-late-payment"


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


def _local_path(uri: str) -> Path:
    """Bundles live on the local artifact store; other stores are downloaded once."""
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        return Path(unquote(parsed.path))
    import mlflow

    return Path(mlflow.artifacts.download_artifacts(artifact_uri=uri))
