"""Penalty invoices (factures de pénalités) for invoices paid late.

A manager asks for one (API `POST /penalty-invoices`, CLI `relance penalties invoice`); Relance
computes, per invoice paid after its due date, the interest on each part from the day after the
due date to the day it was paid and the 40 € recovery indemnity (`ledger.law.late_payment_claim`,
by kind of debtor), and stores one `PenaltyInvoice` per customer and currency with one
`PenaltyCharge` line per invoice charged. UNIQUE(invoice_id) on the lines is what makes it
idempotent, in the database itself: an invoice is never charged twice, even by two managers at
once. The penalty invoice is a ledger record for the billing system to issue and collect; it is
not an `Invoice` row, so it is neither allocated payments nor chased by the dunning run.
"""
from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from ledger.errors import FieldError, LedgerValidationError, NotFoundError
from ledger.law import late_payment_claim
from ledger.tables import (
    Allocation,
    AuditLog,
    Customer,
    Invoice,
    PenaltyCharge,
    PenaltyInvoice,
    record_event,
)

ZERO = Decimal("0.00")


def _candidates(session: Session, customer_id: str) -> list[Invoice]:
    """The customer's invoices settled after their due date, oldest due first."""
    return list(session.execute(
        select(Invoice).where(Invoice.customer_id == customer_id, Invoice.kind == "invoice",
                              Invoice.settled_on.is_not(None), Invoice.settled_on > Invoice.due_date)
        .order_by(Invoice.due_date, Invoice.invoice_id)).scalars())


def _charged(session: Session, invoice_ids: Sequence[str]) -> dict[str, str]:
    if not invoice_ids:
        return {}
    return dict(session.execute(
        select(PenaltyCharge.invoice_id, PenaltyCharge.penalty_invoice_id)
        .where(PenaltyCharge.invoice_id.in_(list(invoice_ids)))).all())


def _paid_parts(session: Session, invoice_ids: Sequence[str]) -> dict[str, list[tuple[Decimal, dt.date]]]:
    parts: dict[str, list[tuple[Decimal, dt.date]]] = defaultdict(list)
    for invoice_id, amount, on in session.execute(
            select(Allocation.invoice_id, Allocation.amount, Allocation.allocated_on)
            .where(Allocation.invoice_id.in_(list(invoice_ids)))):
        parts[invoice_id].append((Decimal(amount), on))
    return parts


def create_penalty_invoices(*, session: Session, customer_id: str, today: dt.date, actor: str,
                            invoice_ids: Sequence[str] | None = None) -> dict[str, Any]:
    """Charge the customer's invoices paid late and not yet charged (or those named).

    Returns ``{"created": [PenaltyInvoice…], "already_invoiced": {invoice_id: penalty id}}``;
    nothing to charge is not an error (the call is idempotent). An invoice named that is not the
    customer's, or was not paid late, is a validation error naming it."""
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFoundError("customer", customer_id)
    if customer.customer_type == "consumer":
        raise LedgerValidationError([FieldError(
            "customer_id", f"customer {customer_id!r} is a consumer: no late-payment penalties "
                           "(L441-10) nor recovery indemnity can be invoiced")])
    late = {i.invoice_id: i for i in _candidates(session, customer_id)}
    if invoice_ids:
        errors = []
        for index, invoice_id in enumerate(invoice_ids):
            if invoice_id not in late:
                invoice = session.get(Invoice, invoice_id)
                why = ("is not an invoice of this customer" if invoice is None
                       or invoice.customer_id != customer_id or invoice.kind != "invoice"
                       else "is not paid yet" if invoice.settled_on is None
                       else "was paid on time")
                errors.append(FieldError(f"invoice_ids[{index}]", f"invoice {invoice_id!r} {why}"))
        if errors:
            raise LedgerValidationError(errors)
        wanted = [late[i] for i in dict.fromkeys(invoice_ids)]
    else:
        wanted = list(late.values())
    already = _charged(session, [i.invoice_id for i in wanted])
    todo = [i for i in wanted if i.invoice_id not in already]
    parts = _paid_parts(session, [i.invoice_id for i in todo])
    by_currency: dict[str, list[tuple[Invoice, Any]]] = defaultdict(list)
    for invoice in todo:
        line = late_payment_claim(invoice_id=invoice.invoice_id, due_date=invoice.due_date,
                                  currency=invoice.currency, paid_parts=parts.get(invoice.invoice_id, []),
                                  customer_type=customer.customer_type, session=session)
        if line is not None:
            by_currency[invoice.currency].append((invoice, line))
    created = []
    for currency, lines in sorted(by_currency.items()):
        created.append(_store(session, customer, currency, lines, today=today, actor=actor))
    session.flush()
    return {"created": created, "already_invoiced": already}


