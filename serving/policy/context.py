"""What every guard and rule reads (`_Context`), what a rule contributes (`Adjustment`) and the
plan they fold into (`_Plan`), with the calendar and sentence helpers they share."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import lru_cache

from ledger.calendar import next_business_day
from serving.money import money
from serving.policy.types import Basis, CustomerState, Decision, InvoiceState, Reason, Risk
from serving.scenarios import Scenario

# --- calendar --------------------------------------------------------------------------------

# a daily run asks for the next business day of a few hundred distinct dates a million times
_NEXT_BUSINESS_DAY: dict[date, date] = {}


def _next_business_day(day: date) -> date:
    found = _NEXT_BUSINESS_DAY.get(day)
    if found is None:
        if len(_NEXT_BUSINESS_DAY) >= 100_000:
            _NEXT_BUSINESS_DAY.clear()
        found = _NEXT_BUSINESS_DAY[day] = next_business_day(day)
    return found


# --- sentences -------------------------------------------------------------------------------


def _fr_date(day: date) -> str:
    return f"{day.day:02d}/{day.month:02d}/{day.year}"


def _fr_amount(amount: Decimal, currency: str) -> str:
    return money(amount, currency, "fr")


def _en_amount(amount: Decimal, currency: str) -> str:
    return money(amount, currency, "en")


# --- context and adjustments -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Context:
    invoice: InvoiceState
    customer: CustomerState
    risk: Risk | None
    scenario: Scenario
    today: date
    last_contact_on: date | None
    steps_done: frozenset[str]
    # (step, day it closed or None while open), for the steps done; empty: not known, every
    # step done counts as closed long ago
    step_closed: tuple[tuple[str, date | None], ...] = ()

    @property
    def overdue(self) -> bool:
        return self.invoice.due_date < self.today

    @property
    def risk_p(self) -> float | None:
        """The risk a person sees: P(late) before the due date; once overdue, P(late) is 1 and
        what matters is P(not paid within 30 days | unpaid today)."""
        if self.risk is None:
            return None
        # p_unpaid_30 is filled in by Risk.__post_init__ (p_late when a provider left it out)
        return float(self.risk.p_unpaid_30 or 0.0) if self.overdue else self.risk.p_late

    @property
    def high_risk(self) -> bool:
        p = self.risk_p
        return p is not None and p >= self.scenario.risk_rules.high_risk_p

    @property
    def low_risk(self) -> bool:
        p = self.risk_p
        return p is not None and p < self.scenario.risk_rules.low_risk_p


@dataclass(frozen=True, slots=True)
class Adjustment:
    """What one rule changes in the scenario's plan, and why."""

    reason: Reason
    # added to the offsets of overdue steps (negative = earlier)
    shift_days: int = 0
    # make sure a reminder goes out this many days before the due date
    pre_due_days: int | None = None
    # notches up the tone ladder courteous → neutral → firm
    firmer: int = 0
    # the first reminder after the due date becomes a courteous email
    courteous_first_contact: bool = False
    # email and SMS steps become a call task
    call: bool = False
    # jump over this many pending steps, never past the formal notice
    skip_steps: int = 0


@dataclass(frozen=True, slots=True)
class _Plan:
    """All rules' adjustments folded together."""

    shift_days: int = 0
    pre_due_days: int | None = None
    firmer: int = 0
    courteous_first_contact: bool = False
    call: bool = False
    skip_steps: int = 0
    reasons: tuple[Reason, ...] = ()


@lru_cache(maxsize=4096)
def _fold(adjustments: tuple[Adjustment, ...]) -> _Plan:
    shift, pre_due, firmer, courteous, call, skip = 0, None, 0, False, False, 0
    reasons: list[Reason] = []
    for adj in adjustments:
        shift += adj.shift_days
        if adj.pre_due_days is not None:
            pre_due = adj.pre_due_days if pre_due is None else max(pre_due, adj.pre_due_days)
        firmer += adj.firmer
        courteous = courteous or adj.courteous_first_contact
        call = call or adj.call
        skip = max(skip, adj.skip_steps)
        reasons.append(adj.reason)
    return _Plan(shift, pre_due, firmer, courteous, call, skip, tuple(reasons))



def _basis(ctx: _Context) -> Basis:
    return "model" if ctx.risk is not None and ctx.risk.source == "model" else "rules"


def _wait(ctx: _Context, reason: Reason, *, until: date | None = None) -> Decision:
    return Decision(action="wait", basis=_basis(ctx), reasons=[reason], send_on=until)
