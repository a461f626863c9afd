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

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, select, tuple_
from sqlmodel import Session, SQLModel

from ledger.allocation import CreditLine, InvoiceLine, allocate
from ledger.bulk import driver_value, on_conflict, plain_params, python_defaults, select_in, write_rows
from ledger.gc_pause import paused_gc
from ledger.ingest_checks import (
    check_owners,
    check_references,
    check_scenarios,
    lock_customers,
    record_lock_names,
    tune_sqlite,
)
from ledger.links import LinkSet, changed_customers, load_links, stored_for_customers, stored_for_sources
from ledger.schemas import IngestBatch, IngestChanges, IngestResult, dates_in_range
from ledger.tables import Allocation, AllocationLink, AuditLog, Customer, Dispute, Invoice, Payment, utcnow
from ledger.workflow import ACTIVE_DISPUTE

CHUNK = 500


def ingest(*, session: Session, batch: IngestBatch, actor: str, source: str = "api",
           links: LinkSet | None = None,
           scenario_names: Collection[str] | None = None) -> IngestResult:
    """Store `batch` (all or nothing, within the caller's transaction) and re-derive balances.

    Sets nothing off downstream: the result's `changes` say what changed, and
    `ledger.effects.ingest_and_apply` (what every caller uses) applies them as of a given date.

    `links` (the books' lettering) replace the stored links of their sources before allocation.
    `scenario_names`: what a customer's `dunning_scenario` may say (the scenarios and the keys of
    their segment → scenario table; the ledger does not know the shipped catalogue, serving
    passes it); any other name is refused.
    """
    with paused_gc(len(batch.invoices) + len(batch.payments)):
        return _ingest(session=session, batch=batch, actor=actor, source=source, links=links,
                       scenario_names=scenario_names)


def _ingest(*, session: Session, batch: IngestBatch, actor: str, source: str, links: LinkSet | None,
            scenario_names: Collection[str] | None) -> IngestResult:
    customer_ids = sorted({c.customer_id for c in batch.customers}
                          | {i.customer_id for i in batch.invoices}
                          | {p.customer_id for p in batch.payments}
                          | ({link.customer_id for link in links.links} if links else set()))
    _lock_and_check(session, batch, customer_ids, scenario_names)

    counts_customers = _upsert_customers(session, batch)
    existing_invoices, existing_payments = _stored(session, customer_ids)
    # every id already stored (dates in range or not): the others are inserted without a conflict
    # clause (check_owners refused ids stored under another customer, the locks keep them new)
    stored_ids = ({row["invoice_id"] for row in existing_invoices},
                  {row["payment_id"] for row in existing_payments})
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
            lock_customers(session, outside)
            more_invoices, more_payments = _stored(session, outside)
            existing_invoices += more_invoices
            existing_payments += more_payments
            stored_ids[0].update(row["invoice_id"] for row in more_invoices)
            stored_ids[1].update(row["payment_id"] for row in more_payments)
            invoices.update({row["invoice_id"]: _pick(row, INVOICE_FIELDS) for row in more_invoices})
            payments.update({row["payment_id"]: _pick(row, PAYMENT_FIELDS) for row in more_payments})

    # a customer none of whose invoices or payments changed keeps its allocations as they are
    paid = _write_allocations(session, sorted(dirty), invoices, payments, existing_invoices,
                              existing_payments, stored_ids)
    counts_disputes = _upsert_disputes(session, batch)
    result = IngestResult(customers=counts_customers, invoices=counts_invoices,
                          payments=counts_payments, disputes=counts_disputes,
                          customers_reallocated=len(dirty),
                          changes=_changes(batch, customer_ids=customer_ids, paid=paid, dirty=dirty))
    session.add(AuditLog(actor=actor, action="ingest", entity="batch", entity_id=source,
                         after=result.model_dump()))
    session.flush()
    return result


def _lock_and_check(session: Session, batch: IngestBatch, customer_ids: list[str],
                    scenario_names: Collection[str] | None) -> None:
    # locks first: the checks must see what a concurrent batch committed before us
    postgres = session.get_bind().dialect.name == "postgresql"  # SQLite has one writer: no names
    lock_customers(session, customer_ids, record_lock_names(batch) if postgres else ())
    check_references(session=session, batch=batch)
    if scenario_names is not None:
        check_scenarios(batch, frozenset(scenario_names))
    check_owners(session=session, batch=batch)
    tune_sqlite(session, len(batch.invoices) + len(batch.payments))