def _indemnity_parts(line) -> tuple[Decimal, Decimal]:
    if line.indemnity is None:
        return ZERO, ZERO
    return (line.indemnity.amount if line.indemnity.amount is not None else ZERO), line.indemnity.eur


def _store(session: Session, customer: Customer, currency: str, lines, *, today: dt.date,
           actor: str) -> PenaltyInvoice:
    interest = sum((line.interest for _, line in lines), ZERO)
    indemnity = sum((_indemnity_parts(line)[0] for _, line in lines), ZERO)
    indemnity_eur = sum((_indemnity_parts(line)[1] for _, line in lines), ZERO)
    record = PenaltyInvoice(
        penalty_invoice_id=f"PEN-{uuid.uuid4().hex[:12].upper()}", customer_id=customer.customer_id,
        issue_date=today, due_date=today, currency=currency, customer_type=customer.customer_type,
        interest=interest, indemnity=indemnity, indemnity_eur=indemnity_eur,
        total=interest + indemnity, created_by=actor)
    session.add(record)
    session.flush()
    for invoice, line in lines:
        amount, eur = _indemnity_parts(line)
        session.add(PenaltyCharge(
            penalty_invoice_id=record.penalty_invoice_id, invoice_id=invoice.invoice_id,
            due_date=invoice.due_date, paid_on=line.until, amount_late=line.amount,
            days_late=line.days, rates_percent=[str(r) for r in line.rates_percent],
            interest=line.interest, indemnity=amount, indemnity_eur=eur, notes=list(line.notes)))
    session.flush()  # the unique line key refuses an invoice charged meanwhile by someone else
    payload = {"customer_id": customer.customer_id, "currency": currency, "total": str(record.total),
               "invoice_ids": [invoice.invoice_id for invoice, _ in lines]}
    session.add(AuditLog(actor=actor, action="penalty_invoice.create", entity="penalty_invoice",
                         entity_id=record.penalty_invoice_id, after=payload))
    record_event(session, type="penalty_invoice.created", entity_id=record.penalty_invoice_id,
                 payload=payload)
    return record


def penalty_charges(session: Session, penalty_invoice_ids: Sequence[str]) -> dict[str, list[PenaltyCharge]]:
    found: dict[str, list[PenaltyCharge]] = defaultdict(list)
    if penalty_invoice_ids:
        for charge in session.execute(
                select(PenaltyCharge).where(PenaltyCharge.penalty_invoice_id.in_(list(penalty_invoice_ids)))
                .order_by(PenaltyCharge.due_date, PenaltyCharge.invoice_id)).scalars():
            found[charge.penalty_invoice_id].append(charge)
    return found


def list_penalty_invoices(session: Session, *, customer_id: str | None = None,
                          limit: int = 100, offset: int = 0) -> list[PenaltyInvoice]:
    query = select(PenaltyInvoice)
    if customer_id is not None:
        query = query.where(PenaltyInvoice.customer_id == customer_id)
    return list(session.execute(query.order_by(PenaltyInvoice.created_at.desc(),
                                                PenaltyInvoice.penalty_invoice_id)
                                .limit(limit).offset(offset)).scalars())
