"""Bulk ingestion speed: 100,000 invoices (plus their customers and payments) through
`ledger.ingest.ingest`, into SQLite and PostgreSQL. Writes benchmarks/results/ingest.json.

    .venv/bin/python benchmarks/ingest.py [--invoices 100000] [--pg postgresql+psycopg://postgres@127.0.0.1:5432/test]
"""
from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import text
from sqlmodel import Session

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._common import peak_rss_mb, report  # noqa: E402
from ledger.db import make_engine, migrate  # noqa: E402
from ledger.ingest import ingest  # noqa: E402
from ledger.schemas import IngestBatch  # noqa: E402


def batch(n_invoices: int) -> dict:
    customers = max(n_invoices // 20, 1)
    start = dt.date(2024, 1, 1)
    invoices, payments = [], []
    for i in range(n_invoices):
        issue = start + dt.timedelta(days=i % 700)
        invoices.append({"invoice_id": f"F{i:08d}", "customer_id": f"C{i % customers:06d}",
                         "issue_date": issue.isoformat(), "due_date": (issue + dt.timedelta(days=30)).isoformat(),
                         "amount": f"{100 + i % 900}.{i % 100:02d}"})
        if i % 4:  # three invoices in four are paid, a third of those without naming the invoice
            payments.append({"payment_id": f"P{i:08d}", "customer_id": f"C{i % customers:06d}",
                             "paid_on": (issue + dt.timedelta(days=20 + i % 40)).isoformat(),
                             "amount": invoices[-1]["amount"],
                             **({"invoice_id": f"F{i:08d}"} if i % 3 else {})})
    return {"customers": [{"customer_id": f"C{c:06d}", "name": f"Client {c}"} for c in range(customers)],
            "invoices": invoices, "payments": payments}


def run(engine, body: dict, label: str) -> dict:
    t0 = time.perf_counter()
    parsed = IngestBatch.model_validate(body)
    t1 = time.perf_counter()
    with Session(engine) as session:
        ingest(session=session, batch=parsed, actor="bench")
        session.commit()
    t2 = time.perf_counter()
    with Session(engine) as session:  # the same batch again: idempotent, nothing to write
        ingest(session=session, batch=parsed, actor="bench")
        session.commit()
    t3 = time.perf_counter()
    n = len(body["invoices"])
    return {"database": label, "invoices": n, "payments": len(body["payments"]),
            "validate_s": t1 - t0, "ingest_s": t2 - t1, "invoices_per_s": n / (t2 - t0),
            "resend_s": t3 - t2, "peak_rss_mb": peak_rss_mb()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--invoices", type=int, default=100_000)
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    body = batch(args.invoices)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/bench.db")
        migrate(engine)
        rows.append(run(engine, body, "sqlite"))
    if args.pg:
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        admin = make_engine(args.pg)
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        try:
            engine = make_engine(args.pg, schema=schema)
            migrate(engine)
            rows.append(run(engine, body, "postgresql"))
            engine.dispose()
        finally:
            with admin.begin() as connection:
                connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    report("ingest", rows, title=f"Bulk ingestion of {args.invoices:,} invoices")


if __name__ == "__main__":
    main()
