"""Importing a FEC into the ledger: read → check → classify → place → validate → ingest.

The file's customer lines become customers, invoices, credit notes and payments; its lettering
becomes allocation links (`ledger.links`) that every later replay honours; the opening journal's
lines become open items, or are recognised as records an earlier file already brought. See
docs/fec.md for every rule and the idempotency key.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path

import pandas as pd
from sqlalchemy import select
from sqlmodel import Session

from ledger.config import get_settings
from ledger.effects import ingest_and_apply
from ledger.errors import FieldError, LedgerValidationError
from ledger.fec.classify import OPENING_JOURNALS, classify
from ledger.fec.credit_notes import cited_invoices, single_targets
from ledger.fec.due_dates import customers_of, due_dates, stored_terms
from ledger.fec.lettering import letter
from ledger.fec.opening import known_penalties, place_opening_lines
from ledger.fec.reading import read_fec
from ledger.fec.records import build_batch
from ledger.fec.report import FecReport, FecValidationError, Unplaced
from ledger.fec.terms import Terms, TermsError, parse_terms
from ledger.fec.validation import validate
from ledger.links import Link, LinkSet
from ledger.tables import Invoice, Payment

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
               skip_invalid: bool | None = None, dry_run: bool = False, name: str = "fec",
               today: dt.date) -> FecReport:
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
    lines = place_opening_lines(session, lines, report)
    lines = known_penalties(session, lines, report)
    stored = stored_terms(session, sorted(set(lines["customer_id"])))
    lines = due_dates(lines, customer_terms, stored, default_terms, report)
    lines = cited_invoices(session, lines)
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
    targets = single_targets(lettering.links)

    new = placed[~placed["existing"]]
    documents = new[new["table"] == "invoice"].copy()
    documents["applies_to"] = [cited if isinstance(cited, str) else targets.get(("credit_note", i))
                               if kind == "credit_note" else None
                               for i, kind, cited in zip(documents["id"], documents["kind"],
                                                         documents["cited"], strict=True)]
    payments = new[new["table"] == "payment"].copy()
    payments["invoice_id"] = [targets.get(("payment", i)) for i in payments["id"]]
    customers = customers_of(lines, stored, default_terms)

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
    report.result = ingest_and_apply(session=session, batch=batch, actor=actor, today=today,
                                     source=f"fec:{name}"[:200], links=LinkSet(sources=sources, links=links))
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
