"""Drift: Evidently report between the training reference and today's open invoices."""
from __future__ import annotations

import json

from typer.testing import CliRunner

from model.drift import drift_summary
from model.registry import log_and_register


def test_drift_command_writes_html_and_summary(bundle, split, ledger_dir, mlflow_env, tmp_path):
    from serving.cli import app

    log_and_register(bundle, window=split[1], evaluation={}, settings=mlflow_env)
    result = CliRunner().invoke(app, ["drift", "--ledger", str(ledger_dir),
                                      "--out", str(tmp_path / "drift")])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "drift" / "drift.json").read_text())
    assert (tmp_path / "drift" / "drift.html").stat().st_size > 10_000
    assert {"share_of_drifted_features", "dataset_drift", "prediction_drift",
            "columns"} <= set(summary)
    assert {"p_late", "hist_share_late"} <= set(summary["columns"])


def test_a_shifted_sample_drifts_and_the_same_one_does_not():
    reference = split_reference()
    same = drift_summary(reference, reference.sample(frac=1.0, random_state=1))
    shifted = drift_summary(reference, reference.assign(
        hist_share_late=reference["hist_share_late"] + 0.5, p_late=reference["p_late"] + 0.3,
        amount=reference["amount"] * 5))
    assert not same["dataset_drift"] and same["share_of_drifted_features"] == 0
    assert shifted["prediction_drift"]
    drifted = {name for name, c in shifted["columns"].items() if c["drifted"]}
    assert {"hist_share_late", "p_late", "amount"} <= drifted


def split_reference():
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    return pd.DataFrame({"hist_share_late": rng.random(800), "amount": rng.lognormal(7, 1, 800),
                         "tenure_days": rng.integers(0, 900, 800).astype(float),
                         "p_late": rng.random(800)})
