"""Exploration in the daily run: within hard bounds, with the probability stored."""
from __future__ import annotations

import datetime as dt
from collections import Counter
from decimal import Decimal

import pytest
from sqlmodel import select

from ledger.tables import DunningAction
from serving.exploration import ExploringChooser, variants
from serving.policy import Decision, InvoiceState, Reason

TODAY = dt.date(2024, 6, 12)


def invoice(invoice_id="I1", amount="2500"):
    return InvoiceState(invoice_id=invoice_id, customer_id="C1", issue_date=dt.date(2024, 4, 1),
                        due_date=dt.date(2024, 6, 1), amount=Decimal(amount), open_amount=Decimal(amount))


def decision(action="email", tone="neutral", step="first_reminder", template="email_neutral"):
    return Decision(action=action, basis="rules", reasons=[Reason("step", "étape", "step")],
                    send_on=TODAY, channel=action, tone=tone, template=template, step=step)


@pytest.mark.parametrize(("made", "count"), [
    (decision(), 4),                                   # mid-size: a call is offered
    (decision(tone="courteous"), 4),
    (decision(action="call", tone="neutral", step="call"), 1),
    (decision(action="letter", tone="firm", step="firm_letter"), 1),
    (decision(action="formal_notice", tone="formal", step="formal_notice"), 1),
    (decision(action="legal", tone="formal", step="legal_handoff"), 1),
    (decision(tone="firm"), 1),
    (decision(step="pre_due_reminder", tone="courteous"), 1),
])
def test_only_courteous_or_neutral_email_reminders_are_varied(made, count):
    assert len(variants(invoice(), made)) == count


def test_a_reminder_before_the_due_date_is_never_varied():
    not_due = InvoiceState(invoice_id="I1", customer_id="C1", issue_date=dt.date(2024, 5, 1),
                           due_date=dt.date(2024, 6, 20), amount=Decimal("5000"), open_amount=Decimal("5000"))
    assert len(variants(not_due, decision(step="pre_due_email", tone="courteous"))) == 1


def test_small_amounts_are_not_offered_a_call():
    assert [v[0] for v in variants(invoice(amount="400"), decision())] == ["email"] * 3


def test_choices_follow_their_stored_probabilities_and_never_act_earlier():
    chooser = ExploringChooser(0.6)
    seen, propensity = Counter(), {}
    for n in range(4000):
        chosen = chooser(invoice(f"I{n}"), decision())
        d = chosen.decision
        key = (d.channel, d.tone, d.send_on)
        seen[key] += 1
        propensity[key] = chosen.propensity
        assert d.send_on >= TODAY
        assert d.channel in ("email", "call")
    # the policy's own choice: 1 − 0.6 + 0.6/4 = 0.55; each other variant 0.15
    assert propensity[("email", "neutral", TODAY)] == pytest.approx(0.55)
    assert sorted(propensity.values()) == pytest.approx([0.15, 0.15, 0.15, 0.55])
    later = dt.date(2024, 6, 17)  # Wednesday + 3 business days
    assert propensity[("email", "courteous", later)] == pytest.approx(0.15)
    for key, count in seen.items():
        assert count / 4000 == pytest.approx(propensity[key], abs=0.03)
    # varied decisions say so, and name the template by channel and tone (none forced)
    varied = chooser(invoice("I7"), decision())
    assert (varied.decision.template is None) == (varied.propensity < 0.5)


def test_the_same_invoice_and_step_get_the_same_choice():
    chooser = ExploringChooser(1.0)
    first = [chooser(invoice(f"I{n}"), decision()) for n in range(50)]
    again = [chooser(invoice(f"I{n}"), decision()) for n in range(50)]
    assert first == again


def test_the_run_stores_the_probability_with_each_action(session, monkeypatch):
    from ledger.config import get_settings
    from serving.dunning import run_dunning
    from tests.dunning.ledger_fixture import RUN_DATE, build_ledger

    build_ledger(session)
    session.commit()
    monkeypatch.setenv("RELANCE_EXPLORATION", "1")
    get_settings.cache_clear()
    try:
        run_dunning(session=session, run_date=RUN_DATE, dry_run=False, actor="test", today=RUN_DATE)
        session.commit()
    finally:
        monkeypatch.delenv("RELANCE_EXPLORATION")
        get_settings.cache_clear()
    actions = session.exec(select(DunningAction).where(DunningAction.created_by == "test")).all()
    assert actions and all(a.propensity is not None for a in actions)
    for action in actions:
        if action.step in ("first_reminder", "second_reminder") and action.propensity < 1:
            assert action.channel in ("email", "call")
        if action.channel in ("formal_notice", "legal", "letter") or action.step == "pre_due_email":
            assert action.propensity == 1.0
    assert any(a.propensity < 1 for a in actions)


def test_exploration_is_off_by_default(session):
    from serving.dunning import run_dunning
    from tests.dunning.ledger_fixture import RUN_DATE, build_ledger

    build_ledger(session)
    session.commit()
    run_dunning(session=session, run_date=RUN_DATE, dry_run=False, actor="test", today=RUN_DATE)
    session.commit()
    actions = session.exec(select(DunningAction).where(DunningAction.created_by == "test")).all()
    assert actions and all(a.propensity == 1.0 for a in actions)
