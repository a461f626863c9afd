"""What a real run writes is exactly what it planned: on a fixed, varied ledger (several chunks,
currencies, languages, segments, risks, steps already done, invoices already seen late), the
action rows (every column, the reasons' stored JSON text included), the reminders and the events
(`action.planned` per action, `invoice.late` once per overdue invoice not seen late, in the order
written) equal those derived from the dry run's plan. The run's write path may change (bulk,
set-based SQL); these rows may not."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from decimal import Decimal

import pytest
from sqlalchemy import select, text
from sqlmodel import Session

import serving.dunning as dunning
from ledger.tables import Customer, DunningAction, Event, Invoice, Reminder
from serving.decisions import group_reminders
from serving.dunning import run_dunning
from serving.policy import Risk

RUN_DATE = dt.date(2024, 6, 12)  # a Wednesday
CURRENCIES = ("EUR", "EUR", "EUR", "CHF", "USD")


def _h(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=4).digest(), "big")


def _build(session: Session, customers: int = 240, per_customer: int = 7) -> None:
    now = dt.datetime(2024, 6, 1, tzinfo=dt.UTC)
    connection = session.connection()
    connection.execute(Customer.__table__.insert(), [{  # type: ignore[attr-defined]
        "customer_id": f"C{c:04d}", "name": f"Client {c}", "language": "en" if c % 4 == 1 else "fr",
        "currency": "EUR", "email": f"c{c}@example.com", "phone": "+33100000000" if c % 3 else None,
        "credit_balance": 0, "on_hold": c % 37 == 5, "created_at": now, "updated_at": now,
        "segment": "key_account" if c % 10 == 0 else None} for c in range(customers)])
    invoices, actions = [], []
    for c in range(customers):
        for k in range(per_customer):
            n = c * per_customer + k
            due = RUN_DATE + dt.timedelta(days=30 - _h(f"due{n}") % 120)
            amount = Decimal(200 + _h(f"amount{n}") % 30_000) + Decimal(_h(f"cents{n}") % 100) / 100
            settled = n % 11 == 0
            invoices.append({
                "invoice_id": f"I{n:06d}", "customer_id": f"C{c:04d}",
                "issue_date": due - dt.timedelta(days=30), "due_date": due, "amount": amount,
                "open_amount": 0 if settled else amount, "currency": CURRENCIES[c % len(CURRENCIES)],
                "kind": "invoice", "created_at": now, "updated_at": now,
                "settled_on": due + dt.timedelta(days=n % 23) if settled and due < RUN_DATE else None})
            if not settled and due < RUN_DATE - dt.timedelta(days=20) and n % 3 == 0:
                # a first reminder sent after the due date: the invoice was seen late already
                sent = due + dt.timedelta(days=8)
                actions.append({
                    "customer_id": f"C{c:04d}", "invoice_id": f"I{n:06d}", "run_date": sent,
                    "scenario": "standard", "step": "first_reminder", "action": "email",
                    "channel": "email", "tone": "neutral", "send_on": sent, "state": "sent",
                    "attempts": 1, "closed_on": sent, "created_at": now, "updated_at": now})
    connection.execute(Invoice.__table__.insert(), invoices)  # type: ignore[attr-defined]
    connection.execute(DunningAction.__table__.insert(), actions)  # type: ignore[attr-defined]
    session.commit()


def _risk_for(session: Session, invoice_ids: list[str], today: dt.date) -> dict[str, Risk]:
    risks = {}
    for invoice_id in invoice_ids:
        if _h(invoice_id) % 5 == 0:
            continue  # no answer for this one: rules alone
        p = (_h("p" + invoice_id) % 100) / 100
        risks[invoice_id] = Risk(p_late=p, p_severe=p / 2, expected_days_late=30 * p,
                                 grade="ABCDE"[min(4, int(p * 5))])
    return risks


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(dunning, "CHUNK_CUSTOMERS", 50)  # several chunks, as a large run has


def test_written_rows_equal_the_plan(session: Session, small_chunks):
    _build(session)
    planned = run_dunning(session=session, run_date=RUN_DATE, dry_run=True, actor="test",
                          today=RUN_DATE, risk_for=_risk_for)
    session.rollback()
    seen_late = set(session.execute(
        select(DunningAction.invoice_id).join(Invoice, Invoice.invoice_id == DunningAction.invoice_id)
        .where(DunningAction.send_on > Invoice.due_date)).scalars())
    report = run_dunning(session=session, run_date=RUN_DATE, dry_run=False, actor="test",
                         today=RUN_DATE, risk_for=_risk_for)
    session.commit()
    assert len(planned.actions) > 300 and report.created == len(planned.actions)
    assert report.actions == planned.actions

    # the actions: every column, in the plan's order, the reasons' JSON text as json.dumps writes it
    actions = list(session.execute(select(DunningAction).where(DunningAction.run_date == RUN_DATE)
                                   .order_by(DunningAction.id)).scalars())
    texts = dict(session.execute(text(
        "SELECT id, CAST(reasons AS TEXT) FROM dunningaction WHERE run_date = :day"),
        {"day": RUN_DATE}).all())
    rows = [(row, texts[row.id]) for row in actions]
    assert len(rows) == len(planned.actions)
    for (row, reasons_text), action in zip(rows, planned.actions, strict=True):
        assert (row.customer_id, row.invoice_id, row.reminder_id, row.scenario, row.step,
                row.action, row.channel, row.tone, row.template, row.send_on, row.state,
                row.attempts, row.created_by, row.propensity, row.last_error, row.sent_at,
                row.closed_on, row.approved_by, row.outcome) == (
            action.customer_id, action.invoice_id, action.reminder_id, action.scenario,
            action.step, action.channel, action.channel, action.tone, action.template,
            action.send_on, action.state, 0, "test", action.propensity, None, None, None, None,
            None)
        assert row.reasons == list(action.reasons)
        assert json.loads(reasons_text) == list(action.reasons)
        # stored as UTF-8 JSON text (`ensure_ascii=False`: "é", not "\\u00e9"): the same value,
        # so every sentence shown (API, workbench, letters) is the same text
        assert reasons_text == json.dumps(list(action.reasons), ensure_ascii=False)
        assert row.created_at is not None and row.updated_at is not None
    ids = {(row.invoice_id, row.step): row.id for row, _ in rows}

    # the reminders: one per customer and channel, as group_reminders consolidates the plan
    languages = dict(session.execute(select(Customer.customer_id, Customer.language)).all())
    expected_reminders = {}
    for customer_id in dict.fromkeys(a.customer_id for a in planned.actions):
        mine = [a for a in planned.actions if a.customer_id == customer_id]
        for reminder in group_reminders(mine, language=languages[customer_id]):
            expected_reminders[reminder.reminder_id] = (
                reminder.customer_id, RUN_DATE, reminder.send_on, reminder.channel, reminder.tone,
                reminder.template, reminder.language, reminder.claim_penalties)
    written = {r.reminder_id: (r.customer_id, r.run_date, r.send_on, r.channel, r.tone, r.template,
                               r.language, r.claim_penalties)
               for r in session.execute(select(Reminder).where(Reminder.run_date == RUN_DATE)).scalars()}
    assert written == expected_reminders and len(written) == report.reminders

    # the events, in the order written: per chunk, action.planned per action, then invoice.late
    due_dates = dict(session.execute(select(Invoice.invoice_id, Invoice.due_date)).all())
    expected_events = []
    with_open = sorted(set(session.execute(select(Invoice.customer_id).where(
        Invoice.kind == "invoice", Invoice.settled_on.is_(None))).scalars()))
    for chunk in _chunks(planned.actions, with_open):
        expected_events += [("action.planned", str(ids[(a.invoice_id, a.step)]), {
            "invoice_id": a.invoice_id, "customer_id": a.customer_id, "step": a.step,
            "channel": a.channel, "tone": a.tone, "send_on": a.send_on.isoformat(),
            "reminder_id": a.reminder_id}) for a in chunk]
        expected_events += [("invoice.late", a.invoice_id, {
            "customer_id": a.customer_id, "due_date": due_dates[a.invoice_id].isoformat(),
            "seen_on": RUN_DATE.isoformat()}) for a in chunk
            if due_dates[a.invoice_id] < RUN_DATE and a.invoice_id not in seen_late]
    events = [(e.type, e.entity_id, e.payload) for e in session.execute(
        select(Event).where(Event.type.in_(("action.planned", "invoice.late"))).order_by(Event.id)).scalars()]
    assert events == expected_events
    assert any(t == "invoice.late" for t, _, _ in events)
    assert any(e[2].get("step") == "first_reminder" for e in events if e[0] == "action.planned")


def _chunks(actions, customers: list[str]):
    """The plan split as the run writes it: by ranges of 50 customers with open invoices."""
    chunk_of = {c: i // 50 for i, c in enumerate(customers)}
    out: dict[int, list] = {}
    for a in actions:
        out.setdefault(chunk_of[a.customer_id], []).append(a)
    return [out[k] for k in sorted(out)]


def test_copy_text_of_shared_values_escapes_each_as_alone():
    """COPY text of a column whose values repeat (a run's reasons texts): each distinct value is
    escaped once and reused; the column equals escaping every value on its own."""
    from ledger.bulk import _copy_column, _copy_text

    shared = ['{"fr": "ligne\\tavec \\\\ et \\n"}', "sans rien", 'tab\tnew\nline\\', "é « »"]
    values = [shared[n % 4] if n % 7 else None for n in range(60)]
    assert _copy_column(values) == ["\\N" if v is None else _copy_text(v) for v in values]
    assert _copy_text("a\tb\\c\nd") == "a\\tb\\\\c\\nd"
