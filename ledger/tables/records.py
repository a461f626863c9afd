"""The system of record: SQLModel tables.

Every record carries the billing system's own id as its primary key, so ingestion is an upsert.
Money is `Decimal` in Python and `NUMERIC(18, 2)` in the database, never float. An invoice's open
amount and settled date are derived from its allocations (see `ledger.allocation`), never sent.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

MONEY = {"max_digits": 18, "decimal_places": 2}
# business dates the database itself refuses outside 1900–2199 (ledger.schemas.BusinessDate says
# the same to clients; migration 0011 adds these to existing databases)
DATE_BOUNDS = ("1900-01-01", "2199-12-31")
DATE_CHECKED = {
    "invoice": ("issue_date", "due_date", "settled_on"),
    "payment": ("paid_on",),
    "allocation": ("allocated_on",),
    "dispute": ("opened_on", "resolved_on"),
    "promise": ("promised_date", "created_on", "closed_on"),
}


def date_checks(table: str) -> tuple[CheckConstraint, ...]:
    low, high = DATE_BOUNDS
    return tuple(CheckConstraint(f"{column} BETWEEN '{low}' AND '{high}'",
                                 name=f"ck_{table}_{column}_range")
                 for column in DATE_CHECKED[table])


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class CustomerBase(SQLModel):
    customer_id: str = Field(primary_key=True, max_length=64)
    name: str | None = Field(default=None, max_length=200)
    country: str | None = Field(default=None, max_length=2)
    language: str = Field(default="fr", max_length=2)
    segment: str | None = Field(default=None, max_length=64)
    email: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=40)
    payment_terms_days: int | None = None
    credit_limit: Decimal | None = Field(default=None, **MONEY)
    currency: str = Field(default="EUR", max_length=3)
    dunning_scenario: str | None = Field(default=None, max_length=64)
    # the postal address letters and formal notices are sent to
    address: str | None = Field(default=None, max_length=300)
    postal_code: str | None = Field(default=None, max_length=16)
    city: str | None = Field(default=None, max_length=100)
    # customer statuses (migration 0013, `ledger.statuses`): what the law lets us claim, and
    # whether we may chase at all
    customer_type: str = Field(default="business", max_length=16)  # business | consumer | public_sector
    on_hold_reason: str | None = Field(default=None, max_length=200)
    on_hold_until: dt.date | None = None  # inclusive; None: until released
    insolvency_date: dt.date | None = None  # judgment opening a procédure collective


class Customer(CustomerBase, table=True):
    # overpayments and unused credit notes are kept here, never lost
    credit_balance: Decimal = Field(default=Decimal("0"), **MONEY)
    on_hold: bool = False
    assigned_agent: str | None = Field(default=None, max_length=64, index=True)
    created_at: dt.datetime = Field(default_factory=utcnow)
    updated_at: dt.datetime = Field(default_factory=utcnow)


class InvoiceBase(SQLModel):
    invoice_id: str = Field(primary_key=True, max_length=64)
    # no index of its own: ix_invoice_customer_open (customer_id, settled_on) leads with it
    customer_id: str = Field(foreign_key="customer.customer_id", max_length=64)
    issue_date: dt.date
    due_date: dt.date = Field(index=True)
    amount: Decimal = Field(**MONEY)
    currency: str = Field(default="EUR", max_length=3)
    kind: str = Field(default="invoice", max_length=16)
    # a credit note may name the invoice it reduces; otherwise it goes to the oldest open ones
    applies_to: str | None = Field(default=None, max_length=64)


class Invoice(InvoiceBase, table=True):
    # derived from allocations: for a credit note, the credit not yet used
    open_amount: Decimal = Field(**MONEY)
    # no index of its own: ix_report_invoice_settled (settled_on INCLUDE …) leads with it
    settled_on: dt.date | None = Field(default=None)
    created_at: dt.datetime = Field(default_factory=utcnow)
    updated_at: dt.datetime = Field(default_factory=utcnow)

    __table_args__ = (Index("ix_invoice_customer_open", "customer_id", "settled_on"),
                      *date_checks("invoice"))


class PaymentBase(SQLModel):
    payment_id: str = Field(primary_key=True, max_length=64)
    customer_id: str = Field(foreign_key="customer.customer_id", index=True, max_length=64)
    paid_on: dt.date = Field(index=True)
    amount: Decimal = Field(**MONEY)
    currency: str = Field(default="EUR", max_length=3)
    invoice_id: str | None = Field(default=None, foreign_key="invoice.invoice_id", max_length=64)


class Payment(PaymentBase, table=True):
    __table_args__ = date_checks("payment")

    unallocated_amount: Decimal = Field(default=Decimal("0"), **MONEY)
    created_at: dt.datetime = Field(default_factory=utcnow)


class Allocation(SQLModel, table=True):
    """A part of a payment or credit note applied to an invoice, on a date."""

    id: int | None = Field(default=None, primary_key=True)
    customer_id: str = Field(index=True, max_length=64)
    # no index of its own: the unique key (invoice_id, source_kind, source_id) leads with it
    invoice_id: str = Field(foreign_key="invoice.invoice_id", max_length=64)
    source_kind: str = Field(max_length=16)  # payment | credit_note
    source_id: str = Field(max_length=64)
    amount: Decimal = Field(**MONEY)
    allocated_on: dt.date

    __table_args__ = (UniqueConstraint("invoice_id", "source_kind", "source_id"),
                      *date_checks("allocation"))


class AllocationLink(SQLModel, table=True):
    """An allocation the books dictate (FEC lettering): the allocator applies it before oldest-first.

    Allocations are derived and replayed on every ingestion; links are facts that survive it.
    `invoice_id` None marks a source whose rest stays customer credit (no oldest-first);
    `amount` None means as much as the invoice and the source allow.
    """

    id: int | None = Field(default=None, primary_key=True)
    customer_id: str = Field(index=True, max_length=64)
    source_kind: str = Field(max_length=16)  # payment | credit_note
    source_id: str = Field(max_length=64)
    invoice_id: str | None = Field(default=None, max_length=64)
    amount: Decimal | None = Field(default=None, **MONEY)
    origin: str = Field(default="", max_length=80)  # e.g. "fec:AB" (the lettering code)

    __table_args__ = (Index("ix_allocationlink_source", "source_kind", "source_id"),)


class DisputeBase(SQLModel):
    dispute_id: str = Field(primary_key=True, max_length=64)
    invoice_id: str = Field(foreign_key="invoice.invoice_id", index=True, max_length=64)
    opened_on: dt.date
    reason: str | None = Field(default=None, max_length=64)
    status: str = Field(default="open", max_length=32)
    resolved_on: dt.date | None = None
    amount: Decimal | None = Field(default=None, **MONEY)


class Dispute(DisputeBase, table=True):
    __table_args__ = date_checks("dispute")

    assignee: str | None = Field(default=None, max_length=64)
    created_at: dt.datetime = Field(default_factory=utcnow)
    updated_at: dt.datetime = Field(default_factory=utcnow)


class ApiKey(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    prefix: str = Field(index=True, unique=True, max_length=16)
    key_hash: str = Field(max_length=128)
    role: str = Field(max_length=16)
    name: str | None = Field(default=None, max_length=100)
    created_at: dt.datetime = Field(default_factory=utcnow)
    revoked_at: dt.datetime | None = None
    expires_at: dt.datetime | None = None  # None: never expires (migration 0010)


class AuditLog(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    at: dt.datetime = Field(default_factory=utcnow, index=True)
    actor: str = Field(max_length=100)
    action: str = Field(max_length=64)
    entity: str = Field(max_length=64)
    entity_id: str | None = Field(default=None, max_length=200)
    before: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    after: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))


# --- collections, dunning and events: shared tables (each area adds its own columns by migration) --

class Promise(SQLModel, table=True):
    """A promise to pay: dunning pauses on its invoices until `promised_date`."""

    __table_args__ = date_checks("promise")

    promise_id: str = Field(primary_key=True, max_length=64)
    customer_id: str = Field(foreign_key="customer.customer_id", index=True, max_length=64)
    amount: Decimal = Field(**MONEY)
    promised_date: dt.date = Field(index=True)
    status: str = Field(default="open", max_length=16)  # open | kept | broken | cancelled
    created_on: dt.date
    closed_on: dt.date | None = None
    created_by: str | None = Field(default=None, max_length=100)
    note: str | None = None
    created_at: dt.datetime = Field(default_factory=utcnow)
    updated_at: dt.datetime = Field(default_factory=utcnow)


class PromiseInvoice(SQLModel, table=True):
    promise_id: str = Field(foreign_key="promise.promise_id", primary_key=True, max_length=64)
    invoice_id: str = Field(foreign_key="invoice.invoice_id", primary_key=True, max_length=64)


class PromiseInstalment(SQLModel, table=True):
    """One dated amount of a promise (an échéancier has several; a plain promise has one).

    Kept once the customer's payments since the promise cover every instalment up to this one;
    broken the day after its date + grace without that (migration 0013)."""

    promise_id: str = Field(foreign_key="promise.promise_id", primary_key=True, max_length=64)
    seq: int = Field(primary_key=True)
    due_on: dt.date
    amount: Decimal = Field(**MONEY)
    status: str = Field(default="open", max_length=16)  # open | kept | broken | cancelled
    closed_on: dt.date | None = None


class CustomerNote(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    customer_id: str = Field(foreign_key="customer.customer_id", index=True, max_length=64)
    author: str = Field(max_length=100)
    body: str
    created_at: dt.datetime = Field(default_factory=utcnow)


class ActionState(StrEnum):
    """Where a dunning action stands (DESIGN: planned → pending_approval → sent / posted →
    delivered, or cancelled / failed). `rendered`: a letter's text is kept, ready to print."""

    PLANNED = "planned"
    PENDING_APPROVAL = "pending_approval"  # a formal notice or legal hand-off awaiting a person
    RENDERED = "rendered"
    SENT = "sent"  # e-mail or SMS sent, call logged
    POSTED = "posted"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"
    FAILED = "failed"


