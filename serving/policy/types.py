"""The policy's inputs (`InvoiceState`, `CustomerState`, `Risk`) and its output (`Decision`, with its
`Reason` sentences in French and English)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Literal

Action = Literal["wait", "email", "sms", "call", "letter", "formal_notice", "legal"]
Basis = Literal["model", "rules"]
PRE_DUE_STEP_NAME = "pre_due_reminder"


# --- inputs and output ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InvoiceState:
    invoice_id: str
    customer_id: str
    issue_date: date
    due_date: date
    amount: Decimal
    open_amount: Decimal
    currency: str = "EUR"
    settled: bool = False
    has_open_dispute: bool = False
    active_promise_until: date | None = None
    broken_promise: bool = False


@dataclass(frozen=True, slots=True)
class CustomerState:
    customer_id: str
    language: str = "fr"
    segment: str | None = None
    on_hold: bool = False
    open_balance: Decimal = Decimal("0")
    # statuses (ledger.statuses): a hold may end on a date; an insolvency stops dunning for good
    on_hold_until: date | None = None
    insolvency_date: date | None = None
    customer_type: str = "business"
    overdue_balance: Decimal = Decimal("0")
    # 0 means this is the payer's first delay with us
    previously_late_count: int = 0
    # computed by the caller, e.g. days late trending up over the last invoices
    deteriorating: bool = False


@dataclass(frozen=True, slots=True)
class Risk:
    """The time-to-payment answers for one open invoice, as of the scoring date.

    p_late / p_severe / expected_days_late describe the invoice as a whole (an invoice already
    overdue has p_late 1); p_unpaid_30 / p_unpaid_90 are P(not paid within 30 / 90 days of the
    scoring date | unpaid then), for a not-yet-due invoice too; expected_pay_date is the date by
    which payment is as likely as not (None: not within a year). Providers built before these
    fields may omit p_unpaid_*: p_unpaid_30 then takes p_late (the number the policy read before)
    and p_unpaid_90 p_severe.
    """

    p_late: float
    p_severe: float
    expected_days_late: float
    grade: str
    source: Literal["model", "rules"] = "model"
    p_unpaid_30: float | None = None
    p_unpaid_90: float | None = None
    expected_pay_date: date | None = None

    def __post_init__(self) -> None:
        for name, older in (("p_unpaid_30", self.p_late), ("p_unpaid_90", self.p_severe)):
            if getattr(self, name) is None:
                object.__setattr__(self, name, float(older))


@dataclass(frozen=True, slots=True)
class Reason:
    code: str
    fr: str
    en: str

    def text(self, language: str = "fr") -> str:
        return self.en if language == "en" else self.fr


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    basis: Basis
    reasons: list[Reason]
    # for `wait`: the date the policy expects to act next, or None when it cannot tell
    send_on: date | None = None
    channel: str | None = None
    tone: str | None = None
    template: str | None = None
    step: str | None = None
    # the caller computes the amounts (ledger law); the policy only says whether to claim them
    claim_penalties: bool = False
    # for `wait`: the step expected next, if any
    next_step: str | None = None

    def is_due(self, on: date) -> bool:
        """Whether a run on `on` should create this action now."""
        return self.action != "wait" and self.send_on is not None and self.send_on <= on

