"""Dunning effectiveness kept per closed month (`dunningsnapshot`, migration 0028) is only ever the
fresh computation's answer: after random ingests (payments that settle invoices, back-dated ones),
reminders inserted, sent, moved and deleted, and segment changes, the report read through the kept
months equals the report computed fresh, for several dates, windows and segments (both backends);
and the triggers forget exactly the months a write can change."""
from __future__ import annotations

import datetime as dt
import random

import pytest
from sqlalchemy import text
from sqlmodel import Session

from ledger import kpis, snapshots
from tests.reports.test_snapshots import _ingest, _random_batch

STATES = ["sent", "posted", "delivered", "planned", "cancelled"]


def _fresh(monkeypatch, compute):
    with monkeypatch.context() as patch:
        patch.setattr(snapshots, "usable", lambda session: False)
        return compute()


def _kept_months(engine, scope: str = "*") -> set[dt.date]:
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT month_end FROM dunningsnapshot WHERE scope = :s AND currency = ''"),
                                  {"s": scope}).all()
    return {snapshots._date(r[0]) for r in rows}


def _day(engine, name: str) -> str:
    """A date parameter: PostgreSQL casts the ISO text, SQLite keeps it (its dates are ISO text)."""
    return f"CAST(:{name} AS DATE)" if engine.dialect.name == "postgresql" else f":{name}"


def _insert_action(engine, connection, **row) -> None:
    connection.execute(text(
        "INSERT INTO dunningaction (customer_id, invoice_id, step, action, channel, tone, send_on, state, "
        f"attempts, created_at, updated_at) VALUES (:c, :i, :step, :channel, :channel, :tone, {_day(engine, 'send_on')}, "
        ":state, 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"), row)


def _add_actions(engine, rng: random.Random, invoices: list, round_: int) -> None:
    rows = []
    for invoice_id, customer, _, issue in rng.sample(invoices, min(len(invoices), 10)):
        for step in rng.sample(["reminder1", "reminder2", "call"], rng.randint(1, 2)):
            rows.append({"c": customer, "i": invoice_id, "step": f"{step}-{round_}",
                         "channel": "call" if step == "call" else "email",
                         "tone": rng.choice(["firm", "courteous", None]),
                         "send_on": (issue + dt.timedelta(days=rng.randint(0, 150))).isoformat(),
                         "state": rng.choice(STATES)})
    with engine.begin() as connection:
        for row in rows:
            _insert_action(engine, connection, **row)


def _change_actions(engine, rng: random.Random) -> None:
    with engine.begin() as connection:
        ids = [r[0] for r in connection.execute(text("SELECT id FROM dunningaction ORDER BY id"))]
        for action_id in rng.sample(ids, min(len(ids), 3)):
            what = rng.choice(["state", "send_on", "delete", "tone"])
            if what == "state":
                connection.execute(text("UPDATE dunningaction SET state = :s WHERE id = :id"),
                                   {"s": rng.choice(STATES), "id": action_id})
            elif what == "send_on":
                day = dt.date(2025, 1, 1) + dt.timedelta(days=rng.randint(0, 400))
                connection.execute(text(f"UPDATE dunningaction SET send_on = {_day(engine, 'd')} WHERE id = :id"),
                                   {"d": day.isoformat(), "id": action_id})
            elif what == "tone":
                connection.execute(text("UPDATE dunningaction SET tone = 'legal' WHERE id = :id"), {"id": action_id})
            else:
                connection.execute(text("DELETE FROM dunningaction WHERE id = :id"), {"id": action_id})
        if rng.random() < 0.3:
            connection.execute(text("UPDATE customer SET segment = :s WHERE customer_id = 'C4'"),
                               {"s": rng.choice(["pme", None])})


@pytest.mark.parametrize("seed", [7, 8])
def test_after_random_writes_the_kept_months_equal_a_fresh_computation(db, monkeypatch, seed):
    rng = random.Random(seed)
    invoices: list = []
    for round_ in range(8):
        _ingest(db, _random_batch(rng, round_, invoices))
        _add_actions(db, rng, invoices, round_)
        if round_:
            _change_actions(db, rng)
        for as_of in [dt.date(2025, 4, 1) + dt.timedelta(days=rng.randint(0, 330)) for _ in range(3)]:
            for segment in (None, "pme"):
                for days in (365, 200):
                    def report(as_of=as_of, segment=segment, days=days):
                        with Session(db) as session:
                            return kpis.dunning_effectiveness(session=session, as_of=as_of, segment=segment,
                                                              days=days)
                    fresh = _fresh(monkeypatch, report)
                    assert report() == fresh, (seed, round_, as_of, segment, days)
                    assert report() == fresh, (seed, round_, as_of, segment, days)  # read back
    assert _kept_months(db) and _kept_months(db, "segment:pme")


def test_the_triggers_forget_the_months_a_write_can_change(db):
    """Kept months Jan–Jun 2025; a reminder sent in April forgets April on; an invoice settled on
    May 20 forgets the months ending on or after April 20 (reminders of the 30 days before)."""
    _ingest(db, {
        "customers": [{"customer_id": "A1", "name": "A"}],
        "invoices": [{"invoice_id": f"F{m}", "customer_id": "A1", "issue_date": f"2025-{m:02d}-01",
                      "due_date": f"2025-{m:02d}-15", "amount": "100"} for m in range(1, 7)]})
    with db.begin() as connection:
        _insert_action(db, connection, c="A1", i="F1", step="reminder1", channel="email", tone="firm",
                       send_on="2025-01-20", state="sent")
    months = [dt.date(2025, m + 1, 1) - dt.timedelta(days=1) for m in range(1, 7)]

    def fill():
        with Session(db) as session:
            kpis.dunning_effectiveness(session=session, as_of=dt.date(2025, 12, 31))

    fill()
    assert set(months) <= _kept_months(db)
    with db.begin() as connection:
        _insert_action(db, connection, c="A1", i="F4", step="reminder1", channel="email", tone="firm",
                       send_on="2025-04-20", state="sent")
    assert set(months) & _kept_months(db) == set(months[:3])  # Jan–Mar kept, Apr on forgotten
    fill()
    _ingest(db, {"payments": [{"payment_id": "P5", "customer_id": "A1", "paid_on": "2025-05-20",
                               "amount": "100", "invoice_id": "F5"}]})
    assert set(months) & _kept_months(db) == set(months[:3])  # ends ≥ 04-20: Apr on forgotten
    fill()
    with db.begin() as connection:  # a planned reminder changes nothing that is counted
        connection.execute(text("UPDATE dunningaction SET state = 'planned' WHERE invoice_id = 'F4'"))
    assert set(months) & _kept_months(db) == set(months[:3])
    fill()
    with db.begin() as connection:
        connection.execute(text("UPDATE dunningaction SET tone = 'courteous' WHERE invoice_id = 'F4'"))
    assert set(months) <= _kept_months(db)  # F4's reminder is planned now: not counted, kept
