"""RiskService on a hand-built ledger: every open invoice gets an answer (rules without a model),
conditional on being unpaid today, worked out by hand below.

Customer K pays every invoice 10 days late (four settled: 2026-01 … 2026-04) and owes a fifth,
due 2026-05-31, partly paid (300 of 1000): on 2026-06-05 it is 5 days late.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from ledger.effects import ingest_and_apply
from ledger.schemas import IngestBatch
from model.survival import GENERIC_HAZARDS, PRIOR_STRENGTH
from serving.risk import RiskService

D = dt.date.fromisoformat
TODAY = D("2026-06-05")


def _ledger(session) -> None:
    invoices, payments = [], []
    for month in range(1, 5):
        due = D(f"2026-{month:02d}-28")
        invoices.append({"invoice_id": f"K{month}", "customer_id": "K",
                         "issue_date": due - dt.timedelta(days=30), "due_date": due,
                         "amount": Decimal("1000")})
        payments.append({"payment_id": f"P{month}", "customer_id": "K",
                         "paid_on": due + dt.timedelta(days=10), "amount": Decimal("1000"),
                         "invoice_id": f"K{month}"})
    invoices.append({"invoice_id": "K5", "customer_id": "K", "issue_date": D("2026-05-01"),
                     "due_date": D("2026-05-31"), "amount": Decimal("1000")})
    payments.append({"payment_id": "P5", "customer_id": "K", "paid_on": D("2026-06-02"),
                     "amount": Decimal("300"), "invoice_id": "K5"})
    batch = IngestBatch.model_validate({
        "customers": [{"customer_id": "K", "name": "Kappa"}],
        "invoices": invoices, "payments": payments})
    ingest_and_apply(today=dt.date.today(), session=session, batch=batch, actor="test", source="test")
    session.commit()


def test_rules_answer_every_open_invoice_conditionally(session):
    _ledger(session)
    service = RiskService()  # never reloaded: no model
    risks = service.risk_for(session, ["K5"], TODAY)
    risk = risks["K5"]
    assert risk.source == "rules"
    # by hand: the four settled invoices are events in bin 2 (7-14 days late) and at risk in
    # bins 0-2; the open one (5 days late) is at risk in bin 0 only (bin 1 not over yet)
    prior, m = GENERIC_HAZARDS, PRIOR_STRENGTH
    h1 = (0 + m * prior[1]) / (4 + m)
    h2 = (4 + m * prior[2]) / (4 + m)
    h3, h4, h5 = prior[3], prior[4], prior[5]  # (14, 21], (21, 30], (30, 45]: nobody at risk
    # unpaid 5 days late → unpaid 35 days late: rest of bin 1 (2 of 7 days), bins 2 to 4,
    # then 5 of bin 5's 15 days
    expected_30 = (1 - h1) ** (2 / 7) * (1 - h2) * (1 - h3) * (1 - h4) * (1 - h5) ** (5 / 15)
    assert risk.p_unpaid_30 == pytest.approx(expected_30, rel=1e-9)
    assert risk.p_late == 1.0  # already late
    assert 0 < risk.p_unpaid_90 < risk.p_unpaid_30 < 1
    # as likely as not paid by the end of bin 2 (h2 = 0.7): within 14 days late
    assert TODAY < risk.expected_pay_date <= D("2026-06-14")


def test_customer_risk_reports_the_balance_owed(session):
    _ledger(session)
    answer = RiskService().customer_risk(session=session, customer_id="K", today=TODAY)
    assert answer["basis"] == "rules"
    assert answer["open_invoices"] == 1
    assert answer["open_amount"] == 700.0  # 1000 − 300 paid, as on the customer record
    assert 0 <= answer["score"] <= 1000 and answer["grade"] in "ABCDE"
