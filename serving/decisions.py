"""The next action of one invoice: the same facts and policy as the daily dunning run."""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlmodel import Session

from ledger import run_facts
from ledger.tables import Invoice
from serving.dunning import customer_state, invoice_state, load_scenarios
from serving.policy import Decision, InvoiceState, Risk, decide
from serving.scenarios import load_default_segment_map, scenario_for

RiskProvider = Callable[[Session, list[str], dt.date], dict[str, Risk]]


def next_action(*, session: Session, invoice: Invoice, today: dt.date,
                risk_for: RiskProvider | None) -> tuple[Decision, str, Risk | None]:
    """(decision, scenario name, risk used) for `invoice` as of `today`."""
    facts = run_facts.load_chunk(session, lo=invoice.customer_id, hi=invoice.customer_id, run_date=today)
    customer = facts.customers[invoice.customer_id]  # the invoice's customer always exists
    scenario = scenario_for(customer_scenario=customer.dunning_scenario, segment=customer.segment,
                            scenarios=load_scenarios(session), segment_map=load_default_segment_map())
    risk = None
    if risk_for is not None and invoice.settled_on is None:
        risk = risk_for(session, [invoice.invoice_id], today).get(invoice.invoice_id)
    open_invoices = [i for i in facts.invoices if i.customer_id == invoice.customer_id]
    state = next((i for i in open_invoices if i.invoice_id == invoice.invoice_id), None)
    facts_of_invoice = invoice_state(state) if state is not None else InvoiceState(
        # settled (or a credit note): the policy says why nothing is to be done
        invoice_id=invoice.invoice_id, customer_id=invoice.customer_id,
        issue_date=invoice.issue_date, due_date=invoice.due_date, amount=invoice.amount,
        open_amount=invoice.open_amount, currency=invoice.currency, settled=True)
    decision = decide(invoice=facts_of_invoice, customer=customer_state(customer, open_invoices, today,
                                                                      facts_of_invoice.currency),
                      risk=risk, scenario=scenario,
                      today=today, last_contact_on=facts.last_contact.get(invoice.customer_id),
                      steps_done=facts.steps_done.get(invoice.invoice_id, ()),
                      step_closed=facts.step_closed.get(invoice.invoice_id, {}))
    return decision, scenario.name, risk
