"""Collections workbench: disputes, promises to pay, notes, call outcomes, assignments, worklist.

Pure ledger logic (no ML): the worklist ranks on a probability of late payment that is either
given by the caller (a model, through `risk`) or, by default, the payer's own past late share
computed in SQL. Every change writes an `AuditLog` row (who, what, before, after) in the caller's
transaction; the caller commits.

Dispute workflow (`TRANSITIONS`)::

    open       → in_review | resolved_credit_note | resolved_rejected | withdrawn
    in_review  → resolved_credit_note | resolved_rejected | withdrawn
    resolved_credit_note, resolved_rejected, withdrawn: final

An open or in-review dispute pauses dunning on every invoice it names (`paused_invoice_ids`).
Resolving with a credit note ingests a credit note (kind=credit_note) for the disputed amount
through `ledger.ingest.ingest`, so allocation is replayed: like every credit note, its credit goes
to the customer's OLDEST open invoices first (not necessarily the disputed one); the balance the
customer owes drops by the credited amount either way.
"""
from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Annotated, Any, Literal

import pandas as pd
from pydantic import BaseModel, Field, StringConstraints
from sqlalchemy import Index, and_, case, func, or_, select, text, update
from sqlmodel import Field as SQLField
from sqlmodel import Session, SQLModel

from ledger.errors import FieldError, LedgerError, LedgerValidationError, NotFoundError
from ledger.frames import DATE_COLUMNS, PROMISE_COLUMNS
from ledger.models import (MONEY, AuditLog, Customer, CustomerNote, Dispute, DunningAction,
                           Invoice, Payment, Promise, PromiseInvoice, record_event, utcnow)
from ledger.schemas import Id, IngestBatch, InvoiceIn, Money

CENT = Decimal("0.01")
ZERO = Decimal("0")
# a payment arriving a few days after the promised date still keeps the promise (bank delays)
PROMISE_GRACE_DAYS = 3
Language = Literal["fr", "en"]


# --- tables (migration 0004) -------------------------------------------------------------------

class DisputeInvoice(SQLModel, table=True):
    """One invoice of a dispute, with the amount disputed on it (a dispute may name several)."""

    dispute_id: str = SQLField(foreign_key="dispute.dispute_id", primary_key=True, max_length=64)
    invoice_id: str = SQLField(foreign_key="invoice.invoice_id", primary_key=True, index=True,
                               max_length=64)
    amount: Decimal = SQLField(**MONEY)


class DisputeComment(SQLModel, table=True):
    id: int | None = SQLField(default=None, primary_key=True)
    dispute_id: str = SQLField(foreign_key="dispute.dispute_id", index=True, max_length=64)
    author: str = SQLField(max_length=100)
    body: str
    created_at: dt.datetime = SQLField(default_factory=utcnow)


class DisputeDetail(SQLModel, table=True):
    """What the workbench adds to a dispute (disputes ingested from billing may have none)."""

    dispute_id: str = SQLField(foreign_key="dispute.dispute_id", primary_key=True, max_length=64)
    opened_by: str | None = SQLField(default=None, max_length=100)
    status_changed_at: dt.datetime | None = None
    credit_note_id: str | None = SQLField(default=None, max_length=64)


# the worklist aggregates every invoice by customer: one covering index makes it an index scan
WORKLIST_INDEX = Index("ix_invoice_worklist", Invoice.__table__.c.customer_id,  # type: ignore[attr-defined]
                       Invoice.__table__.c.kind, Invoice.__table__.c.settled_on,  # type: ignore[attr-defined]
                       Invoice.__table__.c.due_date, Invoice.__table__.c.open_amount)  # type: ignore[attr-defined]
_OPEN = "settled_on IS NULL AND kind = 'invoice'"
OPEN_INDEX = Index("ix_invoice_open_exposure", Invoice.__table__.c.customer_id,  # type: ignore[attr-defined]
                   Invoice.__table__.c.due_date, Invoice.__table__.c.open_amount,  # type: ignore[attr-defined]
                   sqlite_where=text(_OPEN), postgresql_where=text(_OPEN))


# --- errors ------------------------------------------------------------------------------------

class IllegalTransitionError(LedgerError):
    """A status change the workflow does not allow (the API answers 409)."""


# --- reasons, statuses, labels -----------------------------------------------------------------

REASONS: dict[str, dict[str, str]] = {
    "price": {"fr": "Prix contesté", "en": "Price disputed"},
    "quantity": {"fr": "Quantité contestée", "en": "Quantity disputed"},
    "quality": {"fr": "Défaut de qualité", "en": "Quality issue"},
    "not_delivered": {"fr": "Marchandise ou prestation non livrée", "en": "Goods or service not delivered"},
    "duplicate_invoice": {"fr": "Facture en double", "en": "Duplicate invoice"},
    "already_paid": {"fr": "Facture déjà payée", "en": "Invoice already paid"},
    "other": {"fr": "Autre motif", "en": "Other reason"},
}
ReasonCode = Literal["price", "quantity", "quality", "not_delivered", "duplicate_invoice",
                     "already_paid", "other"]
ACTIVE_DISPUTE = ("open", "in_review")
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "open": ("in_review", "resolved_credit_note", "resolved_rejected", "withdrawn"),
    "in_review": ("resolved_credit_note", "resolved_rejected", "withdrawn"),
    "resolved_credit_note": (),
    "resolved_rejected": (),
    "withdrawn": (),
}
DisputeStatus = Literal["open", "in_review", "resolved_credit_note", "resolved_rejected", "withdrawn"]
CALL_OUTCOMES = ("reached_promised", "reached_refused", "reached_disputed", "no_answer",
                 "wrong_number", "left_message")
CallOutcome = Literal["reached_promised", "reached_refused", "reached_disputed", "no_answer",
                      "wrong_number", "left_message"]
Agent = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000)]


# --- input and output models (the API uses them as bodies and response models) ----------------

class DisputedInvoiceIn(BaseModel):
    invoice_id: Id
    # default: the invoice's open amount (its full amount once settled)
    amount: Money | None = Field(default=None, gt=0)


class DisputeCreate(BaseModel):
    dispute_id: Id | None = None
    invoices: list[DisputedInvoiceIn] = Field(min_length=1, max_length=200)
    reason: ReasonCode
    assignee: Agent | None = None
    opened_on: dt.date | None = None
    comment: Text | None = None


