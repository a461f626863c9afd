"""Statement of account (relevé de compte) of one customer as of a date.

Per currency the customer deals in: every invoice (debit), credit note and payment (credit)
dated in [start, as_of], with the running balance from the opening balance (everything dated
before `start`); then the invoices still open at `as_of` with their days past due, and the
closing balance. balance = Σ invoices − Σ credit notes − Σ payments: what the customer owes, net
of unused credit and unallocated cash. Only events dated on or before `as_of` count.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import func
from sqlmodel import Session, select

from ledger.kpis import BUCKETS, ReportError
from ledger.store import get_customer
from ledger.tables import Allocation, Customer, Invoice, Payment

ZERO = Decimal("0.00")
MAX_LINES = 20_000


@dataclass
class StatementLine:
    on: dt.date
    kind: str                 # invoice | credit_note | payment
    reference: str
    due_date: dt.date | None
    debit: Decimal
    credit: Decimal
    balance: Decimal


@dataclass
class OpenItem:
    invoice_id: str
    issue_date: dt.date
    due_date: dt.date
    amount: Decimal
    open_amount: Decimal
    days_past_due: int


@dataclass
class StatementSection:
    currency: str
    opening_balance: Decimal
    lines: list[StatementLine]
    closing_balance: Decimal
    open_items: list[OpenItem]
    overdue: Decimal
    aging: dict[str, Decimal] = field(default_factory=dict)


@dataclass
class Statement:
    customer_id: str
    name: str | None
    language: str
    currency: str
    as_of: dt.date
    start: dt.date | None
    sections: list[StatementSection]


def _bucket(days: int) -> str:
    if days <= 0:
        return "not_due"
    for limit, name in ((30, "1-30"), (60, "31-60"), (90, "61-90"), (180, "91-180")):
        if days <= limit:
            return name
    return "180+"


def statement(*, session: Session, customer_id: str, as_of: dt.date, start: dt.date | None = None) -> Statement:
    """The statement of account of `customer_id` at `as_of` (lines from `start`, default all)."""
    if start is not None and start > as_of:
        raise ReportError("from", f"the start {start} is after the statement date {as_of}")
    customer: Customer = get_customer(session=session, customer_id=customer_id)
    invoices = session.exec(select(Invoice).where(Invoice.customer_id == customer_id,
                                                  Invoice.issue_date <= as_of)).all()
    payments = session.exec(select(Payment).where(Payment.customer_id == customer_id,
                                                  Payment.paid_on <= as_of)).all()
    if len(invoices) + len(payments) > MAX_LINES:
        raise ReportError("from", f"more than {MAX_LINES} lines: give a later start date")
    allocated = dict(session.exec(
        select(Allocation.invoice_id, func.sum(Allocation.amount))
        .where(Allocation.customer_id == customer_id, Allocation.allocated_on <= as_of)
        .group_by(Allocation.invoice_id)).all())
    events: dict[str, list[tuple]] = {}
    for i in invoices:
        amount = Decimal(str(i.amount)).quantize(ZERO)
        debit, credit = (amount, ZERO) if i.kind == "invoice" else (ZERO, amount)
        events.setdefault(i.currency, []).append((i.issue_date, 0 if i.kind == "invoice" else 1, i.kind,
                                                  i.invoice_id, i.due_date if i.kind == "invoice" else None,
                                                  debit, credit))
    for p in payments:
        events.setdefault(p.currency, []).append((p.paid_on, 2, "payment", p.payment_id, None, ZERO,
                                                  Decimal(str(p.amount)).quantize(ZERO)))
    sections = []
    for currency in sorted(events, key=lambda c: (c != customer.currency, c)):
        rows = sorted(events[currency], key=lambda e: (e[0], e[1], e[3]))
        opening = sum((e[5] - e[6] for e in rows if start is not None and e[0] < start), ZERO)
        balance, lines = opening, []
        for on, _, kind, reference, due, debit, credit in rows:
            if start is not None and on < start:
                continue
            balance += debit - credit
            lines.append(StatementLine(on=on, kind=kind, reference=reference, due_date=due,
                                       debit=debit, credit=credit, balance=balance))
        items = []
        for i in invoices:
            if i.kind != "invoice" or i.currency != currency:
                continue
            left = Decimal(str(i.amount)).quantize(ZERO) - Decimal(str(allocated.get(i.invoice_id) or 0)).quantize(ZERO)
            if left > 0:
                items.append(OpenItem(invoice_id=i.invoice_id, issue_date=i.issue_date, due_date=i.due_date,
                                      amount=Decimal(str(i.amount)).quantize(ZERO), open_amount=left,
                                      days_past_due=(as_of - i.due_date).days))
        items.sort(key=lambda item: (item.due_date, item.invoice_id))
        aging = {b: ZERO for b in BUCKETS}
        for item in items:
            aging[_bucket(item.days_past_due)] += item.open_amount
        sections.append(StatementSection(
            currency=currency, opening_balance=opening, lines=lines, closing_balance=balance,
            open_items=items, overdue=sum((i.open_amount for i in items if i.days_past_due > 0), ZERO),
            aging=aging))
    return Statement(customer_id=customer.customer_id, name=customer.name, language=customer.language,
                     currency=customer.currency, as_of=as_of, start=start, sections=sections)
