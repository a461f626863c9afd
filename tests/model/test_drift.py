"""Drift: today's open invoices against the training reference (same age mix), and the
recommendation to retrain from calibration on the outcomes that came in since training."""
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
    assert {"hazard", "hist_share_late"} <= set(summary["columns"])
    assert "bin" not in summary["columns"]  # the age mix is matched, not tested
    # a model evaluated on the invoices after its cut-off: those outcomes are in the ledger
    assert summary["calibration"]["n"] > 0
    assert isinstance(summary["retrain_recommended"], bool)
    assert set(summary["recommendation"]) == {"fr", "en"}


def test_same_age_mix_matches_todays_bins():
    import pandas as pd

    from model.drift import same_age_mix

    reference = pd.DataFrame({"bin": [0.0] * 90 + [5.0] * 10, "x": range(100)})
    current = pd.DataFrame({"bin": [0.0] * 50 + [5.0] * 50, "x": range(100)})
    mixed = same_age_mix(reference, current)
    assert mixed["bin"].value_counts(normalize=True).to_dict() == {0.0: 0.5, 5.0: 0.5}


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
