"""The decision policy: who to chase, when, how and in what tone — as pure functions.

`decide` combines a customer's dunning scenario with the predicted risk and the context of the
invoice and returns one `Decision`. No database, no clock: everything comes in as arguments, so
the API, the daily run and the tests ask the same function the same question.

How it reads:
1. guards (`_GUARDS`): reasons never to chase now — settled, below the scenario's minimum, open
   dispute, customer on hold, active promise to pay. The first that applies returns `wait`.
2. rules (`_RULES`): each a small function that looks at the context and contributes an
   `Adjustment` (shift the overdue steps, firmer tone, pre-due reminder, call, skip steps) with
   one reason sentence in French and English. Thresholds come from `scenario.risk_rules`.
3. scheduling: the adjusted steps form a plan; the next step is the first one not done (nor
   superseded by a later step done) whose time has come; it waits until the step before it was
   completed (e-mail sent, call logged, letter posted, formal notice received) plus its delay;
   its send date respects the minimum delay between two contacts and lands on a French business
   day.

The package holds one concern per module: `types` (inputs and output), `context` (what guards and
rules read), `guards`, `rules`, `plan` (adjusted steps) and `schedule`; this module keeps the entry
point `decide` and the daily run's pre-filter `may_act`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, timedelta

from ledger.statuses import hold_active, insolvent
from serving.policy.context import Adjustment, _Context, _fold, _next_business_day
from serving.policy.guards import _GUARDS
from serving.policy.rules import _RULES
from serving.policy.schedule import _no_model_reason, _schedule
from serving.policy.types import (
    PRE_DUE_STEP_NAME,
    Action,
    Basis,
    CustomerState,
    Decision,
    InvoiceState,
    Reason,
    Risk,
)
from serving.scenarios import Scenario

__all__ = [
    "PRE_DUE_STEP_NAME",
    "Action",
    "Adjustment",
    "Basis",
    "CustomerState",
    "Decision",
    "InvoiceState",
    "Reason",
    "Risk",
    "decide",
    "earliest_step_offset",
    "may_act",
]


def decide(
    *,
    invoice: InvoiceState,
    customer: CustomerState,
    risk: Risk | None,
    scenario: Scenario,
    today: date,
    last_contact_on: date | None,
    steps_done: Iterable[str],
    step_closed: Mapping[str, date | None] | None = None,
) -> Decision:
    """The next action for one invoice: guards first, then the scenario adjusted by the rules.

    `step_closed`: for the steps done, the day each closed (None while still open); without it
    every step done counts as closed long ago."""
    done = frozenset(steps_done)
    ctx = _Context(
        invoice=invoice, customer=customer, risk=risk, scenario=scenario, today=today,
        last_contact_on=last_contact_on, steps_done=done,
        step_closed=tuple(sorted((k, v) for k, v in (step_closed or {}).items() if k in done)),
    )
    for guard in _GUARDS:
        decision = guard(ctx)
        if decision is not None:
            return decision
    plan = _fold(tuple(adj for rule in _RULES if (adj := rule(ctx)) is not None))
    base_reasons = [_no_model_reason(scenario)] if risk is None else []
    return _schedule(ctx, plan, [*base_reasons, *plan.reasons])



# --- the daily run's pre-filter ------------------------------------------------------------------

_EARLIEST_OFFSET: dict[int, tuple[Scenario, int]] = {}


def earliest_step_offset(scenario: Scenario) -> int:
    """The earliest day, from the due date, on which any step of `scenario` can fall, whatever
    the risk and the rules: a pre-due step (or the pre-due reminder a risky payer gets), else the
    due date itself (overdue steps never fall before due + grace, and pulling in never crosses it).
    """
    cached = _EARLIEST_OFFSET.get(id(scenario))
    if cached is None or cached[0] is not scenario:
        offset = min(0, -scenario.risk_rules.pre_due_days, *(s.offset_days for s in scenario.steps))
        cached = _EARLIEST_OFFSET[id(scenario)] = (scenario, offset)
    return cached[1]


def may_act(
    *,
    invoice: InvoiceState,
    customer: CustomerState,
    scenario: Scenario,
    today: date,
    last_contact_on: date | None,
) -> bool:
    """False only when `decide(...)` cannot be due on `today` for this invoice, whatever its risk
    and steps done: a cheap, conservative pre-filter for the daily run (most open invoices have
    nothing due on a given day). True means "ask `decide`", not "act".

    Why each test is exact: an action's send date is the next business day on or after
    max(today, step date, last contact + minimum delay), and it is due only when that is today;
    the guards (settled, below minimum, dispute, insolvency, hold, active promise) always wait.
    """
    if _next_business_day(today) != today:
        return False  # every send date would roll past a weekend or holiday
    if invoice.settled or invoice.has_open_dispute:
        return False
    if (hold_active(on_hold=customer.on_hold, on_hold_until=customer.on_hold_until, today=today)
            or insolvent(insolvency_date=customer.insolvency_date, today=today)):
        return False
    if invoice.open_amount <= 0 or invoice.open_amount < scenario.min_amount:
        return False
    until = invoice.active_promise_until
    if until is not None and until >= today:
        return False
    if (last_contact_on is not None
            and last_contact_on + timedelta(days=scenario.min_days_between_contacts) > today):
        return False
    # no step, however pulled in, falls on or before today yet
    return invoice.due_date + timedelta(days=earliest_step_offset(scenario)) <= today
