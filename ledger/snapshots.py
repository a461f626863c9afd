"""Month-end receivable snapshots: what `ledger.kpis` computes for a month end, kept, so a 12-month
trend reads a handful of rows instead of replaying a year of allocations.

A snapshot is the answer of the fresh computation for one date and scope (every customer, or one
segment): per ageing bucket and currency, the invoices open at that date and their open amount,
plus a marker row (bucket "") saying the date is complete. Receivables at d depend only on
invoices issued by d and allocations dated by d, so the snapshot of d stays true until such a row
changes: triggers on invoice and allocation (migration 0018) delete every snapshot dated on or
after the earliest date a write touches, whoever writes; a segment change forgets the segment
snapshots. Nothing here is ever more than a cache of the fresh answer: a test compares them after
random ingests.

Filling is race-free: the filler computes and stores in one transaction of its own that first
takes a lock every writer's trigger also needs (PostgreSQL: SHARE ROW EXCLUSIVE on the table, which
the triggers' ROW EXCLUSIVE waits for; SQLite: the database's write lock). So no write can commit
between the filler's reads and its insert, and a writer still running when the filler read holds
the lock already, so the filler waits for it. A filler that cannot get the lock quickly gives up
(the caller computes fresh), so reports never wait on a long import. A session that has written
and not committed does not use snapshots (its own view is not the committed one).
"""
from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.pool import StaticPool
from sqlmodel import Session

ALL = "*"
MARKER = ""
# raw receivables: {(date, bucket): ({currency: count}, {currency: amount})}, as ledger.kpis has them
Raw = dict[tuple[dt.date, str], tuple[dict[str, int], dict[str, Decimal]]]


def scope_of(segment: str | None, kind: str = "") -> str:
    """The scope column: what the rows are (`kind`: "" receivables, "sales:" daily sales) of whom."""
    return kind + (ALL if segment is None else f"segment:{segment}")


def is_month_end(day: dt.date) -> bool:
    return day.day == calendar.monthrange(day.year, day.month)[1]


def usable(session: Session) -> bool:
    """Snapshots are read and filled only from a session with no uncommitted writes, on a
    database other sessions can share (not an in-memory SQLite)."""
    bind = session.get_bind()
    if isinstance(getattr(bind, "pool", None), StaticPool):
        return False
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        return session.execute(text("SELECT pg_current_xact_id_if_assigned() IS NULL")).scalar_one()
    return not connection.connection.driver_connection.in_transaction


def _date(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])


def _param(session: Session, day: dt.date) -> Any:
    return day if session.get_bind().dialect.name == "postgresql" else day.isoformat()


def read(session: Session, dates: Sequence[dt.date], segment: str | None, kind: str = "") -> Raw:
    """The complete snapshots among `dates` (a date without its marker row is not one)."""
    if not dates:
        return {}
    marks = ", ".join(f":d{k}" for k in range(len(dates)))
    params = {f"d{k}": _param(session, day) for k, day in enumerate(dates)} | {"scope": scope_of(segment, kind)}
    rows = session.execute(text(f"SELECT on_date, bucket, currency, invoices, amount FROM receivablesnapshot "
                                f"WHERE scope = :scope AND on_date IN ({marks})"), params).all()
    complete = {_date(r[0]) for r in rows if r[1] == MARKER}
    raw: Raw = {}
    for on_date, bucket, currency, invoices, amount in rows:
        day = _date(on_date)
        if bucket != MARKER and day in complete:
            counts, amounts = raw.setdefault((day, bucket), ({}, {}))
            counts[currency], amounts[currency] = int(invoices), Decimal(str(amount))
    for day in complete:  # a date with no open invoice is complete and empty
        raw.setdefault((day, MARKER), ({}, {}))
    return raw


