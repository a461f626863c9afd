"""Collections workbench: disputes, promises to pay, notes, call outcomes, assignments, worklist.

Pure ledger logic (no ML): the worklist ranks on a probability of late payment that is either
given by the caller (a model, through `risk`) or, by default, the payer's own past late share
computed in SQL. Every change writes an `AuditLog` row (who, what, before, after) in the caller's
transaction; the caller commits.

Dispute workflow (`TRANSITIONS`)::

    open                 → in_review | proposed_credit_note | resolved_credit_note | resolved_rejected | withdrawn
    in_review            → proposed_credit_note | resolved_credit_note | resolved_rejected | withdrawn
    proposed_credit_note → in_review | resolved_credit_note | resolved_rejected | withdrawn
    resolved_credit_note, resolved_rejected, withdrawn: final

An open, in-review or proposed dispute pauses dunning on every invoice it names
(`paused_invoice_ids`). A credit note writes money off, so only an analyst or an admin resolves
with one (the API checks the role, `may_resolve_with_credit_note`); an agent proposes it
(`proposed_credit_note`, with an optional amount kept on the dispute) for them to approve.
Resolving with a credit note ingests a credit note (kind=credit_note) for the proposed or
disputed amount through `ledger.ingest.ingest`, under an id the server draws (`CN-` and random
hex) that never names an existing record, so allocation is replayed: the credit goes to the
first disputed invoice (`applies_to`); the balance the customer owes drops by the credited amount.
"""
from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field, model_validator
from sqlalchemy import Index, Integer, and_, case, func, or_, select, text, update
from sqlmodel import Field as SQLField
from sqlmodel import Session, SQLModel

from ledger import fx
from ledger.errors import FieldError, LedgerConflictError, LedgerError, LedgerValidationError, NotFoundError
from ledger.frames import DATE_COLUMNS, PROMISE_COLUMNS
from ledger.models import (
    MONEY,
    AuditLog,
    Customer,
    CustomerNote,
    Dispute,
    DunningAction,
    Invoice,
    Payment,
    Promise,
    PromiseInvoice,
    record_event,
    utcnow,
)
from ledger.portfolio import in_portfolio
from ledger.schemas import (
    MAX_DATE,
    BusinessDate,
    Id,
    IngestBatch,
    InvoiceIn,
    Line,
    Money,
    Paragraphs,
    dates_in_range,
    promise_horizon,
)
from ledger.var import delay_counts, payer_hazards, pooled_hazards, unpaid_after, value_at_risk

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
    # an agent's proposal, for an analyst to approve (migration 0010)
    proposed_credit_amount: Decimal | None = SQLField(default=None, **MONEY)
    proposed_by: str | None = SQLField(default=None, max_length=100)


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
ACTIVE_DISPUTE = ("open", "in_review", "proposed_credit_note")
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "open": ("in_review", "proposed_credit_note", "resolved_credit_note", "resolved_rejected",
             "withdrawn"),
    "in_review": ("proposed_credit_note", "resolved_credit_note", "resolved_rejected", "withdrawn"),
    "proposed_credit_note": ("in_review", "resolved_credit_note", "resolved_rejected", "withdrawn"),
    "resolved_credit_note": (),
    "resolved_rejected": (),
    "withdrawn": (),
}
DisputeStatus = Literal["open", "in_review", "proposed_credit_note", "resolved_credit_note",
                        "resolved_rejected", "withdrawn"]
CREDIT_NOTE_ROLES = ("admin", "analyst")
CALL_OUTCOMES = ("reached_promised", "reached_refused", "reached_disputed", "no_answer",
                 "wrong_number", "left_message")
CallOutcome = Literal["reached_promised", "reached_refused", "reached_disputed", "no_answer",
                      "wrong_number", "left_message"]
Agent = Line(64, min_length=1)
Text = Paragraphs(5000)


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
    opened_on: BusinessDate | None = None
    comment: Text | None = None


class DisputeUpdate(BaseModel):
    status: DisputeStatus | None = None
    assignee: Agent | None = None
    comment: Text | None = None
    # proposed_credit_note or resolved_credit_note only: credit less than the disputed amount
    # (a partial credit note); when resolving without it, the proposed amount, else all disputed
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
    proposed_credit_amount: Decimal | None = None
    proposed_by: str | None = None
    allowed_transitions: list[str]
    comments: list[CommentOut]
    created_at: dt.datetime
    updated_at: dt.datetime


