"""What ingestion checks and locks before it writes anything: references inside the batch and to
the stored ledger (422 naming each field), scenario names, records sent under another customer
or as another kind (409), and the locks that serialise concurrent batches per customer and per
record id.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
from sqlalchemy import text
from sqlmodel import Session

from ledger.bulk import select_in
from ledger.db import advisory_xact_locks
from ledger.errors import FieldError, LedgerConflictError, LedgerValidationError
from ledger.schemas import IngestBatch
from ledger.tables import Customer, Invoice, Payment


def check_references(*, session: Session, batch: IngestBatch) -> None:
    errors: list[FieldError] = []
    for name, rows, key in (("customers", batch.customers, "customer_id"),
                            ("invoices", batch.invoices, "invoice_id"),
                            ("payments", batch.payments, "payment_id"),
                            ("disputes", batch.disputes, "dispute_id")):
        seen: dict[str, int] = {}
        for index, row in enumerate(rows):
            value = getattr(row, key)
            if value in seen and rows[seen[value]].model_dump() != row.model_dump():
                errors.append(FieldError(f"{name}[{index}].{key}",
                                         f"{value!r} appears twice in the batch with different values"))
            seen[value] = index

    known_customers = {c.customer_id for c in batch.customers}
    wanted = {i.customer_id for i in batch.invoices} | {p.customer_id for p in batch.payments}
    known_customers |= _existing_ids(session, Customer.customer_id, wanted - known_customers)
    for index, invoice in enumerate(batch.invoices):
        if invoice.customer_id not in known_customers:
            errors.append(FieldError(f"invoices[{index}].customer_id",
                                     f"unknown customer {invoice.customer_id!r}: send the customer first or in the same batch"))
    for index, payment in enumerate(batch.payments):
        if payment.customer_id not in known_customers:
            errors.append(FieldError(f"payments[{index}].customer_id",
                                     f"unknown customer {payment.customer_id!r}"))

    invoice_owner = {i.invoice_id: i.customer_id for i in batch.invoices}
    wanted_invoices = ({p.invoice_id for p in batch.payments if p.invoice_id}
                       | {i.applies_to for i in batch.invoices if i.applies_to}
                       | {d.invoice_id for d in batch.disputes}) - invoice_owner.keys()
    for invoice_id, customer_id in select_in(session, (Invoice.invoice_id, Invoice.customer_id),
                                             Invoice.invoice_id, wanted_invoices):
        invoice_owner[invoice_id] = customer_id
    for index, payment in enumerate(batch.payments):
        if payment.invoice_id is None:
            continue
        owner = invoice_owner.get(payment.invoice_id)
        if owner is None:
            errors.append(FieldError(f"payments[{index}].invoice_id",
                                     f"unknown invoice {payment.invoice_id!r}"))
        elif owner != payment.customer_id:
            errors.append(FieldError(f"payments[{index}].invoice_id",
                                     f"invoice {payment.invoice_id!r} belongs to customer {owner!r}, not {payment.customer_id!r}"))
    for index, invoice in enumerate(batch.invoices):
        if invoice.applies_to is not None and invoice_owner.get(invoice.applies_to) != invoice.customer_id:
            errors.append(FieldError(f"invoices[{index}].applies_to",
                                     f"invoice {invoice.applies_to!r} is not an invoice of customer {invoice.customer_id!r}"))
    for index, dispute in enumerate(batch.disputes):
        if dispute.invoice_id not in invoice_owner:
            errors.append(FieldError(f"disputes[{index}].invoice_id",
                                     f"unknown invoice {dispute.invoice_id!r}"))
    if errors:
        raise LedgerValidationError(errors)


def check_scenarios(batch: IngestBatch, names: frozenset[str]) -> None:
    errors = [
        FieldError(f"customers[{index}].dunning_scenario",
                   f"unknown dunning scenario {customer.dunning_scenario!r}: expected one of "
                   f"{', '.join(sorted(names))}")
        for index, customer in enumerate(batch.customers)
        if customer.dunning_scenario is not None and customer.dunning_scenario not in names
    ]
    if errors:
        raise LedgerValidationError(errors)


def check_owners(*, session: Session, batch: IngestBatch) -> None:
    """409 for a stored invoice or payment sent under another customer, or an invoice sent with
    another kind: looked up by id across the whole ledger, whatever customers the batch names."""
    conflicts: list[FieldError] = []
    stored_invoices: dict[str, tuple[str, str]] = {}
    for invoice_id, customer_id, kind in select_in(session, (Invoice.invoice_id, Invoice.customer_id, Invoice.kind),
                                                   Invoice.invoice_id, {i.invoice_id for i in batch.invoices}):
        stored_invoices[invoice_id] = (customer_id, kind)
    for index, invoice in enumerate(batch.invoices):
        stored = stored_invoices.get(invoice.invoice_id)
        if stored is None:
            continue
        customer_id, kind = stored
        what = "credit note" if kind == "credit_note" else "invoice"
        if customer_id != invoice.customer_id:
            conflicts.append(FieldError(
                f"invoices[{index}].customer_id",
                f"{what} {invoice.invoice_id!r} belongs to customer {customer_id!r}; it cannot be sent "
                f"again under {invoice.customer_id!r} (a record never changes customer: correct it "
                "in the billing system with a new id)"))
        elif kind != invoice.kind:
            conflicts.append(FieldError(
                f"invoices[{index}].kind",
                f"{invoice.invoice_id!r} of customer {customer_id!r} is stored as {kind!r}; it cannot "
                f"become {invoice.kind!r} (issue a new record instead)"))
    stored_payments: dict[str, str] = {}
    stored_payments.update(select_in(session, (Payment.payment_id, Payment.customer_id), Payment.payment_id,
                                     {p.payment_id for p in batch.payments}))
    for index, payment in enumerate(batch.payments):
        owner = stored_payments.get(payment.payment_id)
        if owner is not None and owner != payment.customer_id:
            conflicts.append(FieldError(
                f"payments[{index}].customer_id",
                f"payment {payment.payment_id!r} belongs to customer {owner!r}; it cannot be sent "
                f"again under {payment.customer_id!r} (a payment never changes customer: correct "
                "it in the billing system with a new id)"))
    if conflicts:
        raise LedgerConflictError(conflicts)


def _existing_ids(session: Session, column, ids: Iterable[str]) -> set[str]:
    return {row[0] for row in select_in(session, (column,), column, ids)}


RECORD_LOCK_BUCKETS = 256


def record_lock_names(batch: IngestBatch) -> set[str]:
    """Lock names covering the batch's invoice and payment ids, hashed into a bounded number of
    buckets: PostgreSQL's lock table is small (max_locks_per_transaction), and a false share of
    a bucket only makes two batches wait for each other, never wrong.

    The ids of a kind are hashed in one pass (`pandas.util.hash_array`: SipHash with a fixed key,
    the same in every process and run; one blake2b call per id cost ~4× more).
    It reads a string up to its first NUL character: ids sharing that prefix share a bucket, a
    false share again."""
    names = set()
    for kind, ids in (("invoice", [i.invoice_id for i in batch.invoices]),
                      ("payment", [p.payment_id for p in batch.payments])):
        for bucket in record_buckets(ids):
            names.add(f"\x00record-bucket\x00{kind}\x00{bucket}")
    return names


def record_buckets(ids: Sequence[str]) -> list[int]:
    """The distinct lock buckets of `ids` (0 … RECORD_LOCK_BUCKETS − 1)."""
    if not ids:
        return []
    hashes = pd.util.hash_array(np.asarray(ids, dtype=object), categorize=False)
    return [int(b) for b in np.unique(hashes % np.uint64(RECORD_LOCK_BUCKETS))]


def lock_customers(session: Session, customer_ids: Sequence[str],
                    record_names: Iterable[str] = ()) -> None:
    """Serialise concurrent batches per customer and per record id (PostgreSQL); SQLite
    serialises all writers. One sorted list of keys: every batch takes them in the same order."""
    if session.get_bind().dialect.name == "sqlite":
        # pysqlite begins a transaction only at the first write: take SQLite's write lock now, so
        # the reads that check the batch and the writes that follow see the same database
        session.execute(text("UPDATE customer SET customer_id = customer_id WHERE 1 = 0"))
        return
    advisory_xact_locks(session, [*customer_ids, *record_names])  # per database and schema


def tune_sqlite(session: Session, rows: int) -> None:
    """A large batch updates a dozen indexes on invoice: with SQLite's default 2 MB page cache
    every insert misses it. A bigger cache (per connection, not persistent) keeps them in memory."""
    if rows >= 10_000 and session.get_bind().dialect.name == "sqlite":
        session.connection().exec_driver_sql("PRAGMA cache_size = -131072")  # 128 MiB
