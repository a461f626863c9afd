"""The one decision path: customers' facts in, per-invoice decisions and consolidated reminders out.

`decide_customers` is the only place that turns what the ledger knows about customers
(`ledger.run_facts.ChunkFacts`: open invoices, disputes, promises, steps done, last contact,
statuses) into decisions. Every caller goes through it:

- the daily run (`serving.dunning.run_dunning`), chunk by chunk of customers;
- `GET /invoices/{id}/next-action` (`next_action` below), for one customer;
- anything storing next actions in bulk: load facts for many customers, call `decide_customers`
  with `explain=True`, keep the decisions.

For each customer it resolves the scenario, applies the run's pre-filter (`policy.may_act`, exact),
asks the policy (`policy.decide`) about each invoice, lets a `Chooser` pick among acceptable
actions (the scenario's own choice, propensity 1; exploration's draw; or the active learned or
analyst's policy, `serving.policy_run.chooser_for` — issue #21),
and groups the invoices due on the day into one reminder per channel whose tone and template are
decided here, once (`reminder_voice`): the firmest of its invoices'. The renderer renders that
template; it never changes the tone.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlmodel import Session

from ledger import actions as dunning_actions
from ledger import reminders as dunning_reminders
from ledger import run_facts
from ledger.tables import ActionState, Invoice
from serving.choosing import Chooser, Chosen, policy_choice
from serving.labels import RunWarning, run_warning
from serving.policy import (
    PRE_DUE_STEP_NAME,
    CustomerState,
    Decision,
    InvoiceState,
    Reason,
    Risk,
    decide,
    may_act,
)
from serving.policy_run import chooser_for, warnings_of
from serving.scenario_store import Rulebook, load_rulebook
from serving.scenarios import APPROVAL_CHANNELS, TONES, Scenario

log = logging.getLogger(__name__)

# invoice ids → risk, as of a date; None anywhere means "rules alone"
RiskProvider = Callable[[Session, list[str], dt.date], dict[str, Risk]]


# --- risk: a provider that fails never stops a decision ------------------------------------------


@dataclass(frozen=True, slots=True)
class RiskAnswer:
    risks: dict[str, Risk]
    warning: RunWarning | None = None  # the provider failed: rules alone were used


def ask_risk(session: Session, invoice_ids: list[str], today: dt.date,
             provider: RiskProvider | None) -> RiskAnswer:
    """The provider's risks, or none with a warning when it fails (no model must never stop
    the run nor answer a 500 on next-action: the scenario's rules apply)."""
    if provider is None or not invoice_ids:
        return RiskAnswer({})
    try:
        return RiskAnswer(provider(session, invoice_ids, today))
    except Exception:  # noqa: BLE001  (a model may fail in any way; rules still decide)
        # the exception's own text is for the operators' log, never for the person reading the run
        log.exception("risk provider failed on %d invoice(s); rules alone decided", len(invoice_ids))
        return RiskAnswer({}, run_warning("risk_failed"))


# --- exploration's place ---------------------------------------------------------------------------


# `Chosen`, `Chooser` and `policy_choice` live in serving/choosing.py (serving.exploration uses them too)


# --- outputs ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlannedAction:
    customer_id: str
    invoice_id: str
    reminder_id: str
    scenario: str
    step: str
    channel: str
    tone: str  # this invoice's step's tone; the reminder speaks in `reminder_voice`'s
    template: str | None
    send_on: dt.date
    claim_penalties: bool
    reasons: tuple[dict[str, str], ...]
    state: str = ActionState.PLANNED.value  # pending_approval for formal notices, legal hand-offs
    propensity: float = 1.0
    policy_id: int | None = None  # the active reminder policy that chose it (None: the rules)


@dataclass(frozen=True, slots=True)
class PlannedReminder:
    """One contact: the invoices of one customer due on the day in one channel."""

    reminder_id: str
    customer_id: str
    channel: str
    tone: str
    template: str | None
    send_on: dt.date
    language: str
    claim_penalties: bool
    invoice_ids: tuple[str, ...]


@dataclass(slots=True)
class CustomerDecisions:
    customer_id: str
    scenario: Scenario
    unknown_scenario: str | None  # the customer names a scenario that does not exist
    invoices_seen: int
    # every invoice decided: those asked to explain, and every one the pre-filter let through
    decisions: dict[str, Decision] = field(default_factory=dict)
    actions: list[PlannedAction] = field(default_factory=list)
    reminders: list[PlannedReminder] = field(default_factory=list)

    def action_of(self, invoice_id: str) -> PlannedAction | None:
        return next((a for a in self.actions if a.invoice_id == invoice_id), None)

    def reminder_of(self, invoice_id: str) -> PlannedReminder | None:
        return next((r for r in self.reminders if invoice_id in r.invoice_ids), None)


