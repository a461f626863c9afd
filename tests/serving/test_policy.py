"""The decision policy, one rule per test, on the shipped `standard` scenario.

Calendar used throughout: due date Monday 31 March 2025, so the standard steps fall on
Wed 26/03 (D-5), Thu 03/04 (D+3), Thu 10/04 (D+10), Sun 20/04 (D+20, Easter), Wed 30/04 (D+30).
"""

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pytest

from ledger.calendar import is_business_day
from serving.policy import CustomerState, Decision, InvoiceState, Risk, decide
from serving.scenarios import load_default_scenarios

DUE = date(2025, 3, 31)
SCENARIOS = load_default_scenarios()
STANDARD = SCENARIOS["standard"]
INVOICE = InvoiceState(
    invoice_id="F-001", customer_id="C-1", issue_date=date(2025, 3, 1), due_date=DUE,
    amount=Decimal("1200.00"), open_amount=Decimal("1200.00"),
)
CUSTOMER = CustomerState(customer_id="C-1", previously_late_count=2)
MEDIUM = Risk(p_late=0.4, p_severe=0.1, expected_days_late=5.0, grade="C")
LOW = Risk(p_late=0.1, p_severe=0.01, expected_days_late=0.5, grade="A")
HIGH = Risk(p_late=0.8, p_severe=0.4, expected_days_late=25.0, grade="E")
PRE_DUE_DONE = {"pre_due_email"}


def _decide(
    *, today: date, invoice: InvoiceState = INVOICE, customer: CustomerState = CUSTOMER,
    risk: Risk | None = MEDIUM, scenario=STANDARD, last_contact_on: date | None = None,
    steps_done: set[str] = frozenset(),
) -> Decision:
    return decide(
        invoice=invoice, customer=customer, risk=risk, scenario=scenario, today=today,
        last_contact_on=last_contact_on, steps_done=steps_done,
    )


def _codes(decision: Decision) -> list[str]:
    return [r.code for r in decision.reasons]


def test_the_plain_scenario_sends_its_steps_on_time():
    decision = _decide(today=date(2025, 4, 3), steps_done=PRE_DUE_DONE)
    assert (decision.action, decision.tone, decision.step) == ("email", "neutral", "first_reminder")
    assert decision.send_on == date(2025, 4, 3)
    assert decision.template == "email_neutral"
    assert decision.basis == "model"
    assert decision.is_due(date(2025, 4, 3))
    assert all(r.fr and r.en for r in decision.reasons)


# --- guards ------------------------------------------------------------------------------------


@pytest.mark.parametrize("invoice", [
    replace(INVOICE, settled=True),
    replace(INVOICE, open_amount=Decimal("0")),
])
def test_settled_invoice_is_never_chased(invoice):
    decision = _decide(today=date(2025, 4, 15), invoice=invoice)
    assert decision.action == "wait" and decision.send_on is None
    assert _codes(decision) == ["settled"]
    assert not decision.is_due(date(2025, 4, 15))


def test_open_amount_below_scenario_minimum_is_not_chased():
    decision = _decide(today=date(2025, 4, 15), invoice=replace(INVOICE, open_amount=Decimal("9.99")))
    assert decision.action == "wait" and decision.send_on is None
    assert _codes(decision) == ["below_minimum"]
    # amounts in reasons are written by Babel (serving.money): a no-break space before the €
    assert "9,99\u00a0€" in decision.reasons[0].fr and "€9.99" in decision.reasons[0].en


def test_open_dispute_waits():
    decision = _decide(today=date(2025, 4, 15), invoice=replace(INVOICE, has_open_dispute=True))
    assert decision.action == "wait" and _codes(decision) == ["open_dispute"]


def test_customer_on_hold_waits():
    decision = _decide(today=date(2025, 4, 15), customer=replace(CUSTOMER, on_hold=True))
    assert decision.action == "wait" and _codes(decision) == ["on_hold"]


def test_active_promise_waits_until_after_its_date():
    # promise until Friday 11 April: the next business day after it is Monday 14 April
    invoice = replace(INVOICE, active_promise_until=date(2025, 4, 11))
    decision = _decide(today=date(2025, 4, 5), invoice=invoice, steps_done=PRE_DUE_DONE)
    assert decision.action == "wait" and _codes(decision) == ["active_promise"]
    assert decision.send_on == date(2025, 4, 14)


def test_expired_promise_no_longer_blocks():
    invoice = replace(INVOICE, active_promise_until=date(2025, 4, 2))
    decision = _decide(today=date(2025, 4, 3), invoice=invoice, steps_done=PRE_DUE_DONE)
    assert decision.action == "email"


# --- risk basis --------------------------------------------------------------------------------


def test_without_risk_the_decision_says_it_uses_rules_only():
    decision = _decide(today=date(2025, 4, 3), risk=None, steps_done=PRE_DUE_DONE)
    assert decision.basis == "rules"
    assert _codes(decision)[0] == "no_model"
    assert decision.action == "email"  # the scenario alone still drives the reminders


