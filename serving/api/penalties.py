"""Penalty invoices (factures de pénalités): created by a manager, listed with their lines."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, Query, status
from pydantic import BaseModel, Field
from sqlmodel import Session

from ledger import penalties as store
from ledger.schemas import Id
from serving.deps import Principal, SessionDep, TodayDep, require
from serving.inputs import Offset

router = APIRouter(prefix="/api/v1", tags=["penalties"])
Manager = Annotated[Principal, Depends(require("analyst"))]


class PenaltyInvoiceIn(BaseModel):
    customer_id: Id
    # default: every invoice of the customer paid late and not yet charged
    invoice_ids: list[Id] | None = Field(default=None, max_length=500)


class PenaltyLineOut(BaseModel):
    invoice_id: str
    due_date: dt.date
    paid_on: dt.date
    amount_late: Decimal
    days_late: int
    rates_percent: list[str]
    interest: Decimal
    indemnity: Decimal | None = Field(description="in the invoice's currency; null when no dated "
                                      "EUR rate converts the 40 € (then claimed in euros: "
                                      "indemnity_eur, and the notes say so)")
    indemnity_eur: Decimal
    notes: list[str]


class PenaltyInvoiceOut(BaseModel):
    penalty_invoice_id: str
    kind: str
    customer_id: str
    customer_type: str
    issue_date: dt.date
    due_date: dt.date
    currency: str
    interest: Decimal
    indemnity: Decimal = Field(description="the indemnities converted into `currency`")
    indemnity_eur: Decimal
    # indemnities no dated rate converts: owed in euros, beside `total` (never added to it)
    indemnity_eur_unconverted: Decimal = Decimal("0")
    total: Decimal
    created_by: str | None
    lines: list[PenaltyLineOut]


class PenaltyRunOut(BaseModel):
    created: list[PenaltyInvoiceOut]
    # invoices named or found that were charged before: invoice id → penalty invoice id
    already_invoiced: dict[str, str]


def _views(session: Session, records) -> list[PenaltyInvoiceOut]:
    charges = store.penalty_charges(session, [r.penalty_invoice_id for r in records])
    views = []
    for record in records:
        lines = [_line(charge, record.currency) for charge in charges.get(record.penalty_invoice_id, [])]
        unconverted = sum((line.indemnity_eur for line in lines if line.indemnity is None), Decimal("0"))
        views.append(PenaltyInvoiceOut(**record.model_dump(), lines=lines,
                                       indemnity_eur_unconverted=unconverted))
    return views


def _line(charge, currency: str) -> PenaltyLineOut:
    line = PenaltyLineOut(**charge.model_dump())
    # stored as 0 in the invoice's currency when no dated rate converted the 40 €: never show 0
    if currency != "EUR" and line.indemnity == 0 and line.indemnity_eur > 0:
        line.indemnity = None
    return line


@router.post("/penalty-invoices", response_model=PenaltyRunOut, status_code=status.HTTP_201_CREATED)
def create_penalty_invoices(data: PenaltyInvoiceIn, session: SessionDep, principal: Manager,
                            today: TodayDep) -> PenaltyRunOut:
    """Invoice interest and indemnities on invoices paid late (never twice for one invoice)."""
    result = store.create_penalty_invoices(session=session, customer_id=data.customer_id, today=today,
                                           actor=principal.actor, invoice_ids=data.invoice_ids)
    session.commit()
    return PenaltyRunOut(created=_views(session, result["created"]),
                         already_invoiced=result["already_invoiced"])


@router.get("/penalty-invoices", response_model=list[PenaltyInvoiceOut])
def list_penalty_invoices(session: SessionDep, _: Manager, customer_id: str | None = None,
                          limit: Annotated[int, Query(ge=1, le=500)] = 100,
                          offset: Offset = 0) -> list[PenaltyInvoiceOut]:
    """Penalty invoices, newest first, with the invoices each charges."""
    return _views(session, store.list_penalty_invoices(session, customer_id=customer_id,
                                                       limit=limit, offset=offset))