class DunningAction(SQLModel, table=True):
    """One contact: planned by a dunning run (or logged by an agent), then sent, failed or cancelled.

    The unique key makes a run idempotent in the database itself: the same step for the same
    invoice is planned at most once.
    """

    id: int | None = Field(default=None, primary_key=True)
    customer_id: str = Field(foreign_key="customer.customer_id", index=True, max_length=64)
    # indexed by the unique key (invoice_id, step) below (migration 0026)
    invoice_id: str | None = Field(default=None, foreign_key="invoice.invoice_id", max_length=64)
    reminder_id: str | None = Field(default=None, index=True, max_length=64)
    run_date: dt.date | None = Field(default=None, index=True)
    scenario: str | None = Field(default=None, max_length=64)
    step: str | None = Field(default=None, max_length=64)
    action: str = Field(max_length=16)   # email | sms | call | letter | formal_notice | legal
    channel: str = Field(max_length=16)
    tone: str | None = Field(default=None, max_length=16)
    template: str | None = Field(default=None, max_length=64)
    send_on: dt.date = Field(index=True)
    # an ActionState; indexed as the leading column of ix_report_action_sent (state, send_on)
    state: str = Field(default=ActionState.PLANNED, max_length=16)
    attempts: int = 0
    last_error: str | None = None
    sent_at: dt.datetime | None = None
    outcome: str | None = Field(default=None, max_length=64)  # call outcomes logged by agents
    # the day the contact happened (e-mail sent, call logged, letter posted; a formal notice:
    # delivered, or presumed delivered) or the step ended without one (failed, cancelled): the
    # next step's delay runs from it
    closed_on: dt.date | None = None
    approved_by: str | None = Field(default=None, max_length=100)
    approved_at: dt.datetime | None = None
    created_by: str | None = Field(default=None, max_length=100)
    reasons: list[dict[str, Any]] | None = Field(default=None, sa_column=Column(JSON))
    created_at: dt.datetime = Field(default_factory=utcnow)
    updated_at: dt.datetime = Field(default_factory=utcnow)
    # with exploration on (docs/policy.md): the probability with which the run chose this action
    # among the acceptable ones; None when it was not chosen at random
    propensity: float | None = None
    # the active reminder policy (`PolicyEvaluation.id`) that chose this action; None: the rules
    policy_id: int | None = None

    __table_args__ = (UniqueConstraint("invoice_id", "step", name="uq_action_invoice_step"),)


