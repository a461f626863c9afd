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
import datetime as dt
import io
import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import csv as pacsv
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
    columns are reported on line 1 and leave an empty frame. Strings are Arrow-backed, so the
    string work below runs in Arrow's C++ kernels, not a Python loop per line.
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
        return _empty(), report
    header_line = lines[first]
    separator = next((s for s in SEPARATORS if s in header_line), None)
    if separator is None:
        report.issues.append(FecIssue(first + 1, "*", "no tab or | separator in the header line"))
        return _empty(), report
    report.separator = separator
    names = _column_names(header_line.split(separator))
    missing = [c for c in FEC_COLUMNS if c not in names]
    if missing:
        report.issues.extend(FecIssue(first + 1, c, "missing column") for c in missing)
        return _empty(), report

    body = lines[first + 1:]
    arrow = pa.array(body, pa.large_string())
    numbers = np.arange(first + 2, len(lines) + 1)
    filled = pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(arrow)), 0).to_numpy(zero_copy_only=False)
    fields = pc.count_substring(arrow, separator).to_numpy(zero_copy_only=False) + 1
    wrong = filled & (fields != len(names))
    report.issues.extend(FecIssue(int(n), "*", f"expected {len(names)} fields, found {int(k)}")
                         for n, k in zip(numbers[wrong], fields[wrong], strict=True))
    keep = filled & ~wrong
    report.lines = int(filled.sum())
    del arrow
    if not keep.any():
        return _empty(), report
    payload = "\n".join(itertools.compress(body, keep)).encode("utf-8")
    table = pacsv.read_csv(
        io.BytesIO(payload),
        read_options=pacsv.ReadOptions(column_names=names, block_size=1 << 24),
        parse_options=pacsv.ParseOptions(delimiter=separator, quote_char=False),
        convert_options=pacsv.ConvertOptions(column_types={n: pa.large_string() for n in names},
                                             strings_can_be_null=False))
    wanted = [*FEC_COLUMNS, *([DUE_DATE] if DUE_DATE in names else [])]
    frame = pd.DataFrame({c: pd.Series(pc.utf8_trim_whitespace(table[c]), dtype=TEXT) for c in wanted})
    frame["_line"] = numbers[keep]
    return frame, report


TEXT = pd.ArrowDtype(pa.large_string())


def _empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype=TEXT) for c in FEC_COLUMNS} | {"_line": pd.Series([], dtype=int)})


def _column_names(header: list[str]) -> list[str]:
    canonical = {c.lower(): c for c in FEC_COLUMNS}
    canonical |= {c.lower(): DUE_DATE for c in DUE_DATE_COLUMNS}
    names: list[str] = []
    for index, raw in enumerate(header):
        name = canonical.get(raw.strip().lstrip("\ufeff").lower(), raw.strip()) or f"_extra{index}"
        names.append(name if name not in names else f"{name}_{index}")
    return names


# --- validation --------------------------------------------------------------------------------

def _arrow(values: pd.Series) -> pa.ChunkedArray | pa.Array:
    return values.array._pa_array  # the Arrow data behind an ArrowDtype column


