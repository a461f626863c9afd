"""The worklist's early stopping (a small first window, then exactly the customers whose open
amount could still overtake the page) returns the same page as scoring every candidate, on a
random ledger, with and without a risk provider, for filters, pages and grades."""
from __future__ import annotations

import datetime as dt
import random

from sqlmodel import Session

from ledger.tables import Customer, Invoice, utcnow
from ledger.worklist import InvoiceOdds, worklist, worklist_full

TODAY = dt.date(2025, 6, 30)


def _random_ledger(session: Session, seed: int, customers: int = 300) -> list[str]:
    rng = random.Random(seed)
    now = utcnow()
    invoices = []
    for c in range(customers):
        customer_id = f"R{c:04d}"
        session.add(Customer(customer_id=customer_id, name=f"Client {c}",
                             segment=("pme", "ge")[c % 2], assigned_agent=f"a{c % 3}",
                             created_at=now, updated_at=now))
        habit = rng.random()
        for k in range(rng.randint(1, 8)):
            issue = TODAY - dt.timedelta(days=rng.randint(0, 400))
            due = issue + dt.timedelta(days=30)
            # heavy-tailed amounts, with ties: the page's order must hold on equal keys too
            amount = round(rng.choice([500.0, 1000.0]) if rng.random() < 0.2
                           else rng.lognormvariate(7, 1.2), 2)
            late = rng.random() < habit
            settle = due + dt.timedelta(days=rng.randint(1, 120) if late else -rng.randint(0, 20))
            is_open = settle > TODAY or rng.random() < 0.05
            invoice_id = f"{customer_id}-{k}"
            session.add(Invoice(invoice_id=invoice_id, customer_id=customer_id, issue_date=issue,
                                due_date=due, amount=amount, currency="EUR", kind="invoice",
                                open_amount=amount if is_open else 0,
                                settled_on=None if is_open else max(settle, issue),
                                created_at=now, updated_at=now))
            if is_open:
                invoices.append(invoice_id)
    session.commit()
    return invoices


def _provider(seed: int):
    """Odds per invoice, a fixed function of its id (some left to the payer's history)."""
    def odds(invoice_ids: list[str]) -> dict[str, InvoiceOdds]:
        out = {}
        for invoice_id in invoice_ids:
            rng = random.Random(f"{seed}:{invoice_id}")
            if rng.random() < 0.1:
                continue
            p30 = rng.random()
            out[invoice_id] = InvoiceOdds(p_unpaid_30=p30, p_unpaid_90=p30 * rng.random(),
                                          grade=rng.choice("ABCDE"))
        return out
    return odds


def test_the_early_stopping_page_equals_the_full_computation(db):
    with Session(db) as session:
        _random_ledger(session, seed=20)
        cases = [{"limit": 1}, {"limit": 5}, {"limit": 20}, {"limit": 7, "offset": 13},
                 {"limit": 50}, {"limit": 10, "grade": "E"}, {"limit": 10, "grade": "A"},
                 {"limit": 10, "bucket": "90+"}, {"limit": 10, "agent": "a1"},
                 {"limit": 10, "segment": "ge", "offset": 3}, {"limit": 400}]
        for risk in (None, _provider(1), _provider(2)):
            for case in cases:
                fast = worklist(session=session, today=TODAY, risk=risk, **case)
                full = worklist_full(session=session, today=TODAY, risk=risk, **case)
                assert [r.model_dump() for r in fast] == [r.model_dump() for r in full], case
                assert fast or case.get("grade"), case
