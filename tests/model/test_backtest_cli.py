"""`relance backtest --json` on a synthetic ledger and on the IBM sample."""
from __future__ import annotations

import json

from typer.testing import CliRunner

from ledger.frames import load_ledger_dir
from model.evaluate import backtest

METRICS = {"auc", "pr_auc", "brier", "log_loss", "ece"}


def test_backtest_json_has_every_key(ledger_dir):
    from serving.cli import app

    result = CliRunner().invoke(app, ["backtest", "--ledger", str(ledger_dir),
                                      "--split-date", "2025-01-01", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert METRICS | {"n_train", "n_test", "base_rate", "baselines", "slices",
                      "oracle_auc", "auc_vs_oracle"} <= set(report)
    assert set(report["baselines"]) == {"payer_late_rate", "logistic_regression"}
    for found in report["baselines"].values():
        assert set(found) >= METRICS
    assert set(report["slices"]) == {"segment", "amount_band", "tenure_band", "cold_start",
                                     "overall"}
    overall = report["slices"]["overall"]
    low, high = overall["model"]["auc_ci_95"]
    assert low <= overall["model"]["auc"] <= high
    assert set(overall) >= {"model", "payer_late_rate", "logistic_regression"}
    assert 0.5 < report["auc"] <= report["oracle_auc"] + 0.02
    # the keys the time-to-payment issue defines (a contract)
    outcome = {"n", "auc", "ece", "brier", "mean_p", "observed_rate"}
    assert outcome <= set(report["severe"]) and outcome <= set(report["overdue"])
    assert report["severe"]["n"] > 0 and report["overdue"]["n"] > 0
    assert {"wape_13w", "rules_wape_13w", "naive_wape_13w", "interval_coverage",
            "nominal_coverage"} <= set(report["forecast"])
    assert report["forecast"]["nominal_coverage"] == 0.8
    assert 0 <= report["forecast"]["interval_coverage"] <= 1


def test_a_bad_split_date_is_a_clean_error(ledger_dir):
    from serving.cli import app

    result = CliRunner().invoke(app, ["backtest", "--ledger", str(ledger_dir),
                                      "--split-date", "1999-01-01", "--json"])
    assert result.exit_code == 2
    assert "outside the ledger" in result.output


def test_ibm_backtest_is_sane_and_below_the_leaky_published_figures(shared_ibm):
    from .conftest import FAST

    report = backtest(load_ledger_dir(shared_ibm), split_date="2013-07-01", config=FAST)
    # published 0.90-0.92 AUCs use DaysToSettle-like columns known only after payment
    assert 0.70 < report["auc"] < 0.90
    assert "oracle_auc" not in report
    assert report["n_train"] > 1000 and report["n_test"] > 300
