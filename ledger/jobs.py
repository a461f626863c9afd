"""Scheduled jobs and their lock: one row per job and date, inserted by whoever runs it.

Several servers (`relance serve`, `relance worker`) may schedule the same daily job. Each tries
`INSERT … ON CONFLICT DO NOTHING` of the row (job, run_date): the database lets exactly one
insert it, and only that one runs the job; the others see the row and skip. The row then keeps
the job's outcome and report, which is what `GET /dunning/runs/last` and the dashboard show. A
failed run may be retried: the retry takes the row back with an UPDATE guarded on its state, so
again only one server wins.
"""
from __future__ import annotations

import datetime as dt
import os
import socket
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from ledger.tables import JobRun, utcnow


def owner_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:200]


def claim(session: Session, *, job: str, run_date: dt.date, owner: str) -> bool:
    """True when this caller now owns (job, run_date): no one ran it yet, or its run failed.
    Commits nothing: the caller commits, so the claim is visible to others at once."""
    table = JobRun.__table__  # type: ignore[attr-defined]
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    inserted = session.execute(
        insert(table).values(job=job, run_date=run_date, state="running", owner=owner,
                             started_at=utcnow())
        .on_conflict_do_nothing(index_elements=["job", "run_date"])
        .returning(table.c.job)).first()
    if inserted is not None:
        return True
    retaken = session.execute(
        update(table).where(table.c.job == job, table.c.run_date == run_date,
                            table.c.state == "failed")
        .values(state="running", owner=owner, started_at=utcnow(), finished_at=None, error=None)
        .returning(table.c.job)).first()
    return retaken is not None


def finish(session: Session, *, job: str, run_date: dt.date, report: dict[str, Any] | None,
           error: str | None = None) -> None:
    session.execute(update(JobRun.__table__)  # type: ignore[attr-defined]
                    .where(JobRun.job == job, JobRun.run_date == run_date)
                    .values(state="failed" if error else "done", finished_at=utcnow(),
                            report=report, error=error[:4000] if error else None))


def last_run(session: Session, job: str) -> JobRun | None:
    return session.execute(select(JobRun).where(JobRun.job == job)
                           .order_by(JobRun.run_date.desc()).limit(1)).scalars().first()
