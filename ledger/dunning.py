"""Dunning records and queries: actions, reminders, edited scenarios and templates.

Knows nothing of ML nor of the decision policy: it reads the facts a dunning run needs (open
invoices, disputes, promises, steps done, last contact, payer history) chunk by chunk of
customers, writes planned actions idempotently (`INSERT … ON CONFLICT DO NOTHING` on
UNIQUE(invoice_id, step)), and moves actions between states with an audit row per change.

States (`ledger.tables.ActionState`): planned → sent (e-mail, SMS, call logged) | failed |
cancelled; a letter planned → rendered → posted → delivered; a formal notice or legal hand-off
pending_approval → planned (approved by a person) | cancelled (rejected). `ALLOWED` lists every
move. `cancel_pending_for_invoices` is what ingestion and the daily run call when a payment or a
dispute arrives after planning.
"""
from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, and_, case, func, or_, select, union
from sqlmodel import Session

from ledger.errors import FieldError, LedgerError, LedgerValidationError, NotFoundError
from ledger.ingest import python_defaults
from ledger.portfolio import in_portfolio
from ledger.schemas import MAX_DATE
from ledger.tables import (
    ActionState,
    AuditLog,
    Customer,
    Dispute,
    DunningAction,
    Invoice,
    Promise,
    PromiseInvoice,
    Reminder,
    ScenarioRecord,
    TemplateRecord,
    record_event,
    utcnow,
)

OPEN_DISPUTE_STATUSES = ("open", "in_review", "proposed_credit_note")  # = collections.ACTIVE_DISPUTE
PENDING = ActionState.PLANNED
STATES = tuple(ActionState)
# not yet out of the door: a payment or a dispute cancels these
OPEN_STATES = (ActionState.PLANNED, ActionState.PENDING_APPROVAL, ActionState.RENDERED)
# the customer was contacted: an earlier reminder a later text may cite
CONTACT_STATES = (ActionState.SENT, ActionState.POSTED, ActionState.DELIVERED)
ALLOWED: dict[str, frozenset[str]] = {
    ActionState.PLANNED: frozenset({ActionState.PLANNED, ActionState.SENT, ActionState.RENDERED,
                                    ActionState.FAILED, ActionState.CANCELLED}),
    ActionState.PENDING_APPROVAL: frozenset({ActionState.PLANNED, ActionState.CANCELLED}),
    ActionState.RENDERED: frozenset({ActionState.POSTED, ActionState.CANCELLED}),
    ActionState.POSTED: frozenset({ActionState.DELIVERED, ActionState.FAILED}),
    ActionState.SENT: frozenset(), ActionState.DELIVERED: frozenset(),
    ActionState.FAILED: frozenset(), ActionState.CANCELLED: frozenset(),
}
# a formal notice whose receipt is not recorded is presumed received this many days after
# posting (La Poste's usual delay for a recommandé; the notice's deadline runs from receipt)
PRESUMED_DELIVERY_DAYS = 3
REGISTERED_NUMBER = re.compile(r"[A-Za-z0-9 \-]{4,64}")
BROKEN_PROMISE_LOOKBACK_DAYS = 90
# deteriorating payer: mean days late of the last N settled invoices above the mean of the
# earlier ones by more than this margin (needs N recent and at least N earlier invoices)
DETERIORATING_RECENT = 3
DETERIORATING_MARGIN_DAYS = 5
CHUNK = 500


class IllegalTransitionError(LedgerError):
    """An action cannot move to the requested state (e.g. cancelling a sent email)."""


# --- tables ----------------------------------------------------------------------------------


# --- what a run reads ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OpenInvoice:
    invoice_id: str
    customer_id: str
    issue_date: dt.date
    due_date: dt.date
    amount: Decimal
    open_amount: Decimal
    currency: str
    has_open_dispute: bool = False
    active_promise_until: dt.date | None = None
    broken_promise: bool = False


@dataclass(frozen=True, slots=True)
class CustomerFacts:
    customer_id: str
    name: str | None
    language: str
    segment: str | None
    on_hold: bool
    dunning_scenario: str | None
    email: str | None
    phone: str | None
    previously_late_count: int = 0
    deteriorating: bool = False
    customer_type: str = "business"
    on_hold_until: dt.date | None = None
    insolvency_date: dt.date | None = None


@dataclass(slots=True)
class ChunkFacts:
    """Everything a run needs about one range of customers."""

    invoices: list[OpenInvoice]
    customers: dict[str, CustomerFacts]
    steps_done: dict[str, set[str]] = field(default_factory=dict)
    last_contact: dict[str, dt.date] = field(default_factory=dict)
    # invoices already contacted after their due date: `invoice.late` is recorded once
    seen_late: set[str] = field(default_factory=set)
    # per invoice, per step planned: the day it closed (contact made, failed, cancelled), or
    # None while it is still open (planned, awaiting approval, rendered but not posted)
    step_closed: dict[str, dict[str, dt.date | None]] = field(default_factory=dict)


def _chunks(items: Sequence, size: int = CHUNK) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def customer_ranges(session: Session, *, size: int = 2000) -> Iterator[tuple[str, str]]:
    """(first, last) customer ids of consecutive groups of customers having open invoices.

    Ranges rather than id lists keep each chunk query a plain index range scan.
    """
    ids = session.execute(
        select(Invoice.customer_id).where(Invoice.kind == "invoice", Invoice.settled_on.is_(None))
        .distinct().order_by(Invoice.customer_id)
    ).scalars().all()
    for chunk in _chunks(ids, size):
        yield chunk[0], chunk[-1]


