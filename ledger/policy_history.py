"""What an active reminder policy reads of some customers' past, as of a cutoff date: their
settled invoices, their contacts, and their first reminders with whether they were paid within
14 days (``features.decisions.decision_features`` turns these into features, as the simulator
and the evaluation do). Plain column selects, a few queries per run chunk; only what happened
strictly before ``cutoff`` is read.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlmodel import Session

from ledger.actions import CONTACT_STATES
from ledger.tables import Customer, DunningAction, Invoice

CHUNK = 500


@dataclass
class PayerHistory:
    # settled invoices: (customer, due date, settled on)
    settled: list[tuple[str, dt.date, dt.date]]
    # contacts made: (customer, invoice, day, channel), oldest first
    contacts: list[tuple[str, str, dt.date, str]]
    # invoice → (due date, settled on or None) for the invoices contacted
    contacted: dict[str, tuple[dt.date, dt.date | None]]
    terms_days: dict[str, int | None]


def load(session: Session, customer_ids: Sequence[str], cutoff: dt.date) -> PayerHistory:
    ids = sorted(set(customer_ids))
    out = PayerHistory([], [], {}, {})
    connection = session.connection()
    for start in range(0, len(ids), CHUNK):
        part = ids[start:start + CHUNK]
        out.settled.extend(connection.execute(
            select(Invoice.customer_id, Invoice.due_date, Invoice.settled_on).where(
                Invoice.customer_id.in_(part), Invoice.kind == "invoice",
                Invoice.settled_on.is_not(None), Invoice.settled_on < cutoff)).all())
        out.contacts.extend(connection.execute(
            select(DunningAction.customer_id, DunningAction.invoice_id, DunningAction.send_on,
                   DunningAction.channel).where(
                DunningAction.customer_id.in_(part), DunningAction.state.in_(CONTACT_STATES),
                DunningAction.send_on < cutoff)).all())
        out.terms_days.update(connection.execute(
            select(Customer.customer_id, Customer.payment_terms_days).where(
                Customer.customer_id.in_(part))).all())
    invoices = sorted({invoice_id for _, invoice_id, _, _ in out.contacts})
    for start in range(0, len(invoices), CHUNK):
        rows = connection.execute(select(Invoice.invoice_id, Invoice.due_date, Invoice.settled_on)
                                  .where(Invoice.invoice_id.in_(invoices[start:start + CHUNK]))).all()
        out.contacted.update({invoice_id: (due, settled) for invoice_id, due, settled in rows})
    out.contacts.sort(key=lambda row: (row[2], row[1]))
    return out
