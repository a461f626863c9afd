"""A small hand-built ledger whose dunning plan on RUN_DATE is known by hand."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlmodel import Session

from ledger.effects import ingest_and_apply
from ledger.schemas import IngestBatch
from ledger.tables import DunningAction, Promise, PromiseInvoice

RUN_DATE = dt.date(2024, 6, 12)  # a Wednesday, no French public holiday near it


def _invoice(invoice_id: str, customer_id: str, due: dt.date, amount: str = "1000.00") -> dict:
    return {"invoice_id": invoice_id, "customer_id": customer_id,
            "issue_date": (due - dt.timedelta(days=30)).isoformat(), "due_date": due.isoformat(),
            "amount": amount}


def build_ledger(session: Session, *, email_c1: str | None = "compta@c1.example") -> None:
    """Expected on RUN_DATE (scenario `standard`, no model):
    - C1: I1 due in 5 days → pre-due courteous email; I2 5 days late → first reminder email;
      both in ONE reminder; I3 settled → nothing.
    - C2: I4 42 days late, nothing done yet → first reminder email (first step not done).
    - C3: I5 late but disputed → nothing.   - C4: I6 late under an active promise → nothing.
    - C5: I7 12 days late, first reminder sent on 3 June → call task.
    """
    batch = IngestBatch.model_validate({
        "customers": [
            {"customer_id": "C1", "name": "Boulangerie Un", "email": email_c1},
            {"customer_id": "C2", "name": "Deux SARL", "email": "c2@example.com", "language": "en"},
            {"customer_id": "C3", "name": "Trois SA"},
            {"customer_id": "C4", "name": "Quatre SAS"},
            {"customer_id": "C5", "name": "Cinq & Cie", "phone": "+33100000000"},
        ],
        "invoices": [
            _invoice("I1", "C1", RUN_DATE + dt.timedelta(days=5)),
            _invoice("I2", "C1", RUN_DATE - dt.timedelta(days=5), "250.50"),
            _invoice("I3", "C1", RUN_DATE - dt.timedelta(days=20)),
            _invoice("I4", "C2", RUN_DATE - dt.timedelta(days=42), "5000.00"),
            _invoice("I5", "C3", RUN_DATE - dt.timedelta(days=15)),
            _invoice("I6", "C4", RUN_DATE - dt.timedelta(days=15)),
            _invoice("I7", "C5", RUN_DATE - dt.timedelta(days=12)),
        ],
        "payments": [{"payment_id": "P3", "customer_id": "C1", "invoice_id": "I3",
                      "paid_on": (RUN_DATE - dt.timedelta(days=19)).isoformat(), "amount": "1000.00"}],
        "disputes": [{"dispute_id": "D5", "invoice_id": "I5",
                      "opened_on": (RUN_DATE - dt.timedelta(days=3)).isoformat()}],
    })
    ingest_and_apply(today=dt.date.today(), session=session, batch=batch, actor="test")
    session.add(Promise(promise_id="PR6", customer_id="C4", amount=Decimal("1000"),
                        promised_date=RUN_DATE + dt.timedelta(days=8),
                        created_on=RUN_DATE - dt.timedelta(days=2)))
    session.flush()
    session.add(PromiseInvoice(promise_id="PR6", invoice_id="I6"))
    session.add(DunningAction(customer_id="C5", invoice_id="I7", run_date=dt.date(2024, 6, 3),
                              scenario="standard", step="first_reminder", action="email",
                              channel="email", tone="neutral", send_on=dt.date(2024, 6, 3),
                              state="sent"))
    session.commit()


EXPECTED = {
    ("I1", "pre_due_email", "email"),
    ("I2", "first_reminder", "email"),
    ("I4", "first_reminder", "email"),
    ("I7", "call", "call"),
}