class DisputeUpdate(BaseModel):
    status: DisputeStatus | None = None
    assignee: Agent | None = None
    comment: Text | None = None
    # resolved_credit_note only: credit less than the disputed amount (a partial credit note)
    credit_amount: Money | None = Field(default=None, gt=0)


class DisputedInvoiceOut(BaseModel):
    invoice_id: str
    amount: Decimal


class CommentOut(BaseModel):
    author: str
    body: str
    created_at: dt.datetime


class DisputeOut(BaseModel):
    dispute_id: str
    customer_id: str
    invoices: list[DisputedInvoiceOut]
    amount: Decimal
    reason: str | None
    reason_label: str | None
    status: str
    assignee: str | None
    opened_on: dt.date
    opened_by: str | None
    resolved_on: dt.date | None
    age_days: int  # SLA age: days open so far, or until resolution
    status_changed_at: dt.datetime | None
    credit_note_id: str | None
    allowed_transitions: list[str]
    comments: list[CommentOut]
    created_at: dt.datetime
    updated_at: dt.datetime


class PromiseCreate(BaseModel):
    promise_id: Id | None = None
    customer_id: Id
    amount: Money = Field(gt=0)
    promised_date: dt.date
    # default: every open invoice of the customer
    invoice_ids: list[Id] = Field(default_factory=list, max_length=500)
    note: Text | None = None


class PromiseUpdate(BaseModel):
    status: Literal["cancelled"] | None = None
    promised_date: dt.date | None = None
    note: Text | None = None


class PromiseOut(BaseModel):
    promise_id: str
    customer_id: str
    amount: Decimal
    promised_date: dt.date
    status: str
    created_on: dt.date
    closed_on: dt.date | None
    created_by: str | None
    note: str | None
    invoice_ids: list[str]
    paid_so_far: Decimal


class PromiseEvaluation(BaseModel):
    kept: list[str]
    broken: list[str]
    still_open: int


class NoteOut(BaseModel):
    id: int
    customer_id: str
    author: str
    body: str
    created_at: dt.datetime


class CallIn(BaseModel):
    customer_id: Id
    invoice_id: Id | None = None
    outcome: CallOutcome
    note: Text | None = None


class CallOut(BaseModel):
    id: int
    customer_id: str
    invoice_id: str | None
    outcome: str
    created_by: str | None
    send_on: dt.date
    sent_at: dt.datetime | None


class AssignmentIn(BaseModel):
    agent: Agent | None  # None unassigns
    customer_ids: list[Id] = Field(min_length=1, max_length=10_000)


class AuditOut(BaseModel):
    id: int
    at: dt.datetime
    actor: str
    action: str
    entity: str
    entity_id: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None


# --- audit -------------------------------------------------------------------------------------

def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def audit(session: Session, *, actor: str, action: str, entity: str, entity_id: str | None,
          before: Mapping[str, Any] | None = None, after: Mapping[str, Any] | None = None) -> None:
    """One audit row in the caller's transaction (values made JSON-safe)."""
    session.add(AuditLog(actor=actor, action=action, entity=entity, entity_id=entity_id,
                         before=_plain(dict(before)) if before is not None else None,
                         after=_plain(dict(after)) if after is not None else None))


def list_audit(*, session: Session, entity: str | None = None, entity_id: str | None = None,
               limit: int = 100, offset: int = 0) -> list[AuditLog]:
    query = select(AuditLog)
    if entity is not None:
        query = query.where(AuditLog.entity == entity)
    if entity_id is not None:
        query = query.where(AuditLog.entity_id == entity_id)
    query = query.order_by(AuditLog.at.desc(), AuditLog.id.desc()).offset(offset).limit(limit)
    return list(session.execute(query).scalars())


# --- dunning pause -----------------------------------------------------------------------------

def _cancel_pending(session: Session, invoice_ids: Sequence[str], *, actor: str, reason: str) -> int:
    """Cancel the reminders already planned on invoices a dispute or promise now pauses (the
    next dunning run reads dispute and promise status itself)."""
    # imported here: the dunning engine is a sibling that may come to import this module
    from ledger.dunning import cancel_pending_for_invoices

    return cancel_pending_for_invoices(session, list(invoice_ids), reason=reason, actor=actor)


def paused_invoice_ids(*, session: Session, today: dt.date,
                       customer_ids: Sequence[str] | None = None) -> set[str]:
    """Invoices dunning must leave alone today: under an open or in-review dispute, or covered by
    an open promise to pay whose date has not passed."""
    active = Dispute.status.in_(ACTIVE_DISPUTE)
    main = select(Dispute.invoice_id).where(active)
    linked = (select(DisputeInvoice.invoice_id)
              .join(Dispute, Dispute.dispute_id == DisputeInvoice.dispute_id).where(active))
    promised = (select(PromiseInvoice.invoice_id)
                .join(Promise, Promise.promise_id == PromiseInvoice.promise_id)
                .where(Promise.status == "open", Promise.promised_date >= today))
    if customer_ids is not None:
        owned = select(Invoice.invoice_id).where(Invoice.customer_id.in_(list(customer_ids)))
        main, linked = (main.where(Dispute.invoice_id.in_(owned)),
                        linked.where(DisputeInvoice.invoice_id.in_(owned)))
        promised = promised.where(Promise.customer_id.in_(list(customer_ids)))
    found: set[str] = set()
    for query in (main, linked, promised):
        found.update(session.execute(query).scalars())
    return found


# --- disputes ----------------------------------------------------------------------------------

def reason_labels(language: Language = "fr") -> list[dict[str, str]]:
    return [{"code": code, "label": labels[language], "fr": labels["fr"], "en": labels["en"]}
            for code, labels in REASONS.items()]


