"""Small synthetic ledgers and a quickly trained model shared by the model tests."""
from __future__ import annotations

from pathlib import Path

import pytest

from features.synth import generate
from ledger.config import Settings, get_settings
from ledger.frames import LedgerFrames, write_ledger_dir
from model.dataset import Dataset, features_at_issue, temporal_split
from model.train import TrainConfig, fit_bundle

SPLIT = "2025-01-01"
# one thread: the test machine is shared, and OpenMP threads waiting for a busy core are slow
FAST = TrainConfig(num_boost_round=150, early_stopping_rounds=20, learning_rate=0.1,
                   num_leaves=7, num_threads=1)


@pytest.fixture(scope="session")
def frames() -> LedgerFrames:
    return generate(customers=250, months=24, seed=11, start="2024-01-01")


@pytest.fixture(scope="session")
def split(frames: LedgerFrames) -> tuple[Dataset, Dataset]:
    return temporal_split(frames, split_date=SPLIT, features=features_at_issue(frames))


@pytest.fixture(scope="session")
def bundle(split):
    return fit_bundle(split[0], config=FAST)


@pytest.fixture(scope="session")
def ledger_dir(tmp_path_factory, frames: LedgerFrames) -> Path:
    directory = tmp_path_factory.mktemp("ledger")
    write_ledger_dir(frames, directory)
    return directory


@pytest.fixture(scope="session")
def mlflow_store(tmp_path_factory) -> Path:
    # one store for the session: creating an MLflow SQLite database runs its migrations (slow)
    return tmp_path_factory.mktemp("mlflow")


@pytest.fixture
def mlflow_env(mlflow_store: Path, monkeypatch, request) -> Settings:
    """A private MLflow store and a model name of the test's own, for packages and the CLI."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{mlflow_store}/mlflow.db")
    monkeypatch.setenv("MLFLOW_ARTIFACTS", str(mlflow_store / "mlruns"))
    monkeypatch.setenv("MODEL_NAME", f"late-payment-{request.node.name[5:40]}")
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()