def fill(session: Session, dates: Sequence[dt.date], segment: str | None,
         compute: Callable[[Session, Sequence[dt.date], str | None], Raw], kind: str = "") -> Raw | None:
    """Compute `dates` with `compute` in a transaction of their own under the writers' lock, store
    them, and return them; None when the lock is busy (the caller computes fresh)."""
    def work(own: Session) -> Raw:
        raw = compute(own, dates, segment)
        _store(own, dates, segment, raw, kind)
        return raw

    return locked(session, "receivablesnapshot", work)


def locked(session: Session, table: str, work: Callable[[Session], Any]) -> Any:
    """`work(own)` in a transaction of its own that first takes the lock every writer's trigger
    on `table` also needs, committed; None when the lock is busy for more than half a second."""
    postgres = session.get_bind().dialect.name == "postgresql"
    try:
        with Session(session.get_bind()) as own:
            if postgres:
                own.execute(text("SET LOCAL lock_timeout = '500ms'"))
                own.execute(text(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE"))
            else:
                driver = own.connection().connection.driver_connection
                driver.execute("PRAGMA busy_timeout = 500")
                try:  # a write takes SQLite's write lock; reads after it see the latest commit
                    own.execute(text(f"DELETE FROM {table} WHERE 1 = 0"))
                finally:
                    driver.execute("PRAGMA busy_timeout = 30000")
            result = work(own)
            own.commit()
            return result
    except sa_exc.OperationalError as error:
        if _lock_busy(error):
            return None
        raise


def _lock_busy(error: sa_exc.OperationalError) -> bool:
    code = getattr(getattr(error, "orig", None), "sqlstate", None)
    return code == "55P03" or "locked" in str(error) or "busy" in str(error).lower()


def _store(session: Session, dates: Sequence[dt.date], segment: str | None, raw: Raw, kind: str = "") -> None:
    scope = scope_of(segment, kind)
    # SQLite's driver binds no Decimal: the text of the amount, stored with NUMERIC affinity
    money = (lambda v: v) if session.get_bind().dialect.name == "postgresql" else str
    rows = [{"on_date": _param(session, day), "scope": scope, "bucket": MARKER, "currency": MARKER,
             "invoices": 0, "amount": 0} for day in dates]
    for (day, bucket), (counts, amounts) in raw.items():
        for currency, amount in amounts.items():
            rows.append({"on_date": _param(session, day), "scope": scope, "bucket": bucket,
                         "currency": currency, "invoices": counts.get(currency, 0), "amount": money(amount)})
    marks = ", ".join(f":d{k}" for k in range(len(dates)))
    session.execute(text(f"DELETE FROM receivablesnapshot WHERE scope = :scope AND on_date IN ({marks})"),
                    {f"d{k}": _param(session, day) for k, day in enumerate(dates)} | {"scope": scope})
    session.execute(text("INSERT INTO receivablesnapshot (on_date, scope, bucket, currency, invoices, amount) "
                         "VALUES (:on_date, :scope, :bucket, :currency, :invoices, :amount)"), rows)


def forget(session: Session) -> None:
    """Drop every snapshot (they are recomputed on demand)."""
    session.execute(text("DELETE FROM receivablesnapshot"))


def receivables(session: Session, dates: Sequence[dt.date], segment: str | None,
                compute: Callable[[Session, Sequence[dt.date], str | None], Raw]) -> Raw:
    """Raw receivables at `dates`: month ends from their snapshots (filled when missing), the
    other dates — today, mostly — computed fresh by `compute`, as they change with every payment."""
    month_ends = [d for d in dates if is_month_end(d)]
    others = [d for d in dates if not is_month_end(d)]
    if not month_ends or not usable(session):
        return compute(session, dates, segment)
    raw = read(session, month_ends, segment)
    missing = [d for d in month_ends if (d, MARKER) not in raw]
    if missing:
        filled = fill(session, missing, segment, compute)
        if filled is None:
            others += missing
        else:
            raw.update(filled)
    if others:
        raw.update(compute(session, others, segment))
    return {key: value for key, value in raw.items() if key[1] != MARKER}


def cached(session: Session, dates: Sequence[dt.date], segment: str | None,
           compute: Callable[[Session, Sequence[dt.date], str | None], Raw], kind: str) -> Raw:
    """Rows of `kind` at `dates` (month ends): from their snapshots, the missing ones computed by
    `compute` and stored (or computed and not stored when the writers' lock is busy)."""
    raw = read(session, dates, segment, kind)
    missing = [d for d in dates if (d, MARKER) not in raw]
    if missing:
        filled = fill(session, missing, segment, compute, kind)
        raw.update(filled if filled is not None else compute(session, missing, segment))
    return {key: value for key, value in raw.items() if key[1] != MARKER}


# --- dunning effectiveness of closed months (table dunningsnapshot, migration 0028) ---------------

# (step, channel, tone, currency) → [sent, settled within 7, 14, 30 days]
DunningCounts = dict[tuple[str, str, str, str], list[int]]


def dunning_months(session: Session, month_ends: Sequence[dt.date], segment: str | None,
                   compute: Callable[[Session, Sequence[dt.date], str | None], dict[dt.date, DunningCounts]]
                   ) -> dict[dt.date, DunningCounts]:
    """The counts of each month in `month_ends` (every one at least 30 days past): from
    `dunningsnapshot`, the missing months computed by `compute` and stored under the writers'
    lock (or computed and not stored when it is busy)."""
    scope = scope_of(segment)
    marks = ", ".join(f":d{k}" for k in range(len(month_ends)))
    params = {f"d{k}": _param(session, day) for k, day in enumerate(month_ends)} | {"scope": scope}
    rows = session.execute(text(f"SELECT month_end, step, channel, tone, currency, sent, settled_7, settled_14, "
                                f"settled_30 FROM dunningsnapshot WHERE scope = :scope AND month_end IN ({marks})"),
                           params).all()
    complete = {_date(r[0]) for r in rows if r[4] == MARKER}
    out: dict[dt.date, DunningCounts] = {day: {} for day in complete}
    for month_end, step, channel, tone, currency, *counts in rows:
        if currency != MARKER and _date(month_end) in complete:
            out[_date(month_end)][(step, channel, tone, currency)] = [int(c) for c in counts]
    missing = [day for day in month_ends if day not in complete]
    if missing:
        def work(own: Session) -> dict[dt.date, DunningCounts]:
            counted = compute(own, missing, segment)
            _store_dunning(own, missing, scope, counted)
            return counted

        filled = locked(session, "dunningsnapshot", work)
        out.update(filled if filled is not None else compute(session, missing, segment))
    return out


def _store_dunning(session: Session, month_ends: Sequence[dt.date], scope: str,
                   counted: dict[dt.date, DunningCounts]) -> None:
    marks = ", ".join(f":d{k}" for k in range(len(month_ends)))
    session.execute(text(f"DELETE FROM dunningsnapshot WHERE scope = :scope AND month_end IN ({marks})"),
                    {f"d{k}": _param(session, day) for k, day in enumerate(month_ends)} | {"scope": scope})
    rows = []
    for day in month_ends:
        rows.append({"month_end": _param(session, day), "scope": scope, "step": "", "channel": "", "tone": "",
                     "currency": MARKER, "s0": 0, "s7": 0, "s14": 0, "s30": 0})
        for (step, channel, tone, currency), (sent, s7, s14, s30) in counted.get(day, {}).items():
            rows.append({"month_end": _param(session, day), "scope": scope, "step": step, "channel": channel,
                         "tone": tone, "currency": currency, "s0": sent, "s7": s7, "s14": s14, "s30": s30})
    session.execute(text("INSERT INTO dunningsnapshot (month_end, scope, step, channel, tone, currency, sent, "
                         "settled_7, settled_14, settled_30) VALUES (:month_end, :scope, :step, :channel, :tone, "
                         ":currency, :s0, :s7, :s14, :s30)"), rows)
