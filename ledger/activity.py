"""Agent activity: what each person did in a period and what came in after it.

Per actor (the `role:name` an API key writes as), over the contacts dated in
[as_of − days + 1, as_of]:
- `calls`: calls logged (sent `call` actions they created);
- `notes`: notes written;
- `promises_obtained`: promises to pay they recorded; `promises_kept` of those, kept;
- `collected`: payments of a customer they contacted (call or note), received within
  `WINDOW_DAYS` days after that contact and on or before `as_of`, by currency (never summed across
  currencies). A payment counts once per actor however many of their contacts precede it; it may
  count for two actors who both contacted the customer (each contact played its part) — so the
  column is not additive across actors, and the report says so.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import select
from sqlmodel import Session

from ledger.errors import FieldError, LedgerValidationError
from ledger.tables import CustomerNote, DunningAction, Payment, Promise

WINDOW_DAYS = 14
MAX_DAYS = 366


@dataclass
class AgentActivity:
    actor: str
    calls: int = 0
    notes: int = 0
    promises_obtained: int = 0
    promises_kept: int = 0
    collected: dict[str, Decimal] = field(default_factory=dict)  # currency → amount


def agent_activity(*, session: Session, as_of: dt.date, days: int = 30) -> list[AgentActivity]:
    """One row per actor with at least one call, note or promise in the period, by actor."""
    if not 1 <= days <= MAX_DAYS:
        raise LedgerValidationError([FieldError("days", f"must be between 1 and {MAX_DAYS}")])
    start = as_of - dt.timedelta(days=days - 1)
    rows: dict[str, AgentActivity] = {}
    contacts: dict[str, dict[str, set[dt.date]]] = defaultdict(lambda: defaultdict(set))

    def row(actor: str) -> AgentActivity:
        return rows.setdefault(actor, AgentActivity(actor=actor))

    for actor, customer_id, on in session.execute(
            select(DunningAction.created_by, DunningAction.customer_id, DunningAction.send_on)
            .where(DunningAction.channel == "call", DunningAction.state == "sent",
                   DunningAction.created_by.is_not(None),
                   DunningAction.send_on >= start, DunningAction.send_on <= as_of)):
        row(actor).calls += 1
        contacts[actor][customer_id].add(on)
    # timestamps compared with timestamps (a date() of them is text on SQLite, a date on PostgreSQL)
    first, after = (dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC) for day in (start, as_of + dt.timedelta(days=1)))
    for actor, customer_id, created_at in session.execute(
            select(CustomerNote.author, CustomerNote.customer_id, CustomerNote.created_at)
            .where(CustomerNote.created_at >= first, CustomerNote.created_at < after)):
        on = created_at.date() if isinstance(created_at, dt.datetime) else dt.date.fromisoformat(str(created_at)[:10])
        row(actor).notes += 1
        contacts[actor][customer_id].add(on)
    for actor, status in session.execute(
            select(Promise.created_by, Promise.status)
            .where(Promise.created_by.is_not(None), Promise.created_on >= start, Promise.created_on <= as_of)):
        row(actor).promises_obtained += 1
        row(actor).promises_kept += status == "kept"
    _collected(session, contacts, rows, as_of)
    return [rows[actor] for actor in sorted(rows)]


def _collected(session: Session, contacts: dict[str, dict[str, set[dt.date]]],
               rows: dict[str, AgentActivity], as_of: dt.date) -> None:
    customers = sorted({c for by_customer in contacts.values() for c in by_customer})
    if not customers:
        return
    first = min(d for by_customer in contacts.values() for days in by_customer.values() for d in days)
    payments = session.execute(
        select(Payment.customer_id, Payment.paid_on, Payment.amount, Payment.currency)
        .where(Payment.customer_id.in_(customers), Payment.paid_on > first, Payment.paid_on <= as_of)).all()
    for actor, by_customer in contacts.items():
        totals: dict[str, Decimal] = defaultdict(Decimal)
        for customer_id, paid_on, amount, currency in payments:
            days = by_customer.get(customer_id)
            # after a contact (not the same day's payment already on its way), within the window
            if days and any(0 < (paid_on - on).days <= WINDOW_DAYS for on in days):
                totals[(currency or "EUR").upper()] += Decimal(str(amount))
        rows[actor].collected = dict(sorted(totals.items()))
