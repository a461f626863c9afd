"""Risk answers computed in bulk and stored, read back by key (`serving/stored_risk.py` computes
them; docs/model.md, "Stored answers").

A customer's stored answer is **fresh** when all three hold, else it is recomputed:

- it was computed for today (`as_of`): ages, conditional probabilities and pay dates move daily;
- by the model served now (`model_version`; None: the rules);
- from the ledger the customer has now: `fingerprint` is a hash of aggregates of every row its
  risk and next action read (the customer, its invoices, payments, disputes, dunning actions,
  promises and notes — counts, sums, latest dates and update times), so any ingest, dispute,
  promise or reminder touching the customer changes it, whoever wrote it.

The customer's invoices' answers are stored beside it, in the same transaction, and are fresh
exactly when their customer's is.
"""
from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Sequence

from sqlalchemy import delete, text
from sqlmodel import Session, select

from ledger.tables import StoredCustomerRisk, StoredInvoiceRisk, utcnow

CHUNK = 500  # customers per IN (...) list: well under SQLite's and PostgreSQL's limits


# every table a customer's risk or next action reads, as aggregates that change with any row
_PARTS = {
    "customer": ("SELECT customer_id, {v} FROM customer WHERE customer_id IN ({ids})",
                 ["updated_at", "currency", "segment", "dunning_scenario", "payment_terms_days"],
                 False),
    "invoice": ("SELECT customer_id, {v} FROM invoice WHERE customer_id IN ({ids}) "
                "GROUP BY customer_id",
                ["COUNT(*)", "MAX(updated_at)", "SUM(open_amount)", "SUM(amount)",
                 "COUNT(settled_on)", "MAX(settled_on)", "MIN(settled_on)", "MAX(issue_date)",
                 "MIN(issue_date)", "MAX(due_date)", "MIN(due_date)"], True),
    "payment": ("SELECT customer_id, {v} FROM payment WHERE customer_id IN ({ids}) "
                "GROUP BY customer_id",
                ["COUNT(*)", "SUM(amount)", "MAX(paid_on)", "MIN(paid_on)",
                 "SUM(unallocated_amount)", "COUNT(invoice_id)"], True),
    "dispute": ("SELECT i.customer_id, {v} FROM dispute d JOIN invoice i "
                "ON i.invoice_id = d.invoice_id WHERE i.customer_id IN ({ids}) "
                "GROUP BY i.customer_id",
                ["COUNT(*)", "MAX(d.updated_at)", "COUNT(d.resolved_on)", "MAX(d.opened_on)"],
                True),
    "action": ("SELECT customer_id, {v} FROM dunningaction WHERE customer_id IN ({ids}) "
               "GROUP BY customer_id",
               ["COUNT(*)", "MAX(updated_at)", "MAX(sent_at)",
                "SUM(CASE WHEN state = 'sent' THEN 1 ELSE 0 END)"], True),
    "promise": ("SELECT customer_id, {v} FROM promise WHERE customer_id IN ({ids}) "
                "GROUP BY customer_id",
                ["COUNT(*)", "MAX(updated_at)", "MAX(closed_on)"], True),
    "note": ("SELECT customer_id, {v} FROM customernote WHERE customer_id IN ({ids}) "
             "GROUP BY customer_id", ["COUNT(*)", "MAX(created_at)"], True),
}


def _text(expression: str) -> str:
    return f"COALESCE(CAST({expression} AS VARCHAR(64)), '')"


def _fingerprint_sql(n: int) -> str:
    ids = ", ".join(f":c{i}" for i in range(n))
    parts = []
    for tag, (sql, values, _) in _PARTS.items():
        joined = " || '|' || ".join(_text(v) for v in values)
        parts.append(sql.format(v=f"'{tag}' AS part, {joined} AS v", ids=ids))
    # one round trip: a request checks freshness with a single statement
    return " UNION ALL ".join(parts)


def fingerprints(session: Session, customer_ids: Sequence[str]) -> dict[str, str]:
    """The ledger fingerprint of each customer (see the module docstring)."""
    found: dict[str, list[str]] = {c: [] for c in customer_ids}
    ids = list(dict.fromkeys(customer_ids))
    # through a connection of its own, as `ledger.store.read_frames` reads the rows the answers
    # are computed from: both see the committed ledger, so a print always names what was read
    # (a caller's uncommitted writes change the print once committed, and the answer with it)
    with session.get_bind().connect() as connection:
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start:start + CHUNK]
            params = {f"c{i}": c for i, c in enumerate(chunk)}
            for customer_id, part, value in connection.execute(text(_fingerprint_sql(len(chunk))),
                                                               params):
                found[customer_id].append(f"{part}:{value}")
    return {c: hashlib.sha1("\n".join(sorted(parts)).encode()).hexdigest()
            for c, parts in found.items()}


def read_customers(session: Session, customer_ids: Sequence[str]) -> dict[str, StoredCustomerRisk]:
    return {row.customer_id: row for row in _in_chunks(session, StoredCustomerRisk,
                                                       StoredCustomerRisk.customer_id, customer_ids)}


def read_invoices(session: Session, invoice_ids: Sequence[str]) -> dict[str, StoredInvoiceRisk]:
    return {row.invoice_id: row for row in _in_chunks(session, StoredInvoiceRisk,
                                                      StoredInvoiceRisk.invoice_id, invoice_ids)}


def invoices_of(session: Session, customer_ids: Sequence[str]) -> list[StoredInvoiceRisk]:
    return _in_chunks(session, StoredInvoiceRisk, StoredInvoiceRisk.customer_id, customer_ids)


def is_fresh(row: StoredCustomerRisk | None, *, today: dt.date, model_version: str | None,
             fingerprint: str) -> bool:
    return (row is not None and row.as_of == today and row.model_version == model_version
            and row.fingerprint == fingerprint)


def store(session: Session, customers: Iterable[dict], invoices: Iterable[dict]) -> int:
    """Replace the stored answers of these customers (and of all their invoices) in the
    caller's transaction; returns how many customers were stored."""
    customers, invoices = list(customers), list(invoices)
    ids = [c["customer_id"] for c in customers]
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start:start + CHUNK]
        session.execute(delete(StoredInvoiceRisk).where(StoredInvoiceRisk.customer_id.in_(chunk)))
        session.execute(delete(StoredCustomerRisk).where(StoredCustomerRisk.customer_id.in_(chunk)))
    now = utcnow()
    if customers:
        session.execute(StoredCustomerRisk.__table__.insert(),
                        [{"computed_at": now, **c} for c in customers])
    if invoices:
        session.execute(StoredInvoiceRisk.__table__.insert(), invoices)
    return len(customers)


def _in_chunks(session: Session, table, column, keys: Sequence[str]) -> list:
    keys = list(dict.fromkeys(keys))
    rows = []
    for start in range(0, len(keys), 900):
        rows += session.exec(select(table).where(column.in_(keys[start:start + 900]))).all()
    return rows
