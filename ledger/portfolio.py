"""An agent's portfolio: the customers assigned to them (`Customer.assigned_agent`).

Object-level authorization rests on two questions answered here, for every kind of record a
route may name: which customer owns this record, and is that customer in the agent's portfolio.
`serving.deps.portfolio_scope` asks them for each request; list queries add `in_portfolio`.
"""
from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session

from ledger.tables import Customer, Dispute, DunningAction, Invoice, Promise

# action ids are INTEGER (32-bit) on PostgreSQL: a larger number is no action's id, and asking
# the database about it would fail
MAX_ACTION_ID = 2**31 - 1


def portfolio_customers(agent: str):
    """The ids of the agent's customers, as a subquery for `column.in_(…)`."""
    return select(Customer.customer_id).where(Customer.assigned_agent == agent)


def in_portfolio(column, agent: str | None) -> ColumnElement[bool] | None:
    """`column IN (the agent's customers)`, or None when `agent` is None (no restriction)."""
    return None if agent is None else column.in_(portfolio_customers(agent))


def portfolio_size(session: Session, agent: str) -> int:
    return int(session.execute(select(func.count()).select_from(Customer)
                               .where(Customer.assigned_agent == agent)).scalar_one())


def _owner_query(kind: str, record_id: str):
    if kind == "customer":
        return select(Customer.customer_id).where(Customer.customer_id == record_id)
    if kind == "invoice":
        return select(Invoice.customer_id).where(Invoice.invoice_id == record_id)
    if kind == "dispute":
        return (select(Invoice.customer_id).join(Dispute, Dispute.invoice_id == Invoice.invoice_id)
                .where(Dispute.dispute_id == record_id))
    if kind == "promise":
        return select(Promise.customer_id).where(Promise.promise_id == record_id)
    if kind == "action":
        if not record_id.isdigit() or int(record_id) > MAX_ACTION_ID:
            return None  # not an id any action can have
        return select(DunningAction.customer_id).where(DunningAction.id == int(record_id))
    if kind == "reminder":
        from ledger.tables import Reminder  # ledger.dunning imports ingest; lazy keeps this light

        return select(Reminder.customer_id).where(Reminder.reminder_id == record_id)
    raise ValueError(f"unknown record kind {kind!r}")


def owned_by_agent(session: Session, *, kind: str, record_id: str, agent: str) -> bool:
    """Whether the record exists and its customer is in `agent`'s portfolio."""
    query = _owner_query(kind, record_id)
    if query is None:
        return False
    owner = query.scalar_subquery()
    found = session.execute(select(Customer.customer_id).where(
        Customer.customer_id == owner, Customer.assigned_agent == agent)).first()
    return found is not None
