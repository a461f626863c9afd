"""Open items ("balance âgée") from packages that cannot export their lettering.

A CSV with one row per open item: customer, invoice, issue date, due date, amount, open amount.
A mapping file (TOML) names the file's own columns and format, so any package's export can be
read without editing it:

    [columns]                      # field = "the column's header in the file"
    customer_id = "Code client"
    customer_name = "Raison sociale"   # optional
    invoice_id = "Pièce"
    issue_date = "Date"
    due_date = "Échéance"
    amount = "Montant TTC"
    open_amount = "Reste dû"
    [format]                       # all optional; these are the defaults
    separator = ";"
    decimal = ","
    date_format = "%d/%m/%Y"
    encoding = "auto"              # auto (UTF-8, else Latin-1) | utf-8 | latin-1

Each row becomes an invoice of `amount`; what is already paid (amount − open amount) becomes a
payment `OI-<invoice>` naming the invoice, dated on the issue date (the file does not say when).
A negative row (a credit note or an unused receipt) becomes a credit note of its open amount,
kept as customer credit. Every row is validated as `/ingest` validates a record; bad rows are
all reported (line and column) and nothing is imported.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import tomllib
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

from pydantic import ValidationError
from sqlmodel import Session

from ledger.effects import ingest_and_apply
from ledger.errors import FieldError, LedgerValidationError
from ledger.links import Link, LinkSet
from ledger.schemas import IngestBatch, IngestResult

REQUIRED = ("customer_id", "invoice_id", "issue_date", "due_date", "amount", "open_amount")
OPTIONAL = ("customer_name",)
MAX_ROWS = 1_000_000
ZERO = Decimal("0")


@dataclass(frozen=True)
class Mapping:
    columns: dict[str, str]
    separator: str = ";"
    decimal: str = ","
    date_format: str = "%d/%m/%Y"
    encoding: str = "auto"


@dataclass
class OpenItemsReport:
    rows: int = 0
    invoices: int = 0
    credit_notes: int = 0
    payments: int = 0
    open_amount: Decimal = ZERO
    result: IngestResult | None = None
    errors: list[FieldError] = field(default_factory=list)


def read_mapping(text: str) -> Mapping:
    """The mapping file; raises LedgerValidationError naming what is missing or wrong."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise LedgerValidationError([FieldError("mapping", f"not a TOML file: {exc}")]) from None
    columns = data.get("columns")
    fmt = data.get("format", {})
    errors = []
    if not isinstance(columns, dict):
        errors.append(FieldError("mapping.columns", "missing [columns] table"))
        columns = {}
    for name in REQUIRED:
        if not isinstance(columns.get(name), str) or not columns[name].strip():
            errors.append(FieldError(f"mapping.columns.{name}", "missing: the header of this column in the file"))
    unknown = set(columns) - set(REQUIRED) - set(OPTIONAL)
    errors += [FieldError(f"mapping.columns.{name}", "unknown field") for name in sorted(unknown)]
    if not isinstance(fmt, dict):
        errors.append(FieldError("mapping.format", "must be a table"))
        fmt = {}
    separator = fmt.get("separator", ";")
    if separator not in (";", ",", "\t", "|"):
        errors.append(FieldError("mapping.format.separator", "one of ; , | or a tab"))
    if fmt.get("decimal", ",") not in (",", "."):
        errors.append(FieldError("mapping.format.decimal", "a comma or a point"))
    if fmt.get("encoding", "auto") not in ("auto", "utf-8", "latin-1", "cp1252"):
        errors.append(FieldError("mapping.format.encoding", "auto, utf-8, latin-1 or cp1252"))
    date_format = fmt.get("date_format", "%d/%m/%Y")
    if not isinstance(date_format, str) or not any(c in date_format for c in ("%d", "%j")):
        errors.append(FieldError("mapping.format.date_format", "a strftime format such as %d/%m/%Y"))
    if errors:
        raise LedgerValidationError(errors)
    return Mapping(columns={k: v.strip() for k, v in columns.items()}, separator=separator,
                   decimal=fmt.get("decimal", ","), date_format=date_format, encoding=fmt.get("encoding", "auto"))