class PolicyEvaluation(SQLModel, table=True):
    """An off-policy evaluation of a candidate reminder policy, and the analyst's decision to
    switch it on (docs/policy.md). At most one is ``active``."""

    id: int | None = Field(default=None, primary_key=True)
    created_at: dt.datetime = Field(default_factory=utcnow, index=True)
    created_by: str = Field(max_length=100)
    candidate: str = Field(max_length=200)
    metric: str = Field(max_length=16)
    ledger: str | None = Field(default=None, max_length=500)
    split_on: dt.date | None = None
    n: int = 0
    result: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    # the pessimistic end of the estimated gain's 95 % interval (> 0: surely better)
    gain_low: float
    definition: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    state: str = Field(default="evaluated", max_length=16, index=True)  # evaluated|active|retired
    activated_by: str | None = Field(default=None, max_length=100)
    activated_at: dt.datetime | None = None
    comment: str | None = Field(default=None, max_length=1000)


class PolicyModel(SQLModel, table=True):
    """The candidate an evaluation evaluated, stored with it so that activating the evaluation
    switches on exactly that candidate (a learned model's boosters, or an analyst's rules): its
    payload (``model.policy_model``) and the payload's SHA-256, also recorded in the
    evaluation's ``definition``; the run refuses a payload whose hash differs."""

    evaluation_id: int = Field(primary_key=True, foreign_key="policyevaluation.id")
    sha256: str = Field(max_length=64)
    payload: str = Field(sa_column=Column(Text, nullable=False))
    created_at: dt.datetime = Field(default_factory=utcnow)


class Event(SQLModel, table=True):
    """Transactional outbox of domain events (`action.sent`, `invoice.late`, `dispute.opened`…),
    written in the same transaction as the change; webhooks deliver them afterwards."""

    id: int | None = Field(default=None, primary_key=True)
    type: str = Field(max_length=64, index=True)
    entity_id: str | None = Field(default=None, max_length=200)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    created_at: dt.datetime = Field(default_factory=utcnow, index=True)


def record_event(session, *, type: str, entity_id: str | None, payload: dict[str, Any]) -> Event:
    """Record a domain event in the caller's transaction (delivered later by the webhooks)."""
    event = Event(type=type, entity_id=entity_id, payload=payload)
    session.add(event)
    return event
