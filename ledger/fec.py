"""The French FEC (Fichier des Écritures Comptables, art. A47 A-1 LPF): read, validate, import, write.

Every French accounting package (Sage, Cegid, EBP, SAP, Pennylane) exports the FEC: one line per
accounting line, 18 columns, tab- or pipe-separated, dates AAAAMMJJ, amounts with a decimal comma
or point, in UTF-8 or Latin-1. What the ledger takes from it:

- customer sub-ledger accounts (CompteNum 411…, CompAuxNum/CompAuxLib) become customers;
- a debit on a customer account is an invoice (id PieceRef, issued on PieceDate, else EcritureDate);
- a credit on a customer account is a payment when it is booked in a bank/cash journal (BQ*, BAN*,
  CA*…) or its entry touches a bank/cash account (512…, 53…); otherwise (sales journal, reversal in
  an OD journal) it is a credit note;
- the lettering code (EcritureLet) names the invoice a payment settles when it matches exactly one
  invoice of the customer; otherwise the payment is left to the ledger's oldest-first allocation;
- the due date comes from an optional extra column (DateEcheance), else from the customer's terms.

Parsing and validation are vectorised (pandas), so a 1,000,000-line file takes seconds. A file with
bad lines is refused whole with a report of every offending line, unless `skip_invalid`: then only
whole valid entries (JournalCode + EcritureNum) are imported, never half an entry. Ids are the
billing system's own (PieceRef), so re-importing the same or a later FEC of the same books is an
idempotent upsert.
"""
from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlmodel import Session

from ledger.errors import FieldError, LedgerValidationError
from ledger.frames import LedgerFrames
from ledger.ingest import ingest
from ledger.models import Customer
from ledger.schemas import CustomerIn, IngestBatch, IngestResult, InvoiceIn, PaymentIn

FEC_COLUMNS = ("JournalCode", "JournalLib", "EcritureNum", "EcritureDate", "CompteNum", "CompteLib",
               "CompAuxNum", "CompAuxLib", "PieceRef", "PieceDate", "EcritureLib", "Debit", "Credit",
               "EcritureLet", "DateLet", "ValidDate", "Montantdevise", "Idevise")
# not in A47 A-1, but several packages add it; the ledger needs a due date
DUE_DATE_COLUMNS = ("DateEcheance", "EcheanceDate", "DateEch")
DUE_DATE = "DateEcheance"
# opening balances ("à-nouveaux") repeat what earlier years' files already said
OPENING_JOURNALS = frozenset({"AN", "RAN", "ANO", "ANX"})
BANK_JOURNAL = r"^(?:BQ|BAN|BNK|CA)"
BANK_ACCOUNT = ("512", "53")
CUSTOMER_ACCOUNT = "411"
MAX_ID = 64
SEPARATORS = ("\t", "|", ";")


class FecValidationError(LedgerValidationError):
    """The file has bad lines; nothing was imported. `report.issues` lists every one."""

    def __init__(self, report: FecReport):
        self.report = report
        super().__init__([FieldError(f"line {i.line}, column {i.column}", i.message)
                          for i in report.issues])


@dataclass(frozen=True)
class FecIssue:
    line: int
    column: str
    message: str


@dataclass
class FecReport:
    """What was read, what was wrong, what was (or would be) imported."""

    encoding: str = ""
    separator: str = ""
    lines: int = 0
    entries: int = 0
    invalid_entries: int = 0
    skipped_lines: int = 0          # lines of invalid entries left out (skip_invalid)
    opening_lines: int = 0          # "à-nouveaux" lines, ignored
    customers: int = 0
    invoices: int = 0
    credit_notes: int = 0
    payments: int = 0
    lettered_payments: int = 0
    issues: list[FecIssue] = field(default_factory=list)
    result: IngestResult | None = None

    @property
    def valid(self) -> bool:
        return not self.issues


# --- reading -----------------------------------------------------------------------------------

def decode(data: bytes) -> tuple[str, str]:
    """UTF-8 (with or without BOM) when it decodes, else Windows-1252/Latin-1 (older Sage, EBP)."""
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8):].decode("utf-8", errors="replace"), "utf-8-sig"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


