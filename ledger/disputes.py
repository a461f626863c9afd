"""Disputes: opening one on one or more invoices of a customer, the workflow, credit notes.

Dispute workflow (`TRANSITIONS`)::

    open                 → in_review | proposed_credit_note | resolved_credit_note | resolved_rejected | withdrawn
    in_review            → proposed_credit_note | resolved_credit_note | resolved_rejected | withdrawn
    proposed_credit_note → in_review | resolved_credit_note | resolved_rejected | withdrawn
    resolved_credit_note, resolved_rejected, withdrawn: final

An open, in-review or proposed dispute pauses dunning on every invoice it names
(`ledger.pauses`). A credit note writes money off, so only an analyst or an admin resolves
with one (the API checks the role, `may_resolve_with_credit_note`); an agent proposes it
(`proposed_credit_note`, with an optional amount kept on the dispute) for them to approve.
Resolving with a credit note ingests a credit note (kind=credit_note) for the proposed or
disputed amount through `ledger.ingest.ingest`, under an id the server draws (`CN-` and random
hex) that never names an existing record, so allocation is replayed: the credit goes to the
first disputed invoice (`applies_to`); the balance the customer owes drops by the credited
amount. Every change writes an audit row in the caller's transaction; the caller commits.
"""
from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlmodel import Session

from ledger.actions import (
    cancel_pending_for_invoices,
)
from ledger.audit import audit, json_safe
from ledger.effects import ingest_and_apply
from ledger.errors import (
    FieldError,
    IllegalTransitionError,
    LedgerConflictError,
    LedgerValidationError,
    NotFoundError,
)
from ledger.schemas import (
    AgentName,
    BusinessDate,
    Id,
    IngestBatch,
    InvoiceIn,
    Money,
    NoteText,
)
from ledger.tables import (
    Dispute,
    DisputeComment,
    DisputeDetail,
    DisputeInvoice,
    Invoice,
    record_event,
    utcnow,
)
from ledger.workflow import ACTIVE_DISPUTE, TRANSITIONS, DisputeStatus

CENT = Decimal("0.01")
ZERO = Decimal("0")


ReasonCode = Literal["price", "quantity", "quality", "not_delivered", "duplicate_invoice",
                     "already_paid", "other"]






CREDIT_NOTE_ROLES = ("admin", "analyst")




class DisputedInvoiceIn(BaseModel):
    invoice_id: Id
    # default: the invoice's open amount (its full amount once settled)
    amount: Money | None = Field(default=None, gt=0)


class DisputeCreate(BaseModel):
    dispute_id: Id | None = None
    invoices: list[DisputedInvoiceIn] = Field(min_length=1, max_length=200)
    reason: ReasonCode
    assignee: AgentName | None = None
    opened_on: BusinessDate | None = None
    comment: NoteText | None = None


class DisputeUpdate(BaseModel):
    status: DisputeStatus | None = None
    assignee: AgentName | None = None
    comment: NoteText | None = None
    # proposed_credit_note or resolved_credit_note only: credit less than the disputed amount
    # (a partial credit note); when resolving without it, the proposed amount, else all disputed
    credit_amount: Money | None = Field(default=None, gt=0)


def open_dispute(*, session: Session, data: DisputeCreate, actor: str, today: dt.date) -> Dispute:
    """Open a dispute on one or more invoices of one customer; pauses their dunning."""
    invoices = _dispute_invoices(session, data)
    customer_ids = {invoice.customer_id for invoice, _ in invoices}
    dispute_id = data.dispute_id or f"DSP-{uuid.uuid4().hex[:12].upper()}"
    if session.get(Dispute, dispute_id) is not None:
        raise LedgerConflictError([FieldError("dispute_id", f"dispute {dispute_id!r} already exists")])
    opened_on = data.opened_on or today
    if opened_on > today:
        raise LedgerValidationError([FieldError("opened_on", f"{opened_on} is in the future")])
    total = sum((amount for _, amount in invoices), ZERO)
    first = invoices[0][0]
    dispute = Dispute(dispute_id=dispute_id, invoice_id=first.invoice_id, opened_on=opened_on,
                      reason=data.reason, status=DisputeStatus.OPEN, amount=total, assignee=data.assignee)
    session.add(dispute)
    session.flush()
    for invoice, amount in invoices:
        session.add(DisputeInvoice(dispute_id=dispute_id, invoice_id=invoice.invoice_id, amount=amount))
    session.add(DisputeDetail(dispute_id=dispute_id, opened_by=actor, status_changed_at=utcnow()))
    if data.comment:
        session.add(DisputeComment(dispute_id=dispute_id, author=actor, body=data.comment))
    invoice_ids = [invoice.invoice_id for invoice, _ in invoices]
    after = {"customer_id": first.customer_id, "invoices": {i.invoice_id: a for i, a in invoices},
             "amount": total, "reason": data.reason, "status": DisputeStatus.OPEN, "assignee": data.assignee,
             "opened_on": opened_on}
    audit(session, actor=actor, action="open", entity="dispute", entity_id=dispute_id, after=after)
    record_event(session, type="dispute.opened", entity_id=dispute_id,
                 payload=json_safe({"customer_id": customer_ids.pop(), "invoice_ids": invoice_ids,
                                 "amount": total, "reason": data.reason}))
    cancel_pending_for_invoices(session, invoice_ids, reason=f"dispute {dispute_id}", actor=actor)
    session.flush()
    return dispute