def _core(session: Session):
    # the chunk reads are plain column selects: the Core connection skips the ORM's per-row
    # result machinery (load_chunk flushes first, so pending changes are still seen)
    return session.connection()


def _in_range(column, lo: str, hi: str):
    return and_(column >= lo, column <= hi)


def load_chunk(session: Session, *, lo: str, hi: str, run_date: dt.date,
               cancelling: frozenset[str] = frozenset()) -> ChunkFacts:
    """Open invoices of customers lo..hi with their disputes, promises, actions and history.

    `cancelling`: invoices whose planned actions are about to be cancelled (a dry run does not
    cancel them, but must read the ledger as the real run will)."""
    session.flush()
    rows = _core(session).execute(
        select(Invoice.invoice_id, Invoice.customer_id, Invoice.issue_date, Invoice.due_date,
               Invoice.amount, Invoice.open_amount, Invoice.currency)
        .where(_in_range(Invoice.customer_id, lo, hi), Invoice.kind == "invoice",
               Invoice.settled_on.is_(None))
        .order_by(Invoice.customer_id, Invoice.due_date, Invoice.invoice_id)
    ).all()
    disputed = _open_disputes(session, lo, hi)
    active, broken, unlinked = _promises(session, lo, hi, run_date)
    for customer_id, amount, promised in unlinked:
        from ledger.promises import covered_invoices

        mine = [(r[0], r[3], Decimal(r[5])) for r in rows if r[1] == customer_id]
        for invoice_id in covered_invoices(mine, amount):
            active[invoice_id] = max(promised, active.get(invoice_id, promised))
    invoices = [
        OpenInvoice(
            invoice_id=r[0], customer_id=r[1], issue_date=r[2], due_date=r[3], amount=r[4],
            open_amount=r[5], currency=r[6], has_open_dispute=r[0] in disputed,
            active_promise_until=active.get(r[0]),
            broken_promise=r[0] in broken or ("*", r[1]) in broken,
        )
        for r in rows
    ]
    facts = ChunkFacts(invoices=invoices, customers=_customers(session, lo, hi, run_date))
    _actions(session, lo, hi, facts, cancelling)
    return facts


def _open_disputes(session: Session, lo: str, hi: str) -> set[str]:
    direct, linked = _disputed_invoices()
    return set(_core(session).execute(
        union(direct.join(Invoice, Invoice.invoice_id == Dispute.invoice_id)
              .where(_in_range(Invoice.customer_id, lo, hi)),
              linked.join(Invoice, Invoice.invoice_id == _dispute_links().c.invoice_id)
              .where(_in_range(Invoice.customer_id, lo, hi)))
    ).scalars())


def disputed_among(session: Session, invoice_ids: Sequence[str]) -> set[str]:
    """Those of these invoices under an open dispute (named by it or linked to it)."""
    if not invoice_ids:
        return set()
    direct, linked = _disputed_invoices()
    found: set[str] = set()
    disputed = union(direct, linked).subquery()
    for chunk in _chunks(sorted(set(invoice_ids))):
        found.update(session.execute(select(disputed.c.invoice_id)
                                     .where(disputed.c.invoice_id.in_(chunk))).scalars())
    return found


def _dispute_links():
    # a dispute over several invoices lists them in collections' link table
    from ledger.tables import DisputeInvoice

    return DisputeInvoice.__table__  # type: ignore[attr-defined]


def _disputed_invoices():
    """(invoice named by an open dispute, invoice linked to one): both pause dunning."""
    links = _dispute_links()
    direct = select(Dispute.invoice_id.label("invoice_id")).where(
        Dispute.status.in_(OPEN_DISPUTE_STATUSES))
    linked = select(links.c.invoice_id.label("invoice_id")).join(
        Dispute, Dispute.dispute_id == links.c.dispute_id).where(
        Dispute.status.in_(OPEN_DISPUTE_STATUSES))
    return direct, linked


def _promises(session: Session, lo: str, hi: str, run_date: dt.date
              ) -> tuple[dict[Any, dt.date], set[Any], list[tuple[str, Decimal, dt.date]]]:
    """Active promise end per invoice it pauses, and recently broken promises (key
    `("*", customer_id)` for one linked to no invoice: broken, it firms the customer's tone).

    A promise pauses only the invoices linked to it (those its amount covers, `ledger.promises`),
    never the whole account. An open promise with an instalment past its date + grace counts as
    broken already: the run evaluates promises first, and next-action reads it the same way."""
    from ledger.collections import PROMISE_GRACE_DAYS
    from ledger.tables import PromiseInstalment

    since = run_date - dt.timedelta(days=BROKEN_PROMISE_LOOKBACK_DAYS)
    rows = _core(session).execute(
        select(Promise.promise_id, Promise.customer_id, Promise.status, Promise.promised_date,
               Promise.closed_on, PromiseInvoice.invoice_id, Promise.amount)
        .outerjoin(PromiseInvoice, PromiseInvoice.promise_id == Promise.promise_id)
        .where(_in_range(Promise.customer_id, lo, hi), or_(
            # a promise stored before the date bounds (year 9999) pauses nothing: see 0011
            and_(Promise.status == "open", Promise.promised_date >= run_date,
                 Promise.promised_date <= MAX_DATE),
            and_(Promise.status == "broken",
                 func.coalesce(Promise.closed_on, Promise.promised_date) >= since),
        ))
    ).all()
    lapsed = set(_core(session).execute(
        select(PromiseInstalment.promise_id).join(Promise, Promise.promise_id == PromiseInstalment.promise_id)
        .where(_in_range(Promise.customer_id, lo, hi), Promise.status == "open",
               PromiseInstalment.status == "open",
               PromiseInstalment.due_on < run_date - dt.timedelta(days=PROMISE_GRACE_DAYS))
    ).scalars())
    active: dict[Any, dt.date] = {}
    broken: set[Any] = set()
    unlinked: list[tuple[str, Decimal, dt.date]] = []
    for promise_id, customer_id, status, promised, _closed, invoice_id, amount in rows:
        key = invoice_id if invoice_id is not None else ("*", customer_id)
        if status == "open" and promise_id not in lapsed:
            if invoice_id is not None:
                active[key] = max(promised, active.get(key, promised))
            else:
                # recorded without invoices (an imported promise): it covers what its amount
                # pays of the customer's oldest invoices, resolved by load_chunk
                unlinked.append((customer_id, Decimal(amount), promised))
        else:
            broken.add(key)
    return active, broken, unlinked