# --- facts → policy inputs ---------------------------------------------------------------------------


def invoice_state(invoice: run_facts.OpenInvoice) -> InvoiceState:
    return InvoiceState(
        invoice_id=invoice.invoice_id, customer_id=invoice.customer_id,
        issue_date=invoice.issue_date, due_date=invoice.due_date, amount=invoice.amount,
        open_amount=invoice.open_amount, currency=invoice.currency,
        has_open_dispute=invoice.has_open_dispute,
        active_promise_until=invoice.active_promise_until, broken_promise=invoice.broken_promise,
    )


def customer_state(customer: run_facts.CustomerFacts, invoices: Sequence[run_facts.OpenInvoice],
                   today: dt.date, currency: str) -> CustomerState:
    """The customer as the policy sees it when deciding on an invoice in `currency`: its balances
    count the open invoices in that currency only (never a sum across currencies)."""
    invoices = [i for i in invoices if i.currency == currency]
    open_balance = sum((i.open_amount for i in invoices), Decimal("0"))
    overdue = sum((i.open_amount for i in invoices if i.due_date < today), Decimal("0"))
    return CustomerState(
        customer_id=customer.customer_id, language=customer.language, segment=customer.segment,
        on_hold=customer.on_hold, open_balance=open_balance, overdue_balance=overdue,
        previously_late_count=customer.previously_late_count,
        deteriorating=customer.deteriorating, customer_type=customer.customer_type,
        on_hold_until=customer.on_hold_until, insolvency_date=customer.insolvency_date,
    )


# --- the decision path ----------------------------------------------------------------------------


def decide_customers(facts: run_facts.ChunkFacts, *, today: dt.date, rulebook: Rulebook,
                     risks: Mapping[str, Risk], explain: Collection[str] | bool = False,
                     chooser: Chooser | None = None) -> list[CustomerDecisions]:
    """Decisions for every customer with open invoices in `facts`, as of `today`.

    `explain`: invoices whose decision is wanted even when the pre-filter rules them out (True:
    all — for storing next actions in bulk; the daily run asks for none, to stay fast). The
    pre-filter is exact (tests/dunning/test_prefilter.py): what it rules out is never due.
    `chooser`: default the settings' (exploring when RELANCE_EXPLORATION > 0, serving.exploration);
    callers reading a database pass `serving.policy_run.chooser_for`'s (the active policy's)."""
    if chooser is None:
        from serving.exploration import configured_chooser

        chooser = configured_chooser() or policy_choice
    out = []
    for customer_id, invoices in dunning_reminders.group_by(facts.invoices, lambda i: i.customer_id).items():
        out.append(_decide_customer(facts, customer_id, invoices, today=today, rulebook=rulebook,
                                    risks=risks, explain=explain, chooser=chooser))
    return out


def _decide_customer(facts: run_facts.ChunkFacts, customer_id: str,
                     invoices: list[run_facts.OpenInvoice], *, today: dt.date, rulebook: Rulebook,
                     risks: Mapping[str, Risk], explain: Collection[str] | bool,
                     chooser: Chooser) -> CustomerDecisions:
    customer = facts.customers[customer_id]
    scenario, unknown = rulebook.scenario_of(dunning_scenario=customer.dunning_scenario,
                                             segment=customer.segment)
    result = CustomerDecisions(customer_id=customer_id, scenario=scenario,
                               unknown_scenario=unknown, invoices_seen=len(invoices))
    # balances per currency: an invoice's rules compare the customer's balance in its currency
    states = {code: customer_state(customer, invoices, today, code)
              for code in {i.currency for i in invoices}}
    last_contact_on = facts.last_contact.get(customer_id)
    due: list[tuple[run_facts.OpenInvoice, Chosen]] = []
    for invoice in invoices:
        facts_of_invoice, state = invoice_state(invoice), states[invoice.currency]
        # most open invoices have nothing due today: `may_act` rules them out exactly and
        # cheaply, `decide` answers the rest (and those a caller wants explained)
        eligible = may_act(invoice=facts_of_invoice, customer=state, scenario=scenario,
                           today=today, last_contact_on=last_contact_on)
        if not eligible and not (explain is True or (explain and invoice.invoice_id in explain)):
            continue
        decision = decide(
            invoice=facts_of_invoice, customer=state, risk=risks.get(invoice.invoice_id),
            scenario=scenario, today=today, last_contact_on=last_contact_on,
            **_steps_of(scenario, invoice.due_date, facts.steps_done.get(invoice.invoice_id, ()),
                        facts.step_closed.get(invoice.invoice_id, {})),
        )
        chosen = chooser(facts_of_invoice, decision)
        result.decisions[invoice.invoice_id] = chosen.decision
        if eligible and chosen.decision.is_due(today):
            due.append((invoice, chosen))
    result.actions = _consolidate(customer_id, scenario, due, today)
    result.reminders = group_reminders(result.actions, language=customer.language)
    return result


