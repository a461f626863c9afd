"""An agent's portfolio: the customers assigned to them (`Customer.assigned_agent`).

Object-level authorization rests on two questions answered here, for every kind of record a
route may name: which customer owns this record, and is that customer in the agent's portfolio.
`serving.deps.portfolio_scope` asks them for each request; list queries add `in_portfolio`.
"""
from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, Field
from sqlalchemy import func, select, update
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session

from ledger.audit import audit
from ledger.errors import FieldError, LedgerValidationError
from ledger.schemas import AgentName, Id
from ledger.tables import Customer, Dispute, DunningAction, Invoice, Promise, Reminder, utcnow

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


class AssignmentIn(BaseModel):
    agent: AgentName | None  # None unassigns
    customer_ids: list[Id] = Field(min_length=1, max_length=10_000)


def assign_customers(*, session: Session, agent: str | None, customer_ids: Sequence[str],
                     actor: str) -> int:
    """Give customers to an agent (None: unassign); returns how many changed."""
    ids = list(dict.fromkeys(customer_ids))
    current = dict(session.execute(select(Customer.customer_id, Customer.assigned_agent)
                                   .where(Customer.customer_id.in_(ids))).all())
    missing = [c for c in ids if c not in current]
    if missing:
        raise LedgerValidationError([FieldError("customer_ids", f"unknown customer(s): {', '.join(missing[:10])}")])
    changing = [c for c in ids if current[c] != agent]
    if changing:
        session.execute(update(Customer).where(Customer.customer_id.in_(changing))
                        .values(assigned_agent=agent, updated_at=utcnow()))
        for customer_id in changing:
            audit(session, actor=actor, action="assign", entity="customer", entity_id=customer_id,
                  before={"assigned_agent": current[customer_id]}, after={"assigned_agent": agent})
    session.flush()
    return len(changing)