class InstalmentIn(BaseModel):
    due_on: BusinessDate
    amount: Money = Field(gt=0)


class PromiseCreate(BaseModel):
    """A promise: one amount and date, or an instalment plan (échéancier) of dated amounts."""

    promise_id: Id | None = None
    customer_id: Id
    amount: Money | None = Field(default=None, gt=0)
    promised_date: BusinessDate | None = None
    instalments: list[InstalmentIn] | None = Field(default=None, min_length=1, max_length=36)
    # which invoices the promise is about (default: every open invoice of the customer); it
    # pauses those its amount covers in full, oldest due first (ledger.promises)
    invoice_ids: list[Id] = Field(default_factory=list, max_length=500)
    note: Text | None = None

    @model_validator(mode="after")
    def _amount_or_instalments(self) -> PromiseCreate:
        if self.instalments:
            dates = [i.due_on for i in self.instalments]
            if len(set(dates)) != len(dates):
                raise ValueError("two instalments fall on the same date: merge them")
            total = sum((i.amount for i in self.instalments), Decimal("0"))
            if self.amount is not None and self.amount != total:
                raise ValueError(f"amount {self.amount} differs from the instalments' total {total}")
            if self.promised_date is not None and self.promised_date != max(dates):
                raise ValueError("promised_date must be the last instalment's date, or be left out")
        elif self.amount is None or self.promised_date is None:
            raise ValueError("send amount and promised_date, or instalments")
        return self


class InstalmentOut(BaseModel):
    seq: int
    due_on: dt.date
    amount: Decimal
    status: str
    closed_on: dt.date | None


class PromiseUpdate(BaseModel):
    status: Literal["cancelled"] | None = None
    promised_date: BusinessDate | None = None
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
    invoice_ids: list[str]  # the invoices it pauses (covered in full, oldest first)
    paid_so_far: Decimal
    instalments: list[InstalmentOut] = []


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
                .where(Promise.status == "open", Promise.promised_date >= today,
                       Promise.promised_date <= MAX_DATE))
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
        raise LedgerConflictError([FieldError("dispute_id", f"dispute {dispute_id!r} already exists")])
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
    if data.credit_amount is not None and data.status not in ("proposed_credit_note", "resolved_credit_note"):
        raise LedgerValidationError([FieldError(
            "credit_amount", "a credit amount only goes with status proposed_credit_note or resolved_credit_note")])
    if data.status is not None and data.status != dispute.status:
        _check_transition(dispute, data.status)
        dispute.status = data.status
        detail.status_changed_at = utcnow()
        if data.status not in ACTIVE_DISPUTE:
            dispute.resolved_on = today
        if data.status == "proposed_credit_note":
            detail.proposed_credit_amount = _credit_amount(session, dispute, data.credit_amount)
            detail.proposed_by = actor
        if data.status == "resolved_credit_note":
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


def may_resolve_with_credit_note(role: str) -> bool:
    """A credit note writes money off: analysts and admins only; an agent proposes it."""
    return role in CREDIT_NOTE_ROLES


def _credit_amount(session: Session, dispute: Dispute, credit_amount: Decimal | None) -> Decimal:
    """The credit asked for (default: everything disputed), never more than what is disputed."""
    disputed = sum((amount for _, amount in _disputed_lines(session, dispute)), ZERO)
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
    from ledger.ingest import ingest  # ingest imports nothing of this module; lazy keeps it light

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
                  offset: int = 0, agent: str | None = None) -> list[Dispute]:
    query = select(Dispute).join(Invoice, Invoice.invoice_id == Dispute.invoice_id)
    if agent is not None:  # only the customers of the agent's portfolio
        query = query.where(in_portfolio(Invoice.customer_id, agent))
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
            proposed_credit_amount=detail.proposed_credit_amount if detail else None,
            proposed_by=detail.proposed_by if detail else None,
            allowed_transitions=list(TRANSITIONS.get(d.status, ())),
            comments=comments.get(d.dispute_id, []), created_at=d.created_at, updated_at=d.updated_at))
    return views


# --- promises to pay ---------------------------------------------------------------------------

