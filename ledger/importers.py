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

from ledger.bulk import python_defaults
from ledger.effects import ingest_and_apply
from ledger.errors import FieldError, LedgerValidationError
from ledger.ledger_dir import ledger_tables, read_table
from ledger.schemas import CustomerIn, DisputeIn, IngestBatch, IngestResult, InvoiceIn, PaymentIn
from ledger.tables import DunningAction, Invoice, Promise, PromiseInvoice
from ledger.workflow import PromiseStatus

SCHEMA_BY_TABLE = {"customers": CustomerIn, "invoices": InvoiceIn, "payments": PaymentIn,
                   "disputes": DisputeIn}


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


def import_ledger_dir(*, session: Session, directory: str | Path, actor: str, today: dt.date,
                      scenario_names: Collection[str] | None = None) -> IngestResult:
    """Load a ledger directory (or the IBM sample) in one transaction of the caller's session,
    with its contact history (`reminders.csv`, `promises.csv`) when present.

    `today`: the date the ingestion's effects are applied as of (`ledger.effects`).
    Errors name the file, line and column (`customers.csv line 7, column dunning_scenario`)."""
    directory = Path(directory)
    batch = batch_from_tables(ledger_tables(directory))
    contacts = {name: _contact_rows(directory, name) for name in ("reminders", "promises")}
    try:
        result = ingest_and_apply(session=session, batch=batch, actor=actor, today=today,
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
_PROMISE_STATUSES = {status.value for status in PromiseStatus}


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
