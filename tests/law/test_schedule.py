"""The daily run on its own, without waiting for the clock: the job is called with the instant it
runs at; the trigger is asked for its next fire time; two schedulers race on one database.

2026-11-30 is a Monday, 2026-12-25 a public holiday (Christmas), 2026-11-28 a Saturday.
"""
from __future__ import annotations

import datetime as dt
import threading
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, select

from ledger.config import Settings
from ledger.tables import Customer, DunningAction, JobRun, StoredCustomerRisk
from serving.schedule import JOB, build_scheduler, daily_job, trigger

PARIS = ZoneInfo("Europe/Paris")
MONDAY_7 = dt.datetime(2026, 11, 30, 7, 0, tzinfo=PARIS)


def _ledger(session) -> None:
    """One customer, one invoice 40 days late on Monday 2026-11-30: the run plans a reminder."""
    from ledger.effects import ingest_and_apply
    from ledger.schemas import IngestBatch

    ingest_and_apply(today=dt.date.today(), session=session, batch=IngestBatch.model_validate({
        "customers": [{"customer_id": "S1", "name": "Sigma", "email": "compta@sigma.example"}],
        "invoices": [{"invoice_id": "S1-1", "customer_id": "S1", "issue_date": "2026-09-21",
                      "due_date": "2026-10-21", "amount": "1200.00"}]}), actor="test")
    session.commit()


def _runs(db) -> list[JobRun]:
    with Session(db) as session:
        return list(session.exec(select(JobRun)))


def test_the_trigger_fires_on_weekdays_at_seven_paris_time():
    fire = trigger(Settings())
    # after Friday's run, the next is Monday 07:00 Paris (06:00 UTC in winter)
    nxt = fire.get_next_fire_time(None, dt.datetime(2026, 11, 27, 7, 30, tzinfo=PARIS))
    assert nxt == dt.datetime(2026, 11, 30, 7, 0, tzinfo=PARIS)
    assert nxt.astimezone(dt.UTC).hour == 6
    # summer time: 07:00 Paris is 05:00 UTC
    summer = fire.get_next_fire_time(None, dt.datetime(2026, 6, 1, 6, 0, tzinfo=PARIS))
    assert summer.astimezone(dt.UTC) == dt.datetime(2026, 6, 1, 5, 0, tzinfo=dt.UTC)
    custom = trigger(Settings(RELANCE_DUNNING_TIME="06:30"))
    assert custom.get_next_fire_time(None, MONDAY_7).time() == dt.time(6, 30)


def test_build_scheduler_holds_one_coalescing_job(db):
    scheduler = build_scheduler(engine=db, settings=Settings())
    [job] = scheduler.get_jobs()
    assert job.id == JOB and job.coalesce and job.max_instances == 1
    assert str(job.trigger.timezone) == "Europe/Paris"


def test_the_job_plans_sends_and_records_its_report_once_a_day(db, session, monkeypatch):
    _ledger(session)
    outcome = daily_job(engine=db, now=MONDAY_7, send=False, owner="server-a")
    assert outcome.state == "done", outcome.detail
    assert outcome.report["created"] == 1 and outcome.report["run_date"] == "2026-11-30"
    [run] = _runs(db)
    assert (run.state, run.owner, run.run_date) == ("done", "server-a", dt.date(2026, 11, 30))
    assert run.report["created"] == 1 and run.finished_at is not None
    again = daily_job(engine=db, now=MONDAY_7 + dt.timedelta(hours=3), send=False, owner="server-a")
    assert again.state == "skipped" and len(_runs(db)) == 1


def test_weekends_and_holidays_are_skipped_without_a_trace(db, session):
    _ledger(session)
    for now in (dt.datetime(2026, 11, 28, 7, 0, tzinfo=PARIS), dt.datetime(2026, 12, 25, 7, 0, tzinfo=PARIS)):
        assert daily_job(engine=db, now=now, send=False).state == "skipped"
    assert _runs(db) == []


def test_the_local_date_decides_the_run_date(db, session):
    _ledger(session)
    # 23:30 UTC on Sunday is already Monday 00:30 in Paris
    late_sunday = dt.datetime(2026, 11, 29, 23, 30, tzinfo=dt.UTC)
    assert daily_job(engine=db, now=late_sunday, send=False).run_date == dt.date(2026, 11, 30)


def test_two_schedulers_on_one_database_run_the_day_once(db, session):
    """Two servers (two engines, two threads) fire at the same instant: one plans, one skips."""
    from ledger.db import make_engine

    _ledger(session)
    url = db.url.render_as_string(hide_password=False)
    schema = getattr(db, "url_schema", None)
    engines = [db, make_engine(url, schema=schema)]
    barrier = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def server(name: str, engine) -> None:
        barrier.wait()
        outcomes[name] = daily_job(engine=engine, now=MONDAY_7, send=False, owner=name).state

    threads = [threading.Thread(target=server, args=(f"server-{i}", e)) for i, e in enumerate(engines)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    engines[1].dispose()
    assert sorted(outcomes.values()) == ["done", "skipped"]
    [run] = _runs(db)
    assert run.owner == next(name for name, state in outcomes.items() if state == "done")
    with Session(db) as check:
        assert len(check.exec(select(DunningAction)).all()) == 1


def test_a_failed_run_is_recorded_and_can_be_retried(db, session, monkeypatch):
    _ledger(session)
    import serving.dunning

    def broken(**_kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(serving.dunning, "run_and_commit", broken)
    failed = daily_job(engine=db, now=MONDAY_7, send=False)
    assert failed.state == "failed" and "database went away" in failed.detail
    [run] = _runs(db)
    assert run.state == "failed" and "database went away" in run.error
    monkeypatch.undo()
    retried = daily_job(engine=db, now=MONDAY_7, send=False)
    assert retried.state == "done"
    [run] = _runs(db)
    assert run.state == "done" and run.error is None


def test_last_run_in_the_api(client, keys, db, session):
    nothing = client.get("/api/v1/dunning/runs/last", headers=keys["analyst"])
    assert nothing.status_code == 200 and nothing.json()["run"] is None
    _ledger(session)
    daily_job(engine=db, now=MONDAY_7, send=False)
    response = client.get("/api/v1/dunning/runs/last", headers=keys["agent"])
    assert response.status_code == 200
    body = response.json()
    assert body["run"]["run_date"] == "2026-11-30" and body["run"]["state"] == "done"
    assert body["run"]["report"]["created"] == 1 and "07:00 Europe/Paris" in body["schedule"]
    assert client.get("/api/v1/dunning/runs/last", headers=keys["billing"]).status_code == 403


def test_worker_once_runs_the_job(monkeypatch, tmp_path):
    from ledger.config import get_settings
    from ledger.db import get_engine
    from tests.ledger.test_cli import cli

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    get_settings.cache_clear(), get_engine.cache_clear()
    with Session(get_engine()) as session:
        session.add(Customer(customer_id="W1"))
        session.commit()
    get_settings.cache_clear(), get_engine.cache_clear()
    saturday = cli(monkeypatch, tmp_path, "worker", "--once", "--at", "2026-11-28T07:00")
    assert saturday.exit_code == 0 and "skipped" in saturday.output
    monday = cli(monkeypatch, tmp_path, "worker", "--once", "--at", "2026-11-30T07:00")
    assert monday.exit_code == 0 and "done" in monday.output, monday.output
    # like the API's scheduler, the worker stores the day's answers after the run
    with Session(get_engine()) as session:
        stored = session.get(StoredCustomerRisk, "W1")
    assert stored is not None and stored.as_of == dt.date(2026, 11, 30)
