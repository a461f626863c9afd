"""The daily dunning run (relance quotidienne): plan today's actions, consolidated per customer.

`run_dunning` reads the open invoices chunk by chunk of customers (`ledger.run_facts.load_chunk`),
asks the decision policy (`serving.policy.decide`) what each needs, keeps the actions due on the
run date, and groups them into one reminder per customer and channel. Invoices that cannot have
anything due on the run date (`serving.policy.may_act`: a conservative, exact pre-filter) are
counted but not asked. A real run writes them in
the caller's transaction with `INSERT … ON CONFLICT DO NOTHING` on UNIQUE(invoice_id, step), so
running a date twice, or two runs at once, never plans an action twice. A dry run computes the
same plan and writes nothing. Sending is a separate step (`serving.outbox`).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

from pydantic import ValidationError
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlmodel import Session

from ledger import actions as dunning_actions
from ledger import audit as audit_log
from ledger import pauses, run_facts, tables
from ledger import reminders as dunning_reminders
from ledger import saved_scenarios as saved
from ledger.config import Settings, get_settings
from ledger.errors import FieldError, LedgerValidationError
from ledger.law import claim_for, coverage_warnings
from ledger.tables import Customer, utcnow
from serving.policy import CustomerState, Decision, InvoiceState, Reason, Risk, decide, may_act
from serving.reminders import (
    Company,
    Contact,
    InvoiceLine,
    PenaltyClaim,
    ReminderContext,
    ReminderError,
    RenderedReminder,
    render_reminder,
)
from serving.reminders import Customer as ReminderCustomer
from serving.scenarios import (
    DEFAULT_TEMPLATES,
    TONES,
    Scenario,
    accepted_names,
    load_default_scenarios,
    load_default_segment_map,
    parse_scenario,
    resolve_scenario,
)

log = logging.getLogger(__name__)

RiskProvider = Callable[[Session, list[str], dt.date], dict[str, Risk]]
MAX_DAYS_AHEAD = 7
CHUNK_CUSTOMERS = 2000
RETRIES = 5


# --- scenarios and templates, as edited ---------------------------------------------------------


def known_templates(session: Session) -> frozenset[str]:
    """Template names a scenario step may use: `{channel}_{tone}`, plus any edited one."""
    edited = {name.split(".")[0] for name in saved.stored_templates(session)}
    return DEFAULT_TEMPLATES | edited


def load_scenarios(session: Session) -> dict[str, Scenario]:
    """The shipped scenarios, each replaced by its edited version when one is stored."""
    scenarios = dict(load_default_scenarios())
    templates = known_templates(session)
    for name, body in saved.stored_scenarios(session).items():
        try:
            scenarios[name] = parse_scenario(body, templates=templates)
        except ValidationError as exc:  # validated when saved; a later template removal may break it
            log.warning("stored scenario %s no longer validates, shipped default used: %s", name, exc)
    return scenarios


def scenario_names(session: Session) -> frozenset[str]:
    """What a customer's `dunning_scenario` may say at ingestion: a scenario's name (shipped or
    edited) or a key of the segment → scenario table."""
    return accepted_names(load_scenarios(session), load_default_segment_map())


# formal notices and legal hand-offs go out only once a person approved them
APPROVAL_CHANNELS = frozenset({"formal_notice", "legal"})


def edited_templates(session: Session) -> dict[str, str]:
    """The analyst's edited templates (name → source), searched before the shipped ones.

    They live in the database so every server sees the same ones, and are handed to the renderer
    as a mapping: nothing is written to disk."""
    return saved.stored_templates(session)


# --- the run -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlannedAction:
    customer_id: str
    invoice_id: str
    reminder_id: str
    scenario: str
    step: str
    channel: str
    tone: str
    template: str | None
    send_on: dt.date
    claim_penalties: bool
    reasons: tuple[dict[str, str], ...]
    state: str = "planned"  # pending_approval for formal notices and legal hand-offs


@dataclass
class RunReport:
    run_date: dt.date
    dry_run: bool
    invoices_seen: int = 0
    customers_seen: int = 0
    actions: list[PlannedAction] = field(default_factory=list)
    created: int = 0  # actions written by this run (0 for a dry run)
    reminders: int = 0
    cancelled: int = 0
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    # unknown scenario name → customers who fell back on another scenario
    fallbacks: dict[str, list[str]] = field(default_factory=dict)

    def by_channel(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for action in self.actions:
            counts[action.channel] = counts.get(action.channel, 0) + 1
        return counts

    def summary(self) -> dict[str, Any]:
        return {"run_date": self.run_date.isoformat(), "dry_run": self.dry_run,
                "invoices_seen": self.invoices_seen, "customers_seen": self.customers_seen,
                "planned": len(self.actions), "created": self.created, "reminders": self.reminders,
                "cancelled": self.cancelled, "by_channel": self.by_channel(),
                "seconds": round(self.seconds, 3), "warnings": self.warnings}


def check_run_date(run_date: dt.date, *, today: dt.date | None = None) -> None:
    today = today or dt.date.today()
    if run_date > today + dt.timedelta(days=MAX_DAYS_AHEAD):
        raise LedgerValidationError([FieldError(
            "date", f"run date {run_date.isoformat()} is more than {MAX_DAYS_AHEAD} days after "
                    f"today ({today.isoformat()}): a dunning run plans what is due now, not months ahead")])


def run_dunning(*, session: Session, run_date: dt.date, dry_run: bool,
                risk_for: RiskProvider | None = None, actor: str,
                today: dt.date | None = None, customer_id: str | None = None) -> RunReport:
    """Plan the actions due on `run_date` in the caller's transaction (the caller commits).

    First cancels the planned actions of invoices now settled or disputed, then asks the policy
    about every open invoice. A dry run returns the same plan and writes nothing; with
    `customer_id` (dry runs only: the workbench's preview) it plans that one customer."""
    if customer_id is not None and not dry_run:
        raise ValueError("a run for one customer is a dry run (a preview), never a real run")
    check_run_date(run_date, today=today)
    started = time.perf_counter()
    report = RunReport(run_date=run_date, dry_run=dry_run)
    # stale law tables still compute (latest known rates) but a manager must hear of it
    report.warnings.extend(w.en for w in coverage_warnings(run_date))
    # a broken instalment resumes dunning at once: decide promises from today's payments first
    # (a dry run's caller rolls this back with the rest)
    from ledger.promises import evaluate_promises

    evaluate_promises(session, None, run_date, actor=actor)
    stale = dunning_actions.invoices_no_longer_chased(session)
    if not dry_run and stale:
        report.cancelled = dunning_actions.cancel_pending_for_invoices(
            session, stale, "invoice settled or disputed after planning", actor)
    scenarios = load_scenarios(session)
    segment_map = load_default_segment_map()
    ranges = ([(customer_id, customer_id)] if customer_id is not None
              else run_facts.customer_ranges(session, size=CHUNK_CUSTOMERS))
    for lo, hi in ranges:
        facts = run_facts.load_chunk(session, lo=lo, hi=hi, run_date=run_date,
                                 cancelling=frozenset(stale))
        planned = _plan_chunk(session, facts, run_date=run_date, scenarios=scenarios,
                              segment_map=segment_map, risk_for=risk_for, report=report)
        if dry_run:
            report.actions.extend(planned)
        else:
            _write(session, planned, facts, run_date=run_date, actor=actor, report=report)
    report.reminders = len({a.reminder_id for a in report.actions})
    missing = get_settings().missing_creditor_details()
    if missing and any(a.channel in ("letter", "formal_notice") for a in report.actions):
        report.warnings.append(
            "letters planned but the creditor settings lack " + ", ".join(missing)
            + ": the letters cannot name where to pay or where they come from")
    for name, customers in sorted(report.fallbacks.items()):
        shown = ", ".join(customers[:5]) + (f" (+{len(customers) - 5})" if len(customers) > 5 else "")
        report.warnings.append(
            f"{len(customers)} customer(s) name the unknown dunning scenario {name!r} and were "
            f"dunned on a fallback scenario instead: {shown}")
    report.seconds = time.perf_counter() - started
    if not dry_run:
        audit_log.audit(session, actor=actor, action="dunning.run", entity="dunning_run",
                    entity_id=run_date.isoformat(), after=report.summary())
    session.flush()
    return report


def _risks(session: Session, ids: list[str], run_date: dt.date, risk_for: RiskProvider | None,
           report: RunReport) -> dict[str, Risk]:
    if risk_for is None:
        return {}
    try:
        return risk_for(session, ids, run_date)
    except Exception as exc:  # noqa: BLE001  (no model must never stop the run: rules apply)
        message = f"risk provider failed, rules alone used: {type(exc).__name__}: {exc}"
        if message not in report.warnings:
            report.warnings.append(message)
        return {}


def _plan_chunk(session: Session, facts: run_facts.ChunkFacts, *, run_date: dt.date,
                scenarios: dict[str, Scenario], segment_map: dict[str, str],
                risk_for: RiskProvider | None, report: RunReport) -> list[PlannedAction]:
    risks = _risks(session, [i.invoice_id for i in facts.invoices], run_date, risk_for, report)
    planned: list[PlannedAction] = []
    for customer_id, invoices in dunning_reminders.group_by(facts.invoices, lambda i: i.customer_id).items():
        customer = facts.customers[customer_id]
        report.customers_seen += 1
        report.invoices_seen += len(invoices)
        scenario, unknown = resolve_scenario(customer_scenario=customer.dunning_scenario,
                                             segment=customer.segment, scenarios=scenarios,
                                             segment_map=segment_map)
        if unknown is not None:
            report.fallbacks.setdefault(unknown, []).append(customer_id)
        # balances per currency: an invoice's rules compare the customer's balance in its currency
        states = {code: customer_state(customer, invoices, run_date, code) for code in {i.currency for i in invoices}}
        last_contact_on = facts.last_contact.get(customer_id)
        due: list[tuple[run_facts.OpenInvoice, Decision]] = []
        for invoice in invoices:
            facts_of_invoice, state = invoice_state(invoice), states[invoice.currency]
            # most open invoices have nothing due today: `may_act` rules them out exactly and
            # cheaply (tests/dunning/test_prefilter.py), `decide` answers the rest
            if not may_act(invoice=facts_of_invoice, customer=state, scenario=scenario,
                           today=run_date, last_contact_on=last_contact_on):
                continue
            decision = decide(
                invoice=facts_of_invoice, customer=state, risk=risks.get(invoice.invoice_id),
                scenario=scenario, today=run_date, last_contact_on=last_contact_on,
                steps_done=facts.steps_done.get(invoice.invoice_id, ()),
                step_closed=facts.step_closed.get(invoice.invoice_id, {}),
            )
            if decision.is_due(run_date):
                due.append((invoice, decision))
        planned.extend(_consolidate(customer_id, scenario, due, run_date))
    return planned


def invoice_state(invoice: run_facts.OpenInvoice) -> InvoiceState:
    return InvoiceState(
        invoice_id=invoice.invoice_id, customer_id=invoice.customer_id,
        issue_date=invoice.issue_date, due_date=invoice.due_date, amount=invoice.amount,
        open_amount=invoice.open_amount, currency=invoice.currency,
        has_open_dispute=invoice.has_open_dispute,
        active_promise_until=invoice.active_promise_until, broken_promise=invoice.broken_promise,
    )


def customer_state(customer: run_facts.CustomerFacts, invoices: list[run_facts.OpenInvoice],
                    run_date: dt.date, currency: str) -> CustomerState:
    """The customer as the policy sees it when deciding on an invoice in `currency`: its balances
    count the open invoices in that currency only (never a sum across currencies)."""
    invoices = [i for i in invoices if i.currency == currency]
    open_balance = sum((i.open_amount for i in invoices), Decimal("0"))
    overdue = sum((i.open_amount for i in invoices if i.due_date < run_date), Decimal("0"))
    return CustomerState(
        customer_id=customer.customer_id, language=customer.language, segment=customer.segment,
        on_hold=customer.on_hold, open_balance=open_balance, overdue_balance=overdue,
        previously_late_count=customer.previously_late_count,
        deteriorating=customer.deteriorating, customer_type=customer.customer_type,
        on_hold_until=customer.on_hold_until, insolvency_date=customer.insolvency_date,
    )


def reminder_id_for(*, run_date: dt.date, customer_id: str, channel: str,
                    keys: list[tuple[str, str]]) -> str:
    """Deterministic: two runs planning the same actions name the same reminder."""
    text = f"{run_date.isoformat()}|{customer_id}|{channel}|" + ";".join(f"{i}:{s}" for i, s in sorted(keys))
    return "R" + hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


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


def _consolidate(customer_id: str, scenario: Scenario,
                 due: list[tuple[run_facts.OpenInvoice, Decision]],
                 run_date: dt.date) -> list[PlannedAction]:
    """One reminder per customer and channel, listing every invoice due for a contact today."""
    state = "pending_approval" if scenario.approval_required else "planned"
    planned: list[PlannedAction] = []
    for channel, group in dunning_reminders.group_by(due, lambda pair: pair[1].channel).items():
        reminder_id = reminder_id_for(run_date=run_date, customer_id=customer_id, channel=channel,
                                      keys=[(inv.invoice_id, d.step or "") for inv, d in group])
        for invoice, decision in group:
            planned.append(PlannedAction(
                customer_id=customer_id, invoice_id=invoice.invoice_id, reminder_id=reminder_id,
                scenario=scenario.name, step=decision.step or "", channel=channel,
                tone=decision.tone or "neutral", template=decision.template,
                send_on=decision.send_on or run_date, claim_penalties=decision.claim_penalties,
                reasons=tuple(_reason_dict(r) for r in decision.reasons),
                state=state if channel in APPROVAL_CHANNELS else "planned",
            ))
    return planned


def _write(session: Session, planned: list[PlannedAction], facts: run_facts.ChunkFacts, *,
           run_date: dt.date, actor: str, report: RunReport) -> None:
    if not planned:
        return
    now = utcnow()
    rows = [{
        "customer_id": a.customer_id, "invoice_id": a.invoice_id, "reminder_id": a.reminder_id,
        "run_date": run_date, "scenario": a.scenario, "step": a.step, "action": a.channel,
        "channel": a.channel, "tone": a.tone, "template": a.template, "send_on": a.send_on,
        "state": a.state, "attempts": 0, "created_by": actor, "reasons": list(a.reasons),
        "created_at": now, "updated_at": now,
    } for a in planned]
    inserted = dunning_actions.insert_actions(session, rows)
    created = {(invoice_id, step): action_id for action_id, invoice_id, step, _ in inserted}
    kept = [a for a in planned if (a.invoice_id, a.step) in created]
    report.actions.extend(kept)
    report.created += len(kept)
    dunning_actions.insert_reminders(session, _reminder_rows(kept, facts, run_date))
    dunning_actions.insert_events(session, _event_rows(kept, created, facts, run_date))


def _reminder_rows(kept: list[PlannedAction], facts: run_facts.ChunkFacts,
                   run_date: dt.date) -> list[dict[str, Any]]:
    rows = []
    for reminder_id, actions in dunning_reminders.group_by(kept, lambda a: a.reminder_id).items():
        # the reminder speaks in its firmest action's tone
        firmest = max(actions, key=lambda a: TONES.index(a.tone) if a.tone in TONES else 0)
        first = actions[0]
        rows.append({
            "reminder_id": reminder_id, "customer_id": first.customer_id, "run_date": run_date,
            "send_on": max(a.send_on for a in actions), "channel": first.channel,
            "tone": firmest.tone, "template": firmest.template,
            "language": facts.customers[first.customer_id].language,
            "claim_penalties": any(a.claim_penalties for a in actions),
            "created_at": utcnow(),
        })
    return rows


def _event_rows(kept: list[PlannedAction], created: dict[tuple[str, str], int],
                facts: run_facts.ChunkFacts, run_date: dt.date) -> list[dict[str, Any]]:
    due_dates = {i.invoice_id: i.due_date for i in facts.invoices}
    events, late = [], set()
    for a in kept:
        action_id = created[(a.invoice_id, a.step)]
        events.append({"type": "action.planned", "entity_id": str(action_id), "payload": {
            "invoice_id": a.invoice_id, "customer_id": a.customer_id, "step": a.step,
            "channel": a.channel, "tone": a.tone, "send_on": a.send_on.isoformat(),
            "reminder_id": a.reminder_id}})
        overdue = due_dates[a.invoice_id] < run_date
        if overdue and a.invoice_id not in facts.seen_late and a.invoice_id not in late:
            late.add(a.invoice_id)
            events.append({"type": "invoice.late", "entity_id": a.invoice_id, "payload": {
                "customer_id": a.customer_id, "due_date": due_dates[a.invoice_id].isoformat(),
                "seen_on": run_date.isoformat()}})
    return events


def run_and_commit(*, engine: Engine, run_date: dt.date, dry_run: bool,
                   risk_for: RiskProvider | None = None, actor: str,
                   today: dt.date | None = None) -> RunReport:
    """`run_dunning` in its own transaction, replayed on a deadlock or a busy SQLite database
    (the unique key makes the replay safe)."""
    for attempt in range(RETRIES):
        with Session(engine, expire_on_commit=False) as session:
            try:
                report = run_dunning(session=session, run_date=run_date, dry_run=dry_run,
                                     risk_for=risk_for, actor=actor, today=today)
                if dry_run:
                    session.rollback()
                else:
                    session.commit()
                return report
            except (OperationalError, DBAPIError) as exc:
                session.rollback()
                if attempt == RETRIES - 1 or not _retryable(exc):
                    raise
                time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


def _retryable(exc: DBAPIError) -> bool:
    code = getattr(getattr(exc, "orig", None), "sqlstate", None)
    return code in ("40P01", "40001") or "locked" in str(exc) or "busy" in str(exc).lower()


# --- rendering a reminder ----------------------------------------------------------------------


class NothingToSay(ReminderError):
    """Every invoice of the reminder is settled or under an open dispute: nothing to send."""


def company_from(settings: Settings) -> Company:
    """The creditor as letters name it, from the settings."""
    city = " ".join(p for p in (settings.creditor_postal_code, settings.creditor_city) if p)
    return Company(
        name=settings.creditor_legal_name or settings.company_name,
        address=tuple(line for line in (settings.creditor_address, city) if line),
        email=settings.creditor_email or settings.smtp_sender, phone=settings.creditor_phone,
        siren=settings.creditor_siren, siret=settings.creditor_siret,
        vat_number=settings.creditor_vat_number, iban=settings.creditor_iban,
        bic=settings.creditor_bic, signatory=settings.creditor_signatory,
        signatory_title=settings.creditor_signatory_title)


def payment_reference(customer_id: str, invoice_ids: list[str]) -> str:
    """What the customer quotes with the payment: their account and the invoices (bounded)."""
    shown = ", ".join(invoice_ids[:6]) + (f" (+{len(invoice_ids) - 6})" if len(invoice_ids) > 6 else "")
    return f"{customer_id} / {shown}"


def render_stored_reminder(session: Session, reminder: tables.Reminder, *,
                           settings: Settings | None = None) -> RenderedReminder:
    """Render a reminder from the ledger as of its send date: its live invoices (not settled,
    not under an open dispute, action not cancelled), the contacts actually made about them
    before, penalties per invoice from `ledger.law` when one of its steps claims them, and the
    template its scenario step names. Raises `NothingToSay` when no invoice is left."""
    settings = settings or get_settings()
    actions = dunning_reminders.reminder_actions(session, reminder.reminder_id)
    live = [a for a in actions if a.state != "cancelled"]
    invoices = dunning_reminders.invoices_by_id(session, [a.invoice_id for a in live if a.invoice_id])
    disputed = pauses.disputed_among(session, list(invoices))
    kept = sorted((i for i in invoices.values()
                   if i.settled_on is None and i.open_amount > 0 and i.invoice_id not in disputed),
                  key=lambda i: (i.due_date, i.invoice_id))
    if not kept:
        raise NothingToSay(f"reminder {reminder.reminder_id}: every invoice is settled or disputed")
    as_of = max(reminder.send_on, reminder.run_date)
    customer = session.get(Customer, reminder.customer_id)
    # by kind of debtor (ledger.law.claim_for): nothing from a consumer, ECB + 8 from a public
    # buyer; the 40 € indemnity converted at a dated rate for another currency
    customer_type = customer.customer_type if customer is not None else "business"
    penalties = {i.invoice_id: claim_for(customer_type=customer_type, amount=i.open_amount,
                                         due_date=i.due_date, as_of=as_of, currency=i.currency,
                                         session=session)
                 for i in kept if i.due_date < as_of} if reminder.claim_penalties else {}
    lines = tuple(_line(i, as_of, penalties.get(i.invoice_id)) for i in kept)
    earlier = dunning_reminders.earlier_contacts(session, customer_id=reminder.customer_id,
                                     invoice_ids=[i.invoice_id for i in kept], before=as_of,
                                     exclude_reminder=reminder.reminder_id)
    context = ReminderContext(
        company=company_from(settings),
        customer=ReminderCustomer(
            name=(customer.name if customer else None) or reminder.customer_id,
            language=reminder.language, address=_postal_lines(customer)),
        invoices=lines, today=as_of, currency=kept[0].currency,
        penalties=_claim(penalties.values()) if penalties else None,
        earlier_contacts=tuple(Contact(on=c.on, channel=c.channel) for c in earlier),
        payment_reference=payment_reference(reminder.customer_id, [i.invoice_id for i in kept]),
    )
    return render_reminder(channel=reminder.channel, tone=reminder.tone,
                           language=reminder.language, context=context,
                           templates=edited_templates(session), template=reminder.template)


def _line(invoice, as_of: dt.date, due) -> InvoiceLine:
    # negative days late: days left before the due date (the texts say "due in N days")
    return InvoiceLine(
        invoice_id=invoice.invoice_id, issue_date=invoice.issue_date, due_date=invoice.due_date,
        amount=invoice.amount, open_amount=invoice.open_amount,
        days_late=(as_of - invoice.due_date).days,
        interest=due.interest.amount if due is not None else None,
        indemnity=due.indemnity_in_currency if due is not None else None,
        rate_percent=_single_rate(due.interest.periods) if due is not None else None)


def _single_rate(periods) -> Decimal | None:
    rates = {p.rate_percent for p in periods}
    return next(iter(rates)) if len(rates) == 1 else None


def _postal_lines(customer: Customer | None) -> tuple[str, ...]:
    if customer is None:
        return ()
    city = " ".join(p for p in (customer.postal_code, customer.city) if p)
    return tuple(line for line in (customer.address, city) if line)


def _claim(dues) -> PenaltyClaim | None:
    interest, indemnity, periods = Decimal("0"), Decimal("0"), []
    for due in dues:
        interest += due.interest.amount
        indemnity += due.indemnity_in_currency
        periods.extend(due.interest.periods)
    if interest == 0 and indemnity == 0:
        return None
    return PenaltyClaim(interest=interest, indemnity=indemnity, rate_percent=_single_rate(periods))


def planned_as_dict(action: PlannedAction) -> dict[str, Any]:
    data = asdict(action)
    data["send_on"] = action.send_on.isoformat()
    data["reasons"] = list(action.reasons)
    return data
