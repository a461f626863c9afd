"""Importers: a ledger directory (the contract of DESIGN.md), and the public IBM sample file.

Files are read as strings and validated record by record with the same schemas as the API, so a
bad line is reported as `invoices.csv line 7, column due_date: …` and nothing is imported.
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection
from decimal import Decimal, InvalidOperation
from pathlib import Path

import pandas as pd
from pydantic import TypeAdapter, ValidationError
from sqlalchemy import insert, select
from sqlmodel import Session

from ledger.errors import FieldError, LedgerError, LedgerValidationError
from ledger.frames import REQUIRED_FILES, read_table
from ledger.ingest import ingest, python_defaults
from ledger.schemas import CustomerIn, DisputeIn, IngestBatch, IngestResult, InvoiceIn, PaymentIn
from ledger.tables import DunningAction, Invoice, Promise, PromiseInvoice

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
    """Load a ledger directory (or the IBM sample) in one transaction of the caller's session,
    with its contact history (`reminders.csv`, `promises.csv`) when present.

    Errors name the file, line and column (`customers.csv line 7, column dunning_scenario`)."""
    directory = Path(directory)
    batch = batch_from_tables(ledger_tables(directory))
    contacts = {name: _contact_rows(directory, name) for name in ("reminders", "promises")}
    try:
        result = ingest(session=session, batch=batch, actor=actor,
                        source=f"import:{directory.name}", scenario_names=scenario_names)
    except LedgerValidationError as exc:
        raise LedgerValidationError([FieldError(_file_field(e.field), e.message)
                                     for e in exc.errors]) from exc
    _import_reminders(session, contacts["reminders"])
    _import_promises(session, contacts["promises"])
    return result


_BATCH_FIELD = re.compile(r"^(?P<table>[a-z]+)\[(?P<index>\d+)\]\.(?P<column>\w+)$")


def _file_field(field: str) -> str:
    """`customers[5].dunning_scenario` → `customers.csv line 7, column dunning_scenario` (rows
    are numbered from line 2, after the header)."""
    match = _BATCH_FIELD.match(field)
    if match is None:
        return field
    return (f"{match['table']}.csv line {int(match['index']) + 2}, "
            f"column {match['column']}")


# --- contact history: what was sent, what was promised (train = serve) -------------------------

_CHANNELS = {"email", "sms", "call", "letter", "formal_notice", "legal"}
_PROMISE_STATUSES = {"open", "kept", "broken", "cancelled"}


def _contact_rows(directory: Path, name: str) -> list[dict]:
    """Rows of reminders.csv / promises.csv, checked; the error names the file, line, column."""
    table = read_table(directory, name)
    if table is None or table.empty:
        return []
    required = {"reminders": ["reminder_id", "invoice_id", "sent_on"],
                "promises": ["promise_id", "customer_id", "invoice_id", "created_on",
                             "promised_date", "amount"]}[name]
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise LedgerValidationError([FieldError(f"{name}.csv",
                                                f"missing required column(s): {', '.join(missing)}")])
    errors: list[FieldError] = []
    rows = []
    dates = {"reminders": ["sent_on"], "promises": ["created_on", "promised_date", "closed_on"]}[name]
    for line, record in enumerate(table.to_dict("records"), start=2):
        row = {k: (v if v != "" else None) for k, v in record.items()}
        for column in required:
            if not row.get(column) or len(str(row[column])) > 64:
                errors.append(FieldError(f"{name}.csv line {line}, column {column}",
                                         "required, at most 64 characters"))
        for column in dates:
            if row.get(column):
                try:
                    row[column] = dt.date.fromisoformat(str(row[column])[:10])
                except ValueError:
                    errors.append(FieldError(f"{name}.csv line {line}, column {column}",
                                             "not an ISO date (YYYY-MM-DD)"))
        if name == "reminders":
            channel = (row.get("channel") or "email").lower()
            if channel not in _CHANNELS:
                errors.append(FieldError(f"{name}.csv line {line}, column channel",
                                         f"one of {', '.join(sorted(_CHANNELS))}"))
            row["channel"] = channel
        else:
            status = (row.get("status") or "open").lower()
            if status not in _PROMISE_STATUSES:
                errors.append(FieldError(f"{name}.csv line {line}, column status",
                                         f"one of {', '.join(sorted(_PROMISE_STATUSES))}"))
            row["status"] = status
            try:
                row["amount"] = Decimal(str(row["amount"]))
            except (InvalidOperation, TypeError):
                errors.append(FieldError(f"{name}.csv line {line}, column amount", "not a number"))
        rows.append(row)
        if len(errors) >= 50:
            break
    if errors:
        raise LedgerValidationError(errors)
    return rows


def _import_reminders(session: Session, rows: list[dict]) -> int:
    """Reminders actually sent become sent dunning actions (idempotent on reminder_id and on
    one step per invoice); features read them back as the contact history."""
    if not rows:
        return 0
    known_invoices = _existing(session, Invoice.invoice_id, Invoice.invoice_id,
                               {r["invoice_id"] for r in rows})
    customer_of = dict(session.execute(select(Invoice.invoice_id, Invoice.customer_id).where(
        Invoice.invoice_id.in_(known_invoices))).all()) if known_invoices else {}
    seen = _existing(session, DunningAction.reminder_id, DunningAction.reminder_id,
                     {r["reminder_id"] for r in rows})
    steps = set(session.execute(select(DunningAction.invoice_id, DunningAction.step).where(
        DunningAction.invoice_id.in_(known_invoices))).all()) if known_invoices else set()
    new = []
    for row in rows:
        if row["invoice_id"] not in customer_of:
            raise LedgerValidationError([FieldError(
                "reminders.csv", f"reminder {row['reminder_id']} names unknown invoice "
                                 f"{row['invoice_id']}")])
        step = str(row.get("step") or row["reminder_id"])[:64]
        if row["reminder_id"] in seen or (row["invoice_id"], step) in steps:
            continue
        steps.add((row["invoice_id"], step))
        new.append({"customer_id": customer_of[row["invoice_id"]], "invoice_id": row["invoice_id"],
                    "reminder_id": row["reminder_id"], "step": step, "action": row["channel"],
                    "channel": row["channel"], "send_on": row["sent_on"], "state": "sent",
                    "created_by": "import"})
    if new:
        defaults = python_defaults(DunningAction.__table__, tuple(new[0]))
        session.execute(insert(DunningAction), [defaults | r for r in new])
    return len(new)


def _import_promises(session: Session, rows: list[dict]) -> int:
    """Promises to pay with their outcome (idempotent on promise_id)."""
    if not rows:
        return 0
    seen = _existing(session, Promise.promise_id, Promise.promise_id,
                     {r["promise_id"] for r in rows})
    invoices = _existing(session, Invoice.invoice_id, Invoice.invoice_id,
                         {r["invoice_id"] for r in rows})
    count = 0
    for row in rows:
        if row["promise_id"] in seen:
            continue
        if row["invoice_id"] not in invoices:
            raise LedgerValidationError([FieldError(
                "promises.csv", f"promise {row['promise_id']} names unknown invoice "
                                f"{row['invoice_id']}")])
        session.add(Promise(promise_id=row["promise_id"], customer_id=row["customer_id"],
                            amount=row["amount"], promised_date=row["promised_date"],
                            status=row["status"], created_on=row["created_on"],
                            closed_on=row.get("closed_on"), created_by="import"))
        session.add(PromiseInvoice(promise_id=row["promise_id"], invoice_id=row["invoice_id"]))
        count += 1
    session.flush()
    return count


def _existing(session: Session, column, key, values: set[str]) -> set[str]:
    found: set[str] = set()
    values = sorted(v for v in values if v)
    for start in range(0, len(values), 900):
        found |= set(session.execute(select(key).where(
            column.in_(values[start:start + 900]))).scalars())
    return found


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
