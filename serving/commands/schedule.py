"""`relance worker [--once]`: the daily dunning run without the API (serving.schedule)."""
from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer
from rich.console import Console

from ledger.config import get_settings

console = Console()


def worker(once: Annotated[bool, typer.Option("--once", help="Run the job now (if due) and exit: for cron or a test")] = False,
           at: Annotated[dt.datetime | None, typer.Option(formats=["%Y-%m-%dT%H:%M"], help="With --once: the local time to run as")] = None) -> None:
    """Plan and send the day's dunning at the configured time, on business days (no API)."""
    from zoneinfo import ZoneInfo

    from ledger.db import get_engine
    from serving.risk import RiskService
    from serving.schedule import build_scheduler, daily_job
    from serving.stored_risk import refresh_all

    settings = get_settings()
    risk = RiskService(settings.model_uri)
    risk.reload()

    def risk_for():
        return risk.risk_for if risk.state.predictor is not None else None

    def refresh(day: dt.date) -> int:
        # as `relance serve` does: the day's stored answers computed in bulk after the run, so
        # the morning's first reads of /risk, next-action and the worklist do not pay for them
        return refresh_all(risk, get_engine(), day)

    if once:
        now = at.replace(tzinfo=ZoneInfo(settings.dunning_timezone)) if at else None
        outcome = daily_job(engine=get_engine(), now=now, risk_for=risk_for, settings=settings,
                            refresh=refresh)
        console.print(f"{outcome.run_date} : {outcome.state} — {outcome.detail}")
        if outcome.report:
            console.print(f"{outcome.report['created']} action(s), {outcome.report['reminders']} relance(s)")
        raise typer.Exit(1 if outcome.state == "failed" else 0)
    console.print(f"worker: dunning at {settings.dunning_time} {settings.dunning_timezone}, business days")
    build_scheduler(engine=get_engine(), blocking=True, risk_for=risk_for, settings=settings,
                    refresh=refresh).start()


def register(app: typer.Typer) -> None:
    app.command("worker")(worker)
