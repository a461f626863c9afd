"""Promises as the workbench lists them, what the customer paid towards each, and the promises
frame the features read (`ledger.frames.PROMISE_COLUMNS`).
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal

import pandas as pd
from pydantic import BaseModel
from sqlalchemy import select
from sqlmodel import Session

from ledger.frames import DATE_COLUMNS, PROMISE_COLUMNS
from ledger.portfolio import in_portfolio
from ledger.promises import PROMISE_GRACE_DAYS, instalments_of
from ledger.schemas import (
    dates_in_range,
)
from ledger.tables import (
    Payment,
    Promise,
    PromiseInvoice,
)

ZERO = Decimal("0")


class InstalmentOut(BaseModel):
    seq: int
    due_on: dt.date
    amount: Decimal
    status: str
    closed_on: dt.date | None


class PromiseOut(BaseModel):
    promise_id: str
    customer_id: str
    amount: Decimal
    promised_date: dt.date
    status: str
    created_on: dt.date
    closed_on: dt.date | None
    created_by: str | None
    note: str | None
    invoice_ids: list[str]  # the invoices it pauses (covered in full, oldest first)
    paid_so_far: Decimal
    instalments: list[InstalmentOut] = []


def list_promises(*, session: Session, status: str | None = None, customer_id: str | None = None,
                  limit: int = 100, offset: int = 0, agent: str | None = None) -> list[Promise]:
    query = select(Promise)
    if agent is not None:  # only the customers of the agent's portfolio
        query = query.where(in_portfolio(Promise.customer_id, agent))
    if status is not None:
        query = query.where(Promise.status == status)
    if customer_id is not None:
        query = query.where(Promise.customer_id == customer_id)
    query = query.order_by(Promise.promised_date, Promise.promise_id).offset(offset).limit(limit)
    return list(session.execute(query).scalars())


def promise_views(*, session: Session, promises: Sequence[Promise]) -> list[PromiseOut]:
    ids = [p.promise_id for p in promises]
    invoices: dict[str, list[str]] = defaultdict(list)
    if ids:
        for promise_id, invoice_id in session.execute(
                select(PromiseInvoice.promise_id, PromiseInvoice.invoice_id)
                .where(PromiseInvoice.promise_id.in_(ids)).order_by(PromiseInvoice.invoice_id)):
            invoices[promise_id].append(invoice_id)
    paid = _paid_towards(session, promises, today=None)
    plans = instalments_of(session, ids)
    return [PromiseOut(**p.model_dump(include=set(PromiseOut.model_fields) - {"invoice_ids", "paid_so_far",
                                                                             "instalments"}),
                       invoice_ids=invoices.get(p.promise_id, []),
                       paid_so_far=paid.get(p.promise_id, (ZERO, None))[0],
                       instalments=[InstalmentOut.model_validate(i, from_attributes=True)
                                    for i in plans.get(p.promise_id, [])])
            for p in promises]


def _paid_towards(session: Session, promises: Sequence[Promise],
                  today: dt.date | None) -> dict[str, tuple[Decimal, dt.date | None]]:
    """Per promise: the customer's payments dated in [created_on, promised_date + grace] (and
    ≤ today), and the date their running sum first reached the promised amount."""
    # a promise stored before the date bounds has no deadline anyone can compute: nothing counts
    promises = [p for p in promises if dates_in_range(p, "created_on", "promised_date")]
    if not promises:
        return {}
    customers = sorted({p.customer_id for p in promises})
    query = (select(Payment.customer_id, Payment.paid_on, Payment.amount)
             .where(Payment.customer_id.in_(customers),
                    Payment.paid_on >= min(p.created_on for p in promises))
             .order_by(Payment.customer_id, Payment.paid_on, Payment.payment_id))
    if today is not None:
        query = query.where(Payment.paid_on <= today)
    by_customer: dict[str, list[tuple[dt.date, Decimal]]] = defaultdict(list)
    for customer_id, paid_on, amount in session.execute(query):
        by_customer[customer_id].append((paid_on, Decimal(amount)))
    result = {}
    for promise in promises:
        deadline = promise.promised_date + dt.timedelta(days=PROMISE_GRACE_DAYS)
        total, covered_on = ZERO, None
        for paid_on, amount in by_customer.get(promise.customer_id, []):
            if promise.created_on <= paid_on <= deadline:
                total += amount
                if covered_on is None and total >= promise.amount:
                    covered_on = paid_on
        result[promise.promise_id] = (total, covered_on)
    return result


def promise_frame(session: Session, *, customer_ids: Sequence[str] | None = None) -> pd.DataFrame:
    """Promises as the ledger frames contract (`ledger.frames.PROMISE_COLUMNS`): one row per
    promise and invoice (invoice_id NaN for a promise naming none), dates as datetimes, amount
    as float. Features derive the payer's promise-keeping rate from `status` and `closed_on`."""
    query = (select(Promise.promise_id, Promise.customer_id, PromiseInvoice.invoice_id,
                    Promise.created_on, Promise.promised_date, Promise.amount, Promise.status,
                    Promise.closed_on)
             .outerjoin(PromiseInvoice, PromiseInvoice.promise_id == Promise.promise_id)
             .order_by(Promise.promise_id, PromiseInvoice.invoice_id))
    if customer_ids is not None:
        query = query.where(Promise.customer_id.in_(list(customer_ids)))
    frame = pd.DataFrame(session.execute(query).all(), columns=PROMISE_COLUMNS)
    for column in DATE_COLUMNS["promises"]:
        frame[column] = pd.to_datetime(frame[column])
    frame["amount"] = frame["amount"].astype(float)
    return frame