def open_dispute(*, session: Session, data: DisputeCreate, actor: str, today: dt.date) -> Dispute:
    """Open a dispute on one or more invoices of one customer; pauses their dunning."""
    invoices = _dispute_invoices(session, data)
    customer_ids = {invoice.customer_id for invoice, _ in invoices}
    dispute_id = data.dispute_id or f"DSP-{uuid.uuid4().hex[:12].upper()}"
    if session.get(Dispute, dispute_id) is not None:
        raise LedgerValidationError([FieldError("dispute_id", f"dispute {dispute_id!r} already exists")])
    opened_on = data.opened_on or today
    if opened_on > today:
        raise LedgerValidationError([FieldError("opened_on", f"{opened_on} is in the future")])
    total = sum((amount for _, amount in invoices), ZERO)
    first = invoices[0][0]
    dispute = Dispute(dispute_id=dispute_id, invoice_id=first.invoice_id, opened_on=opened_on,
                      reason=data.reason, status="open", amount=total, assignee=data.assignee)
    session.add(dispute)
    session.flush()
    for invoice, amount in invoices:
        session.add(DisputeInvoice(dispute_id=dispute_id, invoice_id=invoice.invoice_id, amount=amount))
    session.add(DisputeDetail(dispute_id=dispute_id, opened_by=actor, status_changed_at=utcnow()))
    if data.comment:
        session.add(DisputeComment(dispute_id=dispute_id, author=actor, body=data.comment))
    invoice_ids = [invoice.invoice_id for invoice, _ in invoices]
    after = {"customer_id": first.customer_id, "invoices": {i.invoice_id: a for i, a in invoices},
             "amount": total, "reason": data.reason, "status": "open", "assignee": data.assignee,
             "opened_on": opened_on}
    audit(session, actor=actor, action="open", entity="dispute", entity_id=dispute_id, after=after)
    record_event(session, type="dispute.opened", entity_id=dispute_id,
                 payload=_plain({"customer_id": customer_ids.pop(), "invoice_ids": invoice_ids,
                                 "amount": total, "reason": data.reason}))
    _cancel_pending(session, invoice_ids, actor=actor, reason=f"dispute {dispute_id}")
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
    if data.credit_amount is not None and data.status != "resolved_credit_note":
        raise LedgerValidationError([FieldError("credit_amount",
                                                "a credit amount only goes with status resolved_credit_note")])
    if data.status is not None and data.status != dispute.status:
        _check_transition(dispute, data.status)
        dispute.status = data.status
        detail.status_changed_at = utcnow()
        if data.status not in ACTIVE_DISPUTE:
            dispute.resolved_on = today
        if data.status == "resolved_credit_note":
            detail.credit_note_id = _issue_credit_note(session, dispute, data.credit_amount, actor, today)
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


def _disputed_lines(session: Session, dispute: Dispute) -> list[tuple[str, Decimal]]:
    rows = session.execute(select(DisputeInvoice.invoice_id, DisputeInvoice.amount)
                           .where(DisputeInvoice.dispute_id == dispute.dispute_id)
                           .order_by(DisputeInvoice.invoice_id)).all()
    if rows:
        return [(invoice_id, Decimal(amount)) for invoice_id, amount in rows]
    # a dispute ingested from billing names one invoice and maybe no amount
    invoice = session.get(Invoice, dispute.invoice_id)
    amount = dispute.amount if dispute.amount is not None else (invoice.amount if invoice else ZERO)
    return [(dispute.invoice_id, Decimal(amount))]


def _issue_credit_note(session: Session, dispute: Dispute, credit_amount: Decimal | None,
                       actor: str, today: dt.date) -> str:
    from ledger.ingest import ingest  # ingest imports nothing of this module; lazy keeps it light

    disputed = sum((amount for _, amount in _disputed_lines(session, dispute)), ZERO)
    amount = credit_amount if credit_amount is not None else disputed
    if amount > disputed:
        raise LedgerValidationError([FieldError("credit_amount",
                                                f"{amount} exceeds the disputed amount {disputed}")])
    invoice = session.get(Invoice, dispute.invoice_id)
    assert invoice is not None  # the foreign key guarantees it
    credit_note_id = f"CN-{dispute.dispute_id}"[:64]
    target = {}
    if "applies_to" in InvoiceIn.model_fields:
        # where credit notes may name their invoice, this one reduces the (first) disputed one
        target = {"applies_to": dispute.invoice_id}
    note = InvoiceIn(invoice_id=credit_note_id, customer_id=invoice.customer_id, issue_date=today,
                     due_date=today, amount=amount, currency=invoice.currency, kind="credit_note",
                     **target)
    ingest(session=session, batch=IngestBatch(invoices=[note]), actor=actor, source="dispute")
    return credit_note_id


def add_dispute_comment(*, session: Session, dispute_id: str, author: str, body: str) -> DisputeComment:
    get_dispute(session=session, dispute_id=dispute_id)
    comment = DisputeComment(dispute_id=dispute_id, author=author, body=body)
    session.add(comment)
    audit(session, actor=author, action="comment", entity="dispute", entity_id=dispute_id,
          after={"comment": body})
    session.flush()
    return comment


def list_disputes(*, session: Session, status: str | None = None, customer_id: str | None = None,
                  invoice_id: str | None = None, assignee: str | None = None, limit: int = 100,
                  offset: int = 0) -> list[Dispute]:
    query = select(Dispute).join(Invoice, Invoice.invoice_id == Dispute.invoice_id)
    if status == "active":
        query = query.where(Dispute.status.in_(ACTIVE_DISPUTE))
    elif status is not None:
        query = query.where(Dispute.status == status)
    if customer_id is not None:
        query = query.where(Invoice.customer_id == customer_id)
    if invoice_id is not None:
        named = select(DisputeInvoice.dispute_id).where(DisputeInvoice.invoice_id == invoice_id)
        query = query.where(or_(Dispute.invoice_id == invoice_id, Dispute.dispute_id.in_(named)))
    if assignee is not None:
        query = query.where(Dispute.assignee == assignee)
    query = query.order_by(Dispute.opened_on, Dispute.dispute_id).offset(offset).limit(limit)
    return list(session.execute(query).scalars())


