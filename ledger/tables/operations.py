"""Tables of the operations around the ledger: exchange rates (`ledger.fx`), penalty invoices
(`ledger.penalties`), webhook subscribers and deliveries (`ledger.webhooks`), scheduled job runs
(`ledger.jobs`), published customer scores (`ledger.scores`) and credit-limit crossings
(`ledger.credit`). The logic stays in those modules; the tables are here so that importing
`ledger.tables` puts every table on the metadata."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from ledger.tables.records import MONEY, utcnow

# a rate is a positive number of at most 18 digits, 10 of them decimals (ECB: 4–5 significant)
RATE_DIGITS = {"max_digits": 18, "decimal_places": 10}
ECB_SOURCE = "ecb"


class ExchangeRate(SQLModel, table=True):
    """On `rate_date`, 1 EUR = `rate` `currency` (the ECB's euro foreign exchange reference rate)."""

    __tablename__ = "exchange_rate"

    currency: str = Field(primary_key=True, max_length=3)
    rate_date: dt.date = Field(primary_key=True)
    rate: Decimal = Field(**RATE_DIGITS)
    source: str = Field(default=ECB_SOURCE, max_length=32)
    updated_at: dt.datetime = Field(default_factory=utcnow)


class PenaltyInvoice(SQLModel, table=True):
    """A facture de pénalités: interest and indemnities owed on invoices paid late."""

    penalty_invoice_id: str = Field(primary_key=True, max_length=64)
    customer_id: str = Field(foreign_key="customer.customer_id", index=True, max_length=64)
    kind: str = Field(default="penalty", max_length=16)  # always "penalty": never a plain invoice
    issue_date: dt.date
    # late-payment penalties are payable without a reminder (L441-10 II): due on issue
    due_date: dt.date
    currency: str = Field(max_length=3)
    customer_type: str = Field(max_length=16)
    interest: Decimal = Field(**MONEY)
    indemnity: Decimal = Field(**MONEY)  # in `currency`; only what could be converted at a dated rate
    indemnity_eur: Decimal = Field(**MONEY)  # what the law fixes: 40 € per invoice
    total: Decimal = Field(**MONEY)  # interest + indemnity, in `currency`
    created_by: str | None = Field(default=None, max_length=100)
    created_at: dt.datetime = Field(default_factory=utcnow)


class PenaltyCharge(SQLModel, table=True):
    """One invoice charged on a penalty invoice."""

    id: int | None = Field(default=None, primary_key=True)
    penalty_invoice_id: str = Field(foreign_key="penaltyinvoice.penalty_invoice_id", index=True,
                                    max_length=64)
    invoice_id: str = Field(foreign_key="invoice.invoice_id", max_length=64)
    due_date: dt.date
    paid_on: dt.date  # the last late payment: interest runs to it
    amount_late: Decimal = Field(**MONEY)
    days_late: int
    rates_percent: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    interest: Decimal = Field(**MONEY)
    indemnity: Decimal = Field(**MONEY)
    indemnity_eur: Decimal = Field(**MONEY)
    notes: list[str] = Field(default_factory=list, sa_column=Column(JSON))

    __table_args__ = (UniqueConstraint("invoice_id", name="uq_penalty_charge_invoice"),)


class Subscriber(SQLModel, table=True):
    __tablename__ = "webhook_subscriber"

    id: int | None = Field(default=None, primary_key=True)
    url: str = Field(max_length=500)
    events: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    secret: str = Field(max_length=200)
    active: bool = True
    # the last outbox event this subscriber has been given (new subscribers start at "now")
    last_event_id: int = 0
    created_at: dt.datetime = Field(default_factory=utcnow)


class Delivery(SQLModel, table=True):
    """One attempt to deliver one event to one subscriber: the delivery log."""

    __tablename__ = "webhook_delivery"

    id: int | None = Field(default=None, primary_key=True)
    subscriber_id: int = Field(foreign_key="webhook_subscriber.id", index=True)
    event_id: int = Field(foreign_key="event.id", index=True)
    attempt: int = 1
    # pending | sending | delivered | error (retried later) | failed (given up) | cancelled
    status: str = Field(default="pending", max_length=16, index=True)
    response_code: int | None = None
    error: str | None = Field(default=None, max_length=500)
    next_attempt_at: dt.datetime | None = Field(default=None, index=True)
    attempted_at: dt.datetime | None = None
    delivered_at: dt.datetime | None = None
    created_at: dt.datetime = Field(default_factory=utcnow)

    __table_args__ = (UniqueConstraint("subscriber_id", "event_id", "attempt", name="uq_delivery_attempt"),)


class JobRun(SQLModel, table=True):
    job: str = Field(primary_key=True, max_length=32)
    run_date: dt.date = Field(primary_key=True)
    state: str = Field(default="running", max_length=16)  # running | done | failed
    owner: str = Field(max_length=200)
    started_at: dt.datetime = Field(default_factory=utcnow)
    finished_at: dt.datetime | None = None
    report: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    error: str | None = Field(default=None, sa_column=Column(Text))


class CustomerScore(SQLModel, table=True):
    customer_id: str = Field(foreign_key="customer.customer_id", primary_key=True, max_length=64)
    score: int
    grade: str = Field(max_length=1)
    p_late: float
    model_version: str | None = Field(default=None, max_length=100)
    scored_on: dt.date
    updated_at: dt.datetime = Field(default_factory=utcnow)


class CreditLimitState(SQLModel, table=True):
    """Whether a customer was over its limit when last looked at, so a crossing is told once."""

    __tablename__ = "credit_limit_state"

    customer_id: str = Field(foreign_key="customer.customer_id", primary_key=True, max_length=64)
    over_limit: bool = False
    crossed_on: dt.date | None = None
    updated_at: dt.datetime = Field(default_factory=utcnow)


