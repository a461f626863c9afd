"""Tables of the collections workbench beside the core `Dispute`: the invoices a dispute names,
its comments and what the workbench adds to it (migration 0004), and the invoice indexes the
worklist reads through."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import Index, text
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel

from ledger.tables.records import MONEY, Invoice, utcnow


class DisputeInvoice(SQLModel, table=True):
    """One invoice of a dispute, with the amount disputed on it (a dispute may name several)."""

    dispute_id: str = SQLField(foreign_key="dispute.dispute_id", primary_key=True, max_length=64)
    invoice_id: str = SQLField(foreign_key="invoice.invoice_id", primary_key=True, index=True,
                               max_length=64)
    amount: Decimal = SQLField(**MONEY)


class DisputeComment(SQLModel, table=True):
    id: int | None = SQLField(default=None, primary_key=True)
    dispute_id: str = SQLField(foreign_key="dispute.dispute_id", index=True, max_length=64)
    author: str = SQLField(max_length=100)
    body: str
    created_at: dt.datetime = SQLField(default_factory=utcnow)


class DisputeDetail(SQLModel, table=True):
    """What the workbench adds to a dispute (disputes ingested from billing may have none)."""

    dispute_id: str = SQLField(foreign_key="dispute.dispute_id", primary_key=True, max_length=64)
    opened_by: str | None = SQLField(default=None, max_length=100)
    status_changed_at: dt.datetime | None = None
    credit_note_id: str | None = SQLField(default=None, max_length=64)
    # an agent's proposal, for an analyst to approve (migration 0010)
    proposed_credit_amount: Decimal | None = SQLField(default=None, **MONEY)
    proposed_by: str | None = SQLField(default=None, max_length=100)


# the worklist aggregates every invoice by customer: one covering index makes it an index scan
WORKLIST_INDEX = Index("ix_invoice_worklist", Invoice.__table__.c.customer_id,  # type: ignore[attr-defined]
                       Invoice.__table__.c.kind, Invoice.__table__.c.settled_on,  # type: ignore[attr-defined]
                       Invoice.__table__.c.due_date, Invoice.__table__.c.open_amount)  # type: ignore[attr-defined]


_OPEN = "settled_on IS NULL AND kind = 'invoice'"


OPEN_INDEX = Index("ix_invoice_open_exposure", Invoice.__table__.c.customer_id,  # type: ignore[attr-defined]
                   Invoice.__table__.c.due_date, Invoice.__table__.c.open_amount,  # type: ignore[attr-defined]
                   sqlite_where=text(_OPEN), postgresql_where=text(_OPEN))




class WorklistOpen(SQLModel, table=True):
    """Each customer's open invoices per currency (Σ open amount, count): what the worklist
    ranks its candidates by before scoring them. Kept by the database itself (triggers on
    `invoice`, migration 0027), so every writer keeps it equal to the fresh aggregate over the
    open invoices (`ledger.worklist.fresh_open`, tested after random ingests)."""

    customer_id: str = SQLField(primary_key=True, max_length=64)
    currency: str = SQLField(primary_key=True, max_length=3)
    open_amount: Decimal = SQLField(**MONEY)
    open_invoices: int


# the page's order within one currency: the largest open amounts first, read from the index
WORKLIST_OPEN_INDEX = Index("ix_worklistopen_rank", WorklistOpen.__table__.c.currency,  # type: ignore[attr-defined]
                            WorklistOpen.__table__.c.open_amount,  # type: ignore[attr-defined]
                            WorklistOpen.__table__.c.customer_id)  # type: ignore[attr-defined]
