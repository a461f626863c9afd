"""MLflow registry: the first model is champion; a worse one is challenger; a better one wins."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from features.pipeline import build_features
from ledger.frames import load_ledger_dir
from model.dataset import Dataset
from model.predict import Predictor
from model.registry import log_and_register, resolve
from model.train import fit_bundle

from .conftest import FAST


def _shuffled(train: Dataset) -> Dataset:
    rows = train.rows.copy()
    order = np.random.default_rng(1).permutation(len(rows))
    rows["paid"] = rows["paid"].to_numpy()[order]
    return Dataset(train.X, rows)


def test_promotion_rules(split, bundle, mlflow_env):
    train, test = split
    noise = fit_bundle(_shuffled(train), config=FAST, train_cutoff=pd.Timestamp("2025-01-01"))
    first = log_and_register(noise, window=test, evaluation={"auc": 0.5}, settings=mlflow_env)
    assert (first.version, first.alias) == ("1", "champion")

    better = log_and_register(bundle, window=test, evaluation={"auc": 0.8}, settings=mlflow_env)
    assert better.alias == "champion"
    # promoted on log loss of P(late), beating the champion by the margin, on the same rows
    from model.registry import MARGIN

    assert better.candidate_log_loss < better.champion_log_loss - MARGIN
    assert better.n_compared == len(test)

    worse = log_and_register(noise, window=test, evaluation={}, settings=mlflow_env)
    assert worse.alias == "challenger"
    name = mlflow_env.model_name
    assert resolve(f"models:/{name}@champion", mlflow_env)[1] == f"{name}/v2"
    assert resolve(f"models:/{name}@challenger", mlflow_env)[1] == f"{name}/v3"


def test_served_model_and_cli_give_identical_probabilities(bundle, split, ledger_dir,
                                                           mlflow_env):
    from serving.cli import app

    log_and_register(bundle, window=split[1], evaluation={}, settings=mlflow_env)
    result = CliRunner().invoke(app, ["score", "--ledger", str(ledger_dir), "--json"])
    assert result.exit_code == 0, result.output
    cli = json.loads(result.stdout)

    served = Predictor.load()  # models:/late-payment@champion, as the API loads it
    frames = load_ledger_dir(ledger_dir)
    features = build_features(frames, as_of=frames.as_of + pd.Timedelta(days=1))
    expected = served.predict(features).set_index(features["invoice_id"])
    got = pd.DataFrame(cli["invoices"]).set_index("invoice_id")
    assert cli["model_version"] == served.version == f"{mlflow_env.model_name}/v1"
    assert len(got) == len(expected) > 0
    np.testing.assert_array_equal(got.loc[expected.index, "p_late"], expected["p_late"])
    np.testing.assert_array_equal(got.loc[expected.index, "p_severe"], expected["p_severe"])
    assert {c["grade"] for c in cli["customers"]} <= set("ABCDE")


def test_train_command_logs_a_run_and_registers_a_champion(ledger_dir, mlflow_env):
    from mlflow import MlflowClient

    from serving.cli import app

    result = CliRunner().invoke(app, ["train", "--ledger", str(ledger_dir),
                                      "--learning-rate", "0.2"])
    assert result.exit_code == 0, result.output
    client = MlflowClient(mlflow_env.mlflow_tracking_uri)
    version = client.get_model_version_by_alias(mlflow_env.model_name, "champion")
    run = client.get_run(version.run_id)
    assert run.data.metrics["auc"] > 0.7
    assert "baselines.logistic_regression.auc" in run.data.metrics
    files = {f.path for f in client.list_artifacts(version.run_id)}
    assert {"bundle", "calibration.png", "feature_importance.json", "features.json"} <= files
    assert str(mlflow_env.mlruns_dir) in version.source
    # the served bundle carries its evaluation (GET /model, the dashboard's model page)
    metrics = Predictor.load().bundle.meta["metrics"]
    assert metrics["auc"] == run.data.metrics["auc"] and "logistic_regression" in metrics["baselines"]
