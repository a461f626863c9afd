"""What a reminder is rendered from (`ReminderContext` and its parts), what a render gives
(`RenderedReminder`), a template's description (`TemplateInfo`) and the errors of rendering;
served by `serving.reminders.render`, which re-exports them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

DEFAULT_LANGUAGE = "fr"
DEFAULT_DEADLINE_DAYS = 8


class ReminderError(ValueError):
    """An unknown channel, tone or language, a missing template, or a template that fails."""


class RenderLimitError(ReminderError):
    """A render that ran past the time or output bound (the template loops too much)."""


@dataclass(frozen=True)
class Company:
    """The creditor sending the reminder (settings `creditor_*`)."""

    name: str
    address: tuple[str, ...] = ()
    email: str | None = None
    phone: str | None = None
    siren: str | None = None
    siret: str | None = None
    vat_number: str | None = None
    iban: str | None = None
    bic: str | None = None
    signatory: str | None = None
    signatory_title: str | None = None


@dataclass(frozen=True)
class Customer:
    """The debtor."""

    name: str
    language: str = DEFAULT_LANGUAGE
    address: tuple[str, ...] = ()
    contact_name: str | None = None
    # business | consumer | public_sector: which law the texts cite (ledger.law.claim_for)
    customer_type: str = "business"


@dataclass(frozen=True)
class InvoiceLine:
    invoice_id: str
    issue_date: date
    due_date: date
    amount: Decimal
    open_amount: Decimal
    days_late: int  # negative: days left before the due date
    # when penalties are claimed: this invoice's interest, indemnity and rate (ledger.law)
    interest: Decimal | None = None
    indemnity: Decimal | None = None  # in the invoice's currency; None when not convertible
    rate_percent: Decimal | None = None
    # the indemnity the law fixes in euros (40), when owed: shown in euros, with "no exchange
    # rate known", when it could not be converted — never as 0
    indemnity_eur: Decimal | None = None

    @property
    def overdue(self) -> bool:
        return self.days_late > 0


@dataclass(frozen=True)
class Contact:
    """An earlier contact actually made about these invoices: what a text may cite."""

    on: date
    channel: str  # email | sms | call | letter | formal_notice


@dataclass(frozen=True)
class PenaltyClaim:
    """Penalties claimed in the reminder (from ``ledger.law.penalties_due``, summed)."""

    interest: Decimal
    indemnity: Decimal  # in the reminder's currency: the indemnities that could be converted
    rate_percent: Decimal | None = None  # shown when one rate applied to every invoice
    # indemnities owed in euros that no dated exchange rate converts: claimed in euros, beside
    # the total (never added to an amount in another currency)
    indemnity_eur_only: Decimal = Decimal("0")

    @property
    def total(self) -> Decimal:
        return self.interest + self.indemnity


@dataclass(frozen=True)
class ReminderContext:
    """Everything a template may use. ``total`` is derived, so it always matches the lines."""

    company: Company
    customer: Customer
    invoices: tuple[InvoiceLine, ...]
    today: date
    currency: str = "EUR"
    penalties: PenaltyClaim | None = None  # None: penalties are not claimed
    payment_instructions: str = ""
    deadline_days: int = DEFAULT_DEADLINE_DAYS
    agent_name: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    # contacts actually made before this one (sent, logged, posted), oldest first: the texts say
    # "our earlier reminders of …" only when there are some, and cite their dates
    earlier_contacts: tuple[Contact, ...] = ()
    # what the customer quotes with the payment
    payment_reference: str = ""

    @property
    def total(self) -> Decimal:
        return sum((line.open_amount for line in self.invoices), Decimal("0"))

    @property
    def total_due(self) -> Decimal:
        return self.total + (self.penalties.total if self.penalties else Decimal("0"))

    @property
    def deadline(self) -> date:
        return self.today + timedelta(days=self.deadline_days)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> ReminderContext:
        """Build from plain dicts (API bodies, JSON); nested parts may be dicts too."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ReminderError(f"unknown context field(s): {', '.join(sorted(unknown))}")
        try:
            values = dict(data)
            values["company"] = _as(Company, values["company"])
            values["customer"] = _as(Customer, values["customer"])
            values["invoices"] = tuple(_as(InvoiceLine, line) for line in values["invoices"])
            if values.get("penalties") is not None:
                values["penalties"] = _as(PenaltyClaim, values["penalties"])
            if values.get("earlier_contacts"):
                values["earlier_contacts"] = tuple(_as(Contact, c) for c in values["earlier_contacts"])
            return cls(**values)
        except (KeyError, TypeError) as exc:
            raise ReminderError(f"incomplete reminder context: {exc}") from exc


def _as(kind: type, value: Any) -> Any:
    if isinstance(value, kind):
        return value
    values = dict(value)
    for name in ("address",):
        if name in values:
            values[name] = tuple(values[name])
    return kind(**values)


@dataclass(frozen=True)
class RenderedReminder:
    channel: str
    tone: str
    language: str
    template: str  # the template file actually used, after fallback
    subject: str
    body_text: str
    body_html: str | None = None


@dataclass(frozen=True)
class TemplateInfo:
    channel: str
    tone: str
    language: str
    name: str
    path: Path | None  # None: an edited template, stored in the database
    source: str = ""