def create_promise(*, session: Session, data: PromiseCreate, actor: str, today: dt.date,
                   max_days: int | None = None) -> Promise:
    """Record a promise (or an instalment plan); it pauses the invoices its amount covers, oldest
    first, up to `max_days` ahead (the scenario's limit; `ledger.promises`)."""
    from ledger import promises

    return promises.create_promise(session=session, data=data, actor=actor, today=today,
                                   max_days=promises.DEFAULT_MAX_DAYS if max_days is None else max_days)


def _promise_date_problem(promised: dt.date, today: dt.date) -> str | None:
    if promised < today:
        return f"{promised} is already past"
    horizon = promise_horizon(today)
    if promised > horizon:
        return f"{promised} is more than a year ahead: a promise to pay names a date until {horizon}"
    return None


def get_promise(*, session: Session, promise_id: str) -> Promise:
    promise = session.get(Promise, promise_id)
    if promise is None:
        raise NotFoundError("promise", promise_id)
    return promise


def update_promise(*, session: Session, promise_id: str, data: PromiseUpdate, actor: str,
                   today: dt.date, max_days: int | None = None) -> Promise:
    """Cancel an open promise, move its date or change its note."""
    promise = get_promise(session=session, promise_id=promise_id)
    before = {"status": promise.status, "promised_date": promise.promised_date, "note": promise.note}
    if promise.status != "open" and (data.status or data.promised_date):
        raise IllegalTransitionError(f"The promise {promise_id} is already {promise.status}: "
                                     "only an open promise can be cancelled or rescheduled.")
    if data.promised_date is not None:
        problem = _promise_date_problem(data.promised_date, today)
        if problem:
            raise LedgerValidationError([FieldError("promised_date", problem)])
        if max_days is not None and data.promised_date > today + dt.timedelta(days=max_days):
            raise LedgerValidationError([FieldError(
                "promised_date", f"{data.promised_date} is more than {max_days} days ahead: the "
                                 "scenario's limit for a promise")])
        from ledger.promises import instalments_of

        plan = instalments_of(session, [promise_id]).get(promise_id, [])
        if len(plan) > 1:
            raise IllegalTransitionError(f"The promise {promise_id} is an instalment plan: cancel it "
                                         "and record a new plan rather than moving its last date.")
        for instalment in plan:
            instalment.due_on = data.promised_date
            session.add(instalment)
        promise.promised_date = data.promised_date
    if data.status == "cancelled":
        promise.status, promise.closed_on = "cancelled", today
        from ledger.promises import instalments_of

        for instalment in instalments_of(session, [promise_id]).get(promise_id, []):
            if instalment.status == "open":
                instalment.status, instalment.closed_on = "cancelled", today
                session.add(instalment)
    if "note" in data.model_fields_set:
        promise.note = data.note
    promise.updated_at = utcnow()
    session.add(promise)
    audit(session, actor=actor, action="update", entity="promise", entity_id=promise_id, before=before,
          after={"status": promise.status, "promised_date": promise.promised_date, "note": promise.note})
    session.flush()
    return promise


def list_promises(*, session: Session, status: str | None = None, customer_id: str | None = None,
                  limit: int = 100, offset: int = 0, agent: str | None = None) -> list[Promise]:
    query = select(Promise)
    if agent is not None:  # only the customers of the agent's portfolio
        query = query.where(in_portfolio(Promise.customer_id, agent))
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
    from ledger.promises import instalments_of

    plans = instalments_of(session, ids)
    return [PromiseOut(**p.model_dump(include=set(PromiseOut.model_fields) - {"invoice_ids", "paid_so_far",
                                                                             "instalments"}),
                       invoice_ids=invoices.get(p.promise_id, []),
                       paid_so_far=paid.get(p.promise_id, (ZERO, None))[0],
                       instalments=[InstalmentOut.model_validate(i, from_attributes=True)
                                    for i in plans.get(p.promise_id, [])])
            for p in promises]