def test_rules_sourced_risk_is_reported_as_rules():
    decision = _decide(today=date(2025, 4, 3), risk=replace(MEDIUM, source="rules"), steps_done=PRE_DUE_DONE)
    assert decision.basis == "rules"


# --- rules -------------------------------------------------------------------------------------


def test_low_risk_first_delay_gets_a_courteous_email_later():
    first_delay = replace(CUSTOMER, previously_late_count=0)
    # D+3 would be the first reminder; low risk moves it 5 days later, to Tue 8 April
    waiting = _decide(today=date(2025, 4, 3), customer=first_delay, risk=LOW, steps_done=PRE_DUE_DONE)
    assert waiting.action == "wait" and waiting.next_step == "first_reminder"
    assert waiting.send_on == date(2025, 4, 8)
    assert "low_risk_first_delay" in _codes(waiting)
    sent = _decide(today=date(2025, 4, 8), customer=first_delay, risk=LOW, steps_done=PRE_DUE_DONE)
    assert (sent.action, sent.tone, sent.template) == ("email", "courteous", "email_courteous")


def test_low_risk_first_delay_turns_a_first_call_into_a_courteous_email():
    # a scenario whose first overdue step is a call: the forgetful payer still gets an email
    scenario = STANDARD.model_copy(update={"steps": STANDARD.steps[2:]})
    first_delay = replace(CUSTOMER, previously_late_count=0)
    decision = _decide(today=date(2025, 4, 15), customer=first_delay, risk=LOW, scenario=scenario)
    assert (decision.action, decision.tone, decision.step) == ("email", "courteous", "call")


def test_low_risk_but_previously_late_gets_the_plain_scenario():
    decision = _decide(today=date(2025, 4, 3), risk=LOW, steps_done=PRE_DUE_DONE)
    assert (decision.action, decision.tone) == ("email", "neutral")
    assert "low_risk_first_delay" not in _codes(decision)


def test_high_risk_gets_a_pre_due_reminder_earlier_and_firmer():
    # standard's D-5 reminder moves to D-7 (Mon 24 March), courteous becomes neutral
    assert _decide(today=date(2025, 3, 24)).action == "wait"
    decision = _decide(today=date(2025, 3, 24), risk=HIGH)
    assert (decision.action, decision.step, decision.tone) == ("email", "pre_due_email", "neutral")
    assert decision.send_on == date(2025, 3, 24)
    assert "high_risk" in _codes(decision)


def test_high_risk_gets_a_pre_due_reminder_even_when_the_scenario_has_none():
    gentle = SCENARIOS["gentle"]
    decision = _decide(today=date(2025, 3, 26), risk=HIGH, scenario=gentle)
    assert (decision.action, decision.step) == ("email", "pre_due_reminder")
    assert decision.send_on == DUE - timedelta(days=gentle.risk_rules.pre_due_days)


def test_high_risk_pulls_steps_in_with_a_firmer_tone():
    done = {"pre_due_email", "first_reminder"}
    # the call is due at D+10; three days earlier for a high-risk payer, and firm not neutral
    assert _decide(today=date(2025, 4, 7), steps_done=done).action == "wait"
    decision = _decide(today=date(2025, 4, 7), risk=HIGH, steps_done=done)
    assert (decision.action, decision.tone, decision.template) == ("call", "firm", "call_firm")


def test_deteriorating_payer_is_treated_like_high_risk_even_without_model():
    customer = replace(CUSTOMER, deteriorating=True)
    decision = _decide(today=date(2025, 3, 24), customer=customer, risk=None)
    assert (decision.action, decision.step, decision.tone) == ("email", "pre_due_email", "neutral")
    assert decision.basis == "rules"
    assert _codes(decision)[:2] == ["no_model", "deteriorating"]


def test_high_risk_large_amount_gets_a_call_task():
    big = replace(INVOICE, amount=Decimal("20000"), open_amount=Decimal("20000"))
    decision = _decide(today=date(2025, 4, 3), invoice=big, risk=HIGH, steps_done=PRE_DUE_DONE)
    assert (decision.action, decision.channel, decision.tone) == ("call", "call", "firm")
    assert decision.step == "first_reminder"
    assert "large_amount_call" in _codes(decision)
    small = _decide(today=date(2025, 4, 3), risk=HIGH, steps_done=PRE_DUE_DONE)
    assert small.action == "email"
    # a large amount alone, from a payer of ordinary risk, is not a reason to call
    assert _decide(today=date(2025, 4, 3), invoice=big, steps_done=PRE_DUE_DONE).action == "email"


def test_very_high_exposure_skips_steps_towards_formal_notice():
    done = {"pre_due_email", "first_reminder"}
    exposed = replace(CUSTOMER, overdue_balance=Decimal("60000"))
    assert _decide(today=date(2025, 4, 10), steps_done=done).step == "call"
    decision = _decide(today=date(2025, 4, 10), customer=exposed, steps_done=done)
    assert (decision.action, decision.step) == ("letter", "firm_letter")
    assert "very_high_exposure" in _codes(decision)
    # the skipped call is superseded: the next decision goes on to the formal notice
    after = _decide(
        today=date(2025, 4, 14), customer=exposed, steps_done=done | {"firm_letter"},
        last_contact_on=date(2025, 4, 10),
    )
    assert after.action == "wait" and after.next_step == "formal_notice"