def _dispute_invoices(session: Session, data: DisputeCreate) -> list[tuple[Invoice, Decimal]]:
    errors: list[FieldError] = []
    found: list[tuple[Invoice, Decimal]] = []
    seen: set[str] = set()
    for index, line in enumerate(data.invoices):
        field = f"invoices[{index}]"
        invoice = session.get(Invoice, line.invoice_id)
        if line.invoice_id in seen:
            errors.append(FieldError(f"{field}.invoice_id", f"invoice {line.invoice_id!r} is named twice"))
            continue
        seen.add(line.invoice_id)
        if invoice is None:
            errors.append(FieldError(f"{field}.invoice_id", f"unknown invoice {line.invoice_id!r}"))
            continue
        if invoice.kind != "invoice":
            errors.append(FieldError(f"{field}.invoice_id", f"{line.invoice_id!r} is a credit note, not an invoice"))
            continue
        amount = line.amount or (invoice.open_amount if invoice.open_amount > ZERO else invoice.amount)
        if amount > invoice.amount:
            errors.append(FieldError(f"{field}.amount",
                                     f"{amount} disputed exceeds the invoice amount {invoice.amount}"))
            continue
        found.append((invoice, Decimal(amount).quantize(CENT)))
    if len({invoice.customer_id for invoice, _ in found}) > 1:
        errors.append(FieldError("invoices", "the invoices of one dispute must belong to one customer"))
    if errors:
        raise LedgerValidationError(errors)
    return found


def get_dispute(*, session: Session, dispute_id: str) -> Dispute:
    dispute = session.get(Dispute, dispute_id)
    if dispute is None:
        raise NotFoundError("dispute", dispute_id)
    return dispute


def update_dispute(*, session: Session, dispute_id: str, data: DisputeUpdate, actor: str,
                   today: dt.date) -> Dispute:
    """Move a dispute along the workflow, reassign it, comment on it (each change audited)."""
    dispute = get_dispute(session=session, dispute_id=dispute_id)
    detail = session.get(DisputeDetail, dispute_id) or DisputeDetail(dispute_id=dispute_id)
    before = {"status": dispute.status, "assignee": dispute.assignee, "resolved_on": dispute.resolved_on}
    changed = "assignee" in data.model_fields_set and data.assignee != dispute.assignee
    if changed:
        dispute.assignee = data.assignee
    if data.credit_amount is not None and data.status not in (DisputeStatus.PROPOSED_CREDIT_NOTE, DisputeStatus.RESOLVED_CREDIT_NOTE):
        raise LedgerValidationError([FieldError(
            "credit_amount", "a credit amount only goes with status proposed_credit_note or resolved_credit_note")])
    if data.status is not None and data.status != dispute.status:
        _check_transition(dispute, data.status)
        dispute.status = data.status
        detail.status_changed_at = utcnow()
        if data.status not in ACTIVE_DISPUTE:
            dispute.resolved_on = today
        if data.status == DisputeStatus.PROPOSED_CREDIT_NOTE:
            detail.proposed_credit_amount = _credit_amount(session, dispute, data.credit_amount)
            detail.proposed_by = actor
        if data.status == DisputeStatus.RESOLVED_CREDIT_NOTE:
            amount = _credit_amount(session, dispute, data.credit_amount
                                    if data.credit_amount is not None else detail.proposed_credit_amount)
            detail.credit_note_id = _issue_credit_note(session, dispute, amount, actor, today)
        changed = True
    elif data.status is not None and data.status == dispute.status:
        raise IllegalTransitionError(f"The dispute {dispute_id} is already {dispute.status}.")
    if data.comment:
        session.add(DisputeComment(dispute_id=dispute_id, author=actor, body=data.comment))
        audit(session, actor=actor, action="comment", entity="dispute", entity_id=dispute_id,
              after={"comment": data.comment})
    if changed:
        dispute.updated_at = utcnow()
        session.add(dispute)
        session.add(detail)
        after = {"status": dispute.status, "assignee": dispute.assignee,
                 "resolved_on": dispute.resolved_on, "credit_note_id": detail.credit_note_id}
        audit(session, actor=actor, action="update", entity="dispute", entity_id=dispute_id,
              before=before, after=after)
        if before["status"] != dispute.status:
            record_event(session, type="dispute.status_changed", entity_id=dispute_id,
                         payload={"from": before["status"], "to": dispute.status})
    session.flush()
    return dispute