def _stored(session: Session, customer_ids: list[str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The customers' stored invoices and payments, only the columns allocation compares
    (timestamps cost more to read back than all the rest)."""
    return (_load(session, Invoice, Invoice.customer_id, customer_ids, INVOICE_FIELDS + ("open_amount", "settled_on")),
            _load(session, Payment, Payment.customer_id, customer_ids, PAYMENT_FIELDS + ("unallocated_amount",)))


# --- upserts -----------------------------------------------------------------------------------

def upsert(session: Session, table: type[SQLModel], rows: list[dict[str, Any]], key: str,
           *, update_columns: Sequence[str] | None = None, stored: Collection[str] | None = None) -> None:
    """INSERT … ON CONFLICT (key) DO UPDATE, on SQLite and PostgreSQL alike (`ledger.bulk`).

    Columns a row does not give take the table's defaults on insert and are left alone on
    update. When a key appears twice, the last row wins, as it did with executemany.

    `stored`: every key the table holds among `rows`' keys, read under the caller's locks. On
    PostgreSQL the other rows are new: they go in with a plain COPY (no load table, no conflict
    clause), a first load's bulk at COPY's own speed.
    """
    if not rows:
        return
    if stored is not None and session.connection().dialect.name == "postgresql":
        new = [row for row in rows if row[key] not in stored]
        if new:
            _insert_new(session, table, new, key)
            rows = [row for row in rows if row[key] in stored]
            if not rows:
                return
    sa_table = table.__table__  # type: ignore[attr-defined]
    connection = session.connection()
    sqlite = connection.dialect.name == "sqlite"
    by_shape = _by_shape(rows, key)
    for shape, keyed in by_shape.items():
        defaults = python_defaults(sa_table, shape)
        updates = [c for c in (update_columns or shape) if c in shape and c != key]
        # in key order: appending to the primary key's B-tree is much cheaper than scattering
        shaped = [keyed[k] for k in sorted(keyed)]
        params = plain_params(shaped, shape, sqlite, tuple(defaults.values()))
        write_rows(connection, sa_table.name, list(shape) + list(defaults), params,
                   conflict=on_conflict((key,), updates))


def _insert_new(session: Session, table: type[SQLModel], rows: list[dict[str, Any]], key: str) -> None:
    """Plain INSERT (COPY when large) of rows whose key is not stored, grouped by shape."""
    sa_table = table.__table__  # type: ignore[attr-defined]
    connection = session.connection()
    for shape, keyed in _by_shape(rows, key).items():
        defaults = python_defaults(sa_table, shape)
        params = plain_params([keyed[k] for k in sorted(keyed)], shape, False, tuple(defaults.values()))
        write_rows(connection, sa_table.name, list(shape) + list(defaults), params)


def _by_shape(rows: list[dict[str, Any]], key: str) -> dict[tuple[str, ...], dict[Any, dict[str, Any]]]:
    """Rows grouped by their sorted columns, keyed by `key` (the last row of a key wins); the
    columns of each distinct key order are sorted once, not once per row."""
    by_shape: dict[tuple[str, ...], dict[Any, dict[str, Any]]] = defaultdict(dict)
    sorted_shape: dict[tuple[str, ...], tuple[str, ...]] = {}
    for row in rows:
        order = tuple(row)
        shape = sorted_shape.get(order)
        if shape is None:
            shape = sorted_shape[order] = tuple(sorted(order))
        by_shape[shape][row[key]] = row
    return by_shape


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


def _changes(batch: IngestBatch, *, customer_ids: list[str], paid: set[str], dirty: set[str]) -> IngestChanges:
    """What downstream must hear of (`ledger.effects`): this function decides nothing."""
    return IngestChanges(
        customers=customer_ids, paid_invoices=sorted(paid),
        disputed_invoices=sorted({d.invoice_id for d in batch.disputes if d.status in ACTIVE_DISPUTE}),
        # a payment may keep or break a promise of any customer whose allocations it moved
        promise_customers=customer_ids if batch.payments else [],
        stopped_customers=sorted({c.customer_id for c in batch.customers
                                  if c.on_hold or c.insolvency_date is not None}),
        reallocated_customers=sorted(dirty))


def _write_allocations(session: Session, customer_ids: list[str], invoices: dict[str, dict],
                       payments: dict[str, dict], existing_invoices: list[dict],
                       existing_payments: list[dict], stored_ids: tuple[set[str], set[str]]) -> set[str]:
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
    linked = _linked if links else (lambda links, source, customer_id: ((), False))
    for customer_id in customer_ids:
        lines = [InvoiceLine(r["invoice_id"], r["issue_date"], r["due_date"], Decimal(r["amount"]))
                 for r in per_customer_invoices[customer_id] if r["kind"] == "invoice"]
        credits = [CreditLine("payment", r["payment_id"], r["paid_on"], Decimal(r["amount"]),
                              r["invoice_id"], *linked(links, ("payment", r["payment_id"]), customer_id))
                   for r in per_customer_payments[customer_id]]
        credits += [CreditLine("credit_note", r["invoice_id"], r["issue_date"], Decimal(r["amount"]),
                               r.get("applies_to"),
                               *linked(links, ("credit_note", r["invoice_id"]), customer_id))
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

    upsert(session, Invoice, invoice_rows, "invoice_id", stored=stored_ids[0])
    upsert(session, Payment, payment_rows, "payment_id", stored=stored_ids[1])
    _replace_allocations(session, customer_ids, allocation_rows)
    _write_credit_balances(session, customer_ids, credit)
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
    for allocation_id, *values in select_in(session, columns, Allocation.customer_id, customer_ids):
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


def _write_credit_balances(session: Session, customer_ids: list[str], credit: dict[str, Decimal]) -> None:
    """Each customer's unused credit (overpayments, credit notes), written only where it moved."""
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
    return [dict(zip(names, row)) for row in select_in(session, columns, column, ids)]


def _chunks(items: Sequence | Iterable, size: int = CHUNK):
    items = list(items)
    for start in range(0, len(items), size):
        yield items[start:start + size]
