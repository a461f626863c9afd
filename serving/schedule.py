"""The daily run on its own: plan the day's dunning and send the outbox, every business morning.

`relance serve` starts a background scheduler beside the API, `relance worker` a blocking one
without it (APScheduler 3, in-memory job store: each process schedules its own job, as
APScheduler requires — job stores are never shared between schedulers). The cron trigger fires
Monday to Friday at `dunning_time` in `dunning_timezone` (default 07:00 Europe/Paris); the job
itself skips French public holidays (`ledger.calendar`).

Two servers both fire at 07:00: the lock is in the database (`ledger.jobs.claim`: one row per job
and date, inserted by exactly one of them), so only one plans and sends; the other records
nothing and returns. `daily_job` takes the current time as an argument, so tests run it at any
instant without waiting for the clock.
"""
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from sqlmodel import Session

from ledger import jobs
from ledger.calendar import is_business_day
from ledger.config import Settings, get_settings
from ledger.tables import JobRun

log = logging.getLogger(__name__)

JOB = "daily_dunning"


@dataclass(frozen=True)
class JobOutcome:
    state: str  # done | failed | skipped
    run_date: dt.date
    detail: str
    report: dict | None = None


def _zone(settings: Settings) -> ZoneInfo:
    return ZoneInfo(settings.dunning_timezone)


def daily_job(*, engine: Engine, now: dt.datetime | None = None,
              risk_for: Callable | None = None, send: bool = True,
              refresh: Callable[[dt.date], object] | None = None,
              settings: Settings | None = None, owner: str | None = None) -> JobOutcome:
    """Plan today's dunning and send what is due, unless it is not a business day or another
    server already did (or is doing) it. `now` is timezone-aware (default: the clock)."""
    from serving.dunning import run_and_commit
    from serving.outbox import send_outbox

    settings = settings or get_settings()
    zone = _zone(settings)
    local = (now or dt.datetime.now(zone)).astimezone(zone)
    run_date = local.date()
    if not is_business_day(run_date):
        return JobOutcome("skipped", run_date, "not a French business day")
    with Session(engine) as session:
        claimed = jobs.claim(session, job=JOB, run_date=run_date, owner=owner or jobs.owner_name())
        session.commit()
    if not claimed:
        return JobOutcome("skipped", run_date, "already run (or running) by another server")
    try:
        report = run_and_commit(engine=engine, run_date=run_date, dry_run=False,
                                risk_for=risk_for() if risk_for else None, actor="scheduler",
                                today=run_date)
        summary = report.summary()
        if refresh is not None:  # every stored risk answer computed for the new day, in bulk
            summary["risks_refreshed"] = refresh(run_date)
        if send:
            summary["outbox"] = send_outbox(engine=engine, on=run_date, actor="scheduler",
                                            settings=settings).summary()
    except Exception as exc:  # noqa: BLE001  (recorded, shown on the dashboard, retried by hand)
        log.exception("daily dunning run of %s failed", run_date)
        with Session(engine) as session:
            jobs.finish(session, job=JOB, run_date=run_date, report=None,
                        error=f"{type(exc).__name__}: {exc}")
            session.commit()
        return JobOutcome("failed", run_date, f"{type(exc).__name__}: {exc}")
    with Session(engine) as session:
        jobs.finish(session, job=JOB, run_date=run_date, report=summary)
        session.commit()
    return JobOutcome("done", run_date, "planned and sent", summary)


def trigger(settings: Settings | None = None):
    """Monday to Friday at the configured local time (holidays are skipped by the job)."""
    from apscheduler.triggers.cron import CronTrigger

    settings = settings or get_settings()
    hour, minute = (int(part) for part in settings.dunning_time.split(":"))
    return CronTrigger(day_of_week="mon-fri", hour=hour, minute=minute, timezone=_zone(settings))


def build_scheduler(*, engine: Engine, blocking: bool = False, risk_for: Callable | None = None,
                    settings: Settings | None = None, refresh: Callable | None = None):
    """A scheduler holding the daily job (not started). `risk_for` is asked at each run for the
    current risk provider (a model reloaded meanwhile is used)."""
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.schedulers.blocking import BlockingScheduler

    settings = settings or get_settings()
    scheduler = (BlockingScheduler if blocking else BackgroundScheduler)(timezone=_zone(settings))
    # coalesce: after downtime, one run, not one per missed morning; a run that starts up to an
    # hour late (a restart at 07:10) still happens
    scheduler.add_job(daily_job, trigger(settings), id=JOB, name="daily dunning run",
                      kwargs={"engine": engine, "risk_for": risk_for, "settings": settings,
                              "refresh": refresh},
                      coalesce=True, max_instances=1, misfire_grace_time=3600, replace_existing=True)
    return scheduler


def last_run(session: Session) -> JobRun | None:
    return jobs.last_run(session, JOB)
