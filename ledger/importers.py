"""Importers: a ledger directory (the contract of DESIGN.md), and the public IBM sample file.

Files are read as strings and validated record by record with the same schemas as the API, so a
bad line is reported as `invoices.csv line 7, column due_date: …` and nothing is imported.
"""
from __future__ import annotations

import re
from collections.abc import Collection
from pathlib import Path

import pandas as pd
from pydantic import TypeAdapter, ValidationError
from sqlmodel import Session

from ledger.errors import FieldError, LedgerError, LedgerValidationError
from ledger.frames import REQUIRED_FILES, read_table
from ledger.ingest import ingest
from ledger.schemas import CustomerIn, DisputeIn, IngestBatch, IngestResult, InvoiceIn, PaymentIn

IBM_FILE = "WA_Fn-UseC_-Accounts-Receivable.csv"
SCHEMA_BY_TABLE = {"customers": CustomerIn, "invoices": InvoiceIn, "payments": PaymentIn,
                   "disputes": DisputeIn}


def is_ibm_dir(directory: Path) -> bool:
    return (directory / IBM_FILE).exists() and not (directory / "customers.csv").exists()


def ledger_tables(directory: str | Path) -> dict[str, pd.DataFrame]:
    """The tables of a ledger directory (or of the IBM sample, adapted) as string frames."""
    directory = Path(directory)
    if not directory.is_dir():
        raise LedgerError(f"{directory}: not a directory")
    if is_ibm_dir(directory):
        return ibm_tables(directory / IBM_FILE)
    tables = {name: read_table(directory, name) for name in SCHEMA_BY_TABLE}
    missing = [name for name in REQUIRED_FILES if tables[name] is None]
    if missing:
        raise LedgerError(f"{directory}: missing {', '.join(name + '.csv' for name in missing)}")
    return {name: table for name, table in tables.items() if table is not None}


def batch_from_tables(tables: dict[str, pd.DataFrame]) -> IngestBatch:
    """Validate every row; the error names the file, the line and the column."""
    errors: list[FieldError] = []
    records: dict[str, list] = {}
    for name, schema in SCHEMA_BY_TABLE.items():
        table = tables.get(name)
        if table is None:
            continue
        fields = [c for c in table.columns if c in schema.model_fields]
        missing = [f for f, info in schema.model_fields.items() if info.is_required() and f not in fields]
        if missing:
            errors.append(FieldError(f"{name}.csv", f"missing required column(s): {', '.join(missing)}"))
            continue
        rows = [{k: v for k, v in row.items() if v != ""} for row in table[fields].to_dict("records")]
        try:
            records[name] = TypeAdapter(list[schema]).validate_python(rows)
        except ValidationError as exc:
            for error in exc.errors()[:50]:
                index, *column = error["loc"]
                errors.append(FieldError(
                    f"{name}.csv line {int(index) + 2}" + (f", column {column[0]}" if column else ""),
                    error["msg"]))
    if errors:
        raise LedgerValidationError(errors)
    return IngestBatch.model_construct(**{name: records.get(name, []) for name in SCHEMA_BY_TABLE})


def import_ledger_dir(*, session: Session, directory: str | Path, actor: str,
                      scenario_names: Collection[str] | None = None) -> IngestResult:
    """Load a ledger directory (or the IBM sample) in one transaction of the caller's session.

    Errors name the file, line and column (`customers.csv line 7, column dunning_scenario`)."""
    batch = batch_from_tables(ledger_tables(directory))
    try:
        return ingest(session=session, batch=batch, actor=actor,
                      source=f"import:{Path(directory).name}", scenario_names=scenario_names)
    except LedgerValidationError as exc:
        raise LedgerValidationError([FieldError(_file_field(e.field), e.message)
                                     for e in exc.errors]) from exc


_BATCH_FIELD = re.compile(r"^(?P<table>[a-z]+)\[(?P<index>\d+)\]\.(?P<column>\w+)$")


def _file_field(field: str) -> str:
    """`customers[5].dunning_scenario` → `customers.csv line 7, column dunning_scenario` (rows
    are numbered from line 2, after the header)."""
    match = _BATCH_FIELD.match(field)
    if match is None:
        return field
    return (f"{match['table']}.csv line {int(match['index']) + 2}, "
            f"column {match['column']}")


def ibm_tables(path: str | Path) -> dict[str, pd.DataFrame]:
    """The IBM "Accounts Receivable" sample, adapted to the ledger contract.

    - one customer per customerID; its countryCode (not ISO) becomes the segment `country-391`;
    - one invoice per invoiceNumber (read as a string: leading zeros matter), amount in EUR;
    - one payment per invoice, on SettledDate, naming the invoice;
    - Disputed=Yes becomes a dispute opened halfway between issue and settlement and resolved on
      settlement: it is not an issue-time fact, so it must only be known from its own date on.
    DaysToSettle and DaysLate are dropped: they are the label in disguise.
    """
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    dates = {c: pd.to_datetime(raw[c], format="%m/%d/%Y") for c in ("InvoiceDate", "DueDate", "SettledDate")}
    iso = {c: dates[c].dt.strftime("%Y-%m-%d") for c in dates}
    customers = (raw.groupby("customerID", sort=True)["countryCode"].first().reset_index()
                 .rename(columns={"customerID": "customer_id"}))
    customers = pd.DataFrame({
        "customer_id": customers["customer_id"], "name": "Client " + customers["customer_id"],
        "segment": "country-" + customers["countryCode"], "language": "en",
        "payment_terms_days": "30", "currency": "EUR"})
    invoices = pd.DataFrame({
        "invoice_id": raw["invoiceNumber"], "customer_id": raw["customerID"],
        "issue_date": iso["InvoiceDate"], "due_date": iso["DueDate"],
        "amount": raw["InvoiceAmount"], "currency": "EUR", "kind": "invoice"})
    payments = pd.DataFrame({
        "payment_id": "PAY-" + raw["invoiceNumber"], "customer_id": raw["customerID"],
        "paid_on": iso["SettledDate"], "amount": raw["InvoiceAmount"], "currency": "EUR",
        "invoice_id": raw["invoiceNumber"]})
    disputed = raw["Disputed"].str.lower() == "yes"
    opened = dates["InvoiceDate"] + (dates["SettledDate"] - dates["InvoiceDate"]) / 2
    disputes = pd.DataFrame({
        "dispute_id": "DSP-" + raw.loc[disputed, "invoiceNumber"],
        "invoice_id": raw.loc[disputed, "invoiceNumber"],
        "opened_on": opened[disputed].dt.strftime("%Y-%m-%d"), "reason": "other",
        "status": "resolved_rejected", "resolved_on": iso["SettledDate"][disputed]})
    return {"customers": customers, "invoices": invoices, "payments": payments, "disputes": disputes}