def _steps_of(scenario: Scenario, due_date: dt.date, done: Collection[str],
              closed: Mapping[str, dt.date | None]) -> dict[str, Any]:
    """The steps done and the day each closed, as the policy reads them.

    A contact imported from another tool (`reminders.csv` without a `step` column, or naming a
    step this scenario does not have) stands for the latest step of the scenario whose date
    (due date + offset) had come when it was made and that is not done yet: the next step then
    waits for it (its delay runs from that contact), instead of the scenario starting over."""
    names = _step_names(scenario)
    foreign = sorted((closed.get(s) or dt.date.min, s) for s in done
                     if s not in names and s != PRE_DUE_STEP_NAME)
    if not foreign:
        return {"steps_done": done, "step_closed": closed}
    done_now, closed_now = set(done), dict(closed)
    for on, _name in foreign:
        came = [s.name for s in scenario.steps
                if due_date + dt.timedelta(days=s.offset_days) <= on and s.name not in done_now]
        if came:
            done_now.add(came[-1])
            closed_now[came[-1]] = on
    return {"steps_done": done_now, "step_closed": closed_now}


_STEP_NAMES: dict[int, tuple[Scenario, frozenset[str]]] = {}


def _step_names(scenario: Scenario) -> frozenset[str]:
    found = _STEP_NAMES.get(id(scenario))
    if found is None or found[0] is not scenario:  # keyed by id: keep the scenario alive
        found = _STEP_NAMES[id(scenario)] = (scenario, frozenset(s.name for s in scenario.steps))
    return found[1]


def reminder_id_for(*, run_date: dt.date, customer_id: str, channel: str,
                    keys: list[tuple[str, str]]) -> str:
    """Deterministic: two runs planning the same actions name the same reminder."""
    text = f"{run_date.isoformat()}|{customer_id}|{channel}|" + ";".join(f"{i}:{s}" for i, s in sorted(keys))
    return "R" + hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


def _consolidate(customer_id: str, scenario: Scenario,
                 due: list[tuple[run_facts.OpenInvoice, Chosen]], today: dt.date) -> list[PlannedAction]:
    """One reminder per customer and channel, listing every invoice due for a contact today."""
    waiting = ActionState.PENDING_APPROVAL if scenario.approval_required else ActionState.PLANNED
    planned: list[PlannedAction] = []
    for channel, group in dunning_reminders.group_by(due, lambda pair: pair[1].decision.channel).items():
        reminder_id = reminder_id_for(run_date=today, customer_id=customer_id, channel=channel,
                                      keys=[(inv.invoice_id, c.decision.step or "") for inv, c in group])
        for invoice, chosen in group:
            decision = chosen.decision
            planned.append(PlannedAction(
                customer_id=customer_id, invoice_id=invoice.invoice_id, reminder_id=reminder_id,
                scenario=scenario.name, step=decision.step or "", channel=channel,
                tone=decision.tone or "neutral", template=decision.template,
                send_on=decision.send_on or today, claim_penalties=decision.claim_penalties,
                reasons=tuple(_reason_dict(r) for r in decision.reasons),
                state=(waiting if channel in APPROVAL_CHANNELS else ActionState.PLANNED).value,
                propensity=chosen.propensity, policy_id=chosen.policy_id,
            ))
    return planned


def reminder_voice(actions: Sequence[PlannedAction]) -> tuple[str, str | None]:
    """The tone and template of a reminder listing these actions: its firmest action's (the one
    place a reminder's tone is decided; the renderer renders this template)."""
    firmest = max(actions, key=lambda a: TONES.index(a.tone) if a.tone in TONES else 0)
    return firmest.tone, firmest.template


def group_reminders(actions: Sequence[PlannedAction], *, language: str) -> list[PlannedReminder]:
    """The reminders these actions (of one customer) go out in."""
    reminders = []
    for reminder_id, group in dunning_reminders.group_by(actions, lambda a: a.reminder_id).items():
        tone, template = reminder_voice(group)
        first = group[0]
        reminders.append(PlannedReminder(
            reminder_id=reminder_id, customer_id=first.customer_id, channel=first.channel,
            tone=tone, template=template, send_on=max(a.send_on for a in group),
            language=language, claim_penalties=any(a.claim_penalties for a in group),
            invoice_ids=tuple(a.invoice_id for a in group)))
    return reminders