def dispute_views(*, session: Session, disputes: Sequence[Dispute], today: dt.date,
                  language: Language = "fr") -> list[DisputeOut]:
    """Disputes with their invoices, comments, SLA age and the transitions still open to them."""
    ids = [d.dispute_id for d in disputes]
    if not ids:
        return []
    lines: dict[str, list[DisputedInvoiceOut]] = defaultdict(list)
    for row in session.execute(select(DisputeInvoice).where(DisputeInvoice.dispute_id.in_(ids))
                               .order_by(DisputeInvoice.invoice_id)).scalars():
        lines[row.dispute_id].append(DisputedInvoiceOut(invoice_id=row.invoice_id, amount=row.amount))
    comments: dict[str, list[CommentOut]] = defaultdict(list)
    for row in session.execute(select(DisputeComment).where(DisputeComment.dispute_id.in_(ids))
                               .order_by(DisputeComment.created_at, DisputeComment.id)).scalars():
        comments[row.dispute_id].append(CommentOut(author=row.author, body=row.body, created_at=row.created_at))
    details = {row.dispute_id: row for row in session.execute(
        select(DisputeDetail).where(DisputeDetail.dispute_id.in_(ids))).scalars()}
    owners = dict(session.execute(select(Invoice.invoice_id, Invoice.customer_id)
                                  .where(Invoice.invoice_id.in_({d.invoice_id for d in disputes}))).all())
    views = []
    for d in disputes:
        invoices = lines.get(d.dispute_id) or [
            DisputedInvoiceOut(invoice_id=invoice_id, amount=amount)
            for invoice_id, amount in _disputed_lines(session, d)]
        detail = details.get(d.dispute_id)
        labels = REASONS.get(d.reason or "")
        views.append(DisputeOut(
            dispute_id=d.dispute_id, customer_id=owners.get(d.invoice_id, ""), invoices=invoices,
            amount=sum((line.amount for line in invoices), ZERO), reason=d.reason,
            reason_label=labels[language] if labels else d.reason, status=d.status,
            assignee=d.assignee, opened_on=d.opened_on,
            opened_by=detail.opened_by if detail else None, resolved_on=d.resolved_on,
            age_days=max(((d.resolved_on or today) - d.opened_on).days, 0),
            status_changed_at=detail.status_changed_at if detail else None,
            credit_note_id=detail.credit_note_id if detail else None,
            allowed_transitions=list(TRANSITIONS.get(d.status, ())),
            comments=comments.get(d.dispute_id, []), created_at=d.created_at, updated_at=d.updated_at))
    return views


# --- promises to pay ---------------------------------------------------------------------------

def create_promise(*, session: Session, data: PromiseCreate, actor: str, today: dt.date) -> Promise:
    """Record a promise to pay; dunning pauses on its invoices until the promised date."""
    customer = session.get(Customer, data.customer_id)
    if customer is None:
        raise NotFoundError("customer", data.customer_id)
    errors: list[FieldError] = []
    if data.promised_date < today:
        errors.append(FieldError("promised_date", f"{data.promised_date} is already past"))
    invoice_ids = list(dict.fromkeys(data.invoice_ids))
    if invoice_ids:
        owned = dict(session.execute(select(Invoice.invoice_id, Invoice.customer_id)
                                     .where(Invoice.invoice_id.in_(invoice_ids))).all())
        for index, invoice_id in enumerate(data.invoice_ids):
            if owned.get(invoice_id) != data.customer_id:
                errors.append(FieldError(f"invoice_ids[{index}]",
                                         f"invoice {invoice_id!r} is not an invoice of {data.customer_id!r}"))
    else:
        invoice_ids = list(session.execute(
            select(Invoice.invoice_id).where(Invoice.customer_id == data.customer_id,
                                             Invoice.kind == "invoice", Invoice.settled_on.is_(None))
            .order_by(Invoice.due_date, Invoice.invoice_id)).scalars())
    promise_id = data.promise_id or f"PRM-{uuid.uuid4().hex[:12].upper()}"
    if session.get(Promise, promise_id) is not None:
        errors.append(FieldError("promise_id", f"promise {promise_id!r} already exists"))
    if errors:
        raise LedgerValidationError(errors)
    promise = Promise(promise_id=promise_id, customer_id=data.customer_id, amount=data.amount,
                      promised_date=data.promised_date, status="open", created_on=today,
                      created_by=actor, note=data.note)
    session.add(promise)
    session.flush()
    for invoice_id in invoice_ids:
        session.add(PromiseInvoice(promise_id=promise_id, invoice_id=invoice_id))
    audit(session, actor=actor, action="create", entity="promise", entity_id=promise_id,
          after={"customer_id": data.customer_id, "amount": data.amount,
                 "promised_date": data.promised_date, "invoice_ids": invoice_ids})
    record_event(session, type="promise.created", entity_id=promise_id,
                 payload=_plain({"customer_id": data.customer_id, "amount": data.amount,
                                 "promised_date": data.promised_date}))
    _cancel_pending(session, invoice_ids, actor=actor, reason=f"promise {promise_id}")
    session.flush()
    return promise


def get_promise(*, session: Session, promise_id: str) -> Promise:
    promise = session.get(Promise, promise_id)
    if promise is None:
        raise NotFoundError("promise", promise_id)
    return promise


def update_promise(*, session: Session, promise_id: str, data: PromiseUpdate, actor: str,
                   today: dt.date) -> Promise:
    """Cancel an open promise, move its date or change its note."""
    promise = get_promise(session=session, promise_id=promise_id)
    before = {"status": promise.status, "promised_date": promise.promised_date, "note": promise.note}
    if promise.status != "open" and (data.status or data.promised_date):
        raise IllegalTransitionError(f"The promise {promise_id} is already {promise.status}: "
                                     "only an open promise can be cancelled or rescheduled.")
    if data.promised_date is not None:
        if data.promised_date < today:
            raise LedgerValidationError([FieldError("promised_date", f"{data.promised_date} is already past")])
        promise.promised_date = data.promised_date
    if data.status == "cancelled":
        promise.status, promise.closed_on = "cancelled", today
    if "note" in data.model_fields_set:
        promise.note = data.note
    promise.updated_at = utcnow()
    session.add(promise)
    audit(session, actor=actor, action="update", entity="promise", entity_id=promise_id, before=before,
          after={"status": promise.status, "promised_date": promise.promised_date, "note": promise.note})
    session.flush()
    return promise


def list_promises(*, session: Session, status: str | None = None, customer_id: str | None = None,
                  limit: int = 100, offset: int = 0) -> list[Promise]:
    query = select(Promise)
    if status is not None:
        query = query.where(Promise.status == status)
    if customer_id is not None:
        query = query.where(Promise.customer_id == customer_id)
    query = query.order_by(Promise.promised_date, Promise.promise_id).offset(offset).limit(limit)
    return list(session.execute(query).scalars())