def _paid_towards(session: Session, promises: Sequence[Promise],
                  today: dt.date | None) -> dict[str, tuple[Decimal, dt.date | None]]:
    """Per promise: the customer's payments dated in [created_on, promised_date + grace] (and
    ≤ today), and the date their running sum first reached the promised amount."""
    # a promise stored before the date bounds has no deadline anyone can compute: nothing counts
    promises = [p for p in promises if dates_in_range(p, "created_on", "promised_date")]
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
    """Close open promises the payments decide, instalment by instalment (`ledger.promises`).
    Call after each ingestion (for the customers it touched) and before each dunning run."""
    from ledger import promises

    return promises.evaluate_promises(session, customer_ids, today, actor=actor)


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
# A customer's value at risk over h days = Σ over its open invoices of open_amount × P(not paid
# within h days | unpaid today) (`ledger.var`: never more than what is owed), for h = 30 and 90.
# P comes from the caller's `risk` (the served model, or its rules), else from the payer's
# history (`ledger.var.payer_hazards`, the same Kaplan–Meier the risk service falls back on). The worklist ranks by the 90-day figure converted into the
# reporting currency; urgency (days overdue, broken promises) is shown beside it, not mixed in.
# Amounts on a row are in the customer's currency. The grade is the model's (the worst grade of
# the customer's open invoices, from `risk`), else the customer's last published score.

BUCKETS = ("not_due", "1-30", "31-60", "61-90", "90+")
GRADE_ORDER = "ABCDE"

Bucket = Literal["not_due", "1-30", "31-60", "61-90", "90+"]
Grade = Literal["A", "B", "C", "D", "E"]


@dataclass(frozen=True)
class InvoiceOdds:
    """What the worklist needs of an invoice's risk (serving adapts its `Risk` to this)."""

    p_unpaid_30: float
    p_unpaid_90: float
    grade: str | None = None
    source: str = "model"


# invoice ids → odds; an invoice it does not answer for falls back to the payer's history
InvoiceRisk = Callable[[list[str]], Mapping[str, InvoiceOdds]]


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
    # what the sentence says, as data (serving writes the sentence in the reader's language)
    values: dict[str, Any] = {}
    text: str = ""


class WorklistRow(BaseModel):
    rank: int
    customer_id: str
    name: str | None
    segment: str | None
    assigned_agent: str | None
    currency: str                      # of every amount below but the reporting one
    # expected not collected within 30 / 90 days (Σ open × P(unpaid within the horizon))
    value_at_risk_30: Decimal
    value_at_risk_90: Decimal
    # the ranking key: the 90-day figure in the reporting currency (None: no rate, ranked on
    # the amount in the customer's currency, see `unconverted`)
    value_at_risk_90_reporting: Decimal | None
    reporting_currency: str
    p_unpaid_30: float                 # amount-weighted over the open invoices
    p_unpaid_90: float
    grade: str | None
    risk_source: Literal["rules", "model"]
    open_amount: Decimal
    overdue_amount: Decimal
    open_invoices: int
    overdue_invoices: int
    # urgency, shown apart from the ranking
    days_overdue: int  # of the oldest open invoice (≤ 0: nothing overdue yet)
    bucket: str
    broken_promises: int
    next_action: ActionOut | None
    last_contact: ContactOut | None
    open_disputes: int
    open_promises: int
    unconverted: list[str] = []
    reasons: list[ReasonOut]


