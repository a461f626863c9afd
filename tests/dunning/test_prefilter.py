"""The daily run's pre-filter (`serving.policy.may_act`) never drops an invoice `decide` acts on.

Two checks: the policy property on thousands of random questions (every risk, rule, promise,
dispute, step done, last contact and run date around French holidays), and the run itself: a dry
run over a random ledger plans exactly the same actions with and without the pre-filter.
"""
from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

from sqlmodel import Session

import serving.decisions as decision_path
from ledger.effects import ingest_and_apply
from ledger.schemas import IngestBatch
from ledger.tables import DunningAction, Promise, PromiseInvoice
from serving.dunning import planned_as_dict, run_dunning
from serving.policy import CustomerState, InvoiceState, Risk, decide, may_act
from serving.scenarios import load_default_scenarios

SCENARIOS = list(load_default_scenarios().values())
# spans Ascension (9 May), Whit Monday (20 May), 8 May and weekends
FIRST_DAY = dt.date(2024, 4, 20)
RUN_DATE = dt.date(2024, 6, 12)
_RISKS = [None,
          Risk(p_late=0.05, p_severe=0.01, expected_days_late=0.2, grade="A"),
          Risk(p_late=0.4, p_severe=0.1, expected_days_late=5.0, grade="C", source="rules"),
          Risk(p_late=0.9, p_severe=0.5, expected_days_late=30.0, grade="E")]
_AMOUNTS = [Decimal("5"), Decimal("40"), Decimal("300"), Decimal("900"), Decimal("12000"),
            Decimal("30000"), Decimal("0")]


def _random_question(rng: random.Random) -> dict:
    scenario = rng.choice(SCENARIOS)
    today = FIRST_DAY + dt.timedelta(days=rng.randrange(60))
    due = today + dt.timedelta(days=rng.randrange(-80, 40))
    amount = rng.choice(_AMOUNTS)
    invoice = InvoiceState(
        invoice_id="I", customer_id="C", issue_date=due - dt.timedelta(days=30), due_date=due,
        amount=max(amount, Decimal("1")), open_amount=amount,
        has_open_dispute=rng.random() < 0.1,
        active_promise_until=(today + dt.timedelta(days=rng.randrange(-10, 10))
                              if rng.random() < 0.15 else None),
        broken_promise=rng.random() < 0.15,
    )
    customer = CustomerState(
        customer_id="C", on_hold=rng.random() < 0.05,
        overdue_balance=rng.choice([Decimal("0"), Decimal("20000"), Decimal("200000")]),
        previously_late_count=rng.choice([0, 0, 3]), deteriorating=rng.random() < 0.2,
    )
    names = [s.name for s in scenario.steps] + ["pre_due_reminder"]
    steps_done = frozenset(n for n in names if rng.random() < 0.2)
    last_contact = today - dt.timedelta(days=rng.randrange(0, 25)) if rng.random() < 0.4 else None
    return {"invoice": invoice, "customer": customer, "scenario": scenario, "today": today,
            "last_contact_on": last_contact, "steps_done": steps_done, "risk": rng.choice(_RISKS)}


def test_prefilter_never_drops_a_due_action():
    rng = random.Random(20240612)
    due_seen = dropped = 0
    for _ in range(30_000):
        question = _random_question(rng)
        decision = decide(**question)
        kept = may_act(invoice=question["invoice"], customer=question["customer"],
                       scenario=question["scenario"], today=question["today"],
                       last_contact_on=question["last_contact_on"])
        if decision.is_due(question["today"]):
            due_seen += 1
            assert kept, question
        elif not kept:
            dropped += 1
    # the sample exercises both sides: many due actions, and many invoices filtered out
    assert due_seen > 2_000 and dropped > 10_000


def _random_ledger(session: Session, rng: random.Random, *, customers: int, invoices: int) -> None:
    segments = [None, None, "key_account", "high_risk"]
    batch = {"customers": [{"customer_id": f"C{c:04d}", "name": f"Client {c}",
                            "segment": rng.choice(segments)} for c in range(customers)],
             "invoices": [], "payments": [], "disputes": []}
    for n in range(invoices):
        due = RUN_DATE + dt.timedelta(days=rng.randrange(-90, 35))
        amount = rng.choice(["8.00", "45.00", "700.00", "3000.00", "60000.00"])
        customer_id = f"C{rng.randrange(customers):04d}"
        batch["invoices"].append({"invoice_id": f"I{n:05d}", "customer_id": customer_id,
                                  "issue_date": (due - dt.timedelta(days=30)).isoformat(),
                                  "due_date": due.isoformat(), "amount": amount})
        if rng.random() < 0.05:
            batch["disputes"].append({"dispute_id": f"D{n:05d}", "invoice_id": f"I{n:05d}",
                                      "opened_on": (RUN_DATE - dt.timedelta(days=2)).isoformat()})
        if rng.random() < 0.08:  # settled, some late: payer history
            batch["payments"].append({
                "payment_id": f"P{n:05d}", "customer_id": customer_id, "invoice_id": f"I{n:05d}",
                "paid_on": min(due + dt.timedelta(days=rng.randrange(-5, 40)), RUN_DATE).isoformat(),
                "amount": amount})
    ingest_and_apply(today=dt.date.today(), session=session, batch=IngestBatch.model_validate(batch), actor="test")
    open_ids = [i["invoice_id"] for i in batch["invoices"]]
    for k, invoice_id in enumerate(rng.sample(open_ids, len(open_ids) // 10)):
        invoice = next(i for i in batch["invoices"] if i["invoice_id"] == invoice_id)
        sent_on = RUN_DATE - dt.timedelta(days=rng.randrange(1, 15))
        session.add(DunningAction(customer_id=invoice["customer_id"], invoice_id=invoice_id,
                                  run_date=sent_on, scenario="standard",
                                  step=rng.choice(["first_reminder", "pre_due_email", "call"]),
                                  action="email", channel="email", tone="neutral", send_on=sent_on,
                                  state=rng.choice(["sent", "planned", "cancelled"])))
        if k % 3 == 0:
            status = rng.choice(["open", "broken"])
            promised = RUN_DATE + dt.timedelta(days=rng.randrange(-20, 10))
            session.add(Promise(promise_id=f"PR{k}", customer_id=invoice["customer_id"],
                                amount=Decimal("100"), promised_date=promised, status=status,
                                created_on=RUN_DATE - dt.timedelta(days=30)))
            session.flush()
            session.add(PromiseInvoice(promise_id=f"PR{k}", invoice_id=invoice_id))
    session.commit()


def _dry_plan(session: Session) -> tuple[list[dict], int, int]:
    report = run_dunning(session=session, run_date=RUN_DATE, dry_run=True, actor="test",
                         today=RUN_DATE)
    session.rollback()
    return [planned_as_dict(a) for a in report.actions], report.invoices_seen, report.customers_seen


def test_run_with_and_without_prefilter_plans_the_same(session, monkeypatch):
    _random_ledger(session, random.Random(7), customers=150, invoices=3_000)
    filtered = _dry_plan(session)
    monkeypatch.setattr(decision_path, "may_act", lambda **_: True)
    unfiltered = _dry_plan(session)
    assert len(filtered[0]) > 300  # the ledger has plenty to do
    assert filtered == unfiltered