def read_fec(source: bytes | str | Path) -> tuple[pd.DataFrame, FecReport]:
    """The file as a frame of strings (plus `_line`, the 1-based line number) and a first report.

    Lines whose field count differs from the header's are reported and left out; missing
    columns are reported on line 1 and leave an empty frame.
    """
    data = Path(source).read_bytes() if isinstance(source, Path) else source
    if isinstance(data, str):
        text, encoding = data.lstrip("\ufeff"), "utf-8"
    else:
        text, encoding = decode(data)
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    report = FecReport(encoding=encoding)
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        report.issues.append(FecIssue(1, "*", "the file is empty"))
        return pd.DataFrame(columns=[*FEC_COLUMNS, "_line"]), report
    header_line = lines[first]
    separator = next((s for s in SEPARATORS if s in header_line), None)
    if separator is None:
        report.issues.append(FecIssue(first + 1, "*", "no tab or | separator in the header line"))
        return pd.DataFrame(columns=[*FEC_COLUMNS, "_line"]), report
    report.separator = separator
    names = _column_names(header_line.split(separator))
    missing = [c for c in FEC_COLUMNS if c not in names]
    if missing:
        report.issues.extend(FecIssue(first + 1, c, "missing column") for c in missing)
        return pd.DataFrame(columns=[*FEC_COLUMNS, "_line"]), report

    body = pd.Series(lines[first + 1:], dtype=object)
    numbers = np.arange(first + 2, len(lines) + 1)
    filled = body.str.strip().str.len().to_numpy() > 0
    fields = body.str.count(re.escape(separator)).to_numpy() + 1
    wrong = filled & (fields != len(names))
    report.issues.extend(FecIssue(int(n), "*", f"expected {len(names)} fields, found {int(k)}")
                         for n, k in zip(numbers[wrong], fields[wrong], strict=True))
    keep = filled & ~wrong
    report.lines = int(filled.sum())
    frame = pd.read_csv(io.StringIO("\n".join(body[keep])), sep=separator, header=None, names=names,
                        dtype=str, keep_default_na=False, quoting=csv.QUOTE_NONE, engine="c",
                        skip_blank_lines=False) if keep.any() else pd.DataFrame(columns=names)
    for column in (*FEC_COLUMNS, *([DUE_DATE] if DUE_DATE in names else [])):
        frame[column] = frame[column].str.strip()
    frame["_line"] = numbers[keep]
    return frame, report


def _column_names(header: list[str]) -> list[str]:
    canonical = {c.lower(): c for c in FEC_COLUMNS}
    canonical |= {c.lower(): DUE_DATE for c in DUE_DATE_COLUMNS}
    return [canonical.get(h.strip().lstrip("\ufeff").lower(), h.strip()) for h in header]


# --- validation --------------------------------------------------------------------------------

