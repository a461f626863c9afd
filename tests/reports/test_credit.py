"""Credit limits: exposure against limit, alerts at 80 % and over, one webhook event per
crossing, and next-action advising to block new orders."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlmodel import select

from ledger import credit, fx
from ledger.effects import ingest_and_apply
from ledger.schemas import IngestBatch
from ledger.tables import Event

TODAY = dt.date.today()
M = Decimal


def push(session, **batch):
    ingest_and_apply(today=dt.date.today(), session=session, batch=IngestBatch.model_validate(batch), actor="test")
    session.commit()


def invoice(invoice_id, customer_id, amount, currency="EUR"):
    return {"invoice_id": invoice_id, "customer_id": customer_id, "amount": amount, "currency": currency,
            "issue_date": (TODAY - dt.timedelta(days=40)).isoformat(),
            "due_date": (TODAY - dt.timedelta(days=10)).isoformat()}


def events(session):
    return [(e.entity_id, e.payload["exposure"]) for e in
            session.exec(select(Event).where(Event.type == "credit.limit_exceeded").order_by(Event.id))]


@pytest.mark.parametrize(("exposure", "limit", "status"), [
    ("0", None, "no_limit"), ("100", "1000", "ok"), ("799.99", "1000", "ok"), ("800", "1000", "warning"),
    ("1000", "1000", "warning"), ("1000.01", "1000", "over"), ("0", "0", "ok"), ("1", "0", "over")])
def test_credit_status(exposure, limit, status):
    assert credit.credit_status(M(exposure), None if limit is None else M(limit)) == status


def test_exposure_in_the_customers_currency(session):
    fx.store_rates(session=session, rates=[fx.RateIn("GBP", TODAY - dt.timedelta(days=1), M("0.80"))])
    push(session, customers=[{"customer_id": "G", "currency": "GBP", "credit_limit": "1000"},
                             {"customer_id": "N"}],
         invoices=[invoice("G1", "G", "700", "GBP"), invoice("G2", "G", "125", "EUR"),
                   invoice("G3", "G", "50", "USD"), invoice("N1", "N", "10")])
    by = {e.customer_id: e for e in credit.exposures(session=session, today=TODAY)}
    # 700 GBP + 125 EUR (= 100 GBP); 50 USD has no rate: named, not counted
    g = by["G"]
    assert (g.exposure, g.status, g.usage, g.headroom, g.unconverted) == (
        M("800.00"), "warning", 0.8, M("200.00"), ["USD"])
    assert by["N"].status == "no_limit" and by["N"].usage is None
    assert [e.customer_id for e in credit.alerts(session=session, today=TODAY)] == ["G"]


def test_one_event_per_crossing(session):
    push(session, customers=[{"customer_id": "C", "credit_limit": "1000"}],
         invoices=[invoice("I1", "C", "900")])
    assert events(session) == []                                   # 90 %: a warning, no event
    push(session, invoices=[invoice("I2", "C", "200")])
    assert events(session) == [("C", "1100.00")]                   # over: told once
    push(session, invoices=[invoice("I3", "C", "50")])
    push(session, invoices=[invoice("I3", "C", "50")])             # the same batch again
    assert len(events(session)) == 1                                # still over: not told again
    push(session, payments=[{"payment_id": "P1", "customer_id": "C", "paid_on": TODAY.isoformat(),
                             "amount": "1150", "invoice_id": None}])
    assert len(events(session)) == 1                                # back under (at 0)
    push(session, invoices=[invoice("I4", "C", "1500")])
    assert events(session)[-1] == ("C", "1500.00") and len(events(session)) == 2


def test_api_alerts_exposures_and_next_action(client, keys, session):
    push(session, customers=[{"customer_id": "A", "credit_limit": "1000", "name": "Over SA"},
                             {"customer_id": "B", "credit_limit": "1000"},
                             {"customer_id": "Z", "credit_limit": "1000"}],
         invoices=[invoice("A1", "A", "2950"), invoice("B1", "B", "850"), invoice("Z1", "Z", "10")])
    alerts = client.get("/api/v1/credit/alerts", headers=keys["analyst"]).json()
    assert [(a["customer_id"], a["status"], a["usage"]) for a in alerts] == [("A", "over", 2.95), ("B", "warning", 0.85)]
    page = client.get("/api/v1/credit/exposures?status=ok", headers=keys["analyst"]).json()
    assert [r["customer_id"] for r in page["items"]] == ["Z"] and page["counts"]["over"] == 1
    one = client.get("/api/v1/customers/A/credit", headers=keys["admin"]).json()
    assert one["exposure"] == "2950.00" and one["headroom"] == "-1950.00"
    # an agent sees only their portfolio: A is not theirs
    assert client.get("/api/v1/customers/A/credit", headers=keys["agent"]).status_code == 404
    assert client.get("/api/v1/credit/alerts", headers=keys["agent"]).json() == []
    action = client.get("/api/v1/invoices/A1/next-action", headers=keys["analyst"]).json()
    assert action["block_new_orders"] is True
    advice = next(r for r in action["reasons"] if r["code"] == "credit_limit_exceeded")
    assert "2 950,00 €" in advice["sentence"].replace("\u202f", " ").replace("\xa0", " ")
    assert "bloquer les nouvelles commandes" in advice["sentence"]
    near = client.get("/api/v1/invoices/B1/next-action?lang=en", headers=keys["analyst"]).json()
    assert near["block_new_orders"] is False
    assert any(r["code"] == "credit_limit_near" and "85%" in r["sentence"] for r in near["reasons"])
    assert client.get("/api/v1/credit/exposures?status=bad", headers=keys["analyst"]).status_code == 422