def promise_views(*, session: Session, promises: Sequence[Promise]) -> list[PromiseOut]:
    ids = [p.promise_id for p in promises]
    invoices: dict[str, list[str]] = defaultdict(list)
    if ids:
        for promise_id, invoice_id in session.execute(
                select(PromiseInvoice.promise_id, PromiseInvoice.invoice_id)
                .where(PromiseInvoice.promise_id.in_(ids)).order_by(PromiseInvoice.invoice_id)):
            invoices[promise_id].append(invoice_id)
    paid = _paid_towards(session, promises, today=None)
    return [PromiseOut(**p.model_dump(include=set(PromiseOut.model_fields) - {"invoice_ids", "paid_so_far"}),
                       invoice_ids=invoices.get(p.promise_id, []),
                       paid_so_far=paid.get(p.promise_id, (ZERO, None))[0])
            for p in promises]


def _paid_towards(session: Session, promises: Sequence[Promise],
                  today: dt.date | None) -> dict[str, tuple[Decimal, dt.date | None]]:
    """Per promise: the customer's payments dated in [created_on, promised_date + grace] (and
    ≤ today), and the date their running sum first reached the promised amount."""
    if not promises:
        return {}
    customers = sorted({p.customer_id for p in promises})
    query = (select(Payment.customer_id, Payment.paid_on, Payment.amount)
             .where(Payment.customer_id.in_(customers),
                    Payment.paid_on >= min(p.created_on for p in promises))
             .order_by(Payment.customer_id, Payment.paid_on, Payment.payment_id))
    if today is not None:
        query = query.where(Payment.paid_on <= today)
    by_customer: dict[str, list[tuple[dt.date, Decimal]]] = defaultdict(list)
    for customer_id, paid_on, amount in session.execute(query):
        by_customer[customer_id].append((paid_on, Decimal(amount)))
    result = {}
    for promise in promises:
        deadline = promise.promised_date + dt.timedelta(days=PROMISE_GRACE_DAYS)
        total, covered_on = ZERO, None
        for paid_on, amount in by_customer.get(promise.customer_id, []):
            if promise.created_on <= paid_on <= deadline:
                total += amount
                if covered_on is None and total >= promise.amount:
                    covered_on = paid_on
        result[promise.promise_id] = (total, covered_on)
    return result


def evaluate_promises(session: Session, customer_ids: Iterable[str] | None = None,
                      today: dt.date | None = None, *, actor: str = "system") -> PromiseEvaluation:
    """Close open promises the payments decide: kept once the customer's payments dated between
    the promise and its date + PROMISE_GRACE_DAYS sum to the promised amount; broken once that
    deadline has passed without it. Call after each ingestion (for the customers it touched)."""
    today = today or dt.date.today()
    query = select(Promise).where(Promise.status == "open")
    if customer_ids is not None:
        ids = sorted(set(customer_ids))
        if not ids:
            return PromiseEvaluation(kept=[], broken=[], still_open=0)
        query = query.where(Promise.customer_id.in_(ids))
    promises = list(session.execute(query.order_by(Promise.promise_id)).scalars())
    paid = _paid_towards(session, promises, today=today)
    kept, broken = [], []
    for promise in promises:
        total, covered_on = paid[promise.promise_id]
        deadline = promise.promised_date + dt.timedelta(days=PROMISE_GRACE_DAYS)
        if covered_on is not None:
            _close_promise(session, promise, "kept", covered_on, total, actor)
            kept.append(promise.promise_id)
        elif today > deadline:
            # broken from the first day after the grace period: that is when it became known
            _close_promise(session, promise, "broken", deadline + dt.timedelta(days=1), total, actor)
            broken.append(promise.promise_id)
    session.flush()
    return PromiseEvaluation(kept=kept, broken=broken, still_open=len(promises) - len(kept) - len(broken))


def _close_promise(session: Session, promise: Promise, status: str, on: dt.date, paid: Decimal,
                   actor: str) -> None:
    promise.status, promise.closed_on, promise.updated_at = status, on, utcnow()
    session.add(promise)
    audit(session, actor=actor, action=status, entity="promise", entity_id=promise.promise_id,
          before={"status": "open"}, after={"status": status, "closed_on": on, "paid": paid})
    record_event(session, type=f"promise.{status}", entity_id=promise.promise_id,
                 payload=_plain({"customer_id": promise.customer_id, "amount": promise.amount,
                                 "promised_date": promise.promised_date, "paid": paid}))


def promise_frame(session: Session, *, customer_ids: Sequence[str] | None = None) -> pd.DataFrame:
    """Promises as the ledger frames contract (`ledger.frames.PROMISE_COLUMNS`): one row per
    promise and invoice (invoice_id NaN for a promise naming none), dates as datetimes, amount
    as float. Features derive the payer's promise-keeping rate from `status` and `closed_on`."""
    query = (select(Promise.promise_id, Promise.customer_id, PromiseInvoice.invoice_id,
                    Promise.created_on, Promise.promised_date, Promise.amount, Promise.status,
                    Promise.closed_on)
             .outerjoin(PromiseInvoice, PromiseInvoice.promise_id == Promise.promise_id)
             .order_by(Promise.promise_id, PromiseInvoice.invoice_id))
    if customer_ids is not None:
        query = query.where(Promise.customer_id.in_(list(customer_ids)))
    frame = pd.DataFrame(session.execute(query).all(), columns=PROMISE_COLUMNS)
    for column in DATE_COLUMNS["promises"]:
        frame[column] = pd.to_datetime(frame[column])
    frame["amount"] = frame["amount"].astype(float)
    return frame


# --- notes, calls, assignments -----------------------------------------------------------------

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
    from ledger.dunning import close_planned_calls

    close_planned_calls(session, customer_id=data.customer_id, on=today, actor=actor)
    session.flush()
    audit(session, actor=actor, action="call", entity="dunning_action", entity_id=str(action.id),
          after={"customer_id": data.customer_id, "invoice_id": data.invoice_id,
                 "outcome": data.outcome, "note": data.note})
    return action


