"""The 13-week cash forecast from the model's payment-date distributions, on a hand-built ledger.

Two open invoices on 2026-06-05 (customer K of test_risk_service: K5 owes 700 after a partial
payment; K6 owes 500). Given P(paid in week k), worked out by hand:
    K5: week 1 0.5, week 2 0.3, later 0.2      K6: week 3 1.0
week 1 = 700 × 0.5 = 350, week 2 = 210, week 3 = 500, later = 140; the 80 % interval of week 1
is 350 ± 1.2816 × √(700² × 0.5 × 0.5) = 350 ± 448.54 (never below 0).
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pandas as pd

from ledger.effects import ingest_and_apply
from ledger.forecast import WEEKS, cash_forecast
from ledger.schemas import IngestBatch

from .test_risk_service import TODAY, _ledger


def test_weeks_sum_the_distributions_and_keep_the_doubtful_part_apart(session):
    _ledger(session)
    ingest_and_apply(today=dt.date.today(), session=session, actor="test", source="test", batch=IngestBatch.model_validate({
        "invoices": [{"invoice_id": "K6", "customer_id": "K", "issue_date": "2026-06-01",
                      "due_date": "2026-06-20", "amount": "500"}]}))
    session.commit()
    weeks = {f"w{k}": [0.0, 0.0] for k in range(1, WEEKS + 1)}
    weeks["w1"], weeks["w2"], weeks["w3"] = [0.5, 0.0], [0.3, 0.0], [0.0, 1.0]
    predicted = pd.DataFrame({"invoice_id": ["K5", "K6"], **weeks, "later": [0.2, 0.0],
                              "expected_days_late": [10.0, 0.0]})
    forecast = cash_forecast(session=session, as_of=TODAY, predicted=predicted)
    assert forecast.source == "model"
    got = [w.expected for w in forecast.weeks[:4]]
    assert got == [Decimal("350.00"), Decimal("210.00"), Decimal("500.00"), Decimal("0.00")]
    assert forecast.later == Decimal("140.00")  # unlikely within 13 weeks: shown apart
    first = forecast.weeks[0]
    assert first.low == Decimal("0.00") and first.high == Decimal("798.54")
    assert forecast.weeks[0].start == TODAY + dt.timedelta(days=1)
    # every euro open is somewhere: the weeks and the doubtful part
    assert sum(w.expected for w in forecast.weeks) + forecast.later == Decimal("1200.00")


def test_the_interval_uses_the_models_calibrated_multipliers(session):
    """A model carrying multipliers calibrated on its past forecasts (model.forecast_interval):
    week 1 is 350 with sd 350, so −0.5 … +2.0 sd is 175 … 1,050."""
    _ledger(session)
    weeks = {f"w{k}": [0.0] for k in range(1, WEEKS + 1)}
    weeks["w1"], weeks["w2"] = [0.5], [0.3]
    predicted = pd.DataFrame({"invoice_id": ["K5"], **weeks, "later": [0.2],
                              "expected_days_late": [10.0], "interval_low": [-0.5],
                              "interval_high": [2.0]})
    first = cash_forecast(session=session, as_of=TODAY, predicted=predicted).weeks[0]
    assert (first.expected, first.low, first.high) == (Decimal("350.00"), Decimal("175.00"),
                                                       Decimal("1050.00"))
