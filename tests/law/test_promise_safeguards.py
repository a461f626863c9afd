"""Promises with safeguards, on a hand-built ledger: coverage oldest first, the horizon limit,
instalment plans kept or broken from ingested payments, and dunning resuming at once.

Customer P owes three invoices, as of T0 (today: ingestion evaluates promises as of the real
date, so the scenario is set around it): P1 1,000 € due T0−60, P2 800 € due T0−30, P3 600 € due
T0−10.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from ledger.effects import ingest_and_apply
from ledger.errors import LedgerValidationError
from ledger.promises import PromiseCreate, covered_invoices, create_promise, evaluate_promises
from ledger.run_facts import load_chunk
from ledger.schemas import IngestBatch
from tests.collections.conftest import API, invoice, payment

T0 = dt.date.today()


def day(offset: int) -> dt.date:
    return T0 + dt.timedelta(days=offset)


LEDGER = {
    "customers": [{"customer_id": "P", "name": "Pi SARL"}],
    "invoices": [invoice("P1", "P", day(-90).isoformat(), day(-60).isoformat(), "1000.00"),
                 invoice("P2", "P", day(-60).isoformat(), day(-30).isoformat(), "800.00"),
                 invoice("P3", "P", day(-40).isoformat(), day(-10).isoformat(), "600.00")],
}


@pytest.fixture
def ledger_p(session):
    ingest_and_apply(today=dt.date.today(), session=session, batch=IngestBatch.model_validate(LEDGER), actor="test")
    session.commit()
    return session


def _promise(session, **body):
    promise = create_promise(session=session, data=PromiseCreate.model_validate({"customer_id": "P", **body}),
                             actor="test", today=T0)
    session.commit()
    return promise


def _paused(session, on: dt.date) -> dict[str, dt.date | None]:
    facts = load_chunk(session, lo="P", hi="P", run_date=on)
    return {i.invoice_id: i.active_promise_until for i in facts.invoices if i.active_promise_until}


def test_covered_invoices_oldest_first_stopping_at_the_first_not_covered():
    rows = [("P3", dt.date(2025, 5, 23), Decimal("600")), ("P1", dt.date(2025, 4, 3), Decimal("1000")),
            ("P2", dt.date(2025, 5, 3), Decimal("800"))]
    assert covered_invoices(rows, Decimal("1")) == []
    assert covered_invoices(rows, Decimal("1500")) == ["P1"]  # P2 only part-covered: still chased
    assert covered_invoices(rows, Decimal("1800")) == ["P1", "P2"]
    assert covered_invoices(rows, Decimal("99999")) == ["P1", "P2", "P3"]


def test_a_promise_pauses_only_what_its_amount_covers(ledger_p):
    small = _promise(ledger_p, amount="1.00", promised_date=day(30).isoformat())
    assert _paused(ledger_p, T0) == {}  # recorded, evaluated later, pausing nothing
    assert small.status == "open"
    _promise(ledger_p, amount="1500.00", promised_date=day(10).isoformat())
    assert _paused(ledger_p, T0) == {"P1": day(10)}
    # named invoices: coverage among them, oldest first
    _promise(ledger_p, amount="1400.00", promised_date=day(12).isoformat(), invoice_ids=["P3", "P2"])
    assert _paused(ledger_p, T0) == {"P1": day(10), "P2": day(12), "P3": day(12)}


def test_a_promise_beyond_the_horizon_is_refused(ledger_p):
    with pytest.raises(LedgerValidationError) as caught:
        _promise(ledger_p, amount="1000.00", promised_date=day(61).isoformat())
    assert caught.value.errors[0].field == "promised_date" and "60 days" in caught.value.errors[0].message
    with pytest.raises(LedgerValidationError) as caught:
        _promise(ledger_p, instalments=[{"due_on": day(30).isoformat(), "amount": "500"},
                                        {"due_on": day(90).isoformat(), "amount": "500"}])
    assert caught.value.errors[0].field == "instalments[1].due_on"
    assert _promise(ledger_p, amount="1000.00", promised_date=day(60).isoformat()).status == "open"


def test_an_instalment_plan_kept_then_broken_resumes_dunning_at_once(ledger_p):
    """1,800 € in three instalments (600 on T0+10, T0+20, T0+30) cover P1 and P2 (oldest first).
    600 paid on T0+9 keeps the first; nothing by T0+23 (20 + 3 grace days) breaks the second on
    T0+24, which cancels the third and breaks the promise: P1 and P2 are chased again that day."""
    plan = _promise(ledger_p, instalments=[{"due_on": day(d).isoformat(), "amount": "600.00"}
                                           for d in (10, 20, 30)])
    assert (plan.amount, plan.promised_date) == (Decimal("1800.00"), day(30))
    assert _paused(ledger_p, T0) == {"P1": day(30), "P2": day(30)}
    ingest_and_apply(today=dt.date.today(), session=ledger_p, batch=IngestBatch.model_validate(
        {"payments": [payment("PAY1", "P", day(9).isoformat(), "600.00")]}), actor="test")
    result = evaluate_promises(ledger_p, None, day(14))
    assert result.still_open == 1
    from ledger.promises import instalments_of

    states = [(i.status, i.closed_on) for i in instalments_of(ledger_p, [plan.promise_id])[plan.promise_id]]
    assert states == [("kept", day(9)), ("open", None), ("open", None)]
    # on T0+23 the second instalment is still within its grace days: still paused
    assert _paused(ledger_p, day(23)) == {"P1": day(30), "P2": day(30)}
    # on T0+24, before anyone evaluates, the lapsed instalment already resumes dunning
    assert _paused(ledger_p, day(24)) == {}
    assert load_chunk(ledger_p, lo="P", hi="P", run_date=day(24)).invoices[0].broken_promise
    result = evaluate_promises(ledger_p, None, day(24))
    assert result.broken == [plan.promise_id]
    states = [(i.status, i.closed_on) for i in instalments_of(ledger_p, [plan.promise_id])[plan.promise_id]]
    assert states == [("kept", day(9)), ("broken", day(24)), ("cancelled", day(24))]


def test_a_plan_whose_every_instalment_is_paid_is_kept(ledger_p):
    plan = _promise(ledger_p, instalments=[{"due_on": day(5).isoformat(), "amount": "500.00"},
                                           {"due_on": day(15).isoformat(), "amount": "500.00"}])
    ingest_and_apply(today=dt.date.today(), session=ledger_p, batch=IngestBatch.model_validate({"payments": [
        payment("A", "P", day(4).isoformat(), "300.00"), payment("B", "P", day(7).isoformat(), "200.00"),
        payment("C", "P", day(16).isoformat(), "500.00")]}), actor="test")
    # 300 + 200 reach 500 on T0+7 (within the 3 grace days after T0+5); 1,000 on T0+16
    result = evaluate_promises(ledger_p, None, day(16))
    assert result.kept == [plan.promise_id]
    ledger_p.refresh(plan)
    assert (plan.status, plan.closed_on) == ("kept", day(16))


def test_promises_api_accepts_instalments_and_refuses_inconsistent_plans(client, keys, app, db):
    from tests.conftest import give_portfolio

    app.state.today = T0
    client.post(f"{API}/ingest", json=LEDGER, headers=keys["billing"])
    give_portfolio(db)  # the agent records the promise: the customer must be theirs
    body = {"customer_id": "P", "instalments": [{"due_on": day(10).isoformat(), "amount": "1000"},
                                                {"due_on": day(40).isoformat(), "amount": "800"}]}
    created = client.post(f"{API}/promises", json=body, headers=keys["agent"])
    assert created.status_code == 201, created.text
    shown = created.json()
    assert shown["invoice_ids"] == ["P1", "P2"] and shown["amount"] == "1800.00"
    assert [(i["seq"], i["due_on"], i["status"]) for i in shown["instalments"]] == [
        (1, day(10).isoformat(), "open"), (2, day(40).isoformat(), "open")]
    for bad, where in (
        ({"customer_id": "P", "instalments": [{"due_on": day(5).isoformat(), "amount": "1"},
                                              {"due_on": day(5).isoformat(), "amount": "2"}]}, "same date"),
        ({"customer_id": "P", "amount": "5", "instalments": [{"due_on": day(5).isoformat(), "amount": "1"}]}, "differs"),
        ({"customer_id": "P", "amount": "5"}, "instalments"),
        ({"customer_id": "P", "amount": "5", "promised_date": day(75).isoformat()}, "60 days"),
    ):
        response = client.post(f"{API}/promises", json=bad, headers=keys["agent"])
        assert response.status_code == 422, (bad, response.text)
        assert where in response.text
    moved = client.patch(f"{API}/promises/{shown['promise_id']}", json={"promised_date": day(20).isoformat()},
                         headers=keys["agent"])
    assert moved.status_code == 409  # an instalment plan is not moved by its last date
