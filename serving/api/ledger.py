"""Ingestion and reading of the ledger."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Query, Request
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError, OperationalError

from ledger import store
from ledger.effects import ingest_and_apply
from ledger.law import terms_warnings
from ledger.schemas import IngestBatch, IngestResult
from ledger.statuses import CustomerStatusUpdate, status_sentences, update_status
from ledger.tables import CustomerBase, InvoiceBase
from serving.deps import Ingester, InvoiceReader, PortfolioDep, Principal, Reader, SessionDep, TodayDep, require
from serving.dunning import scenario_names
from serving.inputs import Offset
from serving.ratelimit import RateLimited
from serving.retry import RETRIES, retryable
from serving.stored_risk import refresh_after_ingest

router = APIRouter(prefix="/api/v1", tags=["ledger"])
# agents (their portfolio), analysts and admins set statuses; billing sets them by ingestion
StatusWriter = Annotated[Principal, Depends(require("agent", "analyst"))]


class CurrencyBalance(BaseModel):
    currency: str
    open_invoices: int
    open_balance: Decimal
    overdue_invoices: int
    overdue_balance: Decimal


class CustomerOut(CustomerBase):
    credit_balance: Decimal
    on_hold: bool
    assigned_agent: str | None
    invoices: int
    open_invoices: int
    open_balance: Decimal
    overdue_invoices: int
    overdue_balance: Decimal
    # the balances above are in `currency` (the customer's); each currency's own in by_currency,
    # others converted at today's rates (rate_date), those without a rate left out (unconverted)
    rate_date: dt.date | None = None
    unconverted: list[str] = []
    by_currency: list[CurrencyBalance] = []
    # payment terms beyond the legal maximum (L441-10 I): said to whoever reads the customer
    warnings: list[dict[str, str]] = []
    # kind of debtor, hold, insolvency and its claim-filing deadline, in sentences (fr, en)
    statuses: list[dict] = []


class InvoiceOut(InvoiceBase):
    open_amount: Decimal
    settled_on: dt.date | None
    status: str
    days_late: int | None


class InvoicePage(BaseModel):
    items: list[InvoiceOut]
    total: int
    limit: int
    offset: int


def invoice_out(invoice, today: dt.date) -> InvoiceOut:
    # days late so far for an open invoice, final for a settled one; none for a credit note
    days_late = None
    if invoice.kind == "invoice":
        days_late = max(((invoice.settled_on or today) - invoice.due_date).days, 0)
    return InvoiceOut(**invoice.model_dump(), status=store.invoice_status(invoice, today),
                      days_late=days_late)


@router.post("/ingest", response_model=IngestResult, dependencies=[RateLimited])
def ingest(batch: IngestBatch, session: SessionDep, principal: Ingester, request: Request,
           background: BackgroundTasks, today: TodayDep) -> IngestResult:
    """Upsert customers, invoices, payments (and disputes): idempotent, all or nothing."""
    for attempt in range(RETRIES):
        try:
            result = ingest_and_apply(session=session, batch=batch, actor=principal.actor, today=today,
                                      scenario_names=scenario_names(session))
            session.commit()
            # the touched customers' stored risks, recomputed once the answer is sent
            background.add_task(refresh_after_ingest, request.app, batch, today)
            return result
        except (OperationalError, DBAPIError) as exc:
            # a deadlock or serialization failure between concurrent batches: replay the batch
            session.rollback()
            if attempt == RETRIES - 1 or not retryable(exc):
                raise
    raise AssertionError("unreachable")


@router.get("/customers/{customer_id}", response_model=CustomerOut)
def get_customer(customer_id: str, session: SessionDep, _: Reader, today: TodayDep) -> CustomerOut:
    """One customer with its balances."""
    customer = store.get_customer(session=session, customer_id=customer_id)
    summary = store.customer_summary(session=session, customer_id=customer_id, today=today)
    warnings = [] if customer.payment_terms_days is None else [
        {"code": w.code, "fr": w.fr, "en": w.en}
        for w in terms_warnings(terms_days=customer.payment_terms_days)]
    return CustomerOut(**customer.model_dump(), **summary, warnings=warnings,
                       statuses=status_sentences(customer, today))


@router.patch("/customers/{customer_id}", response_model=CustomerOut)
def patch_customer(customer_id: str, data: CustomerStatusUpdate, session: SessionDep,
                   principal: StatusWriter, today: TodayDep) -> CustomerOut:
    """Set a customer's type, hold (reason, end date) or insolvency date; agents: their portfolio."""
    # an agent's key reaches here only for a customer of their portfolio: the router-wide
    # object-level check (serving.deps.portfolio_scope) answers 404 for the path's customer_id
    update_status(session=session, customer_id=customer_id, data=data, actor=principal.actor,
                  today=today)
    session.commit()
    return get_customer(customer_id, session, principal, today)


@router.get("/invoices/{invoice_id}", response_model=InvoiceOut)
def get_invoice(invoice_id: str, session: SessionDep, _: InvoiceReader, today: TodayDep) -> InvoiceOut:
    """One invoice (or credit note), its open amount, settled date and status."""
    return invoice_out(store.get_invoice(session=session, invoice_id=invoice_id), today)


@router.get("/invoices", response_model=InvoicePage)
def list_invoices(session: SessionDep, _: InvoiceReader, today: TodayDep, portfolio: PortfolioDep,
                  status: Annotated[str | None, Query(pattern="^(open|overdue|settled)$")] = None,
                  customer_id: str | None = None,
                  limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                  offset: Offset = 0) -> InvoicePage:
    """Invoices, oldest due first, filtered by status and customer, paginated."""
    rows, total = store.list_invoices(session=session, status=status, customer_id=customer_id,
                                      today=today, limit=limit, offset=offset,
                                      agent=portfolio.agent)
    return InvoicePage(items=[invoice_out(row, today) for row in rows], total=total, limit=limit,
                       offset=offset)
