"""The next step waits for the previous one to be completed, plus the step's delay.

Scenario `standard`, due Monday 31 March 2025: first_reminder D+3 (Thu 3 April), call D+10
(Thu 10 April), firm_letter D+20, formal_notice D+30. The gap call − first_reminder is 7 days.
"""
from datetime import date
from decimal import Decimal

from serving.policy import CustomerState, InvoiceState, decide
from serving.scenarios import load_default_scenarios, parse_scenario

DUE = date(2025, 3, 31)
STANDARD = load_default_scenarios()["standard"]
INVOICE = InvoiceState(invoice_id="F-1", customer_id="C-1", issue_date=date(2025, 3, 1),
                       due_date=DUE, amount=Decimal("1200"), open_amount=Decimal("1200"))
CUSTOMER = CustomerState(customer_id="C-1", previously_late_count=2)
DONE = {"pre_due_email", "first_reminder"}


def _decide(today: date, closed: dict, scenario=STANDARD):
    return decide(invoice=INVOICE, customer=CUSTOMER, risk=None, scenario=scenario, today=today,
                  last_contact_on=None, steps_done=set(closed), step_closed=closed)


def test_a_step_still_planned_holds_the_next_one_back():
    # the first e-mail was planned on 3 April but never went out: no call on 10 April
    decision = _decide(date(2025, 4, 10), {"pre_due_email": date(2025, 3, 26), "first_reminder": None})
    assert decision.action == "wait"
    assert decision.next_step == "call"
    assert [r.code for r in decision.reasons][-1] == "previous_step_open"


def test_the_delay_runs_from_completion_not_from_planning():
    # the e-mail went out only on 8 April: the call waits 7 days, until Tuesday 15 April
    closed = {"pre_due_email": date(2025, 3, 26), "first_reminder": date(2025, 4, 8)}
    waiting = _decide(date(2025, 4, 10), closed)
    assert waiting.action == "call" and waiting.send_on == date(2025, 4, 15)
    assert not waiting.is_due(date(2025, 4, 10))
    assert "previous_step_delay" in [r.code for r in waiting.reasons]
    due = _decide(date(2025, 4, 15), closed)
    assert due.action == "call" and due.is_due(date(2025, 4, 15))


def test_completed_on_time_changes_nothing():
    closed = {"pre_due_email": date(2025, 3, 26), "first_reminder": date(2025, 4, 3)}
    decision = _decide(date(2025, 4, 10), closed)
    assert decision.action == "call" and decision.is_due(date(2025, 4, 10))


def test_a_step_may_set_its_own_delay():
    body = STANDARD.model_dump(mode="json")
    body["steps"][2]["delay_days"] = 12  # the call: 12 days after the first reminder
    scenario = parse_scenario(body)
    closed = {"pre_due_email": date(2025, 3, 26), "first_reminder": date(2025, 4, 3)}
    decision = _decide(date(2025, 4, 10), closed, scenario)
    assert decision.send_on == date(2025, 4, 15) and not decision.is_due(date(2025, 4, 10))


def test_without_closing_dates_steps_done_count_as_closed():
    decision = decide(invoice=INVOICE, customer=CUSTOMER, risk=None, scenario=STANDARD,
                      today=date(2025, 4, 10), last_contact_on=None, steps_done=DONE)
    assert decision.action == "call" and decision.is_due(date(2025, 4, 10))
