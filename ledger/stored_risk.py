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
import json
from collections.abc import Iterable, Sequence

from sqlalchemy import Connection, Row, TextClause, bindparam, delete, text
from sqlalchemy import select as core_select
from sqlmodel import Session, select

from ledger.bulk import select_in
from ledger.tables import StoredCustomerRisk, StoredInvoiceRisk, utcnow

IN_CHUNK = 500  # ids per IN (...) list: well under SQLite's and PostgreSQL's limits
CHUNK = 5000  # customers per fingerprint statement (one list parameter: no bind limit)


# every table a customer's risk or next action reads, as aggregates that change with any row
_PARTS = {
    "customer": ("SELECT customer_id, {v} FROM customer WHERE customer_id {ids}",
                 ["updated_at", "currency", "segment", "dunning_scenario", "payment_terms_days"],
                 False),
    "invoice": ("SELECT customer_id, {v} FROM invoice WHERE customer_id {ids} "
                "GROUP BY customer_id",
                ["COUNT(*)", "MAX(updated_at)", "SUM(open_amount)", "SUM(amount)",
                 "COUNT(settled_on)", "MAX(settled_on)", "MIN(settled_on)", "MAX(issue_date)",
                 "MIN(issue_date)", "MAX(due_date)", "MIN(due_date)"], True),
    "payment": ("SELECT customer_id, {v} FROM payment WHERE customer_id {ids} "
                "GROUP BY customer_id",
                ["COUNT(*)", "SUM(amount)", "MAX(paid_on)", "MIN(paid_on)",
                 "SUM(unallocated_amount)", "COUNT(invoice_id)"], True),
    "dispute": ("SELECT i.customer_id, {v} FROM dispute d JOIN invoice i "
                "ON i.invoice_id = d.invoice_id WHERE i.customer_id {ids} "
                "GROUP BY i.customer_id",
                ["COUNT(*)", "MAX(d.updated_at)", "COUNT(d.resolved_on)", "MAX(d.opened_on)"],
                True),
    "action": ("SELECT customer_id, {v} FROM dunningaction WHERE customer_id {ids} "
               "GROUP BY customer_id",
               ["COUNT(*)", "MAX(updated_at)", "MAX(sent_at)",
                "SUM(CASE WHEN state = 'sent' THEN 1 ELSE 0 END)"], True),
    "promise": ("SELECT customer_id, {v} FROM promise WHERE customer_id {ids} "
                "GROUP BY customer_id",
                ["COUNT(*)", "MAX(updated_at)", "MAX(closed_on)"], True),
    "note": ("SELECT customer_id, {v} FROM customernote WHERE customer_id {ids} "
             "GROUP BY customer_id", ["COUNT(*)", "MAX(created_at)"], True),
}


def _text(expression: str) -> str:
    return f"COALESCE(CAST({expression} AS VARCHAR(64)), '')"


# the customers' ids travel as ONE parameter (a JSON array read by json_each on SQLite, an array
# on PostgreSQL): the statement's text never changes, so it is parsed and compiled once
_ID_LIST = {"sqlite": "IN (SELECT value FROM json_each(:ids))",
            "postgresql": "= ANY(CAST(:ids AS VARCHAR[]))"}
_STATEMENTS: dict[str, TextClause] = {}
_LANGUAGE = "language"


def _fingerprint_sql(dialect: str, extra: str | None = None) -> TextClause:
    """The fingerprint statement; `extra`: more parts (rows of customer_id, part, v) read in the
    same round trip, e.g. the rulebook's print (`serving.stored_actions`)."""
    found = _STATEMENTS.get(f"{dialect}|{extra}")
    if found is None:
        ids = _ID_LIST.get(dialect, _ID_LIST["postgresql"])
        parts = []
        for tag, (sql, values, _) in _PARTS.items():
            joined = " || '|' || ".join(_text(v) for v in values)
            parts.append(sql.format(v=f"'{tag}' AS part, {joined} AS v", ids=ids))
        # the customer's language rides along (not hashed): a request that must know the
        # customer exists and how it reads learns both from this statement, not another
        parts.append(_LANGUAGE_PART.format(ids=ids))
        if extra:
            parts.append(extra)
        # one round trip: a request checks freshness with a single statement
        found = _STATEMENTS[f"{dialect}|{extra}"] = text(" UNION ALL ".join(parts))
    return found


_LANGUAGE_PART = ("SELECT customer_id, '" + _LANGUAGE + "' AS part, COALESCE(language, '') AS v "
                  "FROM customer WHERE customer_id {ids}")


def fingerprints(session: Session, customer_ids: Sequence[str]) -> dict[str, str]:
    """The ledger fingerprint of each customer (see the module docstring)."""
    return fingerprints_and_languages(session, customer_ids)[0]


def fingerprints_and_languages(session: Session, customer_ids: Sequence[str]
                               ) -> tuple[dict[str, str], dict[str, str | None]]:
    """(the fingerprint of each customer, the language of each customer that exists: a
    customer absent from the second is not in the ledger), from one statement."""
    # through a connection of its own, as `ledger.store.read_frames` reads the rows the answers
    # are computed from: both see the committed ledger, so a print always names what was read
    # (a caller's uncommitted writes change the print once committed, and the answer with it)
    with session.get_bind().connect() as connection:
        prints, languages, _ = _read_prints(connection, customer_ids)
    return prints, languages


