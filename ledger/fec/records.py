"""Ledger records from classified FEC lines, validated exactly as `/ingest` validates a batch.

Nothing is built unchecked: every customer, invoice, credit note and payment goes through the same
pydantic models as an API body, and a record the ledger would refuse is reported against the FEC
line (and column) it came from.
"""
from __future__ import annotations

import datetime as dt

import pandas as pd
from pydantic import ValidationError

from ledger.fec.reading import DUE_DATE
from ledger.fec.report import FecIssue, FecReport, FecValidationError
from ledger.schemas import IngestBatch

# where each record field comes from in the FEC, to name the column of a refused value
COLUMN_OF = {"customer_id": "CompAuxNum", "name": "CompAuxLib", "invoice_id": "PieceRef",
             "payment_id": "PieceRef", "issue_date": "PieceDate", "paid_on": "PieceDate",
             "due_date": DUE_DATE, "amount": "Debit/Credit", "applies_to": "EcritureLib",
             "payment_terms_days": "terms"}


def build_batch(*, customers: pd.DataFrame, documents: pd.DataFrame, payments: pd.DataFrame,
                report: FecReport) -> IngestBatch:
    """Validate every record; raise FecValidationError naming each refused line and column."""
    customer_rows = [_customer(row) for row in customers.to_dict("records")]
    invoice_rows = [
        {"invoice_id": i, "customer_id": c, "issue_date": on, "due_date": due, "amount": amount,
         "kind": kind, "applies_to": target if isinstance(target, str) else None}
        for i, c, on, due, amount, kind, target in zip(
            documents["id"], documents["customer_id"], _dates(documents["on"]), _dates(documents["due"]),
            documents["amount"], documents["kind"], documents["applies_to"], strict=True)]
    payment_rows = [
        {"payment_id": i, "customer_id": c, "paid_on": on, "amount": amount,
         "invoice_id": invoice if isinstance(invoice, str) else None}
        for i, c, on, amount, invoice in zip(
            payments["id"], payments["customer_id"], _dates(payments["on"]), payments["amount"],
            payments["invoice_id"], strict=True)]
    try:
        return IngestBatch.model_validate({"customers": customer_rows, "invoices": invoice_rows,
                                           "payments": payment_rows})
    except ValidationError as exc:
        sources = {"customers": customers["line"].tolist(), "invoices": documents["line"].tolist(),
                   "payments": payments["line"].tolist()}
        for error in exc.errors(include_url=False):
            table, index, *rest = (*error["loc"], "")
            name = str(rest[0]) if rest and rest[0] != "" else "*"
            line = sources.get(str(table), [0])[index] if isinstance(index, int) else 0
            report.issues.append(FecIssue(int(line), COLUMN_OF.get(name, name),
                                          f"{name}: {error['msg']}"))
        raise FecValidationError(report) from None


def _customer(row: dict) -> dict:
    values = {"customer_id": row["customer_id"]}
    if row.get("name"):
        values["name"] = row["name"]
    if row.get("payment_terms_days") is not None and not pd.isna(row["payment_terms_days"]):
        values["payment_terms_days"] = int(row["payment_terms_days"])
    return values


def _dates(values: pd.Series) -> list[dt.date | None]:
    # vectorised conversion (a Timestamp.date() call per value costs seconds at 300,000 records)
    return [None if d is pd.NaT else d for d in pd.to_datetime(values).dt.date]
