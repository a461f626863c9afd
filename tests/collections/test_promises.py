"""Promises to pay: pausing dunning until the date, kept/broken from really ingested payments,
the frame features read."""
from __future__ import annotations

import datetime as dt

from sqlmodel import Session, select

from ledger.frames import PROMISE_COLUMNS
from ledger.pauses import paused_invoice_ids
from ledger.promise_views import promise_frame
from ledger.promises import PROMISE_GRACE_DAYS, evaluate_promises
from ledger.tables import Event
from tests.collections.conftest import API, invoice, payment
from tests.conftest import give_portfolio

# ingestion re-evaluates promises as of the real date: the scenario is set around it
START = dt.date.today()
PROMISED = START + dt.timedelta(days=10)
DEADLINE = PROMISED + dt.timedelta(days=PROMISE_GRACE_DAYS)


def day(offset: int) -> str:
    return (START + dt.timedelta(days=offset)).isoformat()


BATCH = {
    "customers": [{"customer_id": "P"}, {"customer_id": "Q"}],
    "invoices": [invoice("P1", "P", day(-40), day(-9), "1000.00"),
                 invoice("P2", "P", day(-39), day(-8), "300.00"),
                 invoice("Q1", "Q", day(-40), day(-9), "500.00")],
}


def pay(client, keys, *payments):
    response = client.post(f"{API}/ingest", json={"payments": list(payments)}, headers=keys["billing"])
    assert response.status_code == 200, response.text


def promise(client, keys, **body):
    response = client.post(f"{API}/promises", json=body, headers=keys["agent"])
    assert response.status_code == 201, response.text
    return response.json()


def evaluate(client, keys, app, today):
    app.state.today = today
    response = client.post(f"{API}/promises/evaluate", headers=keys["agent"])
    assert response.status_code == 200, response.text
    return response.json()


def test_promise_pauses_its_invoices_until_the_date(client, keys, app, db):
    app.state.today = START
    client.post(f"{API}/ingest", json=BATCH, headers=keys["billing"])
    give_portfolio(app.state.engine)
    named = promise(client, keys, customer_id="P", amount="300.00", promised_date=day(10),
                    invoice_ids=["P2"])
    everything = promise(client, keys, customer_id="Q", amount="500.00", promised_date=day(15))
    assert named["invoice_ids"] == ["P2"] and named["status"] == "open"
    assert everything["invoice_ids"] == ["Q1"]  # none named: every open invoice of the customer
    with Session(db) as session:
        assert paused_invoice_ids(session=session, today=START) == {"P2", "Q1"}
        assert paused_invoice_ids(session=session, today=PROMISED) == {"P2", "Q1"}
        assert paused_invoice_ids(session=session, today=PROMISED + dt.timedelta(days=1)) == {"Q1"}
    cancelled = client.patch(f"{API}/promises/{everything['promise_id']}", json={"status": "cancelled"},
                             headers=keys["agent"])
    assert cancelled.json()["status"] == "cancelled"
    with Session(db) as session:
        assert paused_invoice_ids(session=session, today=START) == {"P2"}
    again = client.patch(f"{API}/promises/{everything['promise_id']}", json={"promised_date": day(21)},
                         headers=keys["agent"])
    assert again.status_code == 409 and "already cancelled" in again.json()["detail"]


def test_invalid_promises_are_422(client, keys, app):
    app.state.today = START
    client.post(f"{API}/ingest", json=BATCH, headers=keys["billing"])
    give_portfolio(app.state.engine)
    past = client.post(f"{API}/promises", json={"customer_id": "P", "amount": "1", "promised_date": day(-9)},
                       headers=keys["agent"])
    assert past.status_code == 422 and past.json()["errors"][0]["field"] == "promised_date"
    foreign = client.post(f"{API}/promises", json={"customer_id": "P", "amount": "1", "promised_date": day(10),
                                                   "invoice_ids": ["Q1"]}, headers=keys["agent"])
    assert foreign.status_code == 422 and foreign.json()["errors"][0]["field"] == "invoice_ids[0]"
    nobody = client.post(f"{API}/promises", json={"customer_id": "Z", "amount": "1", "promised_date": day(10)},
                         headers=keys["agent"])
    assert nobody.status_code == 404


def test_kept_and_broken_from_ingested_payments(client, keys, app, db):
    app.state.today = START
    client.post(f"{API}/ingest", json=BATCH | {"payments": [payment("OLD", "P", day(-5), "900.00")]},
                headers=keys["billing"])
    give_portfolio(app.state.engine)
    for promise_id, customer_id, amount in (("PR-P", "P", "1000.00"), ("PR-Q", "Q", "500.00")):
        created = promise(client, keys, promise_id=promise_id, customer_id=customer_id, amount=amount,
                          promised_date=day(10))
        assert created["status"] == "open", created

    # a payment before the promise does not count towards it; a part payment does not keep it yet
    pay(client, keys, payment("P-a", "P", day(5), "600.00"), payment("Q-a", "Q", day(5), "100.00"))
    assert evaluate(client, keys, app, START + dt.timedelta(days=6)) == {"kept": [], "broken": [], "still_open": 2}
    # within the grace days after the promised date, the rest arrives for P only
    pay(client, keys, payment("P-b", "P", day(12), "400.00"))
    assert evaluate(client, keys, app, DEADLINE) == {"kept": ["PR-P"], "broken": [], "still_open": 1}
    assert evaluate(client, keys, app, DEADLINE + dt.timedelta(days=1)) == {"kept": [], "broken": ["PR-Q"], "still_open": 0}

    shown = {p["promise_id"]: p for p in client.get(f"{API}/promises", headers=keys["analyst"]).json()}
    assert shown["PR-P"]["status"] == "kept" and shown["PR-P"]["closed_on"] == day(12)
    assert shown["PR-P"]["paid_so_far"] == "1000.00"
    assert shown["PR-Q"]["status"] == "broken" and shown["PR-Q"]["closed_on"] == day(14)
    with Session(db) as session:
        events = session.exec(select(Event).where(Event.type == "promise.broken")).all()
        assert [e.entity_id for e in events] == ["PR-Q"]
        # evaluation is idempotent: nothing open is left to close
        assert evaluate_promises(session, None, DEADLINE + dt.timedelta(days=30)).still_open == 0
        frame = promise_frame(session)
    assert list(frame.columns) == PROMISE_COLUMNS
    assert set(zip(frame["promise_id"], frame["invoice_id"], frame["status"])) == {
        ("PR-P", "P1", "kept"), ("PR-P", "P2", "kept"), ("PR-Q", "Q1", "broken")}
    assert str(frame["promised_date"].dtype).startswith("datetime64")
    assert frame.loc[frame["promise_id"] == "PR-Q", "amount"].iloc[0] == 500.0


def test_evaluate_only_the_customers_named(client, keys, app, db):
    app.state.today = START
    client.post(f"{API}/ingest", json=BATCH, headers=keys["billing"])
    give_portfolio(app.state.engine)
    promise(client, keys, promise_id="PR-P", customer_id="P", amount="10.00", promised_date=day(10))
    promise(client, keys, promise_id="PR-Q", customer_id="Q", amount="10.00", promised_date=day(10))
    with Session(db) as session:
        result = evaluate_promises(session, ["Q"], START + dt.timedelta(days=21))
        session.commit()
    assert result.broken == ["PR-Q"] and result.still_open == 0
    statuses = {p["promise_id"]: p["status"] for p in client.get(f"{API}/promises", headers=keys["agent"]).json()}
    assert statuses == {"PR-P": "open", "PR-Q": "broken"}
