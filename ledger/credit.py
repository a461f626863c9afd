"""Credit limits: each customer's exposure against its limit, and when it crosses it.

Exposure is what the customer owes now (open invoices less unused credit notes and unallocated
cash), in the customer's own currency — the currency its limit is set in.
"""
from __future__ import annotations

import datetime as dt

from sqlmodel import Field, SQLModel

from ledger.models import utcnow


class CreditLimitState(SQLModel, table=True):
    """Whether a customer was over its limit when last looked at, so a crossing is told once."""

    __tablename__ = "credit_limit_state"

    customer_id: str = Field(foreign_key="customer.customer_id", primary_key=True, max_length=64)
    over_limit: bool = False
    crossed_on: dt.date | None = None
    updated_at: dt.datetime = Field(default_factory=utcnow)