def _check_transition(dispute: Dispute, target: str) -> None:
    allowed = TRANSITIONS.get(dispute.status)
    if allowed is None:
        raise IllegalTransitionError(
            f"The dispute {dispute.dispute_id} has status {dispute.status!r}, which the workflow "
            "does not know; it cannot be changed here.")
    if target not in allowed:
        then = f"it can only go to {', '.join(allowed)}" if allowed else "its status is final"
        raise IllegalTransitionError(
            f"A dispute cannot go from {dispute.status} to {target}: {then}.")


def disputed_lines(session: Session, dispute: Dispute) -> list[tuple[str, Decimal]]:
    rows = session.execute(select(DisputeInvoice.invoice_id, DisputeInvoice.amount)
                           .where(DisputeInvoice.dispute_id == dispute.dispute_id)
                           .order_by(DisputeInvoice.invoice_id)).all()
    if rows:
        return [(invoice_id, Decimal(amount)) for invoice_id, amount in rows]
    # a dispute ingested from billing names one invoice and maybe no amount
    invoice = session.get(Invoice, dispute.invoice_id)
    amount = dispute.amount if dispute.amount is not None else (invoice.amount if invoice else ZERO)
    return [(dispute.invoice_id, Decimal(amount))]


def may_resolve_with_credit_note(role: str) -> bool:
    """A credit note writes money off: analysts and admins only; an agent proposes it."""
    return role in CREDIT_NOTE_ROLES


def _credit_amount(session: Session, dispute: Dispute, credit_amount: Decimal | None) -> Decimal:
    """The credit asked for (default: everything disputed), never more than what is disputed."""
    disputed = sum((amount for _, amount in disputed_lines(session, dispute)), ZERO)
    amount = Decimal(credit_amount) if credit_amount is not None else disputed
    if amount > disputed:
        raise LedgerValidationError([FieldError("credit_amount",
                                                f"{amount} exceeds the disputed amount {disputed}")])
    return amount


def new_credit_note_id(session: Session) -> str:
    """A credit-note id drawn by the server, free in the invoice table: a client never chooses
    it, so it can neither collide with nor overwrite an existing invoice or credit note."""
    while True:
        candidate = f"CN-{uuid.uuid4().hex[:16].upper()}"
        if session.get(Invoice, candidate) is None:
            return candidate


def _issue_credit_note(session: Session, dispute: Dispute, amount: Decimal, actor: str,
                       today: dt.date) -> str:
    invoice = session.get(Invoice, dispute.invoice_id)
    assert invoice is not None  # the foreign key guarantees it
    credit_note_id = new_credit_note_id(session)
    target = {}
    if "applies_to" in InvoiceIn.model_fields:
        # where credit notes may name their invoice, this one reduces the (first) disputed one
        target = {"applies_to": dispute.invoice_id}
    note = InvoiceIn(invoice_id=credit_note_id, customer_id=invoice.customer_id, issue_date=today,
                     due_date=today, amount=amount, currency=invoice.currency, kind="credit_note",
                     **target)
    ingest_and_apply(session=session, batch=IngestBatch(invoices=[note]), actor=actor, today=today, source="dispute")
    return credit_note_id


def add_dispute_comment(*, session: Session, dispute_id: str, author: str, body: str) -> DisputeComment:
    get_dispute(session=session, dispute_id=dispute_id)
    comment = DisputeComment(dispute_id=dispute_id, author=author, body=body)
    session.add(comment)
    audit(session, actor=author, action="comment", entity="dispute", entity_id=dispute_id,
          after={"comment": body})
    session.flush()
    return comment

