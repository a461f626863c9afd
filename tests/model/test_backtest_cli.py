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
        assert METRICS <= set(found)
    assert set(report["slices"]) == {"segment", "amount_band", "tenure_band", "cold_start"}
    assert 0.5 < report["auc"] <= report["oracle_auc"] + 0.02


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