def test_escalation_stops_at_the_formal_notice_never_at_legal():
    rules = STANDARD.risk_rules.model_copy(update={"escalate_skip_steps": 5})
    scenario = STANDARD.model_copy(update={"risk_rules": rules})
    exposed = replace(CUSTOMER, overdue_balance=Decimal("60000"))
    decision = _decide(today=date(2025, 4, 3), customer=exposed, scenario=scenario, steps_done=PRE_DUE_DONE)
    assert (decision.action, decision.step, decision.tone) == ("formal_notice", "formal_notice", "formal")
    assert decision.claim_penalties


def test_broken_promise_escalates_earlier_and_firmer():
    done = {"pre_due_email", "first_reminder"}
    broken = replace(INVOICE, broken_promise=True)
    assert _decide(today=date(2025, 4, 4), steps_done=done).action == "wait"
    decision = _decide(today=date(2025, 4, 4), invoice=broken, steps_done=done)
    assert (decision.action, decision.tone) == ("call", "firm")
    assert "broken_promise" in _codes(decision)


def test_minimum_delay_between_two_contacts():
    # last contact Tue 1 April + 5 days = Sun 6 April → Mon 7 April
    decision = _decide(today=date(2025, 4, 3), last_contact_on=date(2025, 4, 1), steps_done=PRE_DUE_DONE)
    assert decision.action == "email" and decision.send_on == date(2025, 4, 7)
    assert {"min_contact_delay", "business_day"} <= set(_codes(decision))
    assert not decision.is_due(date(2025, 4, 3)) and decision.is_due(date(2025, 4, 7))


def test_steps_done_are_not_repeated_and_the_wait_says_when():
    done = {"pre_due_email", "first_reminder"}
    decision = _decide(today=date(2025, 4, 5), steps_done=done)
    assert decision.action == "wait"
    assert (decision.next_step, decision.send_on) == ("call", date(2025, 4, 10))
    assert "next_step_later" in _codes(decision)


def test_steps_before_the_last_one_done_are_superseded():
    decision = _decide(today=date(2025, 4, 25), steps_done={"firm_letter"})
    assert decision.action == "wait" and decision.next_step == "formal_notice"


def test_late_catch_up_starts_at_the_first_overdue_step_not_the_pre_due_one():
    # an invoice first seen two weeks late: no "reminder before due date" any more
    decision = _decide(today=date(2025, 4, 14))
    assert (decision.action, decision.step) == ("email", "first_reminder")


def test_pre_due_reminder_is_dropped_if_contact_delay_pushes_it_past_due():
    decision = _decide(today=date(2025, 3, 27), last_contact_on=date(2025, 3, 27))
    assert decision.action == "wait" and decision.next_step == "first_reminder"


def test_send_on_moves_off_a_public_holiday():
    # due Mon 28 April: D+3 is Thu 1 May (Fête du Travail) → Fri 2 May
    invoice = replace(INVOICE, due_date=date(2025, 4, 28))
    decision = _decide(today=date(2025, 5, 1), invoice=invoice, steps_done=PRE_DUE_DONE)
    assert decision.send_on == date(2025, 5, 2)
    assert "business_day" in _codes(decision)


def test_send_on_is_always_a_french_business_day():
    for offset in range(0, 366, 1):
        today = date(2025, 1, 1) + timedelta(days=offset)
        for risk in (None, LOW, HIGH):
            decision = _decide(today=today, risk=risk, invoice=replace(INVOICE, due_date=today - timedelta(days=4)))
            assert decision.send_on is None or is_business_day(decision.send_on), (today, decision)


def test_step_minimum_amount_excludes_the_legal_hand_off():
    done = {s.name for s in STANDARD.steps if s.channel != "legal"}
    small = replace(INVOICE, amount=Decimal("300"), open_amount=Decimal("300"))
    finished = _decide(today=date(2025, 5, 20), invoice=small, steps_done=done)
    assert finished.action == "wait" and _codes(finished)[-1] == "scenario_complete"
    legal = _decide(today=date(2025, 5, 20), steps_done=done)
    assert (legal.action, legal.step, legal.claim_penalties) == ("legal", "legal_handoff", True)


def test_grace_days_floor_overdue_steps_however_they_are_pulled_in():
    # high risk and a broken promise pull the D+3 reminder by 10 days: grace keeps it after D+2
    broken = replace(INVOICE, broken_promise=True)
    early = _decide(today=date(2025, 4, 1), invoice=broken, risk=HIGH, steps_done=PRE_DUE_DONE)
    assert early.action == "wait" and early.send_on == DUE + timedelta(days=STANDARD.grace_days)
    sent = _decide(today=date(2025, 4, 2), invoice=broken, risk=HIGH, steps_done=PRE_DUE_DONE)
    assert (sent.action, sent.tone) == ("email", "firm")