def worklist(*, session: Session, today: dt.date, agent: str | None = None, limit: int = 50,
             segment: str | None = None, grade: str | None = None, bucket: str | None = None,
             risk: InvoiceRisk | None = None, offset: int = 0, search: str | None = None,
             currency: str | None = None, dispute: bool | None = None,
             promise: bool | None = None) -> list[WorklistRow]:
    """Customers with open invoices, ranked by value at risk within 90 days (see above).

    Exact top-`limit` with early stopping (a threshold algorithm): customers come from SQL in
    decreasing open amount (in the reporting currency), in windows; since P ≤ 1 no customer
    beyond the window can have more at risk than the window's last open amount, so once the
    `limit`-th value at risk reaches it the ranking is final. Only the returned page is enriched.

    `offset` skips the first ranks (pages); `search` matches the customer's id or name (any
    case, literally), `currency` keeps the customers invoiced in that currency, `dispute` /
    `promise` keep (True) or leave out (False) those with an active dispute / an open promise."""
    if limit < 1:
        raise LedgerValidationError([FieldError("limit", "must be at least 1")])
    if offset < 0:
        raise LedgerValidationError([FieldError("offset", "must be 0 or more")])
    limit += offset  # the ranking is exact for the first offset + limit ranks
    customers = _customer_filter(agent=agent, segment=segment, search=search, currency=currency,
                                 dispute=dispute, promise=promise)
    if grade is not None and grade not in GRADE_ORDER:
        raise LedgerValidationError([FieldError("grade", f"unknown grade {grade!r}: one of A, B, C, D, E")])
    reporting = fx.reporting_currency()
    rates = fx.rates_on(session, today)
    window = max(limit * 20, 1000)
    while True:
        bounds = _open_bounds(session=session, today=today, customers=customers,
                              bucket=bucket, window=window, rates=rates, reporting=reporting)
        complete = len(bounds) < window
        scored = _score(session=session, customer_ids=[c for c, _ in bounds], today=today, risk=risk,
                        rates=rates, reporting=reporting)
        if grade is not None:
            scored = [row for row in scored if row["grade"] == grade]
        # a tiny margin: the bound is summed in the database, the key in exact decimals
        bound = float(bounds[-1][1]) * (1 + 1e-9) + 0.01 if bounds else 0.0
        if complete or (len(scored) >= limit and float(scored[limit - 1]["key"]) >= bound):
            return _enrich(session=session, rows=scored[offset:limit], today=today, first_rank=offset + 1)
        window *= 4


def _customer_filter(*, agent: str | None, segment: str | None, search: str | None,
                     currency: str | None, dispute: bool | None, promise: bool | None):
    """The customers a worklist may show (a subquery of ids), or None: everyone."""
    conditions = []
    if agent is not None:
        conditions.append(Customer.assigned_agent == agent)
    if segment is not None:
        conditions.append(Customer.segment == segment)
    if currency is not None:
        conditions.append(Customer.currency == currency.upper())
    if search:
        # a literal substring: LIKE wildcards typed by the user match themselves
        needle = "%" + search.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        conditions.append(or_(func.lower(Customer.customer_id).like(needle, escape="\\"),
                              func.lower(func.coalesce(Customer.name, "")).like(needle, escape="\\")))
    if dispute is not None:
        disputed = (select(Invoice.customer_id).join(Dispute, Dispute.invoice_id == Invoice.invoice_id)
                    .where(Dispute.status.in_(ACTIVE_DISPUTE)))
        conditions.append(Customer.customer_id.in_(disputed) if dispute
                          else Customer.customer_id.not_in(disputed))
    if promise is not None:
        promised = select(Promise.customer_id).where(Promise.status == "open")
        conditions.append(Customer.customer_id.in_(promised) if promise
                          else Customer.customer_id.not_in(promised))
    return select(Customer.customer_id).where(*conditions) if conditions else None


def _open_bounds(*, session: Session, today: dt.date, customers, bucket: str | None, window: int,
                 rates: fx.Rates, reporting: str) -> list[tuple[str, float]]:
    """(customer, open amount in the reporting currency), largest first: each customer's bound.

    A currency with no rate counts 1:1 here, as the ranking does for it (and says so)."""
    codes = session.execute(select(Invoice.currency).where(
        Invoice.kind == "invoice", Invoice.settled_on.is_(None)).distinct()).scalars().all()
    factors = {}
    for code in codes:
        found = rates.rate(code, reporting)
        factors[code] = float(found[0]) if found is not None else 1.0
    factor = case(factors, value=Invoice.currency, else_=1.0) if factors else 1.0
    converted = func.sum(Invoice.open_amount * factor)
    query = (select(Invoice.customer_id, converted.label("bound"))
             .where(Invoice.kind == "invoice", Invoice.settled_on.is_(None))
             .group_by(Invoice.customer_id))
    if customers is not None:
        query = query.where(Invoice.customer_id.in_(customers))
    if bucket is not None:
        query = query.having(_bucket_condition(bucket, today))
    query = query.order_by(converted.desc(), Invoice.customer_id).limit(window)
    return [(row[0], float(row[1] or 0)) for row in session.execute(query)]


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


