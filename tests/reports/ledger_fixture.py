"""A small hand-built ledger whose KPIs are worked out by hand in the tests.

Open at 2026-06-30 (days past due = 2026-06-30 − due date):
    I2  C1  600 − 200 paid 06-20 = 400  due 06-14  16 days   → 1–30
    I3  C1  500                          due 07-10  −10       → not due
    I9  C1  350                          due 05-01  60        → 31–60
    I10 C1  250                          due 04-01  90        → 61–90
    I4  C2  2000 − 100 credit note 06-05 due 03-31  91        → 91–180
    I5  C2  300                          due 06-30  0         → not due
    I6  C3  800 (paid 07-05, later)      due 05-31  30        → 1–30
    I7  C3  400                          due 2025-12-31  181  → > 180
Settled: I1 (C1, due 05-01, paid 05-11: 10 days late), I8 (C2, due 05-15, paid 05-10: −5),
I11 (C1, due 02-04, paid 02-24: 20 days late).
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlmodel import Session

from ledger.effects import ingest_and_apply
from ledger.schemas import IngestBatch
from ledger.tables import DunningAction

D = dt.date.fromisoformat
AS_OF = D("2026-06-30")


def _invoice(invoice_id, customer_id, issue, due, amount, kind="invoice"):
    return {"invoice_id": invoice_id, "customer_id": customer_id, "issue_date": issue,
            "due_date": due, "amount": Decimal(amount), "kind": kind}


def _payment(payment_id, customer_id, paid_on, amount, invoice_id):
    return {"payment_id": payment_id, "customer_id": customer_id, "paid_on": paid_on,
            "amount": Decimal(amount), "invoice_id": invoice_id}


def build_ledger(session: Session) -> None:
    batch = IngestBatch.model_validate({
        "customers": [
            {"customer_id": "C1", "name": "Alpha", "segment": "pme"},
            {"customer_id": "C2", "name": "Beta", "segment": "ge"},
            {"customer_id": "C3", "name": "Gamma", "segment": "pme"},
        ],
        "invoices": [
            _invoice("I1", "C1", "2026-04-01", "2026-05-01", "1000"),
            _invoice("I2", "C1", "2026-05-15", "2026-06-14", "600"),
            _invoice("I3", "C1", "2026-06-10", "2026-07-10", "500"),
            _invoice("I4", "C2", "2026-03-01", "2026-03-31", "2000"),
            _invoice("I5", "C2", "2026-06-01", "2026-06-30", "300"),
            _invoice("I6", "C3", "2026-05-01", "2026-05-31", "800"),
            _invoice("I7", "C3", "2025-12-01", "2025-12-31", "400"),
            _invoice("I8", "C2", "2026-04-15", "2026-05-15", "700"),
            _invoice("I9", "C1", "2026-04-01", "2026-05-01", "350"),
            _invoice("I10", "C1", "2026-03-15", "2026-04-01", "250"),
            _invoice("I11", "C1", "2026-01-05", "2026-02-04", "100"),
            _invoice("CN1", "C2", "2026-06-05", "2026-06-05", "100", kind="credit_note"),
        ],
        "payments": [
            _payment("P1", "C1", "2026-05-11", "1000", "I1"),
            _payment("P2", "C1", "2026-06-20", "200", "I2"),
            _payment("P3", "C3", "2026-07-05", "800", "I6"),
            _payment("P4", "C2", "2026-05-10", "700", "I8"),
            _payment("P5", "C1", "2026-02-24", "100", "I11"),
        ],
        "disputes": [
            {"dispute_id": "D1", "invoice_id": "I4", "opened_on": "2026-04-15", "reason": "price"},
            {"dispute_id": "D2", "invoice_id": "I6", "opened_on": "2026-06-01", "reason": "price",
             "status": "resolved_rejected", "resolved_on": "2026-06-20"},
            {"dispute_id": "D3", "invoice_id": "I7", "opened_on": "2026-06-25", "reason": "quality",
             "amount": "150"},
            {"dispute_id": "D4", "invoice_id": "I9", "opened_on": "2026-07-02", "reason": "quality"},
        ],
    })
    ingest_and_apply(today=dt.date.today(), session=session, batch=batch, actor="test")
    session.commit()


def _action(invoice_id, customer_id, step, channel, tone, send_on, state="sent"):
    return DunningAction(invoice_id=invoice_id, customer_id=customer_id, step=step, action=channel,
                         channel=channel, tone=tone, send_on=D(send_on), state=state)


def add_actions(session: Session) -> None:
    session.add_all([
        _action("I6", "C3", "reminder1", "email", "courteous", "2026-06-10"),   # settled 25 d later
        _action("I2", "C1", "reminder1", "email", "courteous", "2026-06-16"),   # never settled
        _action("I1", "C1", "reminder1", "email", "courteous", "2026-05-04"),   # settled 7 d later
        _action("I10", "C1", "reminder1", "email", "courteous", "2026-07-25"),  # too recent
        _action("I8", "C2", "reminder1", "email", "courteous", "2026-05-12"),   # paid before: out
        _action("I9", "C1", "reminder1", "email", "courteous", "2026-06-01", state="planned"),
        _action("I4", "C2", "reminder2", "call", "firm", "2026-06-20"),
    ])
    session.commit()
