"""Ingestion: idempotent upserts by the billing system's ids, then payment allocation.

One call is one transaction: either the whole batch is stored, or nothing is. Every customer the
batch touches has its allocations replayed from scratch (`ledger.allocation`), under a lock on
that customer so that two overlapping batches sent at once still leave one copy of each record
and one consistent set of allocations.

A stored invoice or payment never changes customer, and an invoice never changes kind: a batch
that sends one again under another customer (or as a credit note) is refused whole with
`LedgerConflictError` (HTTP 409) naming the record and its current customer. Moving money between
customers silently is how one payment ended up settling two customers' invoices; a real move is a
correction in the billing system (a new id). The check runs under locks on the record ids too, so
two batches creating the same new id for two customers at once cannot both succeed.
"""
from __future__ import annotations

import datetime as dt
import hashlib
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import String, any_, bindparam, delete, select, text, tuple_
from sqlalchemy.dialects import postgresql
from sqlmodel import Session, SQLModel

from ledger.allocation import CreditLine, InvoiceLine, allocate
from ledger.bulk import driver_value, on_conflict, plain_params, python_defaults, write_rows
from ledger.credit import check_crossings
from ledger.db import advisory_xact_locks
from ledger.errors import FieldError, LedgerConflictError, LedgerValidationError
from ledger.links import LinkSet, changed_customers, load_links, stored_for_customers, stored_for_sources
from ledger.schemas import IngestBatch, IngestResult, dates_in_range
from ledger.tables import Allocation, AllocationLink, AuditLog, Customer, Dispute, Invoice, Payment, utcnow

CHUNK = 500


def ingest(*, session: Session, batch: IngestBatch, actor: str, source: str = "api",
           links: LinkSet | None = None,
           scenario_names: Collection[str] | None = None) -> IngestResult:
    """Store `batch` (all or nothing, within the caller's transaction) and re-derive balances.

    `links` (the books' lettering) replace the stored links of their sources before allocation.
    `scenario_names`: what a customer's `dunning_scenario` may say (the scenarios and the keys of
    their segment → scenario table; the ledger does not know the shipped catalogue, serving
    passes it); any other name is refused.
    """
    customer_ids = sorted({c.customer_id for c in batch.customers}
                          | {i.customer_id for i in batch.invoices}
                          | {p.customer_id for p in batch.payments}
                          | ({link.customer_id for link in links.links} if links else set()))
    # locks first: the checks below must see what a concurrent batch committed before us
    _lock_customers(session, customer_ids, _record_lock_names(batch))
    _check_references(session=session, batch=batch)
    if scenario_names is not None:
        _check_scenarios(batch, frozenset(scenario_names))
    _check_owners(session=session, batch=batch)
    _tune_sqlite(session, len(batch.invoices) + len(batch.payments))

    counts_customers = _upsert_customers(session, batch)
    # only the columns compared below: timestamps cost more to read back than all the rest
    existing_invoices = _load(session, Invoice, Invoice.customer_id, customer_ids,
                              INVOICE_FIELDS + ("open_amount", "settled_on"))
    existing_payments = _load(session, Payment, Payment.customer_id, customer_ids,
                              PAYMENT_FIELDS + ("unallocated_amount",))
    # rows stored before the date bounds (migration 0011) stay as they are, outside the replay:
    # rewriting one is what the database now refuses, and the customer's other records go on
    existing_invoices = [r for r in existing_invoices if dates_in_range(r, "issue_date", "due_date")]
    existing_payments = [r for r in existing_payments if dates_in_range(r, "paid_on")]

    invoices = {row["invoice_id"]: _pick(row, INVOICE_FIELDS) for row in existing_invoices}
    payments = {row["payment_id"]: _pick(row, PAYMENT_FIELDS) for row in existing_payments}
    dirty: set[str] = set()
    # flat records: a copy of the field dict is what model_dump() returns, at a tenth of the cost
    counts_invoices = _merge(invoices, [dict(i.__dict__) for i in batch.invoices], "invoice_id", dirty)
    counts_payments = _merge(payments, [dict(p.__dict__) for p in batch.payments], "payment_id", dirty)
    if links is not None:
        relinked = _replace_links(session, links, customer_ids)
        dirty |= relinked
        # a customer outside the batch whose links moved needs its records to replay
        outside = sorted(relinked - set(customer_ids))
        if outside:
            _lock_customers(session, outside)
            more_invoices = _load(session, Invoice, Invoice.customer_id, outside,
                                  INVOICE_FIELDS + ("open_amount", "settled_on"))
            more_payments = _load(session, Payment, Payment.customer_id, outside,
                                  PAYMENT_FIELDS + ("unallocated_amount",))
            existing_invoices += more_invoices
            existing_payments += more_payments
            invoices.update({row["invoice_id"]: _pick(row, INVOICE_FIELDS) for row in more_invoices})
            payments.update({row["payment_id"]: _pick(row, PAYMENT_FIELDS) for row in more_payments})

    # a customer none of whose invoices or payments changed keeps its allocations as they are
    paid = _write_allocations(session, sorted(dirty), invoices, payments, existing_invoices,
                              existing_payments)
    counts_disputes = _upsert_disputes(session, batch)
    _after_ingest(session, paid_invoices=paid, batch=batch, customer_ids=customer_ids, actor=actor)
    # a customer pushed over its credit limit by this batch is told once (webhook event)
    check_crossings(session=session, customer_ids=customer_ids, today=dt.date.today())

    result = IngestResult(customers=counts_customers, invoices=counts_invoices,
                          payments=counts_payments, disputes=counts_disputes,
                          customers_reallocated=len(dirty))
    session.add(AuditLog(actor=actor, action="ingest", entity="batch", entity_id=source,
                         after=result.model_dump()))
    session.flush()
    return result


