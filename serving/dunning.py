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
import gc
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlmodel import Session

from ledger import actions as dunning_actions
from ledger import audit as audit_log
from ledger import reminders as dunning_reminders
from ledger import run_facts
from ledger.config import get_settings
from ledger.errors import FieldError, LedgerValidationError
from ledger.law import coverage_warnings
from ledger.tables import utcnow
from serving.decisions import (
    PlannedAction,
    RiskProvider,
    ask_risk,
    decide_customers,
    group_reminders,
)
from serving.labels import RunWarning, run_warning
from serving.policy_run import chooser_for, warnings_of
from serving.reminders.stored import NothingToSay, render_stored_reminder
from serving.retry import RETRIES, retryable
from serving.scenario_store import (
    Rulebook,
    edited_templates,
    known_templates,
    load_rulebook,
    load_scenarios,
    scenario_names,
)
from serving.scenarios import Channel

__all__ = [  # what callers import from the run (some of it lives beside it)
    "MAX_DAYS_AHEAD", "NothingToSay", "PlannedAction", "RiskProvider", "RunReport",
    "check_run_date", "edited_templates", "known_templates", "load_scenarios",
    "planned_as_dict", "render_stored_reminder", "run_and_commit", "run_dunning",
    "scenario_names",
]

MAX_DAYS_AHEAD = 7
CHUNK_CUSTOMERS = 2000
LETTER_CHANNELS = (Channel.LETTER, Channel.FORMAL_NOTICE)


# --- the run -------------------------------------------------------------------------------------


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
    # what a manager must hear of, in French and English (serving.labels); `warnings` gives
    # them in the report's language (RELANCE_LANG, French by default)
    notices: list[RunWarning] = field(default_factory=list)
    language: str = "fr"
    # unknown scenario name → customers who fell back on another scenario
    fallbacks: dict[str, list[str]] = field(default_factory=dict)

    @property
    def warnings(self) -> list[str]:
        return [w.text(self.language) for w in self.notices]

    def warn(self, warning: RunWarning) -> None:
        if warning not in self.notices:
            self.notices.append(warning)

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
                "seconds": round(self.seconds, 3), "warnings": self.warnings,
                "warnings_detail": [w.as_dict() for w in self.notices]}


def check_run_date(run_date: dt.date, *, today: dt.date) -> None:
    if run_date > today + dt.timedelta(days=MAX_DAYS_AHEAD):
        raise LedgerValidationError([FieldError(
            "date", f"run date {run_date.isoformat()} is more than {MAX_DAYS_AHEAD} days after "
                    f"today ({today.isoformat()}): a dunning run plans what is due now, not months ahead")])


