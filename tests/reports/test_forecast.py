"""Cash-in forecast: rules worked out by hand on a one-customer ledger, model override, accuracy.

Customer K paid H1 10 days late and H2 20 days late: μ = 15, σ = √((5² + 5²) / 1) = 7.071.
At 2026-03-01 two invoices are open:
    X 500, due 03-11 (10 days ahead): expected day 10 + 15 = 25 → week 4 (days 22–28);
      early 25 − 1.2816 σ = 15.94 → day 16 → week 3; late 34.06 → day 35 → week 5.
    Y 200, due 01-30, 30 days past due: D > 30 is known; E[D − 30 | D > 30] for N(15, 7.071)
      = −15 + σ φ(α) / (1 − Φ(α)), α = 15 / 7.071 = 2.121 → −15 + 7.071 × 2.482 = 2.55 → day 3
      → week 1.
X is actually paid on 03-26 (day 25, week 4), Y on 03-10 (day 9, week 2).
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pandas as pd
import pytest

from ledger.effects import ingest_and_apply
from ledger.forecast import cash_forecast, forecast_accuracy
from ledger.kpis import ReportError
from ledger.schemas import IngestBatch
from tests.reports.ledger_fixture import D

MADE = D("2026-03-01")


@pytest.fixture
def ledger(session):
    def invoice(i, issue, due, amount):
        return {"invoice_id": i, "customer_id": "K", "issue_date": issue, "due_date": due,
                "amount": amount}

    def payment(p, on, amount, i):
        return {"payment_id": p, "customer_id": "K", "paid_on": on, "amount": amount, "invoice_id": i}

    batch = IngestBatch.model_validate({
        "customers": [{"customer_id": "K", "segment": "pme"}],
        "invoices": [invoice("H1", "2026-01-01", "2026-01-31", "100"),
                     invoice("H2", "2026-01-05", "2026-02-04", "100"),
                     invoice("X", "2026-02-15", "2026-03-11", "500"),
                     invoice("Y", "2026-01-01", "2026-01-30", "200")],
        "payments": [payment("PH1", "2026-02-10", "100", "H1"),
                     payment("PH2", "2026-02-24", "100", "H2"),
                     payment("PX", "2026-03-26", "500", "X"),
                     payment("PY", "2026-03-10", "200", "Y")],
    })
    ingest_and_apply(today=dt.date.today(), session=session, batch=batch, actor="test")
    session.commit()
    return session


def test_rules_forecast_by_week(ledger):
    forecast = cash_forecast(session=ledger, as_of=MADE)
    expected = [w.expected for w in forecast.weeks]
    assert forecast.source == "rules" and len(forecast.weeks) == 13
    assert forecast.open_receivables == Decimal("700.00")
    assert expected[0] == Decimal("200.00")   # Y, day 3
    assert expected[3] == Decimal("500.00")   # X, day 25
    assert sum(expected) + forecast.later == Decimal("700.00")
    assert forecast.weeks[0].start == D("2026-03-02") and forecast.weeks[3].start == D("2026-03-23")
    # X's range spans weeks 3–5: each of them may hold its 500, none is sure to
    for k in (2, 3, 4):
        assert forecast.weeks[k].high == Decimal("500.00")
        assert forecast.weeks[k].low == Decimal("0.00")


def test_model_predictions_override_the_rules(ledger):
    predicted = pd.DataFrame({"invoice_id": ["X"], "expected_days_late": [0.0], "p_late": [0.1]})
    forecast = cash_forecast(session=ledger, as_of=MADE, predicted=predicted)
    # X on its due date, day 10 → week 2; Y keeps the rules
    assert forecast.source == "model"
    assert forecast.weeks[1].expected == Decimal("500.00")
    assert forecast.weeks[0].expected == Decimal("200.00")
    with pytest.raises(ReportError):
        cash_forecast(session=ledger, as_of=MADE, predicted=pd.DataFrame({"invoice_id": ["X"]}))


def test_forecast_uses_only_data_known_at_as_of(ledger):
    # at 02-20 H2 (paid 02-24) is open and K's history is H1 alone (too short: global μ = 10)
    forecast = cash_forecast(session=ledger, as_of=D("2026-02-20"))
    assert forecast.open_receivables == Decimal("800.00")  # H2 100 + X 500 + Y 200


def test_accuracy_against_actual_cash(ledger):
    accuracy = forecast_accuracy(session=ledger, made_as_of=MADE, until=D("2026-06-30"))
    weeks = {w.week: w for w in accuracy.weeks}
    # week 1: forecast 200 (Y), nothing came → no percentage error; week 2: 0 vs Y's 200 → 100 %
    assert (weeks[1].forecast, weeks[1].actual, weeks[1].abs_pct_error) == (Decimal("200.00"), Decimal("0"), None)
    assert (weeks[2].forecast, weeks[2].actual, weeks[2].abs_pct_error) == (Decimal("0.00"), Decimal("200.00"), 100.0)
    assert weeks[4].error == Decimal("0.00")              # X: 500 forecast, 500 paid
    assert accuracy.mape == pytest.approx(50.0)           # (100 + 0) / 2
    assert accuracy.wape == pytest.approx(400 / 700 * 100, abs=0.01)  # (200 + 200) / 700
    # only weeks over by `until` are compared
    short = forecast_accuracy(session=ledger, made_as_of=MADE, until=D("2026-03-15"))
    assert [w.week for w in short.weeks] == [1, 2]