def customer_print_and_row(session: Session, customer_id: str
                           ) -> tuple[str, bool, str | None, dict | None]:
    """(the customer's fingerprint, whether it exists, its language, its stored row as a dict
    or None) in two statements on one connection of its own — the committed ledger, as
    `fingerprints_and_languages` reads it — with no ORM object: what `GET /customers/{id}/risk`
    reads when its stored answer is fresh."""
    with session.get_bind().connect() as connection:
        prints, languages, _ = _read_prints(connection, [customer_id])
        row = None
        if customer_id in languages:
            found = connection.execute(_STORED_ROW, {"id": customer_id}).first()
            row = None if found is None else dict(found._mapping)
    return prints[customer_id], customer_id in languages, languages.get(customer_id), row


def prints_with(connection: Connection, customer_ids: Sequence[str], extra: str
                ) -> tuple[dict[str, str], dict[str, str | None], list[tuple[str, str]]]:
    """`fingerprints_and_languages` on `connection`, with `extra` parts read in the same
    statement (returned as (part, value) rows, in no particular order)."""
    return _read_prints(connection, customer_ids, extra)


def _read_prints(connection: Connection, customer_ids: Sequence[str], extra: str | None = None
                 ) -> tuple[dict[str, str], dict[str, str | None], list[tuple[str, str]]]:
    found: dict[str, list[str]] = {c: [] for c in customer_ids}
    languages: dict[str, str | None] = {}
    extras: list[tuple[str, str]] = []
    ids = list(dict.fromkeys(customer_ids))
    dialect = connection.dialect.name
    for start in range(0, max(len(ids), 1), CHUNK):
        chunk = ids[start:start + CHUNK]
        statement = _fingerprint_sql(dialect, extra if start == 0 else None)
        param = json.dumps(chunk) if dialect == "sqlite" else chunk
        for customer_id, part, value in connection.execute(statement, {"ids": param}):
            if part == _LANGUAGE:
                languages[customer_id] = value or None
            elif customer_id in found:
                found[customer_id].append(f"{part}:{value}")
            else:  # an extra part's row
                extras.append((part, value))
    return ({c: hashlib.sha1("\n".join(sorted(parts)).encode()).hexdigest()
             for c, parts in found.items()}, languages, extras)


_STORED_ROW = core_select(*StoredCustomerRisk.__table__.columns).where(  # type: ignore[attr-defined]
    StoredCustomerRisk.customer_id == bindparam("id"))


def read_customers(session: Session, customer_ids: Sequence[str]) -> dict[str, StoredCustomerRisk]:
    return {row.customer_id: row for row in _in_chunks(session, StoredCustomerRisk,
                                                       StoredCustomerRisk.customer_id, customer_ids)}


def read_invoices(session: Session, invoice_ids: Sequence[str]) -> dict[str, StoredInvoiceRisk]:
    return {row.invoice_id: row for row in _in_chunks(session, StoredInvoiceRisk,
                                                      StoredInvoiceRisk.invoice_id, invoice_ids)}


def read_heads(session: Session, customer_ids: Sequence[str]) -> dict[str, Row]:
    """What freshness reads of each stored customer row (no reasons, no balances), as columns."""
    columns = [StoredCustomerRisk.customer_id, StoredCustomerRisk.as_of,  # type: ignore[list-item]
               StoredCustomerRisk.model_version, StoredCustomerRisk.fingerprint]
    return {row.customer_id: row for row in select_in(session, columns,
                                                      StoredCustomerRisk.customer_id, customer_ids)}


def read_invoice_rows(session: Session, invoice_ids: Sequence[str]) -> dict[str, dict]:
    """The stored rows of these invoices as plain dicts (columns, no ORM objects)."""
    columns = list(StoredInvoiceRisk.__table__.columns)  # type: ignore[attr-defined]
    names = [c.name for c in columns]
    return {row[0]: dict(zip(names, row, strict=True)) for row in select_in(
        session, columns, StoredInvoiceRisk.invoice_id, invoice_ids)}


def invoices_of(session: Session, customer_ids: Sequence[str]) -> list[StoredInvoiceRisk]:
    return _in_chunks(session, StoredInvoiceRisk, StoredInvoiceRisk.customer_id, customer_ids)


def is_fresh(row: StoredCustomerRisk | Row | None, *, today: dt.date, model_version: str | None,
             fingerprint: str) -> bool:
    return (row is not None and row.as_of == today and row.model_version == model_version
            and row.fingerprint == fingerprint)


def is_fresh_row(row: dict, *, today: dt.date, model_version: str | None,
                 fingerprint: str) -> bool:
    """`is_fresh` for a stored row read as a dict."""
    return (row["as_of"] == today and row["model_version"] == model_version
            and row["fingerprint"] == fingerprint)


def store(session: Session, customers: Iterable[dict], invoices: Iterable[dict]) -> int:
    """Replace the stored answers of these customers (and of all their invoices) in the
    caller's transaction; returns how many customers were stored."""
    customers, invoices = list(customers), list(invoices)
    ids = [c["customer_id"] for c in customers]
    for start in range(0, len(ids), IN_CHUNK):
        chunk = ids[start:start + IN_CHUNK]
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