# the policy hands out the same Reason objects over and over: convert each once (read-only dicts)
# Keyed by id (hashing a Reason hashes its sentences); the value keeps the Reason alive so its id
# cannot be reused.
_REASON_DICTS: dict[int, tuple[Reason, dict[str, str]]] = {}


def _reason_dict(reason: Reason) -> dict[str, str]:
    found = _REASON_DICTS.get(id(reason))
    if found is None or found[0] is not reason:
        if len(_REASON_DICTS) >= 100_000:
            _REASON_DICTS.clear()
        found = _REASON_DICTS[id(reason)] = (reason, {"code": reason.code, "fr": reason.fr,
                                                       "en": reason.en})
    return found[1]


# --- one invoice: next-action ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NextAction:
    decision: Decision
    scenario: str
    risk: Risk | None
    # the reminder the invoice goes out in when a run on `today` plans it; None otherwise
    reminder: PlannedReminder | None = None
    action: PlannedAction | None = None
    warnings: tuple[RunWarning, ...] = ()


def next_action(*, session: Session, invoice: Invoice, today: dt.date,
                risk_for: RiskProvider | None, chooser: Chooser | None = None) -> NextAction:
    """What a dry run on `today` decides for `invoice`, with the reasons even when nothing is due.

    Reads the ledger exactly as the run does: the customer's facts with the planned actions the
    run would cancel first (settled or disputed invoices) treated as cancelled — a read-only
    view, nothing is cancelled —, the risk of all the customer's open invoices (a failing
    provider means rules alone, with a warning), and the same decision path."""
    with as_the_run_reads(session, [invoice.customer_id], today) as stale:
        facts = run_facts.load_chunk(session, lo=invoice.customer_id, hi=invoice.customer_id,
                                 run_date=today, cancelling=stale)
    rulebook = load_rulebook(session)
    mine = next((i for i in facts.invoices if i.invoice_id == invoice.invoice_id), None)
    if mine is None:
        return _settled(facts, invoice, today=today, rulebook=rulebook)
    answer = ask_risk(session, [i.invoice_id for i in facts.invoices], today, risk_for)
    if chooser is None:
        chooser = chooser_for(session, facts, today=today, rulebook=rulebook)
    [decided] = decide_customers(facts, today=today, rulebook=rulebook, risks=answer.risks,
                                 explain={invoice.invoice_id}, chooser=chooser)
    warnings = ((answer.warning,) if answer.warning else ()) + tuple(warnings_of(chooser))
    return NextAction(decision=decided.decisions[invoice.invoice_id], scenario=decided.scenario.name,
                      risk=answer.risks.get(invoice.invoice_id),
                      reminder=decided.reminder_of(invoice.invoice_id),
                      action=decided.action_of(invoice.invoice_id),
                      warnings=warnings)


@contextmanager
def as_the_run_reads(session: Session, customer_ids: Sequence[str], today: dt.date
                     ) -> Iterator[frozenset[str]]:
    """The ledger as a run on `today` reads it, without changing it: promises evaluated from
    today's payments (a lapsed or kept promise is decided first, as the run does) inside a
    savepoint rolled back on exit, and the invoices whose open actions the run would cancel
    first (settled or disputed since planning) — yielded, for `load_chunk(cancelling=…)`.
    Load the facts inside the block."""
    from ledger.promises import evaluate_promises

    savepoint = session.begin_nested()
    try:
        evaluate_promises(session, customer_ids, today, actor="next-action")
        yield frozenset(dunning_actions.invoices_no_longer_chased(session))
    finally:
        savepoint.rollback()


def _settled(facts: run_facts.ChunkFacts, invoice: Invoice, *, today: dt.date,
             rulebook: Rulebook) -> NextAction:
    """A settled invoice or a credit note: no run considers it; the policy says why."""
    customer = facts.customers[invoice.customer_id]  # the invoice's customer always exists
    scenario, _ = rulebook.scenario_of(dunning_scenario=customer.dunning_scenario,
                                       segment=customer.segment)
    others = [i for i in facts.invoices if i.customer_id == invoice.customer_id]
    decision = decide(
        invoice=InvoiceState(
            invoice_id=invoice.invoice_id, customer_id=invoice.customer_id,
            issue_date=invoice.issue_date, due_date=invoice.due_date, amount=invoice.amount,
            open_amount=invoice.open_amount, currency=invoice.currency, settled=True),
        customer=customer_state(customer, others, today, invoice.currency), risk=None, scenario=scenario,
        today=today, last_contact_on=facts.last_contact.get(invoice.customer_id),
        steps_done=facts.steps_done.get(invoice.invoice_id, ()))
    return NextAction(decision=decision, scenario=scenario.name, risk=None)