def rules_prior(session: Session, today: dt.date) -> np.ndarray:
    """The ledger's pooled hazards (`ledger.var.pooled_hazards`) as of the end of `today`:
    settled invoices by days late, open ones by due date (censored at their age). The prior
    every payer's rules hazards are shrunk towards, here and in `serving.risk`."""
    late = _days_between(session, Invoice.settled_on, Invoice.due_date)
    settled = and_(Invoice.kind == "invoice", Invoice.settled_on.is_not(None),
                   Invoice.settled_on <= today)
    days, counts = _columns(session.execute(select(late, func.count()).where(settled).group_by(late)))
    due, open_counts = _columns(session.execute(
        select(Invoice.due_date, func.count())
        .where(Invoice.kind == "invoice", Invoice.issue_date <= today,
               or_(Invoice.settled_on.is_(None), Invoice.settled_on > today))
        .group_by(Invoice.due_date)))
    ages = [(today - d).days for d in due]  # unpaid at the end of today
    at_risk, events = delay_counts(np.zeros(len(days) + len(ages), dtype=np.int64), 1, days + ages,
                                   np.r_[np.ones(len(days), bool), np.zeros(len(ages), bool)],
                                   np.array(counts + open_counts, dtype=float))
    return pooled_hazards(at_risk, events, float(sum(counts)))


def _payer_hazards(session: Session, customer_ids: list[str], invoices: list,
                   today: dt.date) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, dict]]:
    """The rules' hazards (`ledger.var.payer_hazards`): the ledger's pooled ones
    (`rules_prior`), each payer's from its settled invoices and its open ones (`invoices`),
    and each payer's settled and late counts (the worklist's "history" reason)."""
    prior = rules_prior(session, today)
    late = _days_between(session, Invoice.settled_on, Invoice.due_date)
    settled = and_(Invoice.kind == "invoice", Invoice.settled_on.is_not(None),
                   Invoice.settled_on <= today)
    rows: list[tuple[str, int, bool, int]] = []
    for start in range(0, len(customer_ids), 5000):
        chunk = customer_ids[start:start + 5000]
        rows += [(c, int(d), True, int(n)) for c, d, n in session.execute(
            select(Invoice.customer_id, late, func.count())
            .where(settled, Invoice.customer_id.in_(chunk)).group_by(Invoice.customer_id, late))]
    history: dict[str, dict] = defaultdict(lambda: {"settled": 0, "late": 0})
    for c, d, _, n in rows:
        history[c]["settled"] += n
        history[c]["late"] += n * (d > 0)
    rows += [(i.customer_id, (today - i.due_date).days, False, 1) for i in invoices]
    if not rows:
        return prior, {}, history
    customer, age, paid, weight = zip(*rows, strict=True)
    codes, uniques = pd.factorize(pd.Series(customer))
    at_risk, events = delay_counts(codes, len(uniques), np.array(age, float), np.array(paid),
                                   np.array(weight, float))
    hazards = payer_hazards(at_risk, events, prior)
    return prior, {c: hazards[i] for i, c in enumerate(uniques)}, history


def _rules_odds(session: Session, customer_ids: list[str], invoices: list,
                today: dt.date) -> tuple[dict[str, InvoiceOdds], dict[str, dict]]:
    """P(not paid within 30 / 90 days | unpaid today) of each of `invoices` from its payer's
    history, for the invoices the caller's risk does not answer for; and each payer's settled
    and late counts."""
    if not invoices:
        return {}, {}
    prior, hazards_of, history = _payer_hazards(session, customer_ids, invoices, today)
    hazards = np.stack([hazards_of.get(i.customer_id, prior) for i in invoices])
    age = np.array([float((today - i.due_date).days) for i in invoices])  # unpaid at end of today
    p30, p90 = unpaid_after(hazards, age, 30.0), unpaid_after(hazards, age, 90.0)
    return {i.invoice_id: InvoiceOdds(p_unpaid_30=float(a), p_unpaid_90=float(b), grade=None,
                                      source="rules")
            for i, a, b in zip(invoices, p30, p90, strict=True)}, history


def _columns(result) -> tuple[list[int], list[int]]:
    pairs = result.all()
    return [p[0] for p in pairs], [int(p[1]) for p in pairs]


def _days_between(session: Session, later, earlier):
    if session.get_bind().dialect.name == "postgresql":
        return later - earlier
    return func.cast(func.julianday(later) - func.julianday(earlier), Integer)


