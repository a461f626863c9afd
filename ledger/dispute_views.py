"""Disputes as the workbench lists them: filtered by status, customer, invoice, assignee and the
agent's portfolio, with their invoices, comments, SLA age and the transitions still open.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal

from pydantic import BaseModel
from sqlalchemy import or_, select
from sqlmodel import Session

from ledger.disputes import disputed_lines
from ledger.portfolio import in_portfolio
from ledger.tables import (
    Dispute,
    DisputeComment,
    DisputeDetail,
    DisputeInvoice,
    Invoice,
)
from ledger.workflow import ACTIVE_DISPUTE, TRANSITIONS

ZERO = Decimal("0")

class DisputedInvoiceOut(BaseModel):
    invoice_id: str
    amount: Decimal


class CommentOut(BaseModel):
    author: str
    body: str
    created_at: dt.datetime


class DisputeOut(BaseModel):
    dispute_id: str
    customer_id: str
    invoices: list[DisputedInvoiceOut]
    amount: Decimal
    reason: str | None
    reason_label: str | None = None  # worded by serving (serving.labels), in the reader's language
    status: str
    assignee: str | None
    opened_on: dt.date
    opened_by: str | None
    resolved_on: dt.date | None
    age_days: int  # SLA age: days open so far, or until resolution
    status_changed_at: dt.datetime | None
    credit_note_id: str | None
    proposed_credit_amount: Decimal | None = None
    proposed_by: str | None = None
    allowed_transitions: list[str]
    comments: list[CommentOut]
    created_at: dt.datetime
    updated_at: dt.datetime


def list_disputes(*, session: Session, status: str | None = None, customer_id: str | None = None,
                  invoice_id: str | None = None, assignee: str | None = None, limit: int = 100,
                  offset: int = 0, agent: str | None = None) -> list[Dispute]:
    query = select(Dispute).join(Invoice, Invoice.invoice_id == Dispute.invoice_id)
    if agent is not None:  # only the customers of the agent's portfolio
        query = query.where(in_portfolio(Invoice.customer_id, agent))
    if status == "active":
        query = query.where(Dispute.status.in_(ACTIVE_DISPUTE))
    elif status is not None:
        query = query.where(Dispute.status == status)
    if customer_id is not None:
        query = query.where(Invoice.customer_id == customer_id)
    if invoice_id is not None:
        named = select(DisputeInvoice.dispute_id).where(DisputeInvoice.invoice_id == invoice_id)
        query = query.where(or_(Dispute.invoice_id == invoice_id, Dispute.dispute_id.in_(named)))
    if assignee is not None:
        query = query.where(Dispute.assignee == assignee)
    query = query.order_by(Dispute.opened_on, Dispute.dispute_id).offset(offset).limit(limit)
    return list(session.execute(query).scalars())


def dispute_views(*, session: Session, disputes: Sequence[Dispute], today: dt.date) -> list[DisputeOut]:
    """Disputes with their invoices, comments, SLA age and the transitions still open to them."""
    ids = [d.dispute_id for d in disputes]
    if not ids:
        return []
    lines: dict[str, list[DisputedInvoiceOut]] = defaultdict(list)
    for row in session.execute(select(DisputeInvoice).where(DisputeInvoice.dispute_id.in_(ids))
                               .order_by(DisputeInvoice.invoice_id)).scalars():
        lines[row.dispute_id].append(DisputedInvoiceOut(invoice_id=row.invoice_id, amount=row.amount))
    comments: dict[str, list[CommentOut]] = defaultdict(list)
    for row in session.execute(select(DisputeComment).where(DisputeComment.dispute_id.in_(ids))
                               .order_by(DisputeComment.created_at, DisputeComment.id)).scalars():
        comments[row.dispute_id].append(CommentOut(author=row.author, body=row.body, created_at=row.created_at))
    details = {row.dispute_id: row for row in session.execute(
        select(DisputeDetail).where(DisputeDetail.dispute_id.in_(ids))).scalars()}
    owners = dict(session.execute(select(Invoice.invoice_id, Invoice.customer_id)
                                  .where(Invoice.invoice_id.in_({d.invoice_id for d in disputes}))).all())
    views = []
    for d in disputes:
        invoices = lines.get(d.dispute_id) or [
            DisputedInvoiceOut(invoice_id=invoice_id, amount=amount)
            for invoice_id, amount in disputed_lines(session, d)]
        detail = details.get(d.dispute_id)
        views.append(DisputeOut(
            dispute_id=d.dispute_id, customer_id=owners.get(d.invoice_id, ""), invoices=invoices,
            amount=sum((line.amount for line in invoices), ZERO), reason=d.reason,
            status=d.status,
            assignee=d.assignee, opened_on=d.opened_on,
            opened_by=detail.opened_by if detail else None, resolved_on=d.resolved_on,
            age_days=max(((d.resolved_on or today) - d.opened_on).days, 0),
            status_changed_at=detail.status_changed_at if detail else None,
            credit_note_id=detail.credit_note_id if detail else None,
            proposed_credit_amount=detail.proposed_credit_amount if detail else None,
            proposed_by=detail.proposed_by if detail else None,
            allowed_transitions=list(TRANSITIONS.get(d.status, ())),
            comments=comments.get(d.dispute_id, []), created_at=d.created_at, updated_at=d.updated_at))
    return views