def _days_late(session: Session):
    if session.get_bind().dialect.name == "postgresql":
        return Invoice.settled_on - Invoice.due_date
    return func.julianday(Invoice.settled_on) - func.julianday(Invoice.due_date)


def _customers(session: Session, lo: str, hi: str, run_date: dt.date) -> dict[str, CustomerFacts]:
    history = _history(session, lo, hi, run_date)
    rows = _core(session).execute(
        select(Customer.customer_id, Customer.name, Customer.language, Customer.segment,
               Customer.on_hold, Customer.dunning_scenario, Customer.email, Customer.phone,
               Customer.customer_type, Customer.on_hold_until, Customer.insolvency_date)
        .where(_in_range(Customer.customer_id, lo, hi))
    ).all()
    facts = {}
    for r in rows:
        late, deteriorating = history.get(r[0], (0, False))
        facts[r[0]] = CustomerFacts(
            customer_id=r[0], name=r[1], language=r[2] or "fr", segment=r[3], on_hold=bool(r[4]),
            dunning_scenario=r[5], email=r[6], phone=r[7], previously_late_count=late,
            deteriorating=deteriorating, customer_type=r[8] or "business", on_hold_until=r[9],
            insolvency_date=r[10],
        )
    return facts


def _history(session: Session, lo: str, hi: str, run_date: dt.date) -> dict[str, tuple[int, bool]]:
    """Per customer: settled invoices paid late, and whether delays are rising.

    Deteriorating: the mean days late of the last 3 settled invoices (by settlement date) exceeds
    the mean of the earlier ones by more than 5 days, with at least 3 earlier ones. One SQL window
    query, the same on SQLite and PostgreSQL.
    """
    days_late = _days_late(session)
    ranked = (
        select(Invoice.customer_id.label("customer_id"), days_late.label("days_late"),
               func.row_number().over(partition_by=Invoice.customer_id,
                                      order_by=(Invoice.settled_on.desc(), Invoice.invoice_id.desc())
                                      ).label("rank"))
        .where(_in_range(Invoice.customer_id, lo, hi), Invoice.kind == "invoice",
               Invoice.settled_on.is_not(None), Invoice.settled_on <= run_date)
        .subquery()
    )
    recent = ranked.c.rank <= DETERIORATING_RECENT
    rows = _core(session).execute(
        select(ranked.c.customer_id,
               func.sum(case((ranked.c.days_late > 0, 1), else_=0)),
               func.avg(case((recent, ranked.c.days_late), else_=None)),
               func.avg(case((~recent, ranked.c.days_late), else_=None)),
               func.sum(case((~recent, 1), else_=0)))
        .group_by(ranked.c.customer_id)
    ).all()
    history = {}
    for customer_id, late, recent_mean, earlier_mean, earlier_n in rows:
        deteriorating = (
            (earlier_n or 0) >= DETERIORATING_RECENT
            and float(recent_mean) > float(earlier_mean) + DETERIORATING_MARGIN_DAYS
        )
        history[customer_id] = (int(late or 0), bool(deteriorating))
    return history


def _actions(session: Session, lo: str, hi: str, facts: ChunkFacts,
             cancelling: frozenset[str]) -> None:
    rows = _core(session).execute(
        select(DunningAction.customer_id, DunningAction.invoice_id, DunningAction.step,
               DunningAction.state, DunningAction.send_on, DunningAction.closed_on,
               Invoice.due_date)
        .outerjoin(Invoice, Invoice.invoice_id == DunningAction.invoice_id)
        .where(_in_range(DunningAction.customer_id, lo, hi))
    ).all()
    for customer_id, invoice_id, step, state, send_on, closed_on, due_date in rows:
        about_to_cancel = state in OPEN_STATES and invoice_id in cancelling
        if invoice_id is not None and step is not None:
            # every step ever planned counts as done, whatever its state: UNIQUE(invoice_id, step)
            # would refuse planning it again, and a cancelled or failed step is history
            facts.steps_done.setdefault(invoice_id, set()).add(step)
            # the next step waits for this one to close (None: still open)
            facts.step_closed.setdefault(invoice_id, {})[step] = (
                (closed_on or send_on) if state not in OPEN_STATES or about_to_cancel else None)
            if due_date is not None and send_on > due_date:
                facts.seen_late.add(invoice_id)
        if about_to_cancel:
            continue
        if state in OPEN_STATES or state in CONTACT_STATES:
            last = facts.last_contact.get(customer_id)
            if last is None or send_on > last:
                facts.last_contact[customer_id] = send_on