def assign_customers(*, session: Session, agent: str | None, customer_ids: Sequence[str],
                     actor: str) -> int:
    """Give customers to an agent (None: unassign); returns how many changed."""
    ids = list(dict.fromkeys(customer_ids))
    current = dict(session.execute(select(Customer.customer_id, Customer.assigned_agent)
                                   .where(Customer.customer_id.in_(ids))).all())
    missing = [c for c in ids if c not in current]
    if missing:
        raise LedgerValidationError([FieldError("customer_ids", f"unknown customer(s): {', '.join(missing[:10])}")])
    changing = [c for c in ids if current[c] != agent]
    if changing:
        session.execute(update(Customer).where(Customer.customer_id.in_(changing))
                        .values(assigned_agent=agent, updated_at=utcnow()))
        for customer_id in changing:
            audit(session, actor=actor, action="assign", entity="customer", entity_id=customer_id,
                  before={"assigned_agent": current[customer_id]}, after={"assigned_agent": agent})
    session.flush()
    return len(changing)


# --- worklist ----------------------------------------------------------------------------------
# value at risk of a customer = Σ over its open invoices of open_amount × p × w(days overdue),
# p = probability of late payment (model, or by default (late + 1) / (settled + 3) over the
# payer's settled invoices: a prior of one late in three for a payer without history),
# w = 0.5 not yet due, 1 for 1–30 days overdue, 2 for 31–60, 3 for 61–90, 4 beyond 90.

BUCKETS = ("not_due", "1-30", "31-60", "61-90", "90+")
BUCKET_WEIGHTS = {"not_due": Decimal("0.5"), "1-30": Decimal("1"), "31-60": Decimal("2"),
                  "61-90": Decimal("3"), "90+": Decimal("4")}
GRADES = (("A", 0.15), ("B", 0.30), ("C", 0.50), ("D", 0.70), ("E", 1.01))
PRIOR_LATE, PRIOR_SETTLED = 1.0, 3.0

Bucket = Literal["not_due", "1-30", "31-60", "61-90", "90+"]
Grade = Literal["A", "B", "C", "D", "E"]
# invoice ids → probability of late (or severe) payment; serving adapts its model to this
InvoiceRisk = Callable[[list[str]], Mapping[str, float]]


def grade_of(p: float) -> str:
    return next(grade for grade, upper in GRADES if p < upper)


def bucket_of(days_overdue: int) -> str:
    if days_overdue <= 0:
        return "not_due"
    if days_overdue <= 30:
        return "1-30"
    if days_overdue <= 60:
        return "31-60"
    return "61-90" if days_overdue <= 90 else "90+"


class ActionOut(BaseModel):
    action: str
    channel: str
    tone: str | None
    send_on: dt.date
    invoice_id: str | None  # the first of `invoices`
    step: str | None
    reminder_id: str | None = None
    state: str = "planned"
    invoices: list[str] = Field(default_factory=list)  # every invoice of this one task


class ContactOut(BaseModel):
    on: dt.date
    kind: Literal["reminder", "call", "note"]
    channel: str | None
    outcome: str | None
    by: str | None


class ReasonOut(BaseModel):
    code: str
    text: str


class WorklistRow(BaseModel):
    rank: int
    customer_id: str
    name: str | None
    segment: str | None
    assigned_agent: str | None
    value_at_risk: Decimal
    p_late: float
    grade: str
    risk_source: Literal["rules", "model"]
    open_amount: Decimal
    overdue_amount: Decimal
    open_invoices: int
    overdue_invoices: int
    days_overdue: int  # of the oldest open invoice (≤ 0: nothing overdue yet)
    bucket: str
    next_action: ActionOut | None
    last_contact: ContactOut | None
    open_disputes: int
    open_promises: int
    reasons: list[ReasonOut]


def worklist(*, session: Session, today: dt.date, agent: str | None = None, limit: int = 50,
             segment: str | None = None, grade: str | None = None, bucket: str | None = None,
             risk: InvoiceRisk | None = None, language: Language = "fr") -> list[WorklistRow]:
    """Customers with open invoices, ranked by value at risk (see the formula above).

    Exact top-`limit` with early stopping (a threshold algorithm): customers come from SQL in
    decreasing weighted open exposure W = Σ open_amount × w, in windows; p is computed only for
    the window's customers; since p ≤ 1 (< the grade's upper bound when filtering by grade), no
    customer beyond the window can beat W_last × p_max, so once the `limit`-th value reaches that
    bound the ranking is final. Only the returned page is enriched."""
    if limit < 1:
        raise LedgerValidationError([FieldError("limit", "must be at least 1")])
    upper = _grade_bounds(grade)[1] if grade is not None else 1.0
    window = max(limit * 20, 1000)
    while True:
        exposures = _exposures(session=session, today=today, agent=agent, segment=segment,
                               bucket=bucket, window=window)
        complete = len(exposures) < window
        scored = _score(session=session, rows=exposures, today=today, risk=risk, grade=grade,
                        everyone=complete and window > WHOLE_LEDGER_WINDOW)
        bound = float(exposures[-1]["weighted"]) * upper if exposures else 0.0
        if complete or (len(scored) >= limit and scored[limit - 1]["value_at_risk"] >= bound):
            return _enrich(session=session, rows=scored[:limit], today=today, language=language)
        window *= 4


# windows beyond this read the payer histories of the whole ledger in one grouped scan
WHOLE_LEDGER_WINDOW = 20_000


def _weight_case(today: dt.date):
    due = Invoice.due_date
    return case((due >= today, BUCKET_WEIGHTS["not_due"]),
                (due >= today - dt.timedelta(days=30), BUCKET_WEIGHTS["1-30"]),
                (due >= today - dt.timedelta(days=60), BUCKET_WEIGHTS["31-60"]),
                (due >= today - dt.timedelta(days=90), BUCKET_WEIGHTS["61-90"]),
                else_=BUCKET_WEIGHTS["90+"])


def _exposures(*, session: Session, today: dt.date, agent: str | None, segment: str | None,
               bucket: str | None, window: int) -> list[dict]:
    """Open-invoice aggregates per customer, by decreasing weighted exposure (a partial index
    holds only open invoices, so this reads a fifth of the ledger or less)."""
    overdue = Invoice.due_date < today
    weighted = func.sum(Invoice.open_amount * _weight_case(today))
    query = (select(Invoice.customer_id.label("customer_id"),
                    func.count().label("open_invoices"),
                    func.sum(case((overdue, 1), else_=0)).label("overdue_invoices"),
                    func.sum(Invoice.open_amount).label("open_amount"),
                    func.sum(case((overdue, Invoice.open_amount), else_=0)).label("overdue_amount"),
                    weighted.label("weighted"),
                    func.min(Invoice.due_date).label("oldest_due"))
             .where(Invoice.kind == "invoice", Invoice.settled_on.is_(None))
             .group_by(Invoice.customer_id))
    customers = select(Customer.customer_id)
    if agent is not None:
        customers = customers.where(Customer.assigned_agent == agent)
    if segment is not None:
        customers = customers.where(Customer.segment == segment)
    if agent is not None or segment is not None:
        query = query.where(Invoice.customer_id.in_(customers))
    if bucket is not None:
        query = query.having(_bucket_condition(bucket, today))
    query = query.order_by(weighted.desc(), Invoice.customer_id).limit(window)
    return [dict(row._mapping) for row in session.execute(query)]


