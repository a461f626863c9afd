"""What the billing system sends: validated input records (API bodies and ledger files alike).

Each validator says what is wrong in a sentence; the API turns the location into a field name
such as `invoices[3].due_date`.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (BaseModel, ConfigDict, Field, StringConstraints, ValidationInfo, field_validator,
                      model_validator)

from ledger.config import get_settings

Id = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Money = Annotated[Decimal, Field(max_digits=18, decimal_places=2, allow_inf_nan=False)]
Currency = Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, min_length=3,
                                            max_length=3)]


def _known_currency(value: str | None) -> str | None:
    if value is not None and value not in get_settings().currency_codes:
        raise ValueError(f"unknown currency code {value!r} (ISO 4217, e.g. EUR)")
    return value


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


class CustomerIn(_Record):
    customer_id: Id
    name: str | None = Field(default=None, max_length=200)
    country: Annotated[str, StringConstraints(to_upper=True, pattern=r"^[A-Z]{2}$")] | None = None
    language: Literal["fr", "en"] = "fr"
    segment: str | None = Field(default=None, max_length=64)
    email: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=40)
    payment_terms_days: int | None = Field(default=None, ge=0, le=365)
    credit_limit: Money | None = Field(default=None, ge=0)
    currency: Currency = "EUR"
    # must name a stored scenario, or a key of its segment → scenario table (checked by ingest)
    dunning_scenario: str | None = Field(default=None, max_length=64)
    address: str | None = Field(default=None, max_length=300)
    postal_code: str | None = Field(default=None, max_length=16, pattern=r"^[A-Za-z0-9 \-]+$")
    city: str | None = Field(default=None, max_length=100)
    # statuses (ledger.statuses): sent only when set, so a batch never clears them by omission
    customer_type: Literal["business", "consumer", "public_sector"] = "business"
    on_hold: bool = False
    on_hold_reason: str | None = Field(default=None, max_length=200)
    on_hold_until: Annotated[dt.date, Field(ge=dt.date(2000, 1, 1), le=dt.date(2100, 12, 31))] | None = None
    insolvency_date: Annotated[dt.date, Field(ge=dt.date(1990, 1, 1), le=dt.date(2100, 12, 31))] | None = None

    _currency = field_validator("currency")(_known_currency)

    @model_validator(mode="after")
    def _hold_until_needs_hold(self) -> "CustomerIn":
        # "on hold until D" sent without on_hold means on hold; on_hold=false with a date is a
        # contradiction the sender must resolve
        if self.on_hold_until is not None and "on_hold" not in self.model_fields_set:
            self.on_hold = True
        elif self.on_hold_until is not None and not self.on_hold:
            raise ValueError("on_hold_until is set but on_hold is false: send on_hold true, or no date")
        return self


class InvoiceIn(_Record):
    invoice_id: Id
    customer_id: Id
    issue_date: dt.date
    due_date: dt.date
    amount: Money = Field(gt=0)
    currency: Currency = "EUR"
    kind: Literal["invoice", "credit_note"] = "invoice"
    applies_to: Id | None = None

    _currency = field_validator("currency")(_known_currency)

    @field_validator("applies_to")
    @classmethod
    def _only_credit_notes(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and info.data.get("kind") != "credit_note":
            raise ValueError("only a credit note can apply to an invoice")
        return value

    @field_validator("due_date")
    @classmethod
    def _due_after_issue(cls, value: dt.date, info: ValidationInfo) -> dt.date:
        issue = info.data.get("issue_date")
        if issue is not None and value < issue:
            raise ValueError(f"the due date {value} is before the issue date {issue}")
        return value


class PaymentIn(_Record):
    payment_id: Id
    customer_id: Id
    paid_on: dt.date
    amount: Money = Field(gt=0)
    currency: Currency = "EUR"
    invoice_id: Id | None = None

    _currency = field_validator("currency")(_known_currency)


class DisputeIn(_Record):
    dispute_id: Id
    invoice_id: Id
    opened_on: dt.date
    reason: str | None = Field(default=None, max_length=64)
    status: str = Field(default="open", max_length=32)
    resolved_on: dt.date | None = None
    amount: Money | None = Field(default=None, gt=0)


class IngestBatch(_Record):
    customers: list[CustomerIn] = Field(default_factory=list)
    invoices: list[InvoiceIn] = Field(default_factory=list)
    payments: list[PaymentIn] = Field(default_factory=list)
    disputes: list[DisputeIn] = Field(default_factory=list)


class IngestResult(BaseModel):
    customers: dict[str, int]
    invoices: dict[str, int]
    payments: dict[str, int]
    disputes: dict[str, int]
    customers_reallocated: int