# --- what a run writes -----------------------------------------------------------------------


def insert_actions(session: Session, rows: list[dict[str, Any]]) -> list[tuple[int, str, str, str]]:
    """Insert planned actions; rows whose (invoice_id, step) exists already are skipped by the
    database itself. Returns (id, invoice_id, step, reminder_id) of the rows actually inserted."""
    table = DunningAction.__table__  # type: ignore[attr-defined]
    return _load_and_insert(session, table, rows, conflict=("invoice_id", "step"),
                            returning=("id", "invoice_id", "step", "reminder_id"))


def insert_reminders(session: Session, rows: list[dict[str, Any]]) -> None:
    table = Reminder.__table__  # type: ignore[attr-defined]
    _load_and_insert(session, table, rows, conflict=("reminder_id",), returning=None)


def insert_events(session: Session, rows: list[dict[str, Any]]) -> None:
    """Bulk `record_event`: one row per planned action (a run may plan hundreds of thousands)."""
    from ledger.tables import Event

    now = utcnow()
    table = Event.__table__  # type: ignore[attr-defined]
    _load_and_insert(session, table, [{**row, "created_at": now} for row in rows],
                     conflict=None, returning=None)


# A run writes up to a million rows. Multi-row `INSERT … VALUES … RETURNING` statements are slow
# to build and parse at that size (psycopg re-parses each huge statement), so rows go first into
# a temporary load table — COPY on PostgreSQL, the driver's executemany on SQLite — and then into
# the real table with one `INSERT … SELECT … ON CONFLICT DO NOTHING RETURNING`: the unique key
# still decides, in the database, which rows are new.
LOAD_BATCH = 50_000


def _load_and_insert(session: Session, table, rows: list[dict[str, Any]], *,
                     conflict: tuple[str, ...] | None,
                     returning: tuple[str, ...] | None) -> list[tuple]:
    if not rows:
        return []
    columns = list(rows[0])
    # Python-side column defaults (state, attempts, created_at…) the Core insert used to apply
    defaults = python_defaults(table, tuple(columns))
    columns += list(defaults)
    connection = session.connection()
    dialect = connection.dialect
    raw = connection.connection.driver_connection
    postgres = dialect.name == "postgresql"
    convert = [_db_value(table.c[name].type, dialect, postgres) for name in columns]
    load = f"relance_load_{table.name}"  # rebuilt per call: the columns differ between calls
    names = ", ".join(f'"{c}"' for c in columns)
    inserted: list[tuple] = []
    cursor = raw.cursor()
    try:
        # qualified: only ever our own temporary table, never a real one of that name
        cursor.execute(f'DROP TABLE IF EXISTS {"pg_temp" if postgres else "temp"}."{load}"')
        if postgres:
            cursor.execute(f'CREATE TEMP TABLE "{load}" ON COMMIT DROP AS '
                           f'SELECT {names}, 0::bigint AS relance_seq FROM "{table.name}" WITH NO DATA')
        else:
            cursor.execute(f'CREATE TEMP TABLE "{load}" AS '
                           f'SELECT {names}, 0 AS relance_seq FROM main."{table.name}" WHERE 0')
        for start in range(0, len(rows), LOAD_BATCH):
            batch = rows[start:start + LOAD_BATCH]
            cursor.execute(f'DELETE FROM "{load}"')
            values = [
                (*(f(v) if f else v for v, f in zip(_ordered(row, columns, defaults), convert)),
                 start + n)
                for n, row in enumerate(batch)
            ]
            if postgres:
                with cursor.copy(f'COPY "{load}" ({names}, relance_seq) FROM STDIN') as copy:
                    for value in values:
                        copy.write_row(value)
            else:
                marks = ", ".join("?" * (len(columns) + 1))
                cursor.executemany(f'INSERT INTO "{load}" VALUES ({marks})', values)
            # ordered by the caller's order, so ids follow it as they did with VALUES lists
            statement = (f'INSERT INTO "{table.name}" ({names}) SELECT {names} FROM "{load}" '
                         "WHERE true ORDER BY relance_seq")
            if conflict:
                statement += f" ON CONFLICT ({', '.join(conflict)}) DO NOTHING"
            if returning:
                statement += f" RETURNING {', '.join(returning)}"
            cursor.execute(statement)
            if returning:
                inserted.extend(tuple(r) for r in cursor.fetchall())
    finally:
        cursor.close()
    return inserted


def _ordered(row: dict[str, Any], columns: list[str], defaults: dict[str, Any]) -> Iterator[Any]:
    for name in columns:
        yield row[name] if name in row else defaults[name]


def _db_value(type_, dialect, postgres: bool):
    """How SQLAlchemy would bind a value of this column type (dates, JSON, booleans)."""
    process = type_.bind_processor(dialect)
    if postgres and isinstance(type_, JSON) and process is None:
        import json

        return lambda value: None if value is None else json.dumps(value)
    return process


# --- states ----------------------------------------------------------------------------------


def _snapshot(action: DunningAction) -> dict[str, Any]:
    return {"state": action.state, "attempts": action.attempts, "last_error": action.last_error}


