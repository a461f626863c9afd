"""One decision path: on random ledgers, next-action for every open invoice says exactly what the
dry run plans for it — the same step, channel, tone, template and date, and the same consolidated
reminder (id, channel, tone, template, its invoices) — and nothing due when the run plans nothing.

The ledgers mix what changes a decision: scenarios (shipped, via the segment table, an unknown
name), customer statuses (consumer, public buyer, on hold, insolvency), partial and full payments,
disputes, promises (open, broken, lapsed), earlier actions in every state (including planned
actions on invoices since paid or disputed, which the run cancels first and next-action must read
as cancelled), last contacts, and a risk provider (deterministic per invoice, or failing).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import random
from decimal import Decimal

import pytest
from sqlmodel import Session, select

from ledger.effects import ingest_and_apply
from ledger.schemas import IngestBatch
from ledger.tables import DunningAction, Invoice, Promise, PromiseInvoice
from serving.decisions import next_action
from serving.dunning import run_dunning
from serving.policy import Risk

RUN_DATE = dt.date(2024, 6, 12)  # a Wednesday
SCENARIO_NAMES = [None, None, "standard", "gentle", "strict", "key_account"]
STATES = ["sent", "planned", "pending_approval", "rendered", "posted", "delivered", "failed",
          "cancelled"]
STEPS = ["pre_due_email", "first_reminder", "call", "letter", "formal_notice", "courtesy_email"]


def _risk(session, invoice_ids, today):
    """Deterministic per invoice (a model's answer does not depend on the other invoices asked)."""
    out = {}
    for invoice_id in invoice_ids:
        h = int(hashlib.sha256(invoice_id.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
        out[invoice_id] = Risk(p_late=h, p_severe=h / 2, expected_days_late=30 * h,
                               grade="ABCDE"[min(int(h * 5), 4)], p_unpaid_30=h, p_unpaid_90=h / 3)
    return out


def _failing(session, invoice_ids, today):
    raise RuntimeError("model file missing")


def _random_ledger(session: Session, rng: random.Random, *, customers: int, invoices: int) -> None:
    batch: dict = {"customers": [], "invoices": [], "payments": [], "disputes": []}
    for c in range(customers):
        customer = {"customer_id": f"C{c:03d}", "name": f"Client {c}",
                    "segment": rng.choice([None, "enterprise", "high_risk"]),
                    "dunning_scenario": rng.choice(SCENARIO_NAMES),
                    "customer_type": rng.choice(["business"] * 4 + ["consumer", "public_sector"]),
                    "language": rng.choice(["fr", "en"])}
        if rng.random() < 0.06:
            customer["on_hold_until"] = (RUN_DATE + dt.timedelta(days=rng.randrange(1, 9))).isoformat()
        if rng.random() < 0.03:
            customer["insolvency_date"] = (RUN_DATE - dt.timedelta(days=rng.randrange(1, 40))).isoformat()
        batch["customers"].append(customer)
    for n in range(invoices):
        due = RUN_DATE + dt.timedelta(days=rng.randrange(-120, 20))
        amount = rng.choice(["8.00", "45.00", "700.00", "3000.00", "15000.00", "60000.00"])
        customer_id = f"C{rng.randrange(customers):03d}"
        batch["invoices"].append({"invoice_id": f"I{n:04d}", "customer_id": customer_id,
                                  "issue_date": (due - dt.timedelta(days=30)).isoformat(),
                                  "due_date": due.isoformat(), "amount": amount,
                                  "currency": rng.choice(["EUR"] * 5 + ["CHF"])})
        if rng.random() < 0.06:
            batch["disputes"].append({"dispute_id": f"D{n:04d}", "invoice_id": f"I{n:04d}",
                                      "opened_on": (RUN_DATE - dt.timedelta(days=2)).isoformat()})
        if rng.random() < 0.15:  # paid in full (some late: payer history) or in part
            part = amount if rng.random() < 0.6 else str(Decimal(amount) / 2)
            batch["payments"].append({
                "payment_id": f"P{n:04d}", "customer_id": customer_id, "invoice_id": f"I{n:04d}",
                "paid_on": min(due + dt.timedelta(days=rng.randrange(-5, 40)), RUN_DATE).isoformat(),
                "amount": part})
    ingest_and_apply(today=dt.date.today(), session=session, batch=IngestBatch.model_validate(batch), actor="test")
    for k, invoice in enumerate(rng.sample(batch["invoices"], len(batch["invoices"]) // 3)):
        # earlier steps in every state; planned ones on invoices now paid or disputed included
        for step in rng.sample(STEPS, rng.randrange(1, 3)):
            sent_on = RUN_DATE - dt.timedelta(days=rng.randrange(0, 30))
            state = rng.choice(STATES)
            channel = {"call": "call", "letter": "letter", "formal_notice": "formal_notice"}.get(step, "email")
            session.add(DunningAction(
                customer_id=invoice["customer_id"], invoice_id=invoice["invoice_id"],
                run_date=sent_on, scenario="standard", step=step, action=channel, channel=channel,
                tone="neutral", send_on=sent_on, state=state,
                closed_on=sent_on + dt.timedelta(days=rng.randrange(0, 4))
                if state in ("sent", "posted", "delivered", "failed", "cancelled") else None))
        if k % 4 == 0:
            promised = RUN_DATE + dt.timedelta(days=rng.randrange(-20, 15))
            session.add(Promise(promise_id=f"PR{k}", customer_id=invoice["customer_id"],
                                amount=Decimal(invoice["amount"]), promised_date=promised,
                                status=rng.choice(["open", "open", "broken"]),
                                created_on=RUN_DATE - dt.timedelta(days=30)))
            session.flush()
            session.add(PromiseInvoice(promise_id=f"PR{k}", invoice_id=invoice["invoice_id"]))
    session.commit()


def _reminders(report) -> dict[str, list]:
    by_reminder: dict[str, list] = {}
    for action in report.actions:
        by_reminder.setdefault(action.reminder_id, []).append(action)
    return by_reminder


@pytest.mark.parametrize(("seed", "risk_for"), [(1, None), (2, _risk), (3, _risk), (4, _failing)])
def test_next_action_equals_the_dry_run_for_every_open_invoice(session, seed, risk_for, caplog):
    rng = random.Random(seed)
    _random_ledger(session, rng, customers=40, invoices=260)
    report = run_dunning(session=session, run_date=RUN_DATE, dry_run=True, risk_for=risk_for,
                         actor="test", today=RUN_DATE)
    session.rollback()
    planned = {a.invoice_id: a for a in report.actions}
    reminders = _reminders(report)
    assert len(planned) == len(report.actions)  # one action per invoice and day
    open_invoices = session.exec(select(Invoice).where(Invoice.settled_on.is_(None),
                                                       Invoice.kind == "invoice")).all()
    due = 0
    for invoice in open_invoices:
        found = next_action(session=session, invoice=invoice, today=RUN_DATE, risk_for=risk_for)
        decision, action = found.decision, planned.get(invoice.invoice_id)
        if action is None:
            assert found.action is None and found.reminder is None, invoice.invoice_id
            assert not decision.is_due(RUN_DATE) or decision.action == "wait", invoice.invoice_id
            continue
        due += 1
        assert found.action == action, invoice.invoice_id
        assert (decision.step, decision.channel, decision.tone, decision.template, decision.send_on) == (
            action.step, action.channel, action.tone, action.template, action.send_on)
        # the reminder the customer receives: the same id, tone and template as the run's
        together = reminders[action.reminder_id]
        reminder = found.reminder
        assert reminder is not None and reminder.reminder_id == action.reminder_id
        assert set(reminder.invoice_ids) == {a.invoice_id for a in together}
        firmest = max(together, key=lambda a: ["courteous", "neutral", "firm", "formal"].index(a.tone))
        assert (reminder.tone, reminder.template, reminder.channel) == (
            firmest.tone, firmest.template, action.channel)
        if risk_for is _failing:
            assert [w.code for w in found.warnings] == ["risk_failed"]
            # a sentence for the person, never the exception's own text (that goes to the log)
            assert "model file missing" not in found.warnings[0].en + found.warnings[0].fr
            assert "rules alone decided" in found.warnings[0].en
    # the ledgers exercise both sides: invoices due today, and many with nothing due
    assert due >= 15 and len(open_invoices) - due >= 60
    if risk_for is _failing:
        assert "risk_failed" in {w.code for w in report.notices}
        # the operators still get the cause, in the server's log
        assert any("model file missing" in r.getMessage() or (r.exc_info and "model file missing"
                   in str(r.exc_info[1])) for r in caplog.records)


def test_a_dry_run_cancels_stale_actions_only_in_its_reading(session):
    """An invoice paid after its reminder was planned: the run cancels that reminder first and
    plans anew for the customer's other invoices; next-action reads the ledger the same way
    without cancelling anything."""
    batch = IngestBatch.model_validate({
        "customers": [{"customer_id": "C", "name": "C"}],
        "invoices": [
            {"invoice_id": "A", "customer_id": "C", "issue_date": "2024-04-01",
             "due_date": "2024-05-01", "amount": "500.00"},
            {"invoice_id": "B", "customer_id": "C", "issue_date": "2024-04-20",
             "due_date": "2024-06-04", "amount": "300.00"}],
        "payments": [{"payment_id": "P", "customer_id": "C", "invoice_id": "A",
                      "paid_on": "2024-06-10", "amount": "500.00"}]})
    ingest_and_apply(today=dt.date.today(), session=session, batch=batch, actor="test")
    # a reminder for A planned yesterday, still waiting: it counts as the last contact unless
    # cancelled, which would hold B's first reminder back for five days
    session.add(DunningAction(customer_id="C", invoice_id="A", run_date=dt.date(2024, 6, 11),
                              scenario="standard", step="first_reminder", action="email",
                              channel="email", tone="neutral", send_on=dt.date(2024, 6, 11),
                              state="planned"))
    session.commit()
    report = run_dunning(session=session, run_date=RUN_DATE, dry_run=True, actor="test",
                         today=RUN_DATE)
    session.rollback()
    assert [(a.invoice_id, a.step) for a in report.actions] == [("B", "first_reminder")]
    found = next_action(session=session, invoice=session.get(Invoice, "B"), today=RUN_DATE,
                        risk_for=None)
    assert found.action == report.actions[0] and found.reminder.invoice_ids == ("B",)
    # read-only: A's action is still planned
    assert session.exec(select(DunningAction).where(DunningAction.invoice_id == "A")).one().state == "planned"


def test_next_action_names_the_reminder_the_invoice_goes_out_in(db, app, client, keys):
    """The hand-built ledger (tests/dunning/ledger_fixture.py) on its run date: C1's I1 (due in 5
    days, pre-due courteous e-mail) and I2 (5 days late, neutral first reminder) go out in ONE
    e-mail, in the firmer of the two tones; next-action of I1 says so. A failing model answers
    with the rules and a warning, never a 500."""
    from tests.dunning.ledger_fixture import RUN_DATE as FIXTURE_DATE
    from tests.dunning.ledger_fixture import build_ledger

    with Session(db) as session:
        build_ledger(session)
    app.state.today = FIXTURE_DATE
    body = client.get("/api/v1/invoices/I1/next-action", headers=keys["analyst"]).json()
    assert (body["action"], body["step"], body["tone"], body["template"]) == (
        "email", "pre_due_email", "courteous", "email_courteous")
    reminder = body["reminder"]
    assert reminder["channel"] == "email" and sorted(reminder["invoice_ids"]) == ["I1", "I2"]
    assert (reminder["tone"], reminder["template"]) == ("neutral", "email_neutral")
    assert reminder["state"] == "planned" and reminder["send_on"] == FIXTURE_DATE.isoformat()
    run = client.post("/api/v1/dunning/runs", json={"date": FIXTURE_DATE.isoformat(), "dry_run": True},
                      headers=keys["analyst"]).json()
    assert reminder["reminder_id"] in {a["reminder_id"] for a in run["actions"]}
    # nothing due today (I6 is under an active promise): no reminder
    waiting = client.get("/api/v1/invoices/I6/next-action", headers=keys["analyst"]).json()
    assert waiting["action"] == "wait" and waiting["reminder"] is None
    app.state.risk_for = _failing
    failed = client.get("/api/v1/invoices/I1/next-action", headers=keys["analyst"])
    assert failed.status_code == 200
    assert failed.json()["reminder"]["reminder_id"] == reminder["reminder_id"]
    assert "modèle de risque n'a pas pu répondre" in failed.json()["warnings"][0]  # the customer's language: fr