def run_dunning(*, session: Session, run_date: dt.date, dry_run: bool,
                risk_for: RiskProvider | None = None, actor: str,
                today: dt.date, customer_id: str | None = None) -> RunReport:
    """Plan the actions due on `run_date` in the caller's transaction (the caller commits).

    First cancels the planned actions of invoices now settled or disputed, then asks the policy
    about every open invoice. A dry run returns the same plan and writes nothing; with
    `customer_id` (dry runs only: the workbench's preview) it plans that one customer."""
    if customer_id is not None and not dry_run:
        raise ValueError("a run for one customer is a dry run (a preview), never a real run")
    check_run_date(run_date, today=today)
    with _collector_paused():
        return _run(session=session, run_date=run_date, dry_run=dry_run, risk_for=risk_for,
                    actor=actor, customer_id=customer_id)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused for the run: a run allocates millions of small
    objects (facts, decisions, planned rows) that live until it ends, and every few thousand
    allocations triggered a scan of them all — a third of the planning time, freeing nothing.
    Reference counting frees objects as usual; any cycle waits for the collector's next pass
    after the run."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _run(*, session: Session, run_date: dt.date, dry_run: bool, risk_for: RiskProvider | None,
         actor: str, customer_id: str | None) -> RunReport:
    started = time.perf_counter()
    report = RunReport(run_date=run_date, dry_run=dry_run, language=get_settings().language)
    # stale law tables still compute (latest known rates) but a manager must hear of it
    for law in coverage_warnings(run_date):
        report.warn(RunWarning(law.code, law.fr, law.en))
    # a broken instalment resumes dunning at once: decide promises from today's payments first
    # (a dry run's caller rolls this back with the rest)
    from ledger.promises import evaluate_promises

    evaluate_promises(session, None, run_date, actor=actor)
    stale = dunning_actions.invoices_no_longer_chased(session)
    if not dry_run and stale:
        report.cancelled = dunning_actions.cancel_pending_for_invoices(
            session, stale, "invoice settled or disputed after planning", actor)
    rulebook = load_rulebook(session)
    ranges = ([(customer_id, customer_id)] if customer_id is not None
              else run_facts.customer_ranges(session, size=CHUNK_CUSTOMERS))
    for lo, hi in ranges:
        facts = run_facts.load_chunk(session, lo=lo, hi=hi, run_date=run_date,
                                 cancelling=frozenset(stale))
        planned = _plan_chunk(session, facts, run_date=run_date, rulebook=rulebook,
                              risk_for=risk_for, report=report)
        if dry_run:
            report.actions.extend(planned)
        else:
            _write(session, planned, facts, run_date=run_date, actor=actor, report=report)
    report.reminders = len({a.reminder_id for a in report.actions})
    missing = get_settings().missing_creditor_details()
    if missing and any(a.channel in LETTER_CHANNELS for a in report.actions):
        report.warn(run_warning("creditor_missing", missing=", ".join(missing)))
    for name, customers in sorted(report.fallbacks.items()):
        shown = ", ".join(customers[:5]) + (f" (+{len(customers) - 5})" if len(customers) > 5 else "")
        report.warn(run_warning("scenario_fallback", count=len(customers), name=name,
                                customers=shown))
    report.seconds = time.perf_counter() - started
    if not dry_run:
        audit_log.audit(session, actor=actor, action="dunning.run", entity="dunning_run",
                    entity_id=run_date.isoformat(), after=report.summary())
    session.flush()
    return report


def _plan_chunk(session: Session, facts: run_facts.ChunkFacts, *, run_date: dt.date,
                rulebook: Rulebook, risk_for: RiskProvider | None,
                report: RunReport) -> list[PlannedAction]:
    answer = ask_risk(session, [i.invoice_id for i in facts.invoices], run_date, risk_for)
    if answer.warning is not None:
        report.warn(answer.warning)
    planned: list[PlannedAction] = []
    chooser = chooser_for(session, facts, today=run_date, rulebook=rulebook)
    decided_all = decide_customers(facts, today=run_date, rulebook=rulebook, risks=answer.risks,
                                   chooser=chooser)
    for warning in warnings_of(chooser):
        report.warn(warning)
    for decided in decided_all:
        report.customers_seen += 1
        report.invoices_seen += decided.invoices_seen
        if decided.unknown_scenario is not None:
            report.fallbacks.setdefault(decided.unknown_scenario, []).append(decided.customer_id)
        planned.extend(decided.actions)
    return planned


def _write(session: Session, planned: list[PlannedAction], facts: run_facts.ChunkFacts, *,
           run_date: dt.date, actor: str, report: RunReport) -> None:
    """The chunk's actions, their reminders and events, written set-based: the actions as plain
    tuples through the bulk writer (COPY into a load table on PostgreSQL), the `action.planned`
    events by the database from the inserted rows, `invoice.late` as ready JSON text."""
    if not planned:
        return
    now = utcnow()
    reasons_text = _ReasonsText()
    inserted = dunning_actions.insert_action_values(session, [(
        a.customer_id, a.invoice_id, a.reminder_id, run_date, a.scenario, a.step, a.channel,
        a.channel, a.tone, a.template, a.send_on, a.state, 0, actor, reasons_text(a.reasons),
        now, now, a.propensity, a.policy_id) for a in planned])
    created = {(invoice_id, step): action_id for action_id, invoice_id, step in inserted}
    kept = [a for a in planned if (a.invoice_id, a.step) in created]
    report.actions.extend(kept)
    report.created += len(kept)
    dunning_actions.insert_reminders(session, _reminder_rows(kept, facts, run_date))
    dunning_actions.insert_planned_events(session, list(created.values()))  # set-based, from the rows
    dunning_actions.insert_event_values(session, _late_events(kept, facts, run_date))