def transition(session: Session, *, action: DunningAction, state: str, actor: str,
               error: str | None = None, attempted: bool = False, note: str | None = None,
               on: dt.date | None = None) -> None:
    """Move one action to `state` (or record a failed attempt), with an audit row.

    `on`: the day the step closed (sent, posted, delivered, failed, cancelled), default today;
    the next step's delay runs from it."""
    if state not in STATES:
        raise LedgerError(f"unknown action state {state!r}; expected one of {', '.join(STATES)}")
    if state != action.state and state not in ALLOWED[action.state]:
        raise IllegalTransitionError(
            f"action {action.id} is {action.state}: it cannot become {state}")
    before = _snapshot(action)
    action.state = state
    if attempted:
        action.attempts += 1
    if error is not None:
        action.last_error = error[:1000]
    if state == ActionState.SENT:
        action.sent_at = utcnow()
    if state in (ActionState.SENT, ActionState.POSTED, ActionState.DELIVERED,
                 ActionState.FAILED, ActionState.CANCELLED):
        action.closed_on = on or utcnow().date()
    action.updated_at = utcnow()
    session.add(action)
    after = _snapshot(action) | ({"note": note} if note else {})
    session.add(AuditLog(actor=actor, action=f"action.{state}" if before["state"] != state
                         else "action.attempt", entity="dunning_action", entity_id=str(action.id),
                         before=before, after=after))


def cancel_pending_for_invoices(session: Session, invoice_ids: Iterable[str], reason: str,
                                actor: str) -> int:
    """Cancel the actions of these invoices not yet out of the door (planned, awaiting approval,
    rendered but not posted): a payment or a dispute arrived after planning. Sent, posted,
    failed and cancelled ones are history and stay. Returns how many."""
    ids = sorted(set(invoice_ids))
    cancelled = 0
    for chunk in _chunks(ids):
        actions = session.execute(
            select(DunningAction).where(DunningAction.invoice_id.in_(chunk),
                                        DunningAction.state.in_(OPEN_STATES))
            .with_for_update()
        ).scalars().all()
        for action in actions:
            transition(session, action=action, state="cancelled", actor=actor, note=reason)
            record_event(session, type="action.cancelled", entity_id=str(action.id),
                         payload={"invoice_id": action.invoice_id, "step": action.step,
                                  "reason": reason})
            cancelled += 1
    return cancelled


def invoices_no_longer_chased(session: Session) -> list[str]:
    """Invoices with open actions that are now settled or under an open dispute."""
    settled = select(DunningAction.invoice_id).join(
        Invoice, Invoice.invoice_id == DunningAction.invoice_id
    ).where(DunningAction.state.in_(OPEN_STATES), Invoice.settled_on.is_not(None))
    direct, linked = _disputed_invoices()
    disputed = select(DunningAction.invoice_id).where(
        DunningAction.state.in_(OPEN_STATES),
        DunningAction.invoice_id.in_(union(direct, linked).scalar_subquery()))
    return sorted(set(session.execute(settled.union(disputed)).scalars()))


def _locked_action(session: Session, action_id: int) -> DunningAction:
    action = session.execute(
        select(DunningAction).where(DunningAction.id == action_id).with_for_update()
    ).scalar_one_or_none()
    if action is None:
        raise NotFoundError("action", str(action_id))
    return action


def cancel_action(session: Session, *, action_id: int, actor: str, reason: str) -> DunningAction:
    action = _locked_action(session, action_id)
    if action.state not in OPEN_STATES:
        raise IllegalTransitionError(
            f"action {action_id} is {action.state}: only a planned, pending or rendered (not yet "
            "posted) action can be cancelled")
    transition(session, action=action, state="cancelled", actor=actor, note=reason)
    record_event(session, type="action.cancelled", entity_id=str(action.id),
                 payload={"invoice_id": action.invoice_id, "step": action.step, "reason": reason})
    return action


def decide_approval(session: Session, *, action_id: int, approve: bool, actor: str,
                    comment: str | None) -> list[DunningAction]:
    """Approve (→ planned, the outbox sends it) or reject (→ cancelled) a formal notice or legal
    hand-off awaiting approval, with every other action of the same reminder: a person decides
    on the letter as a whole. Audited with the comment."""
    if comment is not None and len(comment) > 1000:
        raise LedgerValidationError([FieldError("comment", "at most 1000 characters")])
    action = _locked_action(session, action_id)
    if action.state != ActionState.PENDING_APPROVAL:
        raise IllegalTransitionError(
            f"action {action_id} is {action.state}: only an action pending approval can be "
            f"{'approved' if approve else 'rejected'}")
    group = [action]
    if action.reminder_id is not None:
        group = list(session.execute(
            select(DunningAction).where(DunningAction.reminder_id == action.reminder_id,
                                        DunningAction.state == ActionState.PENDING_APPROVAL)
            .order_by(DunningAction.id).with_for_update()).scalars())
    target = ActionState.PLANNED if approve else ActionState.CANCELLED
    note = f"{'approved' if approve else 'rejected'}" + (f": {comment}" if comment else "")
    for member in group:
        transition(session, action=member, state=target, actor=actor, note=note)
        if approve:
            member.approved_by, member.approved_at = actor, utcnow()
        record_event(session, type="action.approved" if approve else "action.rejected",
                     entity_id=str(member.id), payload={
                         "invoice_id": member.invoice_id, "reminder_id": member.reminder_id,
                         "channel": member.channel, "comment": comment})
    return group


