"""Importing a FEC into the ledger: read → check → classify → place → validate → ingest.

The file's customer lines become customers, invoices, credit notes and payments; its lettering
becomes allocation links (`ledger.links`) that every later replay honours; the opening journal's
lines become open items, or are recognised as records an earlier file already brought. See
docs/fec.md for every rule and the idempotency key.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlmodel import Session

from ledger.config import get_settings
from ledger.errors import FieldError, LedgerValidationError
from ledger.fec.classify import OPENING_JOURNALS, classify
from ledger.fec.lettering import letter
from ledger.fec.reading import read_fec
from ledger.fec.records import build_batch
from ledger.fec.report import FecReport, FecValidationError, Unplaced
from ledger.fec.terms import Terms, TermsError, parse_terms
from ledger.fec.validation import validate
from ledger.ingest import ingest
from ledger.links import Link, LinkSet
from ledger.models import Customer, Invoice, Payment
from ledger.penalties import PenaltyInvoice

CHUNK = 500
UNLETTERED = ("credit", "oldest_first")


@dataclass(frozen=True)
class FecOptions:
    """How to read what the FEC does not say (defaults from the settings, see docs/fec.md)."""

    default_terms: str = "30 jours"
    terms: Mapping[str, str] = field(default_factory=dict)  # customer_id → terms, for this import
    opening_journals: frozenset[str] = OPENING_JOURNALS
    # what unlettered receipts and credit notes do: stay customer credit, or pay oldest first
    unlettered: str = "credit"
    skip_invalid: bool = False

    @classmethod
    def from_settings(cls, **overrides) -> FecOptions:
        settings = get_settings()
        journals = frozenset(j.strip().upper() for j in settings.fec_opening_journals.split(",") if j.strip())
        base = cls(default_terms=settings.fec_default_terms, opening_journals=journals,
                   unlettered=settings.fec_unlettered)
        return replace(base, **{k: v for k, v in overrides.items() if v is not None})


def parse_fec(source: bytes | str | Path, *, skip_invalid: bool = False,
              opening_journals: frozenset[str] = OPENING_JOURNALS) -> tuple[pd.DataFrame, FecReport]:
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
    lines = classify(frame[frame["_valid"]], opening_journals=opening_journals)
    report.opening_lines = int(lines["opening"].sum())
    return lines, report


def _missing_columns(report: FecReport) -> bool:
    return any(issue.message in ("missing column", "the file is empty") for issue in report.issues)


def import_fec(*, session: Session, source: bytes | str | Path, actor: str,
               options: FecOptions | None = None, terms_days: int | None = None,
               skip_invalid: bool | None = None, dry_run: bool = False, name: str = "fec") -> FecReport:
    """Import a FEC into the ledger in the caller's transaction (the caller commits).

    `terms_days` is a shorthand for `default_terms="<n> jours"`. Returns the report, with the
    ingestion counts unless `dry_run`.
    """
    if terms_days is not None and not 0 <= terms_days <= 365:
        raise LedgerValidationError([FieldError("terms_days", f"must be between 0 and 365, got {terms_days}")])
    options = options or FecOptions.from_settings()
    if terms_days is not None:
        options = replace(options, default_terms=f"{terms_days} jours")
    if skip_invalid is not None:
        options = replace(options, skip_invalid=skip_invalid)
    default_terms, customer_terms = _read_terms(options)

    lines, report = parse_fec(source, skip_invalid=options.skip_invalid,
                              opening_journals=options.opening_journals)
    lines = _place_opening_lines(session, lines, report)
    lines = _known_penalties(session, lines, report)
    stored_terms = _stored_terms(session, sorted(set(lines["customer_id"])))
    lines = _due_dates(lines, customer_terms, stored_terms, default_terms, report)
    lines = _cited_invoices(session, lines)
    lettering = letter(lines[~lines["skipped"]])
    placed = lines[~lines["skipped"]]

    links = list(lettering.links)
    credits = placed[(placed["table"] == "payment") | (placed["kind"] == "credit_note")]
    sources = {(_source_kind(k), i) for k, i in zip(credits["kind"], credits["id"], strict=True)}
    if options.unlettered == "credit":
        # a credit its lettering uses up needs no "keep the rest" mark: a row fewer per receipt
        lettered: dict[tuple[str, str], Decimal] = {}
        for link in lettering.links:
            lettered[link.source] = lettered.get(link.source, Decimal(0)) + link.amount
        links += [Link(c, kind, i, None, None, "fec:unlettered")
                  for c, kind, i, amount in zip(credits["customer_id"], map(_source_kind, credits["kind"]),
                                                credits["id"], credits["amount"], strict=True)
                  if lettered.get((kind, i), Decimal(0)) < amount]
    targets = _single_targets(lettering.links)

    new = placed[~placed["existing"]]
    documents = new[new["table"] == "invoice"].copy()
    documents["applies_to"] = [cited if isinstance(cited, str) else targets.get(("credit_note", i))
                               if kind == "credit_note" else None
                               for i, kind, cited in zip(documents["id"], documents["kind"],
                                                         documents["cited"], strict=True)]
    payments = new[new["table"] == "payment"].copy()
    payments["invoice_id"] = [targets.get(("payment", i)) for i in payments["id"]]
    customers = _customers(lines, stored_terms, default_terms)

    report.customers = len(customers)
    report.invoices = int((documents["kind"] == "invoice").sum())
    report.credit_notes = int((documents["kind"] == "credit_note").sum())
    report.payments = len(payments)
    report.lettered_payments = int(payments["invoice_id"].notna().sum())
    report.lettering_groups = lettering.groups
    report.links = len(lettering.links)
    report.unbalanced_groups = lettering.unbalanced
    report.opening_items = int((placed["opening"]).sum())
    batch = build_batch(customers=customers, documents=documents, payments=payments, report=report)
    if dry_run:
        return report
    credits = credits[["kind", "id", "line", "customer_id"]]
    del lines, placed, new, documents, payments, customers, lettering  # a million-line file: memory
    report.result = ingest(session=session, batch=batch, actor=actor, source=f"fec:{name}"[:200],
                           links=LinkSet(sources=sources, links=links))
    report.unplaced += _unallocated(session, credits)
    report.unplaced.sort(key=lambda u: (u.line, u.record_id))
    return report


def _source_kind(kind: str) -> str:
    return "credit_note" if kind == "credit_note" else "payment"


def _read_terms(options: FecOptions) -> tuple[Terms, dict[str, Terms]]:
    if options.unlettered not in UNLETTERED:
        raise LedgerValidationError([FieldError("unlettered", f"must be one of {', '.join(UNLETTERED)}, "
                                                              f"got {options.unlettered!r}")])
    errors: list[FieldError] = []
    try:
        default = parse_terms(options.default_terms)
    except TermsError as exc:
        errors.append(FieldError("default_terms", str(exc)))
        default = Terms()
    per_customer: dict[str, Terms] = {}
    for customer_id, text in options.terms.items():
        try:
            per_customer[customer_id] = parse_terms(text)
        except TermsError as exc:
            errors.append(FieldError(f"terms[{customer_id}]", str(exc)))
    if errors:
        raise LedgerValidationError(errors)
    return default, per_customer


# --- opening balances --------------------------------------------------------------------------

def _place_opening_lines(session: Session, lines: pd.DataFrame, report: FecReport) -> pd.DataFrame:
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
    known_invoices = _existing(session, Invoice, Invoice.invoice_id, opening["id"],
                               (Invoice.customer_id, Invoice.kind))
    known_payments = _existing(session, Payment, Payment.payment_id, opening["id"], (Payment.customer_id,))
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


def _known_penalties(session: Session, lines: pd.DataFrame, report: FecReport) -> pd.DataFrame:
    """A debit naming a penalty invoice of the same customer (an export of ours, or the billing
    system's copy of it) is that penalty invoice: never made a chased invoice, reported."""
    debits = lines[(lines["kind"] == "invoice") & ~lines["existing"] & ~lines["skipped"]]
    known = _existing(session, PenaltyInvoice, PenaltyInvoice.penalty_invoice_id, debits["id"],
                      (PenaltyInvoice.customer_id,))
    if not known:
        return lines
    mask = lines.index.isin(debits.index) & np.array([known.get(i, ("",))[0] == c for i, c in
                                                      zip(lines["id"], lines["customer_id"], strict=True)])
    for row in lines[mask].itertuples():
        report.unplaced.append(Unplaced(int(row.line), row.customer_id, row.id, row.amount, "penalty_invoice"))
    lines.loc[mask, "skipped"] = True
    return lines


def _existing(session: Session, table, key, ids: pd.Series, columns: tuple) -> dict[str, tuple]:
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


# --- due dates and terms -----------------------------------------------------------------------

def _stored_terms(session: Session, customer_ids: list[str]) -> dict[str, int | None]:
    found: dict[str, int | None] = {}
    for start in range(0, len(customer_ids), CHUNK):
        rows = session.execute(select(Customer.customer_id, Customer.payment_terms_days)
                               .where(Customer.customer_id.in_(customer_ids[start:start + CHUNK])))
        found.update((customer_id, terms) for customer_id, terms in rows)
    return found


def _due_dates(lines: pd.DataFrame, customer_terms: dict[str, Terms], stored: dict[str, int | None],
               default: Terms, report: FecReport) -> pd.DataFrame:
    """Invoices: the file's due date, else the customer's terms, else the default; counted by
    source. A credit note is due when issued (it is owed to the customer, not chased)."""
    lines = lines.copy()
    invoice = (lines["kind"] == "invoice") & ~lines["existing"] & ~lines["skipped"]
    given = lines["due"].notna()
    terms = {c: t for c, t in ((c, Terms(days=d)) for c, d in stored.items() if d is not None)}
    terms |= customer_terms
    has_terms = lines["customer_id"].isin(terms.keys())
    computed = pd.Series(pd.NaT, index=lines.index, dtype="datetime64[ns]")
    from_terms = invoice & ~given & has_terms
    for terms_of, group in lines[from_terms].groupby(lines.loc[from_terms, "customer_id"].map(terms), sort=False):
        computed[group.index] = terms_of.due(group["on"])
    from_default = invoice & ~given & ~has_terms
    computed[from_default] = default.due(lines.loc[from_default, "on"])
    credit_note = lines["kind"] == "credit_note"
    lines["due"] = lines["due"].where(given, computed.where(~credit_note, lines["on"]))
    report.due_dates = {"column": int((invoice & given).sum()), "customer_terms": int(from_terms.sum()),
                        "default": int(from_default.sum())}
    return lines


def _customers(lines: pd.DataFrame, stored: dict[str, int | None], default: Terms) -> pd.DataFrame:
    """One customer per account; new ones get the default terms when those are plain days."""
    customers = (lines.assign(named=lines["name"] != "").sort_values(["named", "line"], ascending=[False, True])
                 .drop_duplicates("customer_id")[["customer_id", "name", "line"]].sort_values("customer_id"))
    plain_days = default.days if default.end_of_month is None else None
    customers["payment_terms_days"] = [None if c in stored else plain_days for c in customers["customer_id"]]
    return customers


# --- credit notes ------------------------------------------------------------------------------

_TOKEN = re.compile(r"[^\s,;:()\[\]\"']+")


def _cited_invoices(session: Session, lines: pd.DataFrame) -> pd.DataFrame:
    """A credit note cites its invoice by PieceRef (a reversal keeping the invoice's piece) or
    in its label ("Avoir sur facture F001"): the cited invoice of the same customer, if known."""
    lines = lines.assign(cited=None)
    notes = lines[(lines["kind"] == "credit_note") & ~lines["existing"] & ~lines["skipped"]]
    if notes.empty:
        return lines
    invoices = lines[lines["kind"] == "invoice"]
    owner = dict(zip(invoices["id"], invoices["customer_id"], strict=True))
    candidates = {note.piece: [note.piece, *_TOKEN.findall(note.label)] for note in notes.itertuples()}
    unknown = {t for tokens in candidates.values() for t in tokens} - owner.keys()
    owner |= {i: c[0] for i, c in _existing(session, Invoice, Invoice.invoice_id, pd.Series(sorted(unknown)),
                                            (Invoice.customer_id, Invoice.kind)).items() if c[1] == "invoice"}
    cited = []
    for note in notes.itertuples():
        tokens = [note.piece, *_TOKEN.findall(note.label)]
        cited.append(next((t for t in tokens if t != note.id and owner.get(t) == note.customer_id), None))
    lines.loc[notes.index, "cited"] = np.array(cited, dtype=object)
    return lines


def _single_targets(links: list[Link]) -> dict[tuple[str, str], str]:
    """The invoice a source's lettering names, when it names exactly one."""
    seen: dict[tuple[str, str], set[str]] = {}
    for link in links:
        if link.invoice_id is not None:
            seen.setdefault(link.source, set()).add(link.invoice_id)
    return {source: next(iter(ids)) for source, ids in seen.items() if len(ids) == 1}


# --- after the import --------------------------------------------------------------------------

def _unallocated(session: Session, credits: pd.DataFrame) -> list[Unplaced]:
    """The file's payments and credit notes left (partly) unallocated: customer credit."""
    line_of = {(_source_kind(k), i): (int(n), c) for k, i, n, c in zip(
        credits["kind"], credits["id"], credits["line"], credits["customer_id"], strict=True)}
    customer_ids = sorted(set(credits["customer_id"]))
    found: list[Unplaced] = []
    # by customer (a few queries) rather than by record id (one per 500 receipts)
    for kind, key, owner, left, extra in (
            ("payment", Payment.payment_id, Payment.customer_id, Payment.unallocated_amount, None),
            ("credit_note", Invoice.invoice_id, Invoice.customer_id, Invoice.open_amount,
             Invoice.kind == "credit_note")):
        for start in range(0, len(customer_ids), CHUNK):
            query = select(key, left).where(owner.in_(customer_ids[start:start + CHUNK]), left > 0)
            if extra is not None:
                query = query.where(extra)
            for record_id, amount in session.execute(query):
                if (kind, record_id) in line_of:
                    line, customer_id = line_of[(kind, record_id)]
                    found.append(Unplaced(line, customer_id, record_id, Decimal(amount), "unallocated_credit"))
    return found
