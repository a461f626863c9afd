"""Lines naming records the ledger already holds: opening balances ("à-nouveaux") carried from
an earlier file, and penalty invoices coming back. See docs/fec.md, "Opening balances".
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlmodel import Session

from ledger.fec.report import FecReport, Unplaced
from ledger.tables import Invoice, Payment, PenaltyInvoice

CHUNK = 500


def place_opening_lines(session: Session, lines: pd.DataFrame, report: FecReport) -> pd.DataFrame:
    """Mark each line `existing` (the record is already in the ledger) or `skipped`.

    An opening line whose id names a record of the same customer already in the ledger is that
    record (brought by the previous year's file): kept as it is, and still lettered. An opening
    line naming nothing known, for a customer who already has records dated before it, repeats a
    balance the ledger already holds (a consolidated "à-nouveau"): skipped and reported.
    """
    lines = lines.assign(existing=False, skipped=False)
    if not lines["opening"].any():
        return lines
    opening = lines[lines["opening"]]
    known_invoices = existing_ids(session, Invoice, Invoice.invoice_id, opening["id"],
                               (Invoice.customer_id, Invoice.kind))
    known_payments = existing_ids(session, Payment, Payment.payment_id, opening["id"], (Payment.customer_id,))
    first_dates = _first_dates(session, sorted(set(opening["customer_id"])))
    existing, kinds, skipped = [], [], []
    for row in opening[["id", "kind", "customer_id", "entry_date", "line", "amount"]].itertuples(index=False):
        invoice = known_invoices.get(row.id)
        payment = known_payments.get(row.id)
        same_invoice = invoice is not None and invoice[0] == row.customer_id
        if row.kind == "invoice":
            found, kind = same_invoice and invoice[1] == "invoice", row.kind
        elif same_invoice and invoice[1] == "credit_note":
            found, kind = True, "credit_note"
        else:
            found, kind = payment is not None and payment[0] == row.customer_id, row.kind
        first = first_dates.get(row.customer_id)
        skip = not found and first is not None and first < row.entry_date.date()
        if skip:
            report.unplaced.append(Unplaced(int(row.line), row.customer_id, row.id, row.amount,
                                            "opening_already_imported"))
        existing.append(found)
        kinds.append(kind)
        skipped.append(skip)
    lines.loc[opening.index, "existing"] = existing
    lines.loc[opening.index, "skipped"] = skipped
    lines.loc[opening.index, "kind"] = kinds
    lines["table"] = np.where(lines["kind"] == "payment", "payment", "invoice")
    return lines


def known_penalties(session: Session, lines: pd.DataFrame, report: FecReport) -> pd.DataFrame:
    """A debit naming a penalty invoice of the same customer (an export of ours, or the billing
    system's copy of it) is that penalty invoice: never made a chased invoice, reported."""
    debits = lines[(lines["kind"] == "invoice") & ~lines["existing"] & ~lines["skipped"]]
    known = existing_ids(session, PenaltyInvoice, PenaltyInvoice.penalty_invoice_id, debits["id"],
                      (PenaltyInvoice.customer_id,))
    if not known:
        return lines
    mask = lines.index.isin(debits.index) & np.array([known.get(i, ("",))[0] == c for i, c in
                                                      zip(lines["id"], lines["customer_id"], strict=True)])
    for row in lines[mask].itertuples():
        report.unplaced.append(Unplaced(int(row.line), row.customer_id, row.id, row.amount, "penalty_invoice"))
    lines.loc[mask, "skipped"] = True
    return lines


def existing_ids(session: Session, table, key, ids: pd.Series, columns: tuple) -> dict[str, tuple]:
    wanted = sorted(set(ids))
    found: dict[str, tuple] = {}
    for start in range(0, len(wanted), CHUNK):
        for row in session.execute(select(key, *columns).where(key.in_(wanted[start:start + CHUNK]))):
            found[row[0]] = tuple(row[1:])
    return found


def _first_dates(session: Session, customer_ids: list[str]):
    """The earliest record date of each customer already in the ledger."""
    first: dict = {}
    for start in range(0, len(customer_ids), CHUNK):
        chunk = customer_ids[start:start + CHUNK]
        for query in (select(Invoice.customer_id, func.min(Invoice.issue_date))
                      .where(Invoice.customer_id.in_(chunk)).group_by(Invoice.customer_id),
                      select(Payment.customer_id, func.min(Payment.paid_on))
                      .where(Payment.customer_id.in_(chunk)).group_by(Payment.customer_id)):
            for customer_id, on in session.execute(query):
                if on is not None and (customer_id not in first or on < first[customer_id]):
                    first[customer_id] = on
    return first