def _amount_cents(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Cents as int64 (empty = 0) and the mask of unparsable amounts; both decimal marks."""
    cleaned = values.str.replace(r"[\s\u00a0\u202f]", "", regex=True)
    both = cleaned.str.contains(",", regex=False) & cleaned.str.contains(".", regex=False)
    # "1.234,56": the point groups thousands
    cleaned = cleaned.where(~both, cleaned.str.replace(".", "", regex=False))
    cleaned = cleaned.str.replace(",", ".", regex=False)
    empty = cleaned == ""
    ok = cleaned.str.fullmatch(r"[+-]?(?:\d+(?:\.\d{0,2})?|\.\d{1,2})")
    bad = ~empty & ~ok
    numbers = pd.to_numeric(cleaned.where(ok & ~empty), errors="coerce").fillna(0.0)
    return (numbers * 100).round().astype("int64"), bad


def _dates(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Parsed AAAAMMJJ dates (NaT when empty) and the mask of unparsable ones."""
    empty = values == ""
    shaped = values.str.fullmatch(r"\d{8}")
    parsed = pd.to_datetime(values.where(shaped & ~empty), format="%Y%m%d", errors="coerce")
    return parsed, ~empty & parsed.isna()


def _issues(frame: pd.DataFrame, mask: pd.Series, column: str, message: pd.Series | str) -> pd.DataFrame:
    if not mask.any():
        return pd.DataFrame(columns=["line", "column", "message"])
    text = message[mask] if isinstance(message, pd.Series) else message
    return pd.DataFrame({"line": frame.loc[mask, "_line"], "column": column, "message": text})


def validate(frame: pd.DataFrame, report: FecReport) -> pd.DataFrame:
    """Parse amounts and dates, check balance per entry; add issues to `report`.

    Returns the frame with parsed columns and `_valid` (False for every line of an entry that
    has any bad line).
    """
    found: list[pd.DataFrame] = []
    frame = frame.copy()
    frame["_entry"] = frame["JournalCode"] + "\x1f" + frame["EcritureNum"]
    for column in ("JournalCode", "EcritureNum", "CompteNum"):
        found.append(_issues(frame, frame[column] == "", column, "empty (required)"))
    for column in ("Debit", "Credit", "Montantdevise"):
        cents, bad = _amount_cents(frame[column])
        frame[f"_{column}"] = cents
        found.append(_issues(frame, bad, column, "unparsable amount '" + frame[column] + "'"))
    date_columns = ["EcritureDate", "PieceDate", "DateLet", "ValidDate"]
    if DUE_DATE in frame:
        date_columns.append(DUE_DATE)
    for column in date_columns:
        parsed, bad = _dates(frame[column])
        frame[f"_{column}"] = parsed
        found.append(_issues(frame, bad, column, "unparsable date '" + frame[column] + "' (AAAAMMJJ expected)"))
    found.append(_issues(frame, frame["EcritureDate"] == "", "EcritureDate", "empty (required)"))

    customer = frame["CompteNum"].str.startswith(CUSTOMER_ACCOUNT)
    customer_id = frame["CompAuxNum"].where(frame["CompAuxNum"] != "", frame["CompteNum"])
    found.append(_issues(frame, customer & (customer_id.str.len() > MAX_ID), "CompAuxNum",
                         f"customer account longer than {MAX_ID} characters"))
    if DUE_DATE in frame:
        issued = frame["_PieceDate"].fillna(frame["_EcritureDate"])
        early = customer & (frame[f"_{DUE_DATE}"] < issued)
        found.append(_issues(frame, early, DUE_DATE, "the due date is before the document date"))

    bad_lines = pd.Series(False, index=frame.index)
    line_issues = pd.concat(found, ignore_index=True)
    if len(line_issues):
        bad_lines = frame["_line"].isin(line_issues["line"])
    debit = frame.groupby("_entry")["_Debit"].transform("sum")
    credit = frame.groupby("_entry")["_Credit"].transform("sum")
    unbalanced = debit != credit
    entry_has_bad = bad_lines.groupby(frame["_entry"]).transform("any")
    unbalanced &= ~entry_has_bad
    message = ("entry " + frame["JournalCode"] + " " + frame["EcritureNum"] + " is unbalanced: debits "
               + _money(debit) + " ≠ credits " + _money(credit))
    balance_issues = _issues(frame, unbalanced, "Debit/Credit", message)
    issues = pd.concat([line_issues, balance_issues], ignore_index=True).sort_values(
        ["line", "column"], kind="stable")
    report.issues.extend(FecIssue(int(line), str(column), str(msg))
                         for line, column, msg in issues.itertuples(index=False))
    frame["_valid"] = ~(entry_has_bad | unbalanced)
    report.entries = int(frame["_entry"].nunique())
    report.invalid_entries = int(frame.loc[~frame["_valid"], "_entry"].nunique())
    return frame


def _money(cents: pd.Series) -> pd.Series:
    sign = np.where(cents < 0, "-", "")
    absolute = cents.abs()
    return sign + (absolute // 100).astype(str) + "," + (absolute % 100).astype(str).str.zfill(2)


# --- conversion --------------------------------------------------------------------------------

@dataclass
class FecRecords:
    """The customer lines of the valid entries, as ledger records (one frame per table)."""

    customers: pd.DataFrame
    documents: pd.DataFrame   # invoices and credit notes
    payments: pd.DataFrame


def classify(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per customer line: kind (invoice | credit_note | payment), id, dates, cents."""
    journal = frame["JournalCode"].str.upper()
    bank_line = frame["CompteNum"].str.startswith(BANK_ACCOUNT)
    entry_has_bank = bank_line.groupby(frame["_entry"]).transform("any")
    bank_journal = journal.str.match(BANK_JOURNAL)
    net = frame["_Debit"] - frame["_Credit"]
    lines = frame[frame["CompteNum"].str.startswith(CUSTOMER_ACCOUNT) & (net != 0)].copy()
    net = net[lines.index]
    kind = np.where(net > 0, "invoice",
                    np.where(bank_journal[lines.index] | entry_has_bank[lines.index], "payment", "credit_note"))
    aux = lines["CompAuxNum"] != ""
    out = pd.DataFrame({
        "line": lines["_line"], "entry": lines["_entry"], "journal": lines["JournalCode"],
        "number": lines["EcritureNum"], "kind": kind,
        "customer_id": lines["CompAuxNum"].where(aux, lines["CompteNum"]),
        "name": lines["CompAuxLib"].where(aux, lines["CompteLib"]),
        "piece": lines["PieceRef"], "on": lines["_PieceDate"].fillna(lines["_EcritureDate"]),
        "due": lines[f"_{DUE_DATE}"] if f"_{DUE_DATE}" in lines else pd.NaT,
        "cents": net.abs(), "letter": lines["EcritureLet"], "lettered_on": lines["_DateLet"],
    })
    out["table"] = np.where(out["kind"] == "payment", "payment", "invoice")
    out["id"] = _ids(out)
    return out


def _ids(lines: pd.DataFrame) -> pd.Series:
    """PieceRef when it names one line of its table; else JournalCode-EcritureNum[-k].

    Both are stable across files of the same books: piece numbers and entry numbers are
    definitive once an entry is validated.
    """
    piece = lines["piece"]
    fallback = lines["journal"] + "-" + lines["number"]
    per_entry = lines.groupby(["table", "entry"])["line"].transform("size")
    rank = lines.groupby(["table", "entry"]).cumcount() + 1
    fallback = fallback.where(per_entry == 1, fallback + "-" + rank.astype(str))
    repeated = lines.groupby(["table", "piece"])["line"].transform("size") > 1
    usable = (piece != "") & ~repeated & (piece.str.len() <= MAX_ID)
    return piece.where(usable, fallback).str.slice(0, MAX_ID)


def to_records(lines: pd.DataFrame, *, terms: dict[str, int], terms_days: int) -> FecRecords:
    """Ledger records from classified customer lines; due dates from terms when none is given."""
    customers = (lines.assign(named=lines["name"] != "").sort_values(["named", "line"], ascending=[False, True])
                 .drop_duplicates("customer_id")[["customer_id", "name"]].sort_values("customer_id"))
    documents = lines[lines["table"] == "invoice"].copy()
    days = documents["customer_id"].map(terms).fillna(terms_days).astype(int)
    computed = documents["on"] + pd.to_timedelta(days, unit="D")
    documents["due"] = documents["due"].fillna(computed) if "due" in documents else computed

    payments = lines[lines["table"] == "payment"].copy()
    invoices = documents[(documents["kind"] == "invoice") & (documents["letter"] != "")]
    counts = invoices.groupby(["customer_id", "letter"])["id"].agg(["size", "first"]).reset_index()
    unique = counts[counts["size"] == 1].rename(columns={"first": "invoice_id"})[
        ["customer_id", "letter", "invoice_id"]]
    payments = payments.merge(unique, on=["customer_id", "letter"], how="left")
    payments.loc[payments["letter"] == "", "invoice_id"] = None
    return FecRecords(customers=customers, documents=documents, payments=payments)


def to_batch(records: FecRecords, *, new_customers: set[str], terms_days: int) -> IngestBatch:
    """An IngestBatch of already validated records (built without re-validating each one)."""
    customers = []
    for customer_id, name in records.customers.itertuples(index=False):
        values = {"customer_id": customer_id, "name": (name or None) and name[:200]}
        if customer_id in new_customers:
            values["payment_terms_days"] = terms_days
        customers.append(CustomerIn.model_construct(**values))
    documents = records.documents
    invoices = [InvoiceIn.model_construct(invoice_id=i, customer_id=c, issue_date=on, due_date=due,
                                          amount=_decimal(cents), currency="EUR", kind=kind)
                for i, c, on, due, cents, kind in zip(
                    documents["id"], documents["customer_id"], _pydates(documents["on"]),
                    _pydates(documents["due"]), documents["cents"], documents["kind"], strict=True)]
    payments_frame = records.payments
    payments = [PaymentIn.model_construct(payment_id=i, customer_id=c, paid_on=on, amount=_decimal(cents),
                                          currency="EUR", invoice_id=invoice if isinstance(invoice, str) else None)
                for i, c, on, cents, invoice in zip(
                    payments_frame["id"], payments_frame["customer_id"], _pydates(payments_frame["on"]),
                    payments_frame["cents"], payments_frame["invoice_id"], strict=True)]
    return IngestBatch.model_construct(customers=customers, invoices=invoices, payments=payments,
                                       disputes=[])


def _decimal(cents: int) -> Decimal:
    return Decimal(int(cents)).scaleb(-2)


def _pydates(values: pd.Series) -> list[dt.date]:
    return list(values.dt.date)


# --- import ------------------------------------------------------------------------------------

def parse_fec(source: bytes | str | Path, *, skip_invalid: bool = False) -> tuple[pd.DataFrame, FecReport]:
    """Read and validate; the customer lines of the valid entries, classified.

    Raises FecValidationError when the file has issues and not `skip_invalid` (or when columns
    are missing: then nothing can be read at all).
    """
    frame, report = read_fec(source)
    if report.issues and (not report.separator or len(frame.columns) <= 1 or _missing_columns(report)):
        raise FecValidationError(report)
    frame = validate(frame, report)
    if report.issues and not skip_invalid:
        raise FecValidationError(report)
    report.skipped_lines = int((~frame["_valid"]).sum())
    frame = frame[frame["_valid"]]
    opening = frame["JournalCode"].str.upper().isin(OPENING_JOURNALS)
    report.opening_lines = int(opening.sum())
    lines = classify(frame[~opening])
    return lines, report


def _missing_columns(report: FecReport) -> bool:
    return any(issue.message in ("missing column", "the file is empty") for issue in report.issues)


def import_fec(*, session: Session, source: bytes | str | Path, actor: str, terms_days: int = 30,
               skip_invalid: bool = False, dry_run: bool = False, name: str = "fec") -> FecReport:
    """Import a FEC into the ledger in the caller's transaction (the caller commits).

    Customers come first in the same batch; due dates use the customer's stored terms when it
    has some, else `terms_days`. Returns the report, with the ingestion counts unless `dry_run`.
    """
    if not 0 <= terms_days <= 365:
        raise LedgerValidationError([FieldError("terms_days", f"must be between 0 and 365, got {terms_days}")])
    lines, report = parse_fec(source, skip_invalid=skip_invalid)
    customer_ids = sorted(set(lines["customer_id"]))
    terms = _stored_terms(session, customer_ids)
    records = to_records(lines, terms={k: v for k, v in terms.items() if v is not None},
                         terms_days=terms_days)
    report.customers = len(records.customers)
    report.invoices = int((records.documents["kind"] == "invoice").sum())
    report.credit_notes = int((records.documents["kind"] == "credit_note").sum())
    report.payments = len(records.payments)
    report.lettered_payments = int(records.payments["invoice_id"].notna().sum())
    if dry_run:
        return report
    batch = to_batch(records, new_customers=set(customer_ids) - terms.keys(), terms_days=terms_days)
    report.result = ingest(session=session, batch=batch, actor=actor, source=f"fec:{name}"[:200])
    return report


def _stored_terms(session: Session, customer_ids: list[str]) -> dict[str, int | None]:
    found: dict[str, int | None] = {}
    for start in range(0, len(customer_ids), 500):
        chunk = customer_ids[start:start + 500]
        rows = session.execute(select(Customer.customer_id, Customer.payment_terms_days)
                               .where(Customer.customer_id.in_(chunk)))
        found.update((customer_id, terms) for customer_id, terms in rows)
    return found


# --- writing -----------------------------------------------------------------------------------

def export_fec(source: LedgerFrames | Session, *, separator: str = "\t", decimal: str = ",",
               due_dates: bool = True) -> str:
    """A FEC of the ledger's customer side: invoices and credit notes in VT, payments in BQ.

    A payment naming an invoice shares its lettering code; DateLet is the invoice's settled date.
    `due_dates` adds the DateEcheance column so that the due dates survive a round trip.
    """
    frames = source if isinstance(source, LedgerFrames) else _frames_of(source)
    names = dict(zip(frames.customers["customer_id"], frames.customers["name"].fillna(""), strict=True))
    invoices = frames.invoices.sort_values(["issue_date", "invoice_id"]).reset_index(drop=True)
    payments = frames.payments.sort_values(["paid_on", "payment_id"]).reset_index(drop=True)
    named = payments["invoice_id"].dropna()
    letters = {invoice_id: _letter(i) for i, invoice_id in enumerate(sorted(set(named)))}
    settled = dict(zip(invoices["invoice_id"], invoices["settled_date"], strict=True))

    rows: list[list[str]] = []
    for number, inv in enumerate(invoices.itertuples(index=False), start=1):
        credit_note = inv.kind == "credit_note"
        letter = letters.get(inv.invoice_id, "")
        lettered_on = _fec_date(settled.get(inv.invoice_id)) if letter else ""
        customer = _customer_line(inv.customer_id, names)
        amount = _fec_amount(inv.amount, decimal)
        label = ("Avoir " if credit_note else "Facture ") + str(inv.invoice_id)
        head = ["VT", "Journal des ventes", f"VT{number:07d}", _fec_date(inv.issue_date)]
        piece = [str(inv.invoice_id), _fec_date(inv.issue_date), label]
        tail = [_fec_date(inv.issue_date), "", ""] + ([_fec_date(inv.due_date)] if due_dates else [])
        debit, credit = (("0", amount) if credit_note else (amount, "0"))
        rows.append(head + customer + piece + [debit, credit, letter, lettered_on] + tail)
        rows.append(head + ["706000", "Ventes de produits", "", ""] + piece
                    + [credit, debit, "", ""] + tail)
    for number, pay in enumerate(payments.itertuples(index=False), start=1):
        invoice_id = pay.invoice_id if isinstance(pay.invoice_id, str) else None
        letter = letters.get(invoice_id, "") if invoice_id else ""
        lettered_on = _fec_date(settled.get(invoice_id)) if letter else ""
        head = ["BQ", "Banque", f"BQ{number:07d}", _fec_date(pay.paid_on)]
        piece = [str(pay.payment_id), _fec_date(pay.paid_on), f"Règlement {pay.payment_id}"]
        tail = [_fec_date(pay.paid_on), "", ""] + ([""] if due_dates else [])
        amount = _fec_amount(pay.amount, decimal)
        rows.append(head + ["512000", "Banque", "", ""] + piece + [amount, "0", "", ""] + tail)
        rows.append(head + _customer_line(pay.customer_id, names) + piece
                    + ["0", amount, letter, lettered_on] + tail)
    header = list(FEC_COLUMNS) + ([DUE_DATE] if due_dates else [])
    clean = str.maketrans({separator: " ", "\n": " ", "\r": " "})
    return "\n".join(separator.join(value.translate(clean) for value in row)
                     for row in [header, *rows]) + "\n"


def _frames_of(session: Session) -> LedgerFrames:
    from ledger.store import read_frames

    # every record, whatever its date (pandas timestamps end in 2262)
    return read_frames(session=session, as_of=dt.date(2200, 1, 1))


def _customer_line(customer_id: str, names: dict[str, str]) -> list[str]:
    return ["411000", "Clients", str(customer_id), str(names.get(customer_id, "") or "")]


def _letter(index: int) -> str:
    """0 → AAA, 1 → AAB …: three letters, as most packages write them."""
    letters = ""
    for _ in range(3):
        index, rest = divmod(index, 26)
        letters = chr(ord("A") + rest) + letters
    return letters if index == 0 else f"{letters}{index}"


def _fec_date(value) -> str:
    if value is None or pd.isna(value):
        return ""
    return pd.Timestamp(value).strftime("%Y%m%d")


def _fec_amount(value, decimal: str) -> str:
    text = f"{Decimal(str(value)).quantize(Decimal('0.01'))}"
    return text.replace(".", decimal)


def issues_table(issues: Iterable[FecIssue]) -> list[dict[str, object]]:
    """The issues as JSON-ready rows (API, CLI)."""
    return [{"line": i.line, "column": i.column, "message": i.message} for i in issues]