def mark_posted(session: Session, *, reminder_id: str, posted_on: dt.date,
                registered_number: str | None, actor: str) -> Reminder:
    """A rendered letter or formal notice was posted (a formal notice: by registered letter with
    acknowledgement of receipt, whose number is required)."""
    if registered_number is not None and not REGISTERED_NUMBER.fullmatch(registered_number):
        raise LedgerValidationError([FieldError(
            "registered_number", "4 to 64 letters, digits, spaces or hyphens (the number on the "
                                 "registered-letter slip)")])
    reminder = _locked_reminder(session, reminder_id)
    if reminder.channel not in ("letter", "formal_notice"):
        raise IllegalTransitionError(f"reminder {reminder_id} is {reminder.channel}: only letters "
                                     "and formal notices are posted")
    if reminder.channel == "formal_notice" and not registered_number:
        raise LedgerValidationError([FieldError(
            "registered_number", "a formal notice goes by registered letter with acknowledgement "
                                 "of receipt: give the registered-letter number")])
    actions = _reminder_actions_in(session, reminder_id, (ActionState.RENDERED,))
    if not actions:
        raise IllegalTransitionError(f"reminder {reminder_id} has no rendered letter waiting to "
                                     "be posted (render it with the outbox first)")
    if posted_on < reminder.run_date:
        raise LedgerValidationError([FieldError(
            "posted_on", f"{posted_on.isoformat()} is before the reminder was planned "
                         f"({reminder.run_date.isoformat()})")])
    reminder.posted_on, reminder.registered_number = posted_on, registered_number
    session.add(reminder)
    # a formal notice's delay runs from its receipt: presumed until the receipt is recorded
    closed = (posted_on + dt.timedelta(days=PRESUMED_DELIVERY_DAYS)
              if reminder.channel == "formal_notice" else posted_on)
    for action in actions:
        transition(session, action=action, state=ActionState.POSTED, actor=actor, on=closed,
                   note=f"posted on {posted_on.isoformat()}"
                        + (f", registered letter {registered_number}" if registered_number else ""))
        record_event(session, type="action.posted", entity_id=str(action.id), payload={
            "invoice_id": action.invoice_id, "reminder_id": reminder_id,
            "posted_on": posted_on.isoformat(), "registered_number": registered_number})
    return reminder


def mark_delivered(session: Session, *, reminder_id: str, delivered_on: dt.date,
                   actor: str) -> Reminder:
    """A posted letter was received (the date on the acknowledgement of receipt)."""
    reminder = _locked_reminder(session, reminder_id)
    actions = _reminder_actions_in(session, reminder_id, (ActionState.POSTED,))
    if not actions or reminder.posted_on is None:
        raise IllegalTransitionError(f"reminder {reminder_id} has no posted letter to mark delivered")
    if delivered_on < reminder.posted_on:
        raise LedgerValidationError([FieldError(
            "delivered_on", f"{delivered_on.isoformat()} is before the letter was posted "
                            f"({reminder.posted_on.isoformat()})")])
    reminder.delivered_on = delivered_on
    session.add(reminder)
    for action in actions:
        closed = delivered_on if reminder.channel == "formal_notice" else action.closed_on
        transition(session, action=action, state=ActionState.DELIVERED, actor=actor, on=closed,
                   note=f"delivered on {delivered_on.isoformat()}")
        record_event(session, type="action.delivered", entity_id=str(action.id), payload={
            "invoice_id": action.invoice_id, "reminder_id": reminder_id,
            "delivered_on": delivered_on.isoformat()})
    return reminder


def notice_deadline(reminder: Reminder, deadline_days: int) -> dt.date | None:
    """The day a formal notice's deadline ends: `deadline_days` after its receipt, or after its
    presumed receipt (posting + PRESUMED_DELIVERY_DAYS) while none is recorded; None before it
    is posted."""
    if reminder.delivered_on is not None:
        return reminder.delivered_on + dt.timedelta(days=deadline_days)
    if reminder.posted_on is not None:
        return reminder.posted_on + dt.timedelta(days=PRESUMED_DELIVERY_DAYS + deadline_days)
    return None


def close_planned_calls(session: Session, *, customer_id: str, on: dt.date, actor: str) -> int:
    """An agent logged a call with this customer: the call tasks due by then are done (the
    consolidated call lists every invoice, so one call closes them all). Returns how many."""
    actions = session.execute(
        select(DunningAction).where(DunningAction.customer_id == customer_id,
                                    DunningAction.channel == "call",
                                    DunningAction.state == ActionState.PLANNED,
                                    DunningAction.send_on <= on)
        .order_by(DunningAction.id).with_for_update()
    ).scalars().all()
    for action in actions:
        transition(session, action=action, state=ActionState.SENT, actor=actor, on=on,
                   note="call logged", attempted=True)
        record_event(session, type="action.sent", entity_id=str(action.id), payload={
            "invoice_id": action.invoice_id, "customer_id": customer_id,
            "reminder_id": action.reminder_id, "channel": "call", "step": action.step})
    return len(actions)


def _locked_reminder(session: Session, reminder_id: str) -> Reminder:
    reminder = session.get(Reminder, reminder_id, with_for_update=True)
    if reminder is None:
        raise NotFoundError("reminder", reminder_id)
    return reminder


def _reminder_actions_in(session: Session, reminder_id: str,
                         states: Sequence[str]) -> list[DunningAction]:
    return list(session.execute(
        select(DunningAction).where(DunningAction.reminder_id == reminder_id,
                                    DunningAction.state.in_(states))
        .order_by(DunningAction.id).with_for_update()).scalars())


# --- reading actions and reminders -------------------------------------------------------------


