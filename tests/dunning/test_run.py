"""The daily run on a hand-built ledger: expected actions, idempotency, dry run, cancellation."""
from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from ledger import actions as dunning_actions
from ledger import reminders as dunning_reminders
from ledger import run_facts
from ledger.effects import ingest_and_apply
from ledger.errors import LedgerValidationError
from ledger.schemas import IngestBatch
from ledger.tables import AuditLog, DunningAction, Event
from serving.dunning import run_and_commit, run_dunning
from tests.dunning.ledger_fixture import EXPECTED, RUN_DATE, build_ledger


def _run(session: Session, *, dry_run: bool = False, on: dt.date = RUN_DATE):
    report = run_dunning(session=session, run_date=on, dry_run=dry_run, actor="test", today=on)
    if not dry_run:
        session.commit()
    return report


def _planned(session: Session) -> list[DunningAction]:
    return list(session.execute(select(DunningAction).where(DunningAction.run_date == RUN_DATE)
                                .order_by(DunningAction.invoice_id)).scalars())


def _keys(actions) -> set[tuple]:
    return {(a.invoice_id, a.step, a.channel, a.tone, a.send_on, a.reminder_id) for a in actions}


def test_run_plans_the_expected_actions(session):
    build_ledger(session)
    report = _run(session)
    actions = _planned(session)
    assert {(a.invoice_id, a.step, a.channel) for a in actions} == EXPECTED
    by_invoice = {a.invoice_id: a for a in actions}
    # pre-due reminder is courteous, the overdue one neutral, both in ONE reminder to C1
    assert by_invoice["I1"].tone == "courteous" and by_invoice["I2"].tone == "neutral"
    assert by_invoice["I1"].reminder_id == by_invoice["I2"].reminder_id
    assert len({a.reminder_id for a in actions}) == 3 == report.reminders
    reminder = dunning_reminders.get_reminder(session, by_invoice["I1"].reminder_id)
    assert (reminder.customer_id, reminder.channel, reminder.tone) == ("C1", "email", "neutral")
    assert all(a.state == "planned" and a.send_on == RUN_DATE for a in actions)
    events = session.execute(select(Event.type, Event.entity_id)).all()
    assert sum(1 for t, _ in events if t == "action.planned") == 4
    # I7 was already contacted after its due date: `invoice.late` only for I2 and I4
    assert {e for t, e in events if t == "invoice.late"} == {"I2", "I4"}
    assert session.execute(select(func.count()).select_from(AuditLog)
                           .where(AuditLog.action == "dunning.run")).scalar_one() == 1


def test_same_date_twice_plans_nothing_more(session):
    build_ledger(session)
    first = _run(session)
    second = _run(session)
    assert first.created == 4 and second.created == 0 and second.actions == []
    assert len(_planned(session)) == 4


def test_unique_key_refuses_a_duplicate_even_without_the_code(session):
    build_ledger(session)
    _run(session)
    row = {"customer_id": "C1", "invoice_id": "I1", "step": "pre_due_email", "action": "email",
           "channel": "email", "send_on": RUN_DATE, "state": "planned", "attempts": 0}
    assert dunning_actions.insert_actions(session, [row]) == []


def test_dry_run_writes_nothing_and_equals_the_real_run(session):
    build_ledger(session)
    dry = _run(session, dry_run=True)
    session.rollback()
    assert _planned(session) == []
    assert session.execute(select(func.count()).select_from(Event)).scalar_one() == 0
    real = _run(session)
    assert _keys(dry.actions) == _keys(_planned(session)) == _keys(real.actions)


def test_two_concurrent_runs_never_plan_an_action_twice(db):
    with Session(db) as session:
        build_ledger(session)
    barrier = threading.Barrier(2)
    reports, errors = [], []

    def worker() -> None:
        try:
            barrier.wait()
            reports.append(run_and_commit(engine=db, run_date=RUN_DATE, dry_run=False,
                                          actor="thread", today=RUN_DATE))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(r.created for r in reports) == [0, 4]
    with Session(db) as session:
        assert len(_planned(session)) == 4
        assert session.execute(select(func.count()).select_from(Event)
                               .where(Event.type == "action.planned")).scalar_one() == 4


