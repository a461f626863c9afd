"""Contacts an agent records: notes on a customer and calls with their outcome (a call is a
sent dunning action; it closes the customer's planned call tasks).
"""
from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel
from sqlalchemy import select
from sqlmodel import Session

from ledger.actions import close_planned_calls
from ledger.audit import audit
from ledger.errors import (
    FieldError,
    LedgerValidationError,
    NotFoundError,
)
from ledger.schemas import (
    Id,
    NoteText,
)
from ledger.tables import (
    Customer,
    CustomerNote,
    DunningAction,
    Invoice,
    utcnow,
)

CALL_OUTCOMES = ("reached_promised", "reached_refused", "reached_disputed", "no_answer",
                 "wrong_number", "left_message")


CallOutcome = Literal["reached_promised", "reached_refused", "reached_disputed", "no_answer",
                      "wrong_number", "left_message"]


class CallIn(BaseModel):
    customer_id: Id
    invoice_id: Id | None = None
    outcome: CallOutcome
    note: NoteText | None = None


def add_note(*, session: Session, customer_id: str, author: str, body: str) -> CustomerNote:
    if session.get(Customer, customer_id) is None:
        raise NotFoundError("customer", customer_id)
    note = CustomerNote(customer_id=customer_id, author=author, body=body)
    session.add(note)
    session.flush()
    audit(session, actor=author, action="create", entity="customer_note", entity_id=str(note.id),
          after={"customer_id": customer_id, "body": body})
    return note


def list_notes(*, session: Session, customer_id: str, limit: int = 100) -> list[CustomerNote]:
    if session.get(Customer, customer_id) is None:
        raise NotFoundError("customer", customer_id)
    return list(session.execute(select(CustomerNote).where(CustomerNote.customer_id == customer_id)
                                .order_by(CustomerNote.created_at.desc(), CustomerNote.id.desc())
                                .limit(limit)).scalars())


def log_call(*, session: Session, data: CallIn, actor: str, today: dt.date) -> DunningAction:
    """A call an agent made, logged as a sent action with its outcome (it counts as a contact)."""
    if session.get(Customer, data.customer_id) is None:
        raise NotFoundError("customer", data.customer_id)
    if data.invoice_id is not None:
        invoice = session.get(Invoice, data.invoice_id)
        if invoice is None or invoice.customer_id != data.customer_id:
            raise LedgerValidationError([FieldError("invoice_id",
                                                    f"{data.invoice_id!r} is not an invoice of {data.customer_id!r}")])
    # step stays empty: the (invoice_id, step) key is for planned steps, calls may repeat
    action = DunningAction(customer_id=data.customer_id, invoice_id=data.invoice_id, action="call",
                           channel="call", send_on=today, state="sent", sent_at=utcnow(), closed_on=today,
                           outcome=data.outcome, created_by=actor, attempts=1)
    session.add(action)
    if data.note:
        session.add(CustomerNote(customer_id=data.customer_id, author=actor, body=data.note))
    # the customer's call task (one per day, listing its invoices) is done: the next steps'
    # delays run from today
    close_planned_calls(session, customer_id=data.customer_id, on=today, actor=actor)
    session.flush()
    audit(session, actor=actor, action="call", entity="dunning_action", entity_id=str(action.id),
          after={"customer_id": data.customer_id, "invoice_id": data.invoice_id,
                 "outcome": data.outcome, "note": data.note})
    return action

