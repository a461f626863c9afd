"""What a dunning run reads, chunk by chunk of customers: open invoices with their disputes and
promises, the customers' facts and payment history, the steps already planned and the last
contact. Plain column selects through the Core connection; nothing here decides anything
(the policy is `serving.policy`).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, case, func, or_, select, union
from sqlmodel import Session

from ledger.actions import (
    CONTACT_STATES,
    OPEN_STATES,
)
from ledger.pauses import disputed_invoice_queries
from ledger.promises import PROMISE_GRACE_DAYS, covered_invoices
from ledger.schemas import (
    MAX_DATE,
)
from ledger.tables import (
    Customer,
    Dispute,
    DisputeInvoice,
    DunningAction,
    Invoice,
    Promise,
    PromiseInstalment,
    PromiseInvoice,
)
from ledger.workflow import PromiseStatus

BROKEN_PROMISE_LOOKBACK_DAYS = 90


# deteriorating payer: mean days late of the last N settled invoices above the mean of the
# earlier ones by more than this margin (needs N recent and at least N earlier invoices)
DETERIORATING_RECENT = 3


DETERIORATING_MARGIN_DAYS = 5


CHUNK = 500


@dataclass(frozen=True, slots=True)
class OpenInvoice:
    invoice_id: str
    customer_id: str
    issue_date: dt.date
    due_date: dt.date
    amount: Decimal
    open_amount: Decimal
    currency: str
    has_open_dispute: bool = False
    active_promise_until: dt.date | None = None
    broken_promise: bool = False


@dataclass(frozen=True, slots=True)
class CustomerFacts:
    customer_id: str
    name: str | None
    language: str
    segment: str | None
    on_hold: bool
    dunning_scenario: str | None
    email: str | None
    phone: str | None
    previously_late_count: int = 0
    deteriorating: bool = False
    customer_type: str = "business"
    on_hold_until: dt.date | None = None
    insolvency_date: dt.date | None = None


@dataclass(slots=True)
class ChunkFacts:
    """Everything a run needs about one range of customers."""

    invoices: list[OpenInvoice]
    customers: dict[str, CustomerFacts]
    steps_done: dict[str, set[str]] = field(default_factory=dict)
    last_contact: dict[str, dt.date] = field(default_factory=dict)
    # invoices already contacted after their due date: `invoice.late` is recorded once
    seen_late: set[str] = field(default_factory=set)
    # per invoice, per step planned: the day it closed (contact made, failed, cancelled), or
    # None while it is still open (planned, awaiting approval, rendered but not posted)
    step_closed: dict[str, dict[str, dt.date | None]] = field(default_factory=dict)


def _chunks(items: Sequence, size: int = CHUNK) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def customer_ranges(session: Session, *, size: int = 2000) -> Iterator[tuple[str, str]]:
    """(first, last) customer ids of consecutive groups of customers having open invoices.

    Ranges rather than id lists keep each chunk query a plain index range scan.
    """
    ids = session.execute(
        select(Invoice.customer_id).where(Invoice.kind == "invoice", Invoice.settled_on.is_(None))
        .distinct().order_by(Invoice.customer_id)
    ).scalars().all()
    for chunk in _chunks(ids, size):
        yield chunk[0], chunk[-1]


def _core(session: Session):
    # the chunk reads are plain column selects: the Core connection skips the ORM's per-row
    # result machinery (load_chunk flushes first, so pending changes are still seen)
    return session.connection()


def _in_range(column, lo: str, hi: str):
    return and_(column >= lo, column <= hi)


def load_chunk(session: Session, *, lo: str, hi: str, run_date: dt.date,
               cancelling: frozenset[str] = frozenset()) -> ChunkFacts:
    """Open invoices of customers lo..hi with their disputes, promises, actions and history.

    `cancelling`: invoices whose planned actions are about to be cancelled (a dry run does not
    cancel them, but must read the ledger as the real run will)."""
    session.flush()
    rows = _core(session).execute(
        select(Invoice.invoice_id, Invoice.customer_id, Invoice.issue_date, Invoice.due_date,
               Invoice.amount, Invoice.open_amount, Invoice.currency)
        .where(_in_range(Invoice.customer_id, lo, hi), Invoice.kind == "invoice",
               Invoice.settled_on.is_(None))
        .order_by(Invoice.customer_id, Invoice.due_date, Invoice.invoice_id)
    ).all()
    disputed = _open_disputes(session, lo, hi)
    active, broken, unlinked = _promises(session, lo, hi, run_date)
    for customer_id, amount, promised in unlinked:
        mine = [(r[0], r[3], Decimal(r[5])) for r in rows if r[1] == customer_id]
        for invoice_id in covered_invoices(mine, amount):
            active[invoice_id] = max(promised, active.get(invoice_id, promised))
    invoices = [
        OpenInvoice(
            invoice_id=r[0], customer_id=r[1], issue_date=r[2], due_date=r[3], amount=r[4],
            open_amount=r[5], currency=r[6], has_open_dispute=r[0] in disputed,
            active_promise_until=active.get(r[0]),
            broken_promise=r[0] in broken or ("*", r[1]) in broken,
        )
        for r in rows
    ]
    facts = ChunkFacts(invoices=invoices, customers=_customers(session, lo, hi, run_date))
    _actions(session, lo, hi, facts, cancelling)
    return facts


def _open_disputes(session: Session, lo: str, hi: str) -> set[str]:
    direct, linked = disputed_invoice_queries()
    return set(_core(session).execute(
        union(direct.join(Invoice, Invoice.invoice_id == Dispute.invoice_id)
              .where(_in_range(Invoice.customer_id, lo, hi)),
              linked.join(Invoice, Invoice.invoice_id == DisputeInvoice.invoice_id)
              .where(_in_range(Invoice.customer_id, lo, hi)))
    ).scalars())


def _promises(session: Session, lo: str, hi: str, run_date: dt.date
              ) -> tuple[dict[Any, dt.date], set[Any], list[tuple[str, Decimal, dt.date]]]:
    """Active promise end per invoice it pauses, and recently broken promises (key
    `("*", customer_id)` for one linked to no invoice: broken, it firms the customer's tone).

    A promise pauses only the invoices linked to it (those its amount covers, `ledger.promises`),
    never the whole account. An open promise with an instalment past its date + grace counts as
    broken already: the run evaluates promises first, and next-action reads it the same way."""
    since = run_date - dt.timedelta(days=BROKEN_PROMISE_LOOKBACK_DAYS)
    rows = _core(session).execute(
        select(Promise.promise_id, Promise.customer_id, Promise.status, Promise.promised_date,
               Promise.closed_on, PromiseInvoice.invoice_id, Promise.amount)
        .outerjoin(PromiseInvoice, PromiseInvoice.promise_id == Promise.promise_id)
        .where(_in_range(Promise.customer_id, lo, hi), or_(
            # a promise stored before the date bounds (year 9999) pauses nothing: see 0011
            and_(Promise.status == PromiseStatus.OPEN, Promise.promised_date >= run_date,
                 Promise.promised_date <= MAX_DATE),
            and_(Promise.status == PromiseStatus.BROKEN,
                 func.coalesce(Promise.closed_on, Promise.promised_date) >= since),
        ))
    ).all()
    lapsed = set(_core(session).execute(
        select(PromiseInstalment.promise_id).join(Promise, Promise.promise_id == PromiseInstalment.promise_id)
        .where(_in_range(Promise.customer_id, lo, hi), Promise.status == PromiseStatus.OPEN,
               PromiseInstalment.status == PromiseStatus.OPEN,
               PromiseInstalment.due_on < run_date - dt.timedelta(days=PROMISE_GRACE_DAYS))
    ).scalars())
    active: dict[Any, dt.date] = {}
    broken: set[Any] = set()
    unlinked: list[tuple[str, Decimal, dt.date]] = []
    for promise_id, customer_id, status, promised, _closed, invoice_id, amount in rows:
        key = invoice_id if invoice_id is not None else ("*", customer_id)
        if status == PromiseStatus.OPEN and promise_id not in lapsed:
            if invoice_id is not None:
                active[key] = max(promised, active.get(key, promised))
            else:
                # recorded without invoices (an imported promise): it covers what its amount
                # pays of the customer's oldest invoices, resolved by load_chunk
                unlinked.append((customer_id, Decimal(amount), promised))
        else:
            broken.add(key)
    return active, broken, unlinked


def _days_late(session: Session):
    if session.get_bind().dialect.name == "postgresql":
        return Invoice.settled_on - Invoice.due_date
    return func.julianday(Invoice.settled_on) - func.julianday(Invoice.due_date)


def _customers(session: Session, lo: str, hi: str, run_date: dt.date) -> dict[str, CustomerFacts]:
    history = _history(session, lo, hi, run_date)
    rows = _core(session).execute(
        select(Customer.customer_id, Customer.name, Customer.language, Customer.segment,
               Customer.on_hold, Customer.dunning_scenario, Customer.email, Customer.phone,
               Customer.customer_type, Customer.on_hold_until, Customer.insolvency_date)
        .where(_in_range(Customer.customer_id, lo, hi))
    ).all()
    facts = {}
    for r in rows:
        late, deteriorating = history.get(r[0], (0, False))
        facts[r[0]] = CustomerFacts(
            customer_id=r[0], name=r[1], language=r[2] or "fr", segment=r[3], on_hold=bool(r[4]),
            dunning_scenario=r[5], email=r[6], phone=r[7], previously_late_count=late,
            deteriorating=deteriorating, customer_type=r[8] or "business", on_hold_until=r[9],
            insolvency_date=r[10],
        )
    return facts


def _history(session: Session, lo: str, hi: str, run_date: dt.date) -> dict[str, tuple[int, bool]]:
    """Per customer: settled invoices paid late, and whether delays are rising.

    Deteriorating: the mean days late of the last 3 settled invoices (by settlement date) exceeds
    the mean of the earlier ones by more than 5 days, with at least 3 earlier ones. One SQL window
    query, the same on SQLite and PostgreSQL.
    """
    days_late = _days_late(session)
    ranked = (
        select(Invoice.customer_id.label("customer_id"), days_late.label("days_late"),
               func.row_number().over(partition_by=Invoice.customer_id,
                                      order_by=(Invoice.settled_on.desc(), Invoice.invoice_id.desc())
                                      ).label("rank"))
        .where(_in_range(Invoice.customer_id, lo, hi), Invoice.kind == "invoice",
               Invoice.settled_on.is_not(None), Invoice.settled_on <= run_date)
        .subquery()
    )
    recent = ranked.c.rank <= DETERIORATING_RECENT
    rows = _core(session).execute(
        select(ranked.c.customer_id,
               func.sum(case((ranked.c.days_late > 0, 1), else_=0)),
               func.avg(case((recent, ranked.c.days_late), else_=None)),
               func.avg(case((~recent, ranked.c.days_late), else_=None)),
               func.sum(case((~recent, 1), else_=0)))
        .group_by(ranked.c.customer_id)
    ).all()
    history = {}
    for customer_id, late, recent_mean, earlier_mean, earlier_n in rows:
        deteriorating = (
            (earlier_n or 0) >= DETERIORATING_RECENT
            and float(recent_mean) > float(earlier_mean) + DETERIORATING_MARGIN_DAYS
        )
        history[customer_id] = (int(late or 0), bool(deteriorating))
    return history


def _actions(session: Session, lo: str, hi: str, facts: ChunkFacts,
             cancelling: frozenset[str]) -> None:
    rows = _core(session).execute(
        select(DunningAction.customer_id, DunningAction.invoice_id, DunningAction.step,
               DunningAction.state, DunningAction.send_on, DunningAction.closed_on,
               Invoice.due_date)
        .outerjoin(Invoice, Invoice.invoice_id == DunningAction.invoice_id)
        .where(_in_range(DunningAction.customer_id, lo, hi))
    ).all()
    for customer_id, invoice_id, step, state, send_on, closed_on, due_date in rows:
        about_to_cancel = state in OPEN_STATES and invoice_id in cancelling
        if invoice_id is not None and step is not None:
            # every step ever planned counts as done, whatever its state: UNIQUE(invoice_id, step)
            # would refuse planning it again, and a cancelled or failed step is history
            facts.steps_done.setdefault(invoice_id, set()).add(step)
            # the next step waits for this one to close (None: still open)
            facts.step_closed.setdefault(invoice_id, {})[step] = (
                (closed_on or send_on) if state not in OPEN_STATES or about_to_cancel else None)
            if due_date is not None and send_on > due_date:
                facts.seen_late.add(invoice_id)
        if about_to_cancel:
            continue
        if state in OPEN_STATES or state in CONTACT_STATES:
            last = facts.last_contact.get(customer_id)
            if last is None or send_on > last:
                facts.last_contact[customer_id] = send_on

