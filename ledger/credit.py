"""Credit limits: each customer's exposure against its limit, and when it crosses it.

Exposure is what the customer owes now: the open amounts of its open invoices (as on the
customer record's `open_balance`; unapplied credit is not netted off, as in the KPIs), in the
customer's own currency — the currency its limit is set in. An invoice in another currency is
converted at today's ECB rates (`ledger.fx`); one with no rate is named in `unconverted`, and
the exposure is then a lower bound.

`credit_status` is the one decision: over the limit, at or above 80 % of it (warning), under it,
or no limit set. `check_crossings` runs after every ingestion: a customer going over its limit
records one `credit.limit_exceeded` event (webhooks deliver it); it records another only after
coming back under the limit and crossing it again.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal, get_args

from sqlalchemy import Row, func
from sqlmodel import Session, select

from ledger import fx
from ledger.tables import CreditLimitState, Customer, Invoice, record_event, utcnow

WARNING_SHARE = Decimal("0.8")
CreditStatus = Literal["over", "warning", "ok", "no_limit"]
STATUSES: tuple[CreditStatus, ...] = get_args(CreditStatus)
CHUNK = 500


@dataclass
class Exposure:
    customer_id: str
    name: str | None
    assigned_agent: str | None
    currency: str
    credit_limit: Decimal | None
    exposure: Decimal
    open_invoices: int
    usage: float | None          # exposure / limit (1.0 = at the limit); None without a limit
    status: CreditStatus
    headroom: Decimal | None     # limit − exposure (negative when over)
    unconverted: list[str] = field(default_factory=list)


def credit_status(exposure: Decimal, limit: Decimal | None) -> CreditStatus:
    """over (exposure above the limit), warning (at 80 % of it or more), ok, or no_limit."""
    if limit is None:
        return "no_limit"
    if exposure > limit:
        return "over"
    if limit > 0 and exposure >= limit * WARNING_SHARE:
        return "warning"
    return "ok"


def exposures(*, session: Session, today: dt.date, customer_ids: Sequence[str] | None = None,
              agent: str | None = None, with_limit_only: bool = False) -> list[Exposure]:
    """Exposure against limit of the named customers (default: all), largest usage first."""
    # the five columns an exposure reads, not whole Customer objects (one customer per request
    # on the next-action route: the ORM load was most of its cost)
    query = select(Customer.customer_id, Customer.name, Customer.assigned_agent,  # type: ignore[call-overload]
                   Customer.currency, Customer.credit_limit)
    if customer_ids is not None:
        if not customer_ids:
            return []
        query = query.where(Customer.customer_id.in_(list(customer_ids)))
    if agent is not None:
        query = query.where(Customer.assigned_agent == agent)
    if with_limit_only:
        query = query.where(Customer.credit_limit.is_not(None))
    customers = session.exec(query).all()
    owed: dict[str, dict[str, tuple[Decimal, int]]] = {}
    ids = [c.customer_id for c in customers]
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start:start + CHUNK]
        rows = session.exec(select(Invoice.customer_id, Invoice.currency, func.sum(Invoice.open_amount),
                                   func.count()).where(Invoice.customer_id.in_(chunk),
                                                       Invoice.kind == "invoice",
                                                       Invoice.settled_on.is_(None))
                            .group_by(Invoice.customer_id, Invoice.currency)).all()
        for customer_id, currency, amount, n in rows:
            owed.setdefault(customer_id, {})[currency] = (Decimal(str(amount or 0)).quantize(fx.CENT), int(n))
    currencies = {cur for per in owed.values() for cur in per} | {c.currency for c in customers}
    rates = fx.rates_on(session, today, currencies)
    out = [_exposure(c, owed.get(c.customer_id, {}), rates) for c in customers]
    return sorted(out, key=lambda e: (-(e.usage if e.usage is not None else -1.0), -e.exposure, e.customer_id))


def _exposure(customer: Customer | Row, owed: dict[str, tuple[Decimal, int]], rates: fx.Rates) -> Exposure:
    total, count, missing = Decimal("0.00"), 0, []
    for currency, (amount, n) in sorted(owed.items()):
        count += n
        converted = rates.convert(amount, currency, customer.currency)
        if converted is None:
            missing.append(currency)
        else:
            total += converted.amount
    limit = None if customer.credit_limit is None else Decimal(str(customer.credit_limit)).quantize(fx.CENT)
    usage = None if limit is None or limit == 0 else round(float(total / limit), 4)
    if limit == 0 and total > 0:
        usage = None  # over a zero limit: no ratio to show, the status says it
    return Exposure(customer_id=customer.customer_id, name=customer.name,
                    assigned_agent=customer.assigned_agent, currency=customer.currency,
                    credit_limit=limit, exposure=total, open_invoices=count, usage=usage,
                    status=credit_status(total, limit),
                    headroom=None if limit is None else limit - total, unconverted=missing)


def alerts(*, session: Session, today: dt.date, agent: str | None = None) -> list[Exposure]:
    """Customers over their limit or at 80 % of it and more, the most used first."""
    return [e for e in exposures(session=session, today=today, agent=agent, with_limit_only=True)
            if e.status in ("over", "warning")]


def check_crossings(*, session: Session, customer_ids: Sequence[str], today: dt.date) -> list[str]:
    """Record `credit.limit_exceeded` for each customer that went over its limit since last
    checked (in the caller's transaction); returns their ids."""
    if not customer_ids:
        return []
    ids = sorted(set(customer_ids))
    states: dict[str, CreditLimitState] = {}
    for start in range(0, len(ids), CHUNK):
        for state in session.exec(select(CreditLimitState).where(
                CreditLimitState.customer_id.in_(ids[start:start + CHUNK]))):
            states[state.customer_id] = state
    with_limit: list[str] = []
    for start in range(0, len(ids), CHUNK):
        with_limit += session.exec(select(Customer.customer_id).where(
            Customer.customer_id.in_(ids[start:start + CHUNK]), Customer.credit_limit.is_not(None))).all()
    crossed = []
    for exposure in exposures(session=session, today=today, customer_ids=sorted(set(with_limit) | set(states))):
        state = states.get(exposure.customer_id)
        over = exposure.status == "over"
        if over and (state is None or not state.over_limit):
            record_event(session, type="credit.limit_exceeded", entity_id=exposure.customer_id, payload={
                "customer_id": exposure.customer_id, "currency": exposure.currency,
                "credit_limit": str(exposure.credit_limit), "exposure": str(exposure.exposure),
                "usage": exposure.usage, "crossed_on": today.isoformat(),
                "unconverted": exposure.unconverted})
            crossed.append(exposure.customer_id)
        if state is None:
            if over:
                session.add(CreditLimitState(customer_id=exposure.customer_id, over_limit=True, crossed_on=today))
        elif state.over_limit != over:
            state.over_limit, state.updated_at = over, utcnow()
            state.crossed_on = today if over else state.crossed_on
            session.add(state)
    session.flush()
    return crossed
