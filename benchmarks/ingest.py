"""Bulk ingestion speed: 100,000 invoices (plus their customers and 75,000 payments) through
`ledger.ingest.ingest`, into SQLite and PostgreSQL, beside the anchor: PostgreSQL COPY of the same
rows into the same (migrated, indexed) tables of a fresh schema. Writes
benchmarks/results/ingest.json (not with --quick) and ends with one JSON line.

    .venv/bin/python benchmarks/ingest.py [--quick] [--invoices 100000] [--pg URL | --pg '']

JSON: `invoices_per_s` (PostgreSQL, validation included), `sqlite_invoices_per_s`,
`copy_rows_per_s` (the batch's invoices divided by the seconds COPY takes to write the whole batch:
customers, invoices, payments), `ingest_ratio` = invoices_per_s / copy_rows_per_s.

CPU seconds, which move much less with the load than wall time on a shared machine:
`ingest_cpu_s` (this process: validation and ingest, plus the PostgreSQL backend's own CPU read
from /proc when the server is local) beside `copy_cpu_s` (the same for the COPY anchor),
`cpu_ratio` = ingest_cpu_s / copy_cpu_s.
"""
from __future__ import annotations

import datetime as dt
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import text
from sqlmodel import Session

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._common import DEFAULT_PG, emit, load, parser, peak_rss_mb, report  # noqa: E402
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


def backend_cpu_s(connection) -> float:
    """CPU seconds of this connection's PostgreSQL backend so far (0.0 if /proc cannot tell:
    SQLite, or a server on another machine)."""
    if connection.dialect.name != "postgresql":
        return 0.0
    pid = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(engine, body: dict, label: str) -> dict:
    load_before = load()[0]
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    parsed = IngestBatch.model_validate(body)
    t1 = time.perf_counter()
    with Session(engine) as session:
        db0 = backend_cpu_s(session.connection())
        ingest(session=session, batch=parsed, actor="bench")
        db_cpu = backend_cpu_s(session.connection()) - db0
        session.commit()
    t2 = time.perf_counter()
    cpu = time.process_time() - cpu0
    with Session(engine) as session:  # the same batch again: idempotent, nothing to write
        ingest(session=session, batch=parsed, actor="bench")
        session.commit()
    t3 = time.perf_counter()
    n = len(body["invoices"])
    return {"database": label, "invoices": n, "payments": len(body["payments"]),
            "validate_s": round(t1 - t0, 3), "ingest_s": round(t2 - t1, 3),
            "invoices_per_s": round(n / (t2 - t0)), "resend_s": round(t3 - t2, 3),
            "cpu_s": round(cpu + db_cpu, 2), "peak_rss_mb": round(peak_rss_mb()), "load_1m": load_before}


def copy_anchor(engine, body: dict) -> tuple[float, float]:
    """Seconds for COPY to write the batch's rows as the ledger stores them (open amounts and
    unallocated amounts filled in, timestamps set), into the same migrated tables; and the CPU
    seconds it took (this process and the backend)."""
    now = dt.datetime.now(dt.UTC)
    with engine.connect() as connection:
        raw = connection.connection
        db0 = backend_cpu_s(connection)
        cpu0 = time.process_time()
        started = time.perf_counter()
        with raw.cursor() as cursor:
            with cursor.copy('COPY customer (customer_id, name, language, currency, credit_balance, on_hold, '
                             'customer_type, created_at, updated_at) FROM STDIN') as copy:
                for c in body["customers"]:
                    copy.write_row((c["customer_id"], c["name"], "fr", "EUR", 0, False, "business", now, now))
            with cursor.copy('COPY invoice (invoice_id, customer_id, issue_date, due_date, amount, currency, kind, '
                             'open_amount, created_at, updated_at) FROM STDIN') as copy:
                for i in body["invoices"]:
                    copy.write_row((i["invoice_id"], i["customer_id"], i["issue_date"], i["due_date"],
                                    i["amount"], "EUR", "invoice", i["amount"], now, now))
            with cursor.copy('COPY payment (payment_id, customer_id, paid_on, amount, currency, invoice_id, '
                             'unallocated_amount, created_at) FROM STDIN') as copy:
                for p in body["payments"]:
                    copy.write_row((p["payment_id"], p["customer_id"], p["paid_on"], p["amount"], "EUR",
                                    p.get("invoice_id"), 0, now))
        raw.commit()
        wall = time.perf_counter() - started
        cpu = time.process_time() - cpu0 + backend_cpu_s(connection) - db0
        connection.commit()
        return wall, cpu


class _Schema:
    """A fresh, migrated PostgreSQL schema, dropped on exit."""

    def __init__(self, url: str):
        self.url, self.name = url, f"bench_ingest_{uuid.uuid4().hex[:8]}"

    def __enter__(self):
        self.admin = make_engine(self.url)
        with self.admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{self.name}"'))
        self.engine = make_engine(self.url, schema=self.name)
        migrate(self.engine)
        return self.engine

    def __exit__(self, *exc):
        self.engine.dispose()
        with self.admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{self.name}" CASCADE'))
        self.admin.dispose()


def main() -> None:
    args_parser = parser(__doc__.splitlines()[0])
    args_parser.add_argument("--invoices", type=int, default=100_000)
    args_parser.add_argument("--pg", default=os.environ.get("TEST_DATABASE_URL", DEFAULT_PG),
                             help="PostgreSQL URL; '' to skip")
    args = args_parser.parse_args()
    if args.quick:
        args.invoices = 10_000
    body = batch(args.invoices)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/bench.db")
        migrate(engine)
        rows.append(run(engine, body, "sqlite"))
        engine.dispose()
    copy_s = copy_cpu = None
    if args.pg:
        with _Schema(args.pg) as engine:
            rows.append(run(engine, body, "postgresql"))
        with _Schema(args.pg) as engine:
            copy_s, copy_cpu = copy_anchor(engine, body)
        rows.append({"database": "postgresql COPY (anchor)", "invoices": args.invoices,
                     "payments": len(body["payments"]), "validate_s": 0.0, "ingest_s": round(copy_s, 3),
                     "invoices_per_s": round(args.invoices / copy_s), "resend_s": "", "cpu_s": round(copy_cpu, 2),
                     "peak_rss_mb": "",
                     "load_1m": load()[0]})
    report("ingest", rows, title=f"Bulk ingestion of {args.invoices:,} invoices", quick=args.quick)
    by_db = {row["database"]: row for row in rows}
    figures = {"invoices": args.invoices, "payments": len(body["payments"]),
               "invoices_per_s": by_db.get("postgresql", {}).get("invoices_per_s"),
               "copy_rows_per_s": round(args.invoices / copy_s) if copy_s else None,
               "sqlite_invoices_per_s": by_db["sqlite"]["invoices_per_s"],
               "validate_s": by_db["sqlite"]["validate_s"],
               "ingest_cpu_s": by_db.get("postgresql", {}).get("cpu_s"),
               "copy_cpu_s": round(copy_cpu, 2) if copy_cpu else None}
    emit("ingest", figures, quick=args.quick,
         ratios={"ingest_ratio": ("invoices_per_s", "copy_rows_per_s"),
                 "cpu_ratio": ("ingest_cpu_s", "copy_cpu_s"),
                 "sqlite_ingest_ratio": ("sqlite_invoices_per_s", "copy_rows_per_s")})


if __name__ == "__main__":
    main()