# --- validation --------------------------------------------------------------------------------

def _check_references(*, session: Session, batch: IngestBatch) -> None:
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
    for invoice_id, customer_id in _select_in(session, (Invoice.invoice_id, Invoice.customer_id),
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


def _check_scenarios(batch: IngestBatch, names: frozenset[str]) -> None:
    errors = [
        FieldError(f"customers[{index}].dunning_scenario",
                   f"unknown dunning scenario {customer.dunning_scenario!r}: expected one of "
                   f"{', '.join(sorted(names))}")
        for index, customer in enumerate(batch.customers)
        if customer.dunning_scenario is not None and customer.dunning_scenario not in names
    ]
    if errors:
        raise LedgerValidationError(errors)


def _check_owners(*, session: Session, batch: IngestBatch) -> None:
    """409 for a stored invoice or payment sent under another customer, or an invoice sent with
    another kind: looked up by id across the whole ledger, whatever customers the batch names."""
    conflicts: list[FieldError] = []
    stored_invoices: dict[str, tuple[str, str]] = {}
    for invoice_id, customer_id, kind in _select_in(session, (Invoice.invoice_id, Invoice.customer_id, Invoice.kind),
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
    stored_payments.update(_select_in(session, (Payment.payment_id, Payment.customer_id), Payment.payment_id,
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
    return {row[0] for row in _select_in(session, (column,), column, ids)}


# --- locking -----------------------------------------------------------------------------------

RECORD_LOCK_BUCKETS = 256


def _record_lock_names(batch: IngestBatch) -> set[str]:
    """Lock names covering the batch's invoice and payment ids, hashed into a bounded number of
    buckets: PostgreSQL's lock table is small (max_locks_per_transaction), and a false share of
    a bucket only makes two batches wait for each other, never wrong."""
    names = set()
    for kind, ids in (("invoice", (i.invoice_id for i in batch.invoices)),
                      ("payment", (p.payment_id for p in batch.payments))):
        for record_id in ids:
            bucket = _lock_key(f"{kind}\x00{record_id}") % RECORD_LOCK_BUCKETS
            names.add(f"\x00record-bucket\x00{kind}\x00{bucket}")
    return names


def _lock_customers(session: Session, customer_ids: Sequence[str],
                    record_names: Iterable[str] = ()) -> None:
    """Serialise concurrent batches per customer and per record id (PostgreSQL); SQLite
    serialises all writers. One sorted list of keys: every batch takes them in the same order."""
    if session.get_bind().dialect.name == "sqlite":
        # pysqlite begins a transaction only at the first write: take SQLite's write lock now, so
        # the reads that check the batch and the writes that follow see the same database
        session.execute(text("UPDATE customer SET customer_id = customer_id WHERE 1 = 0"))
        return
    advisory_xact_locks(session, [*customer_ids, *record_names])  # per database and schema


def _tune_sqlite(session: Session, rows: int) -> None:
    """A large batch updates a dozen indexes on invoice: with SQLite's default 2 MB page cache
    every insert misses it. A bigger cache (per connection, not persistent) keeps them in memory."""
    if rows >= 10_000 and session.get_bind().dialect.name == "sqlite":
        session.connection().exec_driver_sql("PRAGMA cache_size = -131072")  # 128 MiB


def _lock_key(customer_id: str) -> int:
    digest = hashlib.blake2b(customer_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


# --- upserts -----------------------------------------------------------------------------------

def upsert(session: Session, table: type[SQLModel], rows: list[dict[str, Any]], key: str,
           *, update_columns: Sequence[str] | None = None) -> None:
    """INSERT … ON CONFLICT (key) DO UPDATE, on SQLite and PostgreSQL alike (`ledger.bulk`).

    Columns a row does not give take the table's defaults on insert and are left alone on
    update. When a key appears twice, the last row wins, as it did with executemany.
    """
    if not rows:
        return
    sa_table = table.__table__  # type: ignore[attr-defined]
    connection = session.connection()
    sqlite = connection.dialect.name == "sqlite"
    by_shape: dict[tuple[str, ...], dict[Any, dict[str, Any]]] = defaultdict(dict)
    for row in rows:
        by_shape[tuple(sorted(row))][row[key]] = row
    for shape, keyed in by_shape.items():
        defaults = python_defaults(sa_table, shape)
        updates = [c for c in (update_columns or shape) if c in shape and c != key]
        # in key order: appending to the primary key's B-tree is much cheaper than scattering
        shaped = [keyed[k] for k in sorted(keyed)]
        params = plain_params(shaped, shape, sqlite, tuple(defaults.values()))
        write_rows(connection, sa_table.name, list(shape) + list(defaults), params,
                   conflict=on_conflict((key,), updates))


def _upsert_customers(session: Session, batch: IngestBatch) -> dict[str, int]:
    # only the fields sent: a batch naming a customer by id alone must not wipe its email
    rows = [c.model_dump(exclude_unset=True) | {"customer_id": c.customer_id} for c in batch.customers]
    return _upsert_changed(session, Customer, Customer.customer_id, rows)


def _upsert_disputes(session: Session, batch: IngestBatch) -> dict[str, int]:
    return _upsert_changed(session, Dispute, Dispute.dispute_id, [d.model_dump() for d in batch.disputes])


def _upsert_changed(session: Session, table: type[SQLModel], column, rows: list[dict]) -> dict[str, int]:
    """Upsert the rows that are new or differ from what is stored; count what happened."""
    key = column.key
    by_id = {row[key]: row for row in rows}
    existing = {row[key]: row for row in _load(session, table, column, by_id)}
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    changed = []
    for record_id, row in by_id.items():
        before = existing.get(record_id)
        if before is None:
            counts["created"] += 1
        elif all(_same(before.get(k), v) for k, v in row.items()):
            counts["unchanged"] += 1
            continue
        else:
            counts["updated"] += 1
        changed.append(row | {"updated_at": utcnow()})
    upsert(session, table, changed, key)
    return counts


def _merge(current: dict[str, dict], incoming: list[dict], key: str, dirty: set[str]) -> dict[str, int]:
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    for row in incoming:
        before = current.get(row[key])
        if before is None:
            counts["created"] += 1
        elif all(_same(before.get(k), v) for k, v in row.items()):
            counts["unchanged"] += 1
            continue
        else:
            counts["updated"] += 1
            dirty.add(before["customer_id"])  # a record moved to another customer frees the old one
        dirty.add(row["customer_id"])
        current[row[key]] = {**(before or {}), **row}
    return counts


def _same(a: Any, b: Any) -> bool:
    # Decimal compares by value (100.1 == 100.10); dates and strings as they are
    return a == b


# --- allocation --------------------------------------------------------------------------------

INVOICE_FIELDS = ("invoice_id", "customer_id", "issue_date", "due_date", "amount", "currency", "kind",
                  "applies_to")
PAYMENT_FIELDS = ("payment_id", "customer_id", "paid_on", "amount", "currency", "invoice_id")


def _pick(row: dict[str, Any], fields: Sequence[str]) -> dict[str, Any]:
    return {f: row[f] for f in fields}


def _after_ingest(session: Session, *, paid_invoices: set[str], batch: IngestBatch,
                  customer_ids: list[str], actor: str) -> None:
    """What a new payment or dispute changes downstream: reminders already planned for those
    invoices are cancelled, and promises to pay are re-evaluated against the payments."""
    from ledger.actions import cancel_pending_for_invoices
    from ledger.promises import evaluate_promises
    from ledger.workflow import ACTIVE_DISPUTE

    disputed = {d.invoice_id for d in batch.disputes if d.status in ACTIVE_DISPUTE}
    if paid_invoices:
        cancel_pending_for_invoices(session, paid_invoices, "payment received", actor)
    if disputed:
        cancel_pending_for_invoices(session, disputed, "dispute opened", actor)
    if batch.payments:
        evaluate_promises(session, customer_ids, dt.date.today(), actor=actor)
    stopping = [c.customer_id for c in batch.customers if c.on_hold or c.insolvency_date is not None]
    if stopping:
        from ledger.statuses import cancel_if_stopped

        cancel_if_stopped(session, stopping, today=dt.date.today(), actor=actor)


def _write_allocations(session: Session, customer_ids: list[str], invoices: dict[str, dict],
                       payments: dict[str, dict], existing_invoices: list[dict],
                       existing_payments: list[dict]) -> set[str]:
    """Replay allocation; returns the invoices whose open amount went down (paid or credited)."""
    before_invoice = {row["invoice_id"]: row for row in existing_invoices}
    before_payment = {row["payment_id"]: row for row in existing_payments}
    per_customer_invoices: dict[str, list[dict]] = defaultdict(list)
    per_customer_payments: dict[str, list[dict]] = defaultdict(list)
    for row in invoices.values():
        per_customer_invoices[row["customer_id"]].append(row)
    for row in payments.values():
        per_customer_payments[row["customer_id"]].append(row)

    invoice_rows, payment_rows, allocation_rows, credit = [], [], [], {}
    paid: set[str] = set()
    now = utcnow()
    links = load_links(session, customer_ids)
    for customer_id in customer_ids:
        lines = [InvoiceLine(r["invoice_id"], r["issue_date"], r["due_date"], Decimal(r["amount"]))
                 for r in per_customer_invoices[customer_id] if r["kind"] == "invoice"]
        credits = [CreditLine("payment", r["payment_id"], r["paid_on"], Decimal(r["amount"]),
                              r["invoice_id"], *_linked(links, ("payment", r["payment_id"]), customer_id))
                   for r in per_customer_payments[customer_id]]
        credits += [CreditLine("credit_note", r["invoice_id"], r["issue_date"], Decimal(r["amount"]),
                               r.get("applies_to"),
                               *_linked(links, ("credit_note", r["invoice_id"]), customer_id))
                    for r in per_customer_invoices[customer_id] if r["kind"] == "credit_note"]
        result = allocate(lines, credits)
        for line in result.allocations:
            allocation_rows.append({"customer_id": customer_id, "invoice_id": line.invoice_id,
                                    "source_kind": line.source_kind, "source_id": line.source_id,
                                    "amount": line.amount, "allocated_on": line.allocated_on})
        for row in per_customer_invoices[customer_id]:
            if row["kind"] == "invoice":
                derived = {"open_amount": result.open_amount[row["invoice_id"]],
                           "settled_on": result.settled_on[row["invoice_id"]]}
            else:
                derived = {"open_amount": result.unallocated.get(("credit_note", row["invoice_id"]), Decimal("0")),
                           "settled_on": None}
            full = {**row, **derived}
            before = before_invoice.get(row["invoice_id"])
            if (row["kind"] == "invoice" and before is not None
                    and derived["open_amount"] < before["open_amount"]):
                paid.add(row["invoice_id"])
            if before is None or not all(_same(before.get(k), v) for k, v in full.items()):
                invoice_rows.append(full | {"updated_at": now})
        for row in per_customer_payments[customer_id]:
            full = {**row, "unallocated_amount": result.unallocated.get(("payment", row["payment_id"]), Decimal("0"))}
            before = before_payment.get(row["payment_id"])
            if before is None or not all(_same(before.get(k), v) for k, v in full.items()):
                payment_rows.append(full)
        credit[customer_id] = result.credit_balance

    upsert(session, Invoice, invoice_rows, "invoice_id")
    upsert(session, Payment, payment_rows, "payment_id")
    _replace_allocations(session, customer_ids, allocation_rows)
    before: dict[str, Decimal] = {}
    for chunk in _chunks(customer_ids):
        before.update(session.execute(select(Customer.customer_id, Customer.credit_balance)
                                      .where(Customer.customer_id.in_(chunk))).all())
    changed = [(balance, customer_id) for customer_id, balance in credit.items()
               if not _same(before.get(customer_id), balance)]
    if changed:
        connection = session.connection()
        sqlite = connection.dialect.name == "sqlite"
        mark = "?" if sqlite else "%s"
        connection.exec_driver_sql(f"UPDATE customer SET credit_balance = {mark} WHERE customer_id = {mark}",
                                   [(driver_value(b, sqlite), c) for b, c in changed])
    return paid


ALLOCATION_KEY = ("customer_id", "invoice_id", "source_kind", "source_id", "amount", "allocated_on")


def _allocation_key(row) -> tuple:
    return (row[0], row[1], row[2], row[3], Decimal(row[4]).quantize(Decimal("0.01")), row[5])


def _replace_allocations(session: Session, customer_ids: list[str], rows: list[dict[str, Any]]) -> None:
    """Make the stored allocations of `customer_ids` equal `rows`, writing only the difference:
    a replay mostly finds what is stored, and every row rewritten would make the report snapshots'
    triggers forget month ends that did not change (and cost a write)."""
    stored: dict[tuple, list[int]] = defaultdict(list)
    columns = (Allocation.id, *(getattr(Allocation, name) for name in ALLOCATION_KEY))
    for allocation_id, *values in _select_in(session, columns, Allocation.customer_id, customer_ids):
        stored[_allocation_key(values)].append(allocation_id)
    added = []
    for row in rows:
        ids = stored.get(_allocation_key([row[name] for name in ALLOCATION_KEY]))
        if ids:
            ids.pop()
        else:
            added.append(row)
    removed = sorted(i for ids in stored.values() for i in ids)
    for chunk in _chunks(removed, 5_000):
        session.execute(delete(Allocation).where(Allocation.id.in_(chunk)))
    _insert_rows(session, Allocation, added)


def _linked(links: dict, source: tuple[str, str], customer_id: str) -> tuple[tuple, bool]:
    """The (invoice, amount) links and the hold flag of one source, for `CreditLine`."""
    own = [link for link in links.get(source, ()) if link.customer_id == customer_id]
    return (tuple((link.invoice_id, link.amount) for link in own if link.invoice_id is not None),
            any(link.invoice_id is None for link in own))


def _replace_links(session: Session, links: LinkSet, customer_ids: Sequence[str]) -> set[str]:
    """Store the links of `links.sources`; the customers whose links changed.

    The sources' stored links are found by customer (indexed), and also by source for sources
    the batch does not place under one of `customer_ids`."""
    stored = [link for link in stored_for_customers(session, customer_ids) if link.source in links.sources]
    own = set(customer_ids)
    outside = {link.source for link in links.links if link.customer_id not in own}
    before = stored + ([link for link in stored_for_sources(session, outside) if link.customer_id not in own]
                       if outside else [])
    after = [link for link in links.links if link.source in links.sources]
    changed = changed_customers(before, after)
    if not changed:
        return set()
    # only sources that had links need a delete; every source of a changed customer is rewritten
    stale = sorted({link.source for link in before if link.customer_id in changed})
    for chunk in _chunks(stale):
        session.execute(delete(AllocationLink).where(
            tuple_(AllocationLink.source_kind, AllocationLink.source_id).in_(chunk)))
    rewritten = set(stale) | {link.source for link in after if link.customer_id in changed}
    _insert_rows(session, AllocationLink, [
        {"customer_id": link.customer_id, "source_kind": link.source_kind, "source_id": link.source_id,
         "invoice_id": link.invoice_id, "amount": link.amount, "origin": link.origin[:80]}
        for link in after if link.source in rewritten])
    return changed


# --- helpers -----------------------------------------------------------------------------------

def _insert_rows(session: Session, table: type[SQLModel], rows: list[dict[str, Any]]) -> None:
    """Plain bulk INSERT through the driver (`ledger.bulk`)."""
    if not rows:
        return
    connection = session.connection()
    columns = list(rows[0])
    write_rows(connection, table.__table__.name, columns,  # type: ignore[attr-defined]
               plain_params(rows, columns, connection.dialect.name == "sqlite"))


def _load(session: Session, table: type[SQLModel], column, ids: Iterable[str],
          fields: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Rows as plain dicts (Core, not ORM objects: ten times cheaper at 100,000 rows)."""
    sa_table = table.__table__  # type: ignore[attr-defined]
    columns = [sa_table.c[f] for f in fields] if fields else list(sa_table.c)
    names = [c.key for c in columns]
    return [dict(zip(names, row)) for row in _select_in(session, columns, column, ids)]


def _select_in(session: Session, columns: Sequence, column, ids: Iterable[str]):
    """Rows of `columns` whose `column` is one of `ids`. PostgreSQL: one statement with an array
    (`= ANY(:ids)`), not a round trip per 500 ids — at 100,000 ids those round trips cost more than
    the lookups; SQLite (in process): IN lists of CHUNK ids."""
    ids = sorted(ids)
    if not ids:
        return
    if session.get_bind().dialect.name == "postgresql":
        yield from session.execute(select(*columns).where(column == any_(bindparam(
            "ids", ids, type_=postgresql.ARRAY(String)))))
        return
    for chunk in _chunks(ids):
        yield from session.execute(select(*columns).where(column.in_(chunk)))


def _chunks(items: Sequence | Iterable, size: int = CHUNK):
    items = list(items)
    for start in range(0, len(items), size):
        yield items[start:start + size]
