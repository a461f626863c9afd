"""Risk answers computed in bulk and stored (`ledger/stored_risk.py` reads and writes them)."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from ledger.tables.records import MONEY, utcnow


class StoredCustomerRisk(SQLModel, table=True):
    customer_id: str = Field(foreign_key="customer.customer_id", primary_key=True, max_length=64)
    as_of: dt.date
    model_version: str | None = Field(default=None, max_length=100)
    basis: str = Field(max_length=8)  # model | rules
    fingerprint: str = Field(max_length=40)
    score: int
    grade: str = Field(max_length=1)
    p_late: float
    p_severe: float
    expected_days_late: float
    p_unpaid_30: float
    p_unpaid_90: float
    open_invoices: int
    # open balances in the customer's own currency; other currencies apart, never added to it
    currency: str = Field(max_length=3)
    open_amount: Decimal = Field(**MONEY)
    by_currency: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON))
    # what reasons are told from on demand: the expected invoice's features (model) or the
    # payer's settled / late counts (rules)
    reason_data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    computed_at: dt.datetime = Field(default_factory=utcnow)


class StoredInvoiceRisk(SQLModel, table=True):
    invoice_id: str = Field(primary_key=True, max_length=64)
    customer_id: str = Field(index=True, max_length=64)
    as_of: dt.date
    model_version: str | None = Field(default=None, max_length=100)
    basis: str = Field(max_length=8)
    p_late: float
    p_severe: float
    expected_days_late: float
    p_unpaid_30: float
    p_unpaid_90: float
    expected_pay_date: dt.date | None = None
    pay_date_low: dt.date | None = None
    pay_date_high: dt.date | None = None
    score: int
    grade: str = Field(max_length=1)


class StoredNextAction(SQLModel, table=True):
    """An open invoice's next action as the one decision path gives it (`serving.decisions`),
    computed in bulk; fresh under the same rule as its customer's risk, and the same rulebook."""

    invoice_id: str = Field(primary_key=True, max_length=64)
    customer_id: str = Field(index=True, max_length=64)
    as_of: dt.date
    model_version: str | None = Field(default=None, max_length=100)
    fingerprint: str = Field(max_length=40)  # the customer's ledger and the rulebook
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