def list_actions(session: Session, *, state: str | None = None, customer_id: str | None = None,
                 channel: str | None = None, on: dt.date | None = None, limit: int = 100,
                 offset: int = 0, agent: str | None = None) -> tuple[list[DunningAction], int]:
    """Actions filtered by state, customer, channel and send date (and `agent`'s portfolio);
    newest first."""
    conditions = []
    if agent is not None:
        conditions.append(in_portfolio(DunningAction.customer_id, agent))
    if state is not None:
        conditions.append(DunningAction.state == state)
    if customer_id is not None:
        conditions.append(DunningAction.customer_id == customer_id)
    if channel is not None:
        conditions.append(DunningAction.channel == channel)
    if on is not None:
        conditions.append(DunningAction.send_on == on)
    total = session.execute(select(func.count()).select_from(DunningAction).where(*conditions)).scalar_one()
    rows = session.execute(
        select(DunningAction).where(*conditions)
        .order_by(DunningAction.send_on.desc(), DunningAction.id.desc()).limit(limit).offset(offset)
    ).scalars().all()
    return list(rows), int(total)


def list_reminders(session: Session, *, customer_id: str | None = None,
                   agent: str | None = None, channel: str | None = None,
                   state: str | None = None, on: dt.date | None = None, limit: int = 100,
                   offset: int = 0) -> tuple[list[tuple[Reminder, list[DunningAction]]], int]:
    """Consolidated reminders (one per customer, day and channel) with their actions, newest
    first; `state`: reminders having an action in that state. `agent`: only that agent's
    portfolio (None: everyone's)."""
    conditions = []
    if customer_id is not None:
        conditions.append(Reminder.customer_id == customer_id)
    if agent is not None:
        conditions.append(Reminder.customer_id.in_(
            select(Customer.customer_id).where(Customer.assigned_agent == agent).scalar_subquery()))
    if channel is not None:
        conditions.append(Reminder.channel == channel)
    if on is not None:
        conditions.append(Reminder.send_on == on)
    if state is not None:
        conditions.append(Reminder.reminder_id.in_(
            select(DunningAction.reminder_id).where(DunningAction.state == state).scalar_subquery()))
    total = session.execute(select(func.count()).select_from(Reminder).where(*conditions)).scalar_one()
    reminders = list(session.execute(
        select(Reminder).where(*conditions)
        .order_by(Reminder.send_on.desc(), Reminder.customer_id, Reminder.channel)
        .limit(limit).offset(offset)).scalars())
    actions = group_by(session.execute(
        select(DunningAction).where(DunningAction.reminder_id.in_([r.reminder_id for r in reminders]))
        .order_by(DunningAction.invoice_id, DunningAction.id)).scalars(), lambda a: a.reminder_id)
    return [(r, actions.get(r.reminder_id, [])) for r in reminders], int(total)


def reminder_state(actions: Sequence[DunningAction]) -> str:
    """A reminder's state: that of its actions, the least advanced live one when they differ."""
    order = [ActionState.PENDING_APPROVAL, ActionState.PLANNED, ActionState.RENDERED,
             ActionState.POSTED, ActionState.SENT, ActionState.DELIVERED, ActionState.FAILED,
             ActionState.CANCELLED]
    states = {a.state for a in actions}
    return next((state for state in order if state in states), ActionState.CANCELLED)


@dataclass(frozen=True, slots=True)
class EarlierContact:
    """A contact actually made about some invoices: the day and the channel."""

    on: dt.date
    channel: str


def earlier_contacts(session: Session, *, customer_id: str, invoice_ids: Sequence[str],
                     before: dt.date, exclude_reminder: str | None = None) -> list[EarlierContact]:
    """Contacts actually made before `before` about these invoices (e-mails and SMS sent, calls
    logged, letters posted), plus calls logged about the customer as a whole after the oldest of
    their due dates: what a reminder may cite as "our earlier reminders". Planned, failed and
    cancelled ones are not contacts."""
    if not invoice_ids:
        return []
    oldest_due = session.execute(select(func.min(Invoice.due_date))
                                 .where(Invoice.invoice_id.in_(invoice_ids))).scalar_one()
    about_invoices = DunningAction.invoice_id.in_(invoice_ids)
    about_customer = and_(DunningAction.customer_id == customer_id,
                          DunningAction.invoice_id.is_(None), DunningAction.channel == "call",
                          DunningAction.send_on >= oldest_due) if oldest_due else about_invoices
    when = func.coalesce(DunningAction.closed_on, DunningAction.send_on)
    rows = session.execute(
        select(when, DunningAction.channel, DunningAction.reminder_id, DunningAction.state,
               Reminder.posted_on)
        .outerjoin(Reminder, Reminder.reminder_id == DunningAction.reminder_id)
        .where(or_(about_invoices, about_customer), DunningAction.state.in_(CONTACT_STATES))
    ).all()
    found: set[EarlierContact] = set()
    for closed, channel, reminder_id, _state, posted_on in rows:
        if exclude_reminder is not None and reminder_id == exclude_reminder:
            continue
        # a letter is cited by the day it was posted (a notice's closing day is its receipt)
        day = posted_on or closed
        if day is not None and day < before:
            found.add(EarlierContact(on=day, channel=channel))
    return sorted(found, key=lambda c: (c.on, c.channel))


