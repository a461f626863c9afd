"""A hand-built ledger for the collections tests, loaded through the real ingestion route."""
from __future__ import annotations

import datetime as dt

import pytest

API = "/api/v1"
TODAY = dt.date(2025, 6, 30)


def invoice(invoice_id, customer_id, issue, due, amount, kind="invoice"):
    return {"invoice_id": invoice_id, "customer_id": customer_id, "issue_date": issue,
            "due_date": due, "amount": amount, "kind": kind}


def payment(payment_id, customer_id, paid_on, amount, invoice_id=None):
    return {"payment_id": payment_id, "customer_id": customer_id, "paid_on": paid_on,
            "amount": amount, "invoice_id": invoice_id}


# A: twice late, one invoice 76 days overdue   p = (2+1)/(2+3) = 0.6   value = 0.6·1000·3 = 1800
# B: twice on time, 5000 10 days overdue and 1000 not due   p = 1/5   value = 0.2·(5000 + 500) = 1100
# C: no history, 3000 not yet due   p = 1/3   value = 1/3 · 1500 = 500
# D: everything settled: not on the worklist
LEDGER = {
    "customers": [
        {"customer_id": "A", "name": "Alpha SARL", "segment": "pme"},
        {"customer_id": "B", "name": "Beta SA", "segment": "ge"},
        {"customer_id": "C", "name": "Gamma SAS", "segment": "pme", "language": "en"},
        {"customer_id": "D", "name": "Delta", "segment": "pme"},
    ],
    "invoices": [
        invoice("A1", "A", "2025-01-01", "2025-01-31", "100.00"),
        invoice("A2", "A", "2025-02-01", "2025-03-03", "100.00"),
        invoice("A3", "A", "2025-03-16", "2025-04-15", "1000.00"),
        invoice("B1", "B", "2025-01-01", "2025-01-31", "200.00"),
        invoice("B2", "B", "2025-02-01", "2025-03-03", "200.00"),
        invoice("B3", "B", "2025-05-21", "2025-06-20", "5000.00"),
        invoice("B4", "B", "2025-06-30", "2025-07-30", "1000.00"),
        invoice("C1", "C", "2025-06-15", "2025-07-15", "3000.00"),
        invoice("D1", "D", "2025-01-01", "2025-01-31", "50.00"),
    ],
    "payments": [
        payment("PA1", "A", "2025-02-20", "100.00", "A1"),
        payment("PA2", "A", "2025-03-20", "100.00", "A2"),
        payment("PB1", "B", "2025-01-25", "200.00", "B1"),
        payment("PB2", "B", "2025-03-01", "200.00", "B2"),
        payment("PD1", "D", "2025-01-20", "50.00", "D1"),
    ],
}


@pytest.fixture
def ledger(client, keys, app, db):
    """The hand-built ledger, ingested; the app's today pinned to TODAY; every customer in the
    portfolio of `keys["agent"]` (test-agent)."""
    from tests.conftest import give_portfolio

    app.state.today = TODAY
    response = client.post(f"{API}/ingest", json=LEDGER, headers=keys["billing"])
    assert response.status_code == 200, response.text
    give_portfolio(db)
    return LEDGER


@pytest.fixture
def agent_key(db):
    """A second agent, `bob`, with his own key."""
    from sqlmodel import Session

    from serving.auth import create_key

    with Session(db) as session:
        key = create_key(session=session, role="agent", name="bob")
        session.commit()
    return {"Authorization": f"Bearer {key}"}
