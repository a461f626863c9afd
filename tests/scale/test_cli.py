"""`relance train --engine dask --scheduler ADDRESS` trains on the cluster and registers a model
that the ordinary Predictor loads."""
from __future__ import annotations

import pytest
from typer.testing import CliRunner

from features.distributed import write_parquet_ledger
from features.synth import generate
from ledger.config import get_settings
from model.predict import Predictor
from serving.cli import app


@pytest.fixture
def mlflow_env(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    monkeypatch.setenv("MLFLOW_ARTIFACTS", str(tmp_path / "mlruns"))
    monkeypatch.setenv("MODEL_NAME", "late-payment-scale")
    monkeypatch.setenv("RELANCE_LANG", "en")
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


def test_train_with_the_dask_engine_registers_a_servable_champion(client, mlflow_env, tmp_path):
    write_parquet_ledger(generate(customers=100, months=10, seed=5), tmp_path / "ledger")
    result = CliRunner().invoke(app, [
        "train", "--engine", "dask", "--scheduler", client.scheduler.address,
        "--ledger", str(tmp_path / "ledger"), "--partitions", "2"])
    assert result.exit_code == 0, result.output
    assert "@champion" in result.output and "payer_late_rate" in result.output
    predictor = Predictor.load("models:/late-payment-scale@champion")
    assert predictor.bundle.meta["engine"] == "dask"


def test_an_unknown_engine_is_refused(mlflow_env):
    result = CliRunner().invoke(app, ["train", "--engine", "spark"])
    assert result.exit_code == 2