def _score(*, session: Session, customer_ids: list[str], today: dt.date, risk: InvoiceRisk | None,
           rates: fx.Rates, reporting: str) -> list[dict]:
    """Value at risk at 30 and 90 days of each customer, ranked."""
    if not customer_ids:
        return []
    invoices = []
    for start in range(0, len(customer_ids), 5000):
        chunk = customer_ids[start:start + 5000]
        invoices += session.execute(
            select(Invoice.invoice_id, Invoice.customer_id, Invoice.currency, Invoice.open_amount,
                   Invoice.due_date)
            .where(Invoice.customer_id.in_(chunk), Invoice.kind == "invoice",
                   Invoice.settled_on.is_(None))).all()
    given = dict(risk([row.invoice_id for row in invoices])) if risk is not None and invoices else {}
    rules, history = _rules_odds(session, customer_ids, [i for i in invoices if i.invoice_id not in given],
                        today)
    currency_of = dict(session.execute(select(Customer.customer_id, Customer.currency)
                                       .where(Customer.customer_id.in_(customer_ids))).all()) \
        if len(customer_ids) <= 5000 else _currencies(session, customer_ids)
    grades = _published_grades(session, customer_ids)
    per: dict[str, dict[str, Any]] = {}
    for invoice in invoices:
        odds = given.get(invoice.invoice_id) or rules[invoice.invoice_id]
        overdue = (today - invoice.due_date).days
        row = per.setdefault(invoice.customer_id, {
            "customer_id": invoice.customer_id, "pairs_30": defaultdict(list), "pairs_90": defaultdict(list),
            "open": defaultdict(lambda: ZERO), "overdue": defaultdict(lambda: ZERO), "open_invoices": 0,
            "overdue_invoices": 0, "oldest_due": invoice.due_date, "grades": [], "sources": set()})
        amount = Decimal(str(invoice.open_amount)).quantize(CENT)
        row["pairs_30"][invoice.currency].append((amount, odds.p_unpaid_30))
        row["pairs_90"][invoice.currency].append((amount, odds.p_unpaid_90))
        row["open"][invoice.currency] += amount
        row["open_invoices"] += 1
        if overdue > 0:
            row["overdue"][invoice.currency] += amount
            row["overdue_invoices"] += 1
        row["oldest_due"] = min(row["oldest_due"], invoice.due_date)
        if odds.grade:
            row["grades"].append(odds.grade)
        row["sources"].add(odds.source)
    out = []
    for customer_id, row in per.items():
        currency = currency_of.get(customer_id, "EUR")
        var30 = {c: value_at_risk(p) for c, p in row["pairs_30"].items()}
        var90 = {c: value_at_risk(p) for c, p in row["pairs_90"].items()}
        shown, missing = {}, set()
        for name, amounts in (("var30", var30), ("var90", var90), ("open", row["open"]), ("overdue", row["overdue"])):
            shown[name], lost = _in(rates, amounts, currency)
            missing |= lost
        key, lost = _in(rates, var90, reporting)
        reporting_value = None if lost else key
        if lost:  # no rate to the reporting currency: ranked on the customer's own amount
            key = shown["var90"]
        open_total = shown["open"]
        out.append({
            "customer_id": customer_id, "currency": currency, "key": key,
            "value_at_risk_30": shown["var30"], "value_at_risk_90": shown["var90"],
            "value_at_risk_90_reporting": reporting_value, "reporting_currency": reporting,
            "p_unpaid_30": float(shown["var30"] / open_total) if open_total else 0.0,
            "p_unpaid_90": float(shown["var90"] / open_total) if open_total else 0.0,
            "open_amount": open_total, "overdue_amount": shown["overdue"],
            "open_invoices": row["open_invoices"], "overdue_invoices": row["overdue_invoices"],
            "oldest_due": row["oldest_due"],
            "grade": max(row["grades"], key=GRADE_ORDER.index) if row["grades"] else grades.get(customer_id),
            "risk_source": "model" if row["sources"] == {"model"} else "rules",
            "unconverted": sorted(missing | (set(lost) if lost else set())),
            "history": history.get(customer_id, {"settled": 0, "late": 0})})
    return sorted(out, key=lambda r: (-r["key"], r["customer_id"]))