class _ReasonsText:
    """An action's reasons as the JSON column writes them (`json.dumps` of the list), computed
    once per distinct tuple of reason dicts: the policy hands out the same few thousand reason
    objects to a million actions. Keyed by the dicts' ids, the tuple kept alive beside its text
    (so no id is reused while the cache lives: one chunk's write)."""

    def __init__(self) -> None:
        self._texts: dict[tuple[int, ...], tuple[tuple[dict[str, str], ...], str]] = {}

    def __call__(self, reasons: tuple[dict[str, str], ...]) -> str:
        key = tuple(map(id, reasons))
        found = self._texts.get(key)
        if found is None:
            found = self._texts[key] = (reasons, json.dumps(list(reasons), ensure_ascii=False))
        return found[1]


def _reminder_rows(kept: list[PlannedAction], facts: run_facts.ChunkFacts,
                   run_date: dt.date) -> list[dict[str, Any]]:
    # the reminders of the actions this run wrote, their tone and template decided by
    # `serving.decisions.reminder_voice` as for next-action
    rows = []
    for customer_id, actions in dunning_reminders.group_by(kept, lambda a: a.customer_id).items():
        language = facts.customers[customer_id].language
        for reminder in group_reminders(actions, language=language):
            rows.append({
                "reminder_id": reminder.reminder_id, "customer_id": customer_id,
                "run_date": run_date, "send_on": reminder.send_on, "channel": reminder.channel,
                "tone": reminder.tone, "template": reminder.template, "language": language,
                "claim_penalties": reminder.claim_penalties, "created_at": utcnow(),
            })
    return rows


def _late_events(kept: list[PlannedAction], facts: run_facts.ChunkFacts,
                 run_date: dt.date) -> list[tuple[str, str, str]]:
    """`invoice.late` once per overdue invoice not seen late before, as (type, entity_id,
    payload JSON text) — the text `json.dumps` writes for {customer_id, due_date, seen_on}
    (the `action.planned` events are written by the database from the inserted actions)."""
    due_dates = {i.invoice_id: i.due_date for i in facts.invoices}
    seen_on = run_date.isoformat()
    customers: dict[str, str] = {}  # customer id → its JSON string
    events, late = [], set()
    for a in kept:
        due = due_dates[a.invoice_id]
        if due < run_date and a.invoice_id not in facts.seen_late and a.invoice_id not in late:
            late.add(a.invoice_id)
            customer = customers.get(a.customer_id)
            if customer is None:
                customer = customers[a.customer_id] = json.dumps(a.customer_id)
            events.append(("invoice.late", a.invoice_id,
                           f'{{"customer_id": {customer}, "due_date": "{due.isoformat()}", '
                           f'"seen_on": "{seen_on}"}}'))
    return events


def run_and_commit(*, engine: Engine, run_date: dt.date, dry_run: bool,
                   risk_for: RiskProvider | None = None, actor: str,
                   today: dt.date) -> RunReport:
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
                if attempt == RETRIES - 1 or not retryable(exc):
                    raise
                time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


def planned_as_dict(action: PlannedAction) -> dict[str, Any]:
    data = asdict(action)
    data["send_on"] = action.send_on.isoformat()
    data["reasons"] = list(action.reasons)
    return data