def _histories(session: Session, customer_ids: list[str] | None) -> dict[str, tuple[int, int]]:
    """(settled, late) invoices per payer: for these customers, or everyone (None)."""
    query = (select(Invoice.customer_id, func.count(),
                    func.sum(case((Invoice.settled_on > Invoice.due_date, 1), else_=0)))
             .where(Invoice.kind == "invoice", Invoice.settled_on.is_not(None))
             .group_by(Invoice.customer_id))
    if customer_ids is None:
        return {c: (int(s), int(l)) for c, s, l in session.execute(query)}
    found: dict[str, tuple[int, int]] = {}
    for start in range(0, len(customer_ids), 5000):
        chunk = customer_ids[start:start + 5000]
        found.update({c: (int(s), int(l)) for c, s, l in
                      session.execute(query.where(Invoice.customer_id.in_(chunk)))})
    return found


def _score(*, session: Session, rows: list[dict], today: dt.date, risk: InvoiceRisk | None,
           grade: str | None, everyone: bool) -> list[dict]:
    """p and value at risk for a window of customers, ranked, the grade filter applied."""
    ids = [row["customer_id"] for row in rows]
    histories = _histories(session, None if everyone else ids) if ids else {}
    for row in rows:
        settled, late = histories.get(row["customer_id"], (0, 0))
        row.update(settled=settled, late=late,
                   p_late=(late + PRIOR_LATE) / (settled + PRIOR_SETTLED), risk_source="rules")
        row["value_at_risk"] = row["p_late"] * float(row["weighted"])
    if risk is not None and rows:
        _rescore(session=session, rows=rows, today=today, risk=risk)
    if grade is not None:
        rows = [row for row in rows if grade_of(row["p_late"]) == grade]
    return sorted(rows, key=lambda row: (-row["value_at_risk"], row["customer_id"]))


def _bucket_condition(bucket: str, today: dt.date):
    oldest = func.min(Invoice.due_date)
    days = {"1-30": (1, 30), "31-60": (31, 60), "61-90": (61, 90)}
    if bucket == "not_due":
        return oldest >= today
    if bucket == "90+":
        return oldest < today - dt.timedelta(days=90)
    if bucket not in days:
        raise LedgerValidationError([FieldError("bucket", f"unknown bucket {bucket!r}: one of {', '.join(BUCKETS)}")])
    low, high = days[bucket]
    return and_(oldest <= today - dt.timedelta(days=low), oldest >= today - dt.timedelta(days=high))


def _grade_bounds(grade: str) -> tuple[float, float]:
    lower = 0.0
    for name, upper in GRADES:
        if name == grade:
            return lower, upper
        lower = upper
    raise LedgerValidationError([FieldError("grade", f"unknown grade {grade!r}: one of A, B, C, D, E")])


def _rescore(*, session: Session, rows: list[dict], today: dt.date, risk: InvoiceRisk) -> None:
    """Model probabilities per open invoice (the payer's history p where the model is silent)."""
    by_id = {row["customer_id"]: row for row in rows}
    invoices = []
    for start in range(0, len(rows), 5000):
        chunk = [row["customer_id"] for row in rows[start:start + 5000]]
        invoices += session.execute(
            select(Invoice.invoice_id, Invoice.customer_id, Invoice.open_amount, Invoice.due_date)
            .where(Invoice.customer_id.in_(chunk), Invoice.kind == "invoice",
                   Invoice.settled_on.is_(None))).all()
    probabilities = risk([row.invoice_id for row in invoices])
    value: dict[str, float] = defaultdict(float)
    exposure: dict[str, float] = defaultdict(float)
    weighted_p: dict[str, float] = defaultdict(float)
    for invoice in invoices:
        p = float(probabilities.get(invoice.invoice_id, by_id[invoice.customer_id]["p_late"]))
        amount = float(invoice.open_amount)
        weight = float(BUCKET_WEIGHTS[bucket_of((today - invoice.due_date).days)])
        value[invoice.customer_id] += amount * p * weight
        exposure[invoice.customer_id] += amount
        weighted_p[invoice.customer_id] += amount * p
    for customer_id, row in by_id.items():
        if exposure[customer_id]:
            row.update(p_late=weighted_p[customer_id] / exposure[customer_id],
                       value_at_risk=value[customer_id], risk_source="model")


def _enrich(*, session: Session, rows: list[dict], today: dt.date, language: Language) -> list[WorklistRow]:
    ids = [row["customer_id"] for row in rows]
    if not ids:
        return []
    customers = {c.customer_id: c for c in session.execute(
        select(Customer).where(Customer.customer_id.in_(ids))).scalars()}
    next_actions = _next_actions(session, ids)
    last_contacts = _last_contacts(session, ids)
    disputes = dict(session.execute(
        select(Invoice.customer_id, func.count(func.distinct(Dispute.dispute_id)))
        .join(Invoice, Invoice.invoice_id == Dispute.invoice_id)
        .where(Invoice.customer_id.in_(ids), Dispute.status.in_(ACTIVE_DISPUTE))
        .group_by(Invoice.customer_id)).all())
    promises: dict[str, list[tuple[str, dt.date]]] = defaultdict(list)
    for customer_id, status, promised_date in session.execute(
            select(Promise.customer_id, Promise.status, Promise.promised_date)
            .where(Promise.customer_id.in_(ids), Promise.status.in_(("open", "broken")))):
        promises[customer_id].append((status, promised_date))
    out = []
    for rank, row in enumerate(rows, start=1):
        customer_id = row["customer_id"]
        p = float(row["p_late"])
        days = (today - row["oldest_due"]).days
        open_promises = [d for s, d in promises.get(customer_id, []) if s == "open"]
        broken = sum(1 for s, _ in promises.get(customer_id, []) if s == "broken")
        out.append(WorklistRow(
            rank=rank, customer_id=customer_id, name=customers[customer_id].name,
            segment=customers[customer_id].segment,
            assigned_agent=customers[customer_id].assigned_agent,
            value_at_risk=Decimal(str(row["value_at_risk"])).quantize(CENT),
            p_late=round(p, 4), grade=grade_of(p), risk_source=row["risk_source"],
            open_amount=Decimal(str(row["open_amount"])).quantize(CENT),
            overdue_amount=Decimal(str(row["overdue_amount"])).quantize(CENT),
            open_invoices=int(row["open_invoices"]), overdue_invoices=int(row["overdue_invoices"]),
            days_overdue=days, bucket=bucket_of(days), next_action=next_actions.get(customer_id),
            last_contact=last_contacts.get(customer_id), open_disputes=int(disputes.get(customer_id, 0)),
            open_promises=len(open_promises),
            reasons=_reasons(row, p=p, days=days, disputes=int(disputes.get(customer_id, 0)),
                             open_promises=open_promises, broken=broken, language=language)))
    return out