def _in(rates: fx.Rates, amounts: Mapping[str, Decimal], to: str) -> tuple[Decimal, set[str]]:
    """Σ of per-currency amounts converted into `to`, and the currencies with no rate."""
    total, missing = ZERO, set()
    for currency, amount in amounts.items():
        converted = rates.convert(amount, currency, to)
        if converted is None:
            missing.add(currency)
        else:
            total += converted.amount
    return total.quantize(CENT), missing


def _currencies(session: Session, customer_ids: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for start in range(0, len(customer_ids), 5000):
        found.update(session.execute(select(Customer.customer_id, Customer.currency).where(
            Customer.customer_id.in_(customer_ids[start:start + 5000]))).all())
    return found


def _published_grades(session: Session, customer_ids: list[str]) -> dict[str, str]:
    """The grades last published by `relance score` (the model's scale), where there are some."""
    from ledger.scores import CustomerScore

    found: dict[str, str] = {}
    for start in range(0, len(customer_ids), 5000):
        found.update(session.execute(select(CustomerScore.customer_id, CustomerScore.grade).where(
            CustomerScore.customer_id.in_(customer_ids[start:start + 5000]))).all())
    return found


def _enrich(*, session: Session, rows: list[dict], today: dt.date, first_rank: int = 1) -> list[WorklistRow]:
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
    for rank, row in enumerate(rows, start=first_rank):
        customer_id = row["customer_id"]
        days = (today - row["oldest_due"]).days
        open_promises = [d for s, d in promises.get(customer_id, []) if s == "open"]
        broken = sum(1 for s, _ in promises.get(customer_id, []) if s == "broken")
        customer = customers[customer_id]
        out.append(WorklistRow(
            rank=rank, customer_id=customer_id, name=customer.name, segment=customer.segment,
            assigned_agent=customer.assigned_agent, currency=row["currency"],
            value_at_risk_30=row["value_at_risk_30"], value_at_risk_90=row["value_at_risk_90"],
            value_at_risk_90_reporting=row["value_at_risk_90_reporting"],
            reporting_currency=row["reporting_currency"],
            p_unpaid_30=round(row["p_unpaid_30"], 4), p_unpaid_90=round(row["p_unpaid_90"], 4),
            grade=row["grade"], risk_source=row["risk_source"],
            open_amount=row["open_amount"], overdue_amount=row["overdue_amount"],
            open_invoices=row["open_invoices"], overdue_invoices=row["overdue_invoices"],
            days_overdue=days, bucket=bucket_of(days), broken_promises=broken,
            next_action=next_actions.get(customer_id), last_contact=last_contacts.get(customer_id),
            open_disputes=int(disputes.get(customer_id, 0)), open_promises=len(open_promises),
            unconverted=row["unconverted"],
            reasons=_reasons(row, days=days, disputes=int(disputes.get(customer_id, 0)),
                             open_promises=open_promises, broken=broken)))
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


def _reasons(row: Mapping[str, Any], *, days: int, disputes: int, open_promises: list[dt.date],
             broken: int) -> list[ReasonOut]:
    """Why the customer is where it is, as codes and values (serving.worklist_text words them)."""
    reasons = []
    if row["overdue_invoices"]:
        reasons.append(ReasonOut(code="overdue", values={
            "invoices": int(row["overdue_invoices"]), "amount": row["overdue_amount"],
            "currency": row["currency"], "days": days}))
    reasons.append(ReasonOut(code="value_at_risk", values={
        "amount_30": row["value_at_risk_30"], "amount_90": row["value_at_risk_90"],
        "currency": row["currency"], "p_30": row["p_unpaid_30"], "p_90": row["p_unpaid_90"],
        "source": row["risk_source"]}))
    if row["risk_source"] == "rules":
        history = row["history"]
        reasons.append(ReasonOut(code="history", values={
            "settled": history["settled"], "late": history["late"]}))
    if broken:
        reasons.append(ReasonOut(code="broken_promise", values={"promises": broken}))
    if open_promises:
        reasons.append(ReasonOut(code="promise", values={"until": max(open_promises)}))
    if disputes:
        reasons.append(ReasonOut(code="dispute", values={"disputes": disputes}))
    if row["unconverted"]:
        reasons.append(ReasonOut(code="no_rate", values={"currencies": row["unconverted"],
                                                         "reporting_currency": row["reporting_currency"]}))
    return reasons