def import_open_items(*, session: Session, source: bytes | Path, mapping: Mapping, actor: str,
                      today: dt.date, dry_run: bool = False) -> OpenItemsReport:
    """Import an aged balance in the caller's transaction (the caller commits)."""
    data = source.read_bytes() if isinstance(source, Path) else source
    rows, report = _rows(data, mapping)
    if report.errors:
        raise LedgerValidationError(report.errors)
    customers: dict[str, dict] = {}
    invoices, payments, origin = [], [], []
    for line, row in rows:
        customer = customers.setdefault(row["customer_id"], {"customer_id": row["customer_id"]})
        if row.get("customer_name"):
            customer["name"] = row["customer_name"][:200]
        report.open_amount += row["open_amount"]
        if row["amount"] < ZERO:
            invoices.append({"invoice_id": row["invoice_id"], "customer_id": row["customer_id"],
                             "issue_date": row["issue_date"], "due_date": max(row["due_date"], row["issue_date"]),
                             "amount": -row["open_amount"], "kind": "credit_note"})
            report.credit_notes += 1
        else:
            invoices.append({"invoice_id": row["invoice_id"], "customer_id": row["customer_id"],
                             "issue_date": row["issue_date"], "due_date": row["due_date"], "amount": row["amount"]})
            report.invoices += 1
            if row["open_amount"] < row["amount"]:
                payments.append({"payment_id": f"OI-{row['invoice_id']}"[:64], "customer_id": row["customer_id"],
                                 "paid_on": row["issue_date"], "amount": row["amount"] - row["open_amount"],
                                 "invoice_id": row["invoice_id"]})
        origin.append(line)
    report.payments = len(payments)
    try:
        batch = IngestBatch.model_validate({"customers": list(customers.values()), "invoices": invoices,
                                            "payments": payments})
    except ValidationError as exc:
        raise LedgerValidationError([
            FieldError(_where(error["loc"], origin, payments), error["msg"]) for error in exc.errors(include_url=False)
        ]) from None
    if dry_run:
        return report
    notes = [i for i in batch.invoices if i.kind == "credit_note"]
    # an open credit in an aged balance is the customer's: kept as credit, never applied oldest first
    links = LinkSet(sources={("credit_note", n.invoice_id) for n in notes},
                    links=[Link(n.customer_id, "credit_note", n.invoice_id, None, None, "open-items") for n in notes])
    report.result = ingest_and_apply(session=session, batch=batch, actor=actor, today=today, source="open-items",
                                     links=links)
    return report


def _where(loc: tuple, origin: list[int], payments: list[dict]) -> str:
    table, index, *rest = (*loc, "")
    name = rest[0] if rest and rest[0] != "" else "*"
    if table == "invoices" and isinstance(index, int):
        return f"line {origin[index]}, {name}"
    if table == "payments" and isinstance(index, int):
        return f"invoice {payments[index]['invoice_id']}, paid part: {name}"
    return f"{table}, {name}"


def _decode(data: bytes, encoding: str) -> str:
    if encoding != "auto":
        return data.decode(encoding, errors="replace").lstrip("\ufeff")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _rows(data: bytes, mapping: Mapping) -> tuple[list[tuple[int, dict]], OpenItemsReport]:
    report = OpenItemsReport()
    reader = csv.reader(io.StringIO(_decode(data, mapping.encoding)), delimiter=mapping.separator)
    header = next(reader, None)
    if header is None:
        report.errors.append(FieldError("line 1", "the file is empty"))
        return [], report
    names = [h.strip() for h in header]
    at: dict[str, int] = {}
    for field_name, column in mapping.columns.items():
        if column not in names:
            report.errors.append(FieldError(f"line 1, {column}", f"column {column!r} ({field_name}) not in the header"))
        else:
            at[field_name] = names.index(column)
    if report.errors:
        return [], report
    rows = []
    for line, values in enumerate(reader, start=2):
        if not any(v.strip() for v in values):
            continue
        if line > MAX_ROWS:
            report.errors.append(FieldError(f"line {line}", f"more than {MAX_ROWS} rows"))
            break
        row, problems = _row(values, at, mapping, line)
        report.errors += problems
        if not problems:
            rows.append((line, row))
    report.rows = len(rows)
    return rows, report


def _row(values: list[str], at: dict[str, int], mapping: Mapping, line: int) -> tuple[dict, list[FieldError]]:
    row: dict = {}
    problems: list[FieldError] = []
    for name, index in at.items():
        column = mapping.columns[name]
        raw = values[index].strip() if index < len(values) else ""
        try:
            if name in ("amount", "open_amount"):
                row[name] = _amount(raw, mapping.decimal)
            elif name in ("issue_date", "due_date"):
                row[name] = _date(raw, mapping.date_format)
            else:
                row[name] = raw
        except ValueError as exc:
            problems.append(FieldError(f"line {line}, {column}", str(exc)))
    if not problems:
        amount, open_amount = row["amount"], row["open_amount"]
        if (amount >= ZERO and not ZERO <= open_amount <= amount) or (amount < ZERO and not amount <= open_amount <= ZERO):
            problems.append(FieldError(f"line {line}, {mapping.columns['open_amount']}",
                                       f"open amount {open_amount} must lie between 0 and the amount {amount}"))
        elif amount == ZERO:
            problems.append(FieldError(f"line {line}, {mapping.columns['amount']}", "the amount is zero"))
    return row, problems


def _amount(raw: str, decimal: str) -> Decimal:
    text = raw.replace(" ", "").replace("\u00a0", "").replace("\u202f", "")
    if decimal == ",":
        text = text.replace(".", "").replace(",", ".")
    else:
        text = text.replace(",", "")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"unparsable amount {raw[:40]!r}") from None
    if not value.is_finite() or value.adjusted() >= 15 or value != value.quantize(Decimal("0.01")):
        raise ValueError(f"amount {raw[:40]!r}: at most 15 integer digits and 2 decimals")
    return value.quantize(Decimal("0.01"))


def _date(raw: str, date_format: str) -> dt.date:
    try:
        value = dt.datetime.strptime(raw, date_format).date()
    except ValueError:
        raise ValueError(f"unparsable date {raw[:40]!r} (expected {date_format})") from None
    if not 1900 <= value.year <= 2199:
        raise ValueError(f"date {raw[:40]!r} outside 1900–2199")
    return value
