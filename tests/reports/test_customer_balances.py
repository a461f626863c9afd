"""A customer's balances never add currencies: the customer record, its credit exposure and the
balance the dunning policy compares with its thresholds, on a hand-built ledger in three currencies.

Customer G keeps its books in GBP (limit 1,000 GBP); today it owes
    G1  700.00 GBP  due 10 days ago   (overdue)
    G2  125.00 EUR  due 10 days ago   (overdue)  = 100.00 GBP at 1 EUR = 0.80 GBP (yesterday's rate)
    G3   50.00 USD  due in 10 days               no USD rate: named, never counted 1:1
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from ledger import fx
from ledger import run_facts as facts_store
from ledger.effects import ingest_and_apply
from ledger.schemas import IngestBatch
from serving.decisions import customer_state

TODAY = dt.date.today()
YESTERDAY = TODAY - dt.timedelta(days=1)
M = Decimal


def _invoice(invoice_id, amount, currency, due_in_days):
    return {"invoice_id": invoice_id, "customer_id": "G", "amount": amount, "currency": currency,
            "issue_date": (TODAY - dt.timedelta(days=40)).isoformat(),
            "due_date": (TODAY + dt.timedelta(days=due_in_days)).isoformat()}


def _build(session):
    fx.store_rates(session=session, rates=[fx.RateIn("GBP", YESTERDAY, M("0.80"))])
    ingest_and_apply(today=dt.date.today(), session=session, actor="test", batch=IngestBatch.model_validate({
        "customers": [{"customer_id": "G", "currency": "GBP", "credit_limit": "1000", "name": "Pound Ltd"}],
        "invoices": [_invoice("G1", "700", "GBP", -10), _invoice("G2", "125", "EUR", -10),
                     _invoice("G3", "50", "USD", 10)]}))
    session.commit()


def test_customer_record_keeps_currencies_apart(client, keys, session):
    _build(session)
    record = client.get("/api/v1/customers/G", headers=keys["analyst"]).json()
    assert record["by_currency"] == [
        {"currency": "EUR", "open_invoices": 1, "open_balance": "125.00", "overdue_invoices": 1, "overdue_balance": "125.00"},
        {"currency": "GBP", "open_invoices": 1, "open_balance": "700.00", "overdue_invoices": 1, "overdue_balance": "700.00"},
        {"currency": "USD", "open_invoices": 1, "open_balance": "50.00", "overdue_invoices": 0, "overdue_balance": "0.00"},
    ]
    # in the customer's GBP: 700 + 125 × 0.80; the USD is left out and said so (not 875 or 925)
    assert (record["currency"], record["open_balance"], record["overdue_balance"]) == ("GBP", "800.00", "800.00")
    assert record["unconverted"] == ["USD"] and record["rate_date"] == YESTERDAY.isoformat()
    assert (record["open_invoices"], record["overdue_invoices"]) == (3, 2)
    # the credit exposure is the record's open balance, with the same currency left out
    credit = client.get("/api/v1/customers/G/credit", headers=keys["analyst"]).json()
    assert (credit["exposure"], credit["unconverted"], credit["status"]) == ("800.00", ["USD"], "warning")


def test_customer_record_without_any_rate(client, keys, session):
    _build(session)
    session.exec(fx.ExchangeRate.__table__.delete())  # no rate at all: only the GBP invoice counts
    session.commit()
    record = client.get("/api/v1/customers/G", headers=keys["analyst"]).json()
    assert (record["open_balance"], record["unconverted"], record["rate_date"]) == ("700.00", ["EUR", "USD"], None)


def test_the_policy_sees_the_balance_in_the_invoices_currency(session):
    _build(session)
    facts = facts_store.load_chunk(session, lo="G", hi="G", run_date=TODAY)
    customer, invoices = facts.customers["G"], [i for i in facts.invoices if i.customer_id == "G"]
    by_currency = {code: customer_state(customer, invoices, TODAY, code) for code in ("GBP", "EUR", "USD")}
    assert {code: (s.open_balance, s.overdue_balance) for code, s in by_currency.items()} == {
        "GBP": (M("700.00"), M("700.00")), "EUR": (M("125.00"), M("125.00")), "USD": (M("50.00"), M("0"))}


def test_rates_import_answers_the_ledgers_report(client, keys):
    body = {"rates": [{"currency": "GBP", "rate_date": YESTERDAY.isoformat(), "rate": "0.8"},
                      {"currency": "USD", "rate_date": TODAY.isoformat(), "rate": "1.25"}]}
    answer = client.post("/api/v1/fx/rates", json=body, headers=keys["analyst"]).json()
    assert answer == {"rows": 2, "created": 2, "updated": 0, "unchanged": 0, "first_date": YESTERDAY.isoformat(),
                      "last_date": TODAY.isoformat(), "currencies": ["GBP", "USD"], "skipped_currencies": []}
    again = client.post("/api/v1/fx/rates", json=body, headers=keys["analyst"]).json()
    assert (again["created"], again["unchanged"]) == (0, 2)