def pending_approvals(session: Session, *, limit: int = 200) -> list[tuple[Reminder, list[DunningAction]]]:
    """Formal notices and legal hand-offs waiting for a person, oldest first."""
    ids = list(session.execute(
        select(DunningAction.reminder_id).where(DunningAction.state == ActionState.PENDING_APPROVAL,
                                                DunningAction.reminder_id.is_not(None))
        .group_by(DunningAction.reminder_id).order_by(func.min(DunningAction.send_on),
                                                      DunningAction.reminder_id).limit(limit)
    ).scalars())
    reminders = {r.reminder_id: r for r in session.execute(
        select(Reminder).where(Reminder.reminder_id.in_(ids))).scalars()}
    actions = group_by(session.execute(
        select(DunningAction).where(DunningAction.reminder_id.in_(ids),
                                    DunningAction.state == ActionState.PENDING_APPROVAL)
        .order_by(DunningAction.invoice_id)).scalars(), lambda a: a.reminder_id)
    return [(reminders[i], actions[i]) for i in ids if i in reminders]


def get_action(session: Session, action_id: int) -> DunningAction:
    action = session.get(DunningAction, action_id)
    if action is None:
        raise NotFoundError("action", str(action_id))
    return action


def get_reminder(session: Session, reminder_id: str) -> Reminder:
    reminder = session.get(Reminder, reminder_id)
    if reminder is None:
        raise NotFoundError("reminder", reminder_id)
    return reminder


def reminder_actions(session: Session, reminder_id: str) -> list[DunningAction]:
    return list(session.execute(
        select(DunningAction).where(DunningAction.reminder_id == reminder_id)
        .order_by(DunningAction.invoice_id)
    ).scalars())


def due_reminder_ids(session: Session, *, on: dt.date, channels: Sequence[str]) -> list[str]:
    """Reminders with planned actions on these channels whose send date has come."""
    return list(session.execute(
        select(DunningAction.reminder_id)
        .where(DunningAction.state == PENDING, DunningAction.send_on <= on,
               DunningAction.channel.in_(channels), DunningAction.reminder_id.is_not(None))
        .distinct().order_by(DunningAction.reminder_id)
    ).scalars())


def lock_pending_actions(session: Session, reminder_id: str) -> list[DunningAction]:
    """The planned actions of a reminder, locked for this transaction; on PostgreSQL another
    sender working on the same reminder skips it instead of sending it twice."""
    statement = select(DunningAction).where(
        DunningAction.reminder_id == reminder_id, DunningAction.state == PENDING
    ).order_by(DunningAction.id)
    if session.get_bind().dialect.name == "postgresql":
        statement = statement.with_for_update(skip_locked=True)
    return list(session.execute(statement).scalars())


def mark_rendered(session: Session, reminder: Reminder, *, subject: str, body_text: str,
                  body_html: str | None) -> None:
    reminder.subject, reminder.body_text, reminder.body_html = subject, body_text, body_html
    reminder.rendered_at = utcnow()
    session.add(reminder)


def invoices_by_id(session: Session, invoice_ids: Sequence[str]) -> dict[str, Invoice]:
    found: dict[str, Invoice] = {}
    for chunk in _chunks(sorted(set(invoice_ids))):
        found.update((i.invoice_id, i) for i in session.execute(
            select(Invoice).where(Invoice.invoice_id.in_(chunk))).scalars())
    return found


# --- edited scenarios and templates -------------------------------------------------------------


def stored_scenarios(session: Session) -> dict[str, dict[str, Any]]:
    return {r.name: r.body for r in session.execute(select(ScenarioRecord)).scalars()}


def save_scenario(session: Session, *, name: str, body: dict[str, Any], actor: str) -> None:
    """Store an (already validated) scenario, with an audit row holding before and after."""
    record = session.get(ScenarioRecord, name, with_for_update=True)
    before = record.body if record else None
    if record is None:
        record = ScenarioRecord(name=name, body=body, updated_by=actor)
    else:
        record.body, record.updated_by, record.updated_at = body, actor, utcnow()
    session.add(record)
    session.add(AuditLog(actor=actor, action="scenario.update", entity="scenario", entity_id=name,
                         before=before, after=body))


def stored_templates(session: Session) -> dict[str, str]:
    return {r.name: r.source for r in session.execute(select(TemplateRecord)).scalars()}


def save_template(session: Session, *, name: str, source: str, actor: str) -> None:
    record = session.get(TemplateRecord, name, with_for_update=True)
    before = {"source": record.source} if record else None
    if record is None:
        record = TemplateRecord(name=name, source=source, updated_by=actor)
    else:
        record.source, record.updated_by, record.updated_at = source, actor, utcnow()
    session.add(record)
    session.add(AuditLog(actor=actor, action="template.update", entity="template", entity_id=name,
                         before=before, after={"source": source}))


def audit(session: Session, *, actor: str, action: str, entity: str, entity_id: str | None,
          after: dict[str, Any] | None = None) -> None:
    session.add(AuditLog(actor=actor, action=action, entity=entity, entity_id=entity_id, after=after))


def group_by(items: Iterable[Any], key) -> dict[Any, list[Any]]:
    groups: dict[Any, list[Any]] = defaultdict(list)
    for item in items:
        groups[key(item)].append(item)
    return groups


__all__ = [
    "ChunkFacts", "CustomerFacts", "IllegalTransitionError", "OpenInvoice", "Reminder",
    "ScenarioRecord", "TemplateRecord", "cancel_action", "cancel_pending_for_invoices",
    "customer_ranges", "due_reminder_ids", "get_reminder", "insert_actions", "insert_events",
    "insert_reminders", "invoices_by_id", "invoices_no_longer_chased", "list_actions",
    "load_chunk", "lock_pending_actions", "mark_rendered", "reminder_actions", "save_scenario",
    "save_template", "stored_scenarios", "stored_templates", "transition",
]
