"""Dunning records and queries: actions, reminders, edited scenarios and templates.

Knows nothing of ML nor of the decision policy: it reads the facts a dunning run needs (open
invoices, disputes, promises, steps done, last contact, payer history) chunk by chunk of
customers, writes planned actions idempotently (`INSERT … ON CONFLICT DO NOTHING` on
UNIQUE(invoice_id, step)), and moves actions between states with an audit row per change.

States: planned → sent | failed | cancelled. `cancel_pending_for_invoices` is what ingestion and
the daily run call when a payment or a dispute arrives after planning.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Column, Text, and_, case, func, or_, select, union
from sqlmodel import Field, Session, SQLModel

from ledger.errors import LedgerError, NotFoundError
from ledger.ingest import python_defaults
from ledger.portfolio import in_portfolio
from ledger.models import (
    MONEY,
    AuditLog,
    Customer,
    Dispute,
    DunningAction,
    Invoice,
    Promise,
    PromiseInvoice,
    record_event,
    utcnow,
)
from ledger.schemas import MAX_DATE

OPEN_DISPUTE_STATUSES = ("open", "in_review", "proposed_credit_note")  # = collections.ACTIVE_DISPUTE
PENDING = "planned"
STATES = ("planned", "sent", "failed", "cancelled")
BROKEN_PROMISE_LOOKBACK_DAYS = 90
# deteriorating payer: mean days late of the last N settled invoices above the mean of the
# earlier ones by more than this margin (needs N recent and at least N earlier invoices)
DETERIORATING_RECENT = 3
DETERIORATING_MARGIN_DAYS = 5
CHUNK = 500


class IllegalTransitionError(LedgerError):
    """An action cannot move to the requested state (e.g. cancelling a sent email)."""


# --- tables ----------------------------------------------------------------------------------


class ScenarioRecord(SQLModel, table=True):
    """A scenario edited by an analyst; shipped defaults apply for names without a record."""

    name: str = Field(primary_key=True, max_length=64)
    body: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    updated_by: str | None = Field(default=None, max_length=100)
    updated_at: dt.datetime = Field(default_factory=utcnow)


class TemplateRecord(SQLModel, table=True):
    """A reminder template edited by an analyst (`email_firm.fr.j2`), replacing the shipped file."""

    name: str = Field(primary_key=True, max_length=64)
    source: str = Field(sa_column=Column(Text, nullable=False))
    updated_by: str | None = Field(default=None, max_length=100)
    updated_at: dt.datetime = Field(default_factory=utcnow)


class Reminder(SQLModel, table=True):
    """One consolidated message to a customer on one channel, grouping the actions sharing its id.

    The text is rendered when the reminder is sent and kept, so what was sent can be read back.
    """

    reminder_id: str = Field(primary_key=True, max_length=64)
    customer_id: str = Field(foreign_key="customer.customer_id", index=True, max_length=64)
    run_date: dt.date = Field(index=True)
    send_on: dt.date
    channel: str = Field(max_length=16)
    tone: str = Field(max_length=16)
    template: str | None = Field(default=None, max_length=64)
    language: str = Field(default="fr", max_length=2)
    claim_penalties: bool = False
    subject: str | None = None
    body_text: str | None = Field(default=None, sa_column=Column(Text))
    body_html: str | None = Field(default=None, sa_column=Column(Text))
    rendered_at: dt.datetime | None = None
    created_at: dt.datetime = Field(default_factory=utcnow)


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


def _dispute_links():
    # a dispute over several invoices lists them in collections' link table
    from ledger.collections import DisputeInvoice

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
    from ledger.models import PromiseInstalment

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
               DunningAction.state, DunningAction.send_on, Invoice.due_date)
        .outerjoin(Invoice, Invoice.invoice_id == DunningAction.invoice_id)
        .where(_in_range(DunningAction.customer_id, lo, hi))
    ).all()
    for customer_id, invoice_id, step, state, send_on, due_date in rows:
        if invoice_id is not None and step is not None:
            # every step ever planned counts as done, whatever its state: UNIQUE(invoice_id, step)
            # would refuse planning it again, and a cancelled or failed step is history
            facts.steps_done.setdefault(invoice_id, set()).add(step)
            if due_date is not None and send_on > due_date:
                facts.seen_late.add(invoice_id)
        if state == "planned" and invoice_id in cancelling:
            continue
        if state in ("planned", "sent"):
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
    from ledger.models import Event

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
               error: str | None = None, attempted: bool = False, note: str | None = None) -> None:
    """Move one action to `state` (or record a failed attempt), with an audit row."""
    if state not in STATES:
        raise LedgerError(f"unknown action state {state!r}; expected one of {', '.join(STATES)}")
    before = _snapshot(action)
    action.state = state
    if attempted:
        action.attempts += 1
    if error is not None:
        action.last_error = error[:1000]
    if state == "sent":
        action.sent_at = utcnow()
    action.updated_at = utcnow()
    session.add(action)
    after = _snapshot(action) | ({"note": note} if note else {})
    session.add(AuditLog(actor=actor, action=f"action.{state}" if before["state"] != state
                         else "action.attempt", entity="dunning_action", entity_id=str(action.id),
                         before=before, after=after))


def cancel_pending_for_invoices(session: Session, invoice_ids: Iterable[str], reason: str,
                                actor: str) -> int:
    """Cancel the planned actions of these invoices (a payment or a dispute arrived after
    planning); sent, failed and cancelled ones are history and stay. Returns how many."""
    ids = sorted(set(invoice_ids))
    cancelled = 0
    for chunk in _chunks(ids):
        actions = session.execute(
            select(DunningAction).where(DunningAction.invoice_id.in_(chunk),
                                        DunningAction.state == PENDING)
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
    """Invoices with planned actions that are now settled or under an open dispute."""
    settled = select(DunningAction.invoice_id).join(
        Invoice, Invoice.invoice_id == DunningAction.invoice_id
    ).where(DunningAction.state == PENDING, Invoice.settled_on.is_not(None))
    direct, linked = _disputed_invoices()
    disputed = select(DunningAction.invoice_id).where(
        DunningAction.state == PENDING,
        DunningAction.invoice_id.in_(union(direct, linked).scalar_subquery()))
    return sorted(set(session.execute(settled.union(disputed)).scalars()))


def cancel_action(session: Session, *, action_id: int, actor: str, reason: str) -> DunningAction:
    action = session.execute(
        select(DunningAction).where(DunningAction.id == action_id).with_for_update()
    ).scalar_one_or_none()
    if action is None:
        raise NotFoundError("action", str(action_id))
    if action.state != PENDING:
        raise IllegalTransitionError(
            f"action {action_id} is {action.state}: only a planned action can be cancelled")
    transition(session, action=action, state="cancelled", actor=actor, note=reason)
    record_event(session, type="action.cancelled", entity_id=str(action.id),
                 payload={"invoice_id": action.invoice_id, "step": action.step, "reason": reason})
    return action


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
