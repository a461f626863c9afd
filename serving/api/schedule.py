"""The scheduled daily run: what the last one did."""
from __future__ import annotations

import datetime as dt

from fastapi import APIRouter
from pydantic import BaseModel

from ledger.config import get_settings
from serving.deps import Reader, SessionDep
from serving.schedule import last_run

router = APIRouter(prefix="/api/v1", tags=["dunning"])


class ScheduledRunOut(BaseModel):
    run_date: dt.date
    state: str  # running | done | failed
    owner: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    report: dict | None  # the run's summary (planned, created, warnings…) and the outbox's
    error: str | None


class LastRunOut(BaseModel):
    schedule: str  # when the runs happen
    run: ScheduledRunOut | None  # None: no scheduled run yet (not an error)


@router.get("/dunning/runs/last", response_model=LastRunOut)
def last_scheduled_run(session: SessionDep, _: Reader) -> LastRunOut:
    """The last scheduled daily run (`relance serve` / `relance worker`) and its report."""
    run = last_run(session)
    settings = get_settings()
    return LastRunOut(schedule=f"{settings.dunning_time} {settings.dunning_timezone}, business days",
                      run=None if run is None else ScheduledRunOut(**run.model_dump(exclude={"job"})))