def _next_actions(session: Session, ids: list[str]) -> dict[str, ActionOut]:
    """Per customer, the next consolidated task: one reminder (call, e-mail, letter…) of the
    latest run listing all its invoices, not one row per invoice."""
    rows = session.execute(
        select(DunningAction).where(DunningAction.customer_id.in_(ids),
                                    DunningAction.state.in_(("planned", "pending_approval")))
        .order_by(DunningAction.customer_id, DunningAction.run_date.desc(), DunningAction.send_on,
                  DunningAction.id)).scalars()
    found: dict[str, ActionOut] = {}
    for action in rows:
        current = found.get(action.customer_id)
        if current is None:
            found[action.customer_id] = ActionOut(
                action=action.action, channel=action.channel, tone=action.tone,
                send_on=action.send_on, invoice_id=action.invoice_id, step=action.step,
                reminder_id=action.reminder_id, state=action.state,
                invoices=[action.invoice_id] if action.invoice_id else [])
        elif (action.reminder_id is not None and action.reminder_id == current.reminder_id
              and action.invoice_id and action.invoice_id not in current.invoices):
            current.invoices.append(action.invoice_id)
    return found


def _last_contacts(session: Session, ids: list[str]) -> dict[str, ContactOut]:
    when = func.coalesce(DunningAction.sent_at, DunningAction.created_at)
    numbered = (select(DunningAction.customer_id, DunningAction.channel, DunningAction.action,
                       DunningAction.outcome, DunningAction.created_by, DunningAction.send_on,
                       DunningAction.sent_at,
                       func.row_number().over(partition_by=DunningAction.customer_id,
                                              order_by=(when.desc(), DunningAction.id.desc())).label("n"))
                .where(DunningAction.customer_id.in_(ids), DunningAction.state == "sent").subquery())
    found: dict[str, ContactOut] = {}
    stamp: dict[str, dt.datetime] = {}
    for row in session.execute(select(numbered).where(numbered.c.n == 1)):
        at = row.sent_at or dt.datetime.combine(row.send_on, dt.time(), tzinfo=dt.UTC)
        found[row.customer_id] = ContactOut(
            on=at.date(), kind="call" if row.channel == "call" else "reminder", channel=row.channel,
            outcome=row.outcome, by=row.created_by)
        stamp[row.customer_id] = _aware(at)
    notes = session.execute(select(CustomerNote.customer_id, func.max(CustomerNote.created_at))
                            .where(CustomerNote.customer_id.in_(ids)).group_by(CustomerNote.customer_id))
    for customer_id, at in notes:
        at = _aware(at)
        if customer_id not in stamp or at > stamp[customer_id]:
            found[customer_id] = ContactOut(on=at.date(), kind="note", channel=None, outcome=None, by=None)
    return found


def _aware(value: dt.datetime) -> dt.datetime:
    # SQLite hands datetimes back naive: they were written in UTC
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _money(value: Any, language: Language) -> str:
    amount = Decimal(str(value)).quantize(CENT)
    if language == "en":
        return f"€{amount:,.2f}"
    return f"{amount:,.2f} €".replace(",", "\u202f").replace(".", ",")


def _reasons(row: Mapping[str, Any], *, p: float, days: int, disputes: int,
             open_promises: list[dt.date], broken: int, language: Language) -> list[ReasonOut]:
    en = language == "en"
    reasons = []
    if row["overdue_invoices"]:
        n, amount = int(row["overdue_invoices"]), _money(row["overdue_amount"], language)
        reasons.append(ReasonOut(code="overdue", text=(
            f"{n} overdue invoice(s), {amount}; the oldest {days} days late" if en else
            f"{n} facture(s) échue(s), {amount} ; la plus ancienne a {days} jours de retard")))
    if row["risk_source"] == "model":
        reasons.append(ReasonOut(code="model", text=(
            f"Probability of late payment (model): {p:.0%}" if en else
            f"Probabilité de retard (modèle) : {p:.0%}".replace("%", "\u202f%"))))
    else:
        late, settled = int(row["late"]), int(row["settled"])
        reasons.append(ReasonOut(code="history", text=(
            (f"Paid late {late} time(s) out of {settled} settled invoice(s)" if en else
             f"A payé en retard {late} fois sur {settled} facture(s) réglée(s)") if settled else
            ("No payment history yet: prior risk" if en else "Pas encore d'historique de paiement : risque a priori"))))
    if broken:
        reasons.append(ReasonOut(code="broken_promise", text=(
            f"{broken} broken promise(s) to pay" if en else f"{broken} promesse(s) de paiement non tenue(s)")))
    if open_promises:
        until = max(open_promises)
        reasons.append(ReasonOut(code="promise", text=(
            f"Promise to pay until {until.isoformat()}: reminders paused" if en else
            f"Promesse de paiement jusqu'au {until.strftime('%d/%m/%Y')} : relances suspendues")))
    if disputes:
        reasons.append(ReasonOut(code="dispute", text=(
            f"{disputes} open dispute(s): reminders paused on the disputed invoices" if en else
            f"{disputes} litige(s) en cours : relances suspendues sur les factures contestées")))
    return reasons