def _amount_cents(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Cents as int64 (empty = 0) and the mask of unparsable amounts; both decimal marks."""
    text = pc.replace_substring_regex(_arrow(values), r"[\s\x{00a0}\x{202f}]", "")
    both = pc.and_(pc.match_substring(text, ","), pc.match_substring(text, "."))
    # "1.234,56": the point groups thousands
    text = pc.if_else(both, pc.replace_substring(text, ".", ""), text)
    text = pc.replace_substring(text, ",", ".")
    empty = pc.equal(text, "")
    ok = pc.match_substring_regex(text, r"^[+-]?(?:\d+(?:\.\d{0,2})?|\.\d{1,2})$")
    bad = pc.and_(pc.invert(empty), pc.invert(ok)).to_numpy(zero_copy_only=False)
    numbers = pc.cast(pc.if_else(ok, text, "0"), pa.float64()).to_numpy(zero_copy_only=False)
    return np.round(numbers * 100).astype(np.int64), bad


def _dates(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Parsed AAAAMMJJ dates (NaT when empty) and the mask of unparsable ones."""
    text = _arrow(values)
    empty = pc.equal(text, "").to_numpy(zero_copy_only=False)
    parsed = pc.strptime(text, format="%Y%m%d", unit="s", error_is_null=True)
    # Arrow rolls 20240230 over to 1 March: a date is valid only if its day is the one written
    shaped = pc.match_substring_regex(text, r"^\d{8}$")
    written_day = pc.cast(pc.if_else(shaped, pc.utf8_slice_codeunits(text, 6, 8), "0"), pa.int64())
    same = pc.and_(shaped, pc.equal(pc.day(parsed), written_day))
    ok = pc.fill_null(same, False).to_numpy(zero_copy_only=False)
    dates = pd.Series(parsed.to_numpy(zero_copy_only=False), index=values.index).astype("datetime64[ns]")
    dates[~ok] = pd.NaT
    return dates, ~empty & ~ok


def _issues(frame: pd.DataFrame, mask, column: str, message) -> pd.DataFrame:
    """Issues of the lines in `mask`; `message` is a text or a function of those lines."""
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return pd.DataFrame(columns=["line", "column", "message"])
    lines = frame[mask]
    text = message(lines) if callable(message) else message
    return pd.DataFrame({"line": lines["_line"].to_numpy(), "column": column,
                         "message": np.asarray(text, dtype=object) if not isinstance(text, str) else text})


def _quoted(column: str, template: str):
    return lambda lines: [template.format(value) for value in lines[column].astype(object)]


def validate(frame: pd.DataFrame, report: FecReport) -> pd.DataFrame:
    """Parse amounts and dates, check balance per entry; add issues to `report`.

    Returns the frame with parsed columns, `_entry` (an entry number) and `_valid` (False for
    every line of an entry that has any bad line).
    """
    found: list[pd.DataFrame] = []
    frame = frame.copy()
    frame["_entry"] = frame.groupby(["JournalCode", "EcritureNum"], sort=False, dropna=False).ngroup().to_numpy()
    for column in ("JournalCode", "EcritureNum", "CompteNum", "EcritureDate"):
        found.append(_issues(frame, frame[column] == "", column, "empty (required)"))
    for column in ("Debit", "Credit", "Montantdevise"):
        cents, bad = _amount_cents(frame[column])
        frame[f"_{column}"] = cents
        found.append(_issues(frame, bad, column, _quoted(column, "unparsable amount {!r}")))
    date_columns = ["EcritureDate", "PieceDate", "DateLet", "ValidDate"]
    if DUE_DATE in frame:
        date_columns.append(DUE_DATE)
    for column in date_columns:
        parsed, bad = _dates(frame[column])
        frame[f"_{column}"] = parsed
        found.append(_issues(frame, bad, column, _quoted(column, "unparsable date {!r} (AAAAMMJJ expected)")))

    customer = frame["CompteNum"].str.startswith(CUSTOMER_ACCOUNT).to_numpy(dtype=bool)
    frame["_customer"] = customer
    aux_length = frame["CompAuxNum"].str.len().to_numpy()
    account_length = frame["CompteNum"].str.len().to_numpy()
    too_long = customer & (np.where(aux_length > 0, aux_length, account_length) > MAX_ID)
    found.append(_issues(frame, too_long, "CompAuxNum", f"customer account longer than {MAX_ID} characters"))
    if DUE_DATE in frame:
        issued = frame["_PieceDate"].fillna(frame["_EcritureDate"])
        early = customer & (frame[f"_{DUE_DATE}"] < issued).to_numpy()
        found.append(_issues(frame, early, DUE_DATE, "the due date is before the document date"))

    line_issues = pd.concat(found, ignore_index=True)
    entry = frame["_entry"].to_numpy()
    bad_lines = np.isin(frame["_line"].to_numpy(), line_issues["line"].to_numpy())
    bad_entries = np.bincount(entry, weights=bad_lines, minlength=entry.max() + 1 if len(entry) else 0) > 0
    # float sums of integer cents are exact below 2**53 cents (90 billion euros)
    debit = np.rint(np.bincount(entry, weights=frame["_Debit"].to_numpy())).astype(np.int64) if len(entry) else entry
    credit = np.rint(np.bincount(entry, weights=frame["_Credit"].to_numpy())).astype(np.int64) if len(entry) else entry
    unbalanced = ((debit != credit) & ~bad_entries)[entry] if len(entry) else np.zeros(0, bool)

    def unbalanced_message(lines: pd.DataFrame) -> list[str]:
        ids = lines["_entry"].to_numpy()
        return [f"entry {j} {n} is unbalanced: debits {_money(d)} ≠ credits {_money(c)}"
                for j, n, d, c in zip(lines["JournalCode"].astype(object), lines["EcritureNum"].astype(object),
                                      debit[ids], credit[ids], strict=True)]

    balance_issues = _issues(frame, unbalanced, "Debit/Credit", unbalanced_message)
    issues = pd.concat([line_issues, balance_issues], ignore_index=True).sort_values(
        ["line", "column"], kind="stable")
    report.issues.extend(FecIssue(int(line), str(column), str(msg))
                         for line, column, msg in issues.itertuples(index=False))
    valid_entries = ~bad_entries & (debit == credit) if len(entry) else np.zeros(0, bool)
    frame["_valid"] = valid_entries[entry] if len(entry) else np.zeros(0, bool)
    report.entries = int(len(valid_entries))
    report.invalid_entries = int((~valid_entries).sum())
    return frame


def _money(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100},{abs(cents) % 100:02d}"


# --- conversion --------------------------------------------------------------------------------

@dataclass
class FecRecords:
    """The customer lines of the valid entries, as ledger records (one frame per table)."""

    customers: pd.DataFrame
    documents: pd.DataFrame   # invoices and credit notes
    payments: pd.DataFrame


def classify(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per customer line: kind (invoice | credit_note | payment), id, dates, cents."""
    entry = frame["_entry"].to_numpy()
    bank_line = frame["CompteNum"].str.startswith(BANK_ACCOUNT).to_numpy(dtype=bool)
    entry_has_bank = (np.bincount(entry, weights=bank_line) > 0)[entry] if len(entry) else bank_line
    bank_journal = frame["JournalCode"].str.upper().str.contains(BANK_JOURNAL, regex=True).to_numpy(dtype=bool)
    net = (frame["_Debit"] - frame["_Credit"]).to_numpy()
    keep = frame["_customer"].to_numpy(dtype=bool) & (net != 0)
    lines = frame[keep]
    net, payment = net[keep], (bank_journal | entry_has_bank)[keep]
    kind = np.where(net > 0, "invoice", np.where(payment, "payment", "credit_note"))

    def text(column: str) -> np.ndarray:
        # customer lines leave Arrow here: ids and names become plain str for the ledger
        return lines[column].to_numpy(dtype=object)

    aux = text("CompAuxNum")
    named = aux != ""
    out = pd.DataFrame({
        "line": lines["_line"].to_numpy(), "entry": lines["_entry"].to_numpy(), "journal": text("JournalCode"),
        "number": text("EcritureNum"), "kind": kind,
        "customer_id": np.where(named, aux, text("CompteNum")),
        "name": np.where(named, text("CompAuxLib"), text("CompteLib")),
        "piece": text("PieceRef"), "on": lines["_PieceDate"].fillna(lines["_EcritureDate"]).to_numpy(),
        "due": lines[f"_{DUE_DATE}"].to_numpy() if f"_{DUE_DATE}" in lines else pd.NaT,
        "cents": np.abs(net), "letter": text("EcritureLet"), "lettered_on": lines["_DateLet"].to_numpy(),
    })
    out["due"] = pd.to_datetime(out["due"])
    out["table"] = np.where(out["kind"] == "payment", "payment", "invoice")
    out["id"] = _ids(out)
    return out


def _ids(lines: pd.DataFrame) -> pd.Series:
    """PieceRef when it names one line of its kind; else JournalCode-EcritureNum[-k].

    Both are stable across files of the same books: piece numbers and entry numbers are
    definitive once an entry is validated.
    """
    piece = lines["piece"]
    fallback = lines["journal"] + "-" + lines["number"]
    per_entry = lines.groupby(["table", "entry"])["line"].transform("size")
    rank = lines.groupby(["table", "entry"]).cumcount() + 1
    fallback = fallback.where(per_entry == 1, fallback + "-" + rank.astype(str))
    repeated = lines.groupby(["kind", "piece"])["line"].transform("size") > 1
    # a reversal often keeps its invoice's PieceRef: the invoice keeps the id, the credit note
    # takes the entry's, so a later file adding the reversal does not rename the invoice
    invoice_pieces = set(piece[lines["kind"] == "invoice"])
    taken = (lines["kind"] == "credit_note") & piece.isin(invoice_pieces)
    usable = (piece != "") & ~repeated & ~taken & (piece.str.len() <= MAX_ID)
    return piece.where(usable, fallback).str.slice(0, MAX_ID)


def to_records(lines: pd.DataFrame, *, terms: dict[str, int], terms_days: int) -> FecRecords:
    """Ledger records from classified customer lines; due dates from terms when none is given."""
    customers = (lines.assign(named=lines["name"] != "").sort_values(["named", "line"], ascending=[False, True])
                 .drop_duplicates("customer_id")[["customer_id", "name"]].sort_values("customer_id"))
    documents = lines[lines["table"] == "invoice"].copy()
    days = documents["customer_id"].map(terms).fillna(terms_days).astype(int)
    computed = documents["on"] + pd.to_timedelta(days, unit="D")
    documents["due"] = documents["due"].fillna(computed) if "due" in documents else computed

    # a lettering code shared with exactly one invoice of the customer names that invoice
    invoices = documents[(documents["kind"] == "invoice") & (documents["letter"] != "")]
    counts = invoices.groupby(["customer_id", "letter"])["id"].agg(["size", "first"]).reset_index()
    unique = counts[counts["size"] == 1].rename(columns={"first": "invoice_id"})[
        ["customer_id", "letter", "invoice_id"]]
    payments = lines[lines["table"] == "payment"].merge(unique, on=["customer_id", "letter"], how="left")
    payments.loc[payments["letter"] == "", "invoice_id"] = None
    documents = documents.merge(unique.rename(columns={"invoice_id": "applies_to"}),
                                on=["customer_id", "letter"], how="left")
    documents.loc[(documents["kind"] != "credit_note") | (documents["letter"] == ""), "applies_to"] = None
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
                                          amount=_decimal(cents), currency="EUR", kind=kind,
                                          **_applies_to(target))
                for i, c, on, due, cents, kind, target in zip(
                    documents["id"], documents["customer_id"], _pydates(documents["on"]),
                    _pydates(documents["due"]), documents["cents"], documents["kind"],
                    documents["applies_to"], strict=True)]
    payments_frame = records.payments
    payments = [PaymentIn.model_construct(payment_id=i, customer_id=c, paid_on=on, amount=_decimal(cents),
                                          currency="EUR", invoice_id=invoice if isinstance(invoice, str) else None)
                for i, c, on, cents, invoice in zip(
                    payments_frame["id"], payments_frame["customer_id"], _pydates(payments_frame["on"]),
                    payments_frame["cents"], payments_frame["invoice_id"], strict=True)]
    return IngestBatch.model_construct(customers=customers, invoices=invoices, payments=payments,
                                       disputes=[])


def _applies_to(target: object) -> dict[str, str | None]:
    # a credit note lettered with one invoice is applied to it (when the ledger knows applies_to);
    # every field is passed so that model_construct resolves no default (it is 300,000 calls)
    if "applies_to" in InvoiceIn.model_fields:
        return {"applies_to": target if isinstance(target, str) else None}
    return {}


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
    applies_to = (invoices["applies_to"] if "applies_to" in invoices else pd.Series(dtype=object))
    named = set(payments["invoice_id"].dropna()) | set(applies_to.dropna())
    letters = {invoice_id: _letter(i) for i, invoice_id in enumerate(sorted(named))}
    settled = dict(zip(invoices["invoice_id"], invoices["settled_date"], strict=True))

    rows: list[list[str]] = []
    for number, inv in enumerate(invoices.itertuples(index=False), start=1):
        credit_note = inv.kind == "credit_note"
        target = getattr(inv, "applies_to", None) if credit_note else inv.invoice_id
        letter = letters.get(target, "") if isinstance(target, str) else ""
        lettered_on = _fec_date(settled.get(target)) if letter else ""
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

    from ledger.models import Invoice

    # every record, whatever its date (pandas timestamps end in 2262)
    frames = read_frames(session=session, as_of=dt.date(2200, 1, 1))
    if hasattr(Invoice, "applies_to") and "applies_to" not in frames.invoices:
        targets = dict(session.execute(select(Invoice.invoice_id, Invoice.applies_to)
                                       .where(Invoice.applies_to.is_not(None))).all())
        frames.invoices["applies_to"] = frames.invoices["invoice_id"].map(targets)
    return frames


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