def test_payment_after_planning_cancels_pending_actions(session):
    build_ledger(session)
    _run(session)
    ingest_and_apply(today=dt.date.today(), session=session, batch=IngestBatch.model_validate({"payments": [
        {"payment_id": "P4", "customer_id": "C2", "invoice_id": "I4",
         "paid_on": RUN_DATE.isoformat(), "amount": "5000.00"}]}), actor="test")
    session.commit()
    # the ingestion itself cancels what was planned for the invoice just paid
    states = {a.invoice_id: a.state for a in _planned(session)}
    assert states["I4"] == "cancelled" and states["I1"] == "planned"
    report = _run(session, on=RUN_DATE + dt.timedelta(days=1))
    assert report.cancelled == 0  # nothing left for the run to cancel
    states = {a.invoice_id: a.state for a in _planned(session)}
    assert states["I4"] == "cancelled" and states["I1"] == "planned"
    audit = session.execute(select(AuditLog).where(AuditLog.action == "action.cancelled")).scalars().all()
    assert len(audit) == 1 and audit[0].before["state"] == "planned"


def test_cancel_pending_skips_sent_actions(session):
    build_ledger(session)
    _run(session)
    # I7's first reminder was sent before: history stays; its planned call is cancelled
    assert dunning_actions.cancel_pending_for_invoices(session, ["I7"], "dispute opened", "test") == 1
    session.commit()
    states = sorted(a.state for a in session.execute(
        select(DunningAction).where(DunningAction.invoice_id == "I7")).scalars())
    assert states == ["cancelled", "sent"]


def test_a_run_date_far_in_the_future_is_refused(session):
    with pytest.raises(LedgerValidationError) as caught:
        run_dunning(session=session, run_date=RUN_DATE + dt.timedelta(days=30), dry_run=True,
                    actor="test", today=RUN_DATE)
    assert caught.value.errors[0].field == "date"


def test_deteriorating_payer_is_detected_from_settled_history(session):
    build_ledger(session)
    invoices, payments = [], []
    # three early invoices paid on time, then three paid 20 days late
    for n, late in enumerate([0, 0, 0, 20, 20, 20]):
        due = dt.date(2024, 1, 10) + dt.timedelta(days=20 * n)
        invoices.append({"invoice_id": f"H{n}", "customer_id": "C2", "issue_date": (due - dt.timedelta(days=30)).isoformat(),
                         "due_date": due.isoformat(), "amount": "100.00"})
        payments.append({"payment_id": f"HP{n}", "customer_id": "C2", "invoice_id": f"H{n}",
                         "paid_on": (due + dt.timedelta(days=late)).isoformat(), "amount": "100.00"})
    ingest_and_apply(today=dt.date.today(), session=session, batch=IngestBatch.model_validate({"invoices": invoices, "payments": payments}),
           actor="test")
    session.commit()
    facts = run_facts.load_chunk(session, lo="C1", hi="C2", run_date=RUN_DATE)
    assert facts.customers["C2"].deteriorating is True
    assert facts.customers["C2"].previously_late_count == 3
    assert facts.customers["C1"].deteriorating is False


def test_active_promise_without_invoice_link_covers_the_customer(session):
    from ledger.tables import Promise

    build_ledger(session)
    session.add(Promise(promise_id="PR2", customer_id="C2", amount=Decimal("5000"),
                        promised_date=RUN_DATE + dt.timedelta(days=3), created_on=RUN_DATE))
    session.commit()
    _run(session)
    assert "I4" not in {a.invoice_id for a in _planned(session)}


def test_a_dispute_over_several_invoices_pauses_each_of_them(session):
    from ledger.disputes import DisputeCreate, open_dispute

    build_ledger(session)
    # C1's two open invoices: one dispute names both
    open_dispute(session=session, data=DisputeCreate.model_validate(
        {"invoices": [{"invoice_id": "I2"}, {"invoice_id": "I1"}], "reason": "quality"}),
        actor="test", today=RUN_DATE)
    session.commit()
    report = _run(session)
    assert not {a.invoice_id for a in report.actions} & {"I1", "I2"}
