"""Benchmark: the daily dunning run over many open invoices, on SQLite and PostgreSQL.

Bench data is written with bulk SQL inserts (not the API): N customers, M open invoices with due
dates spread from 75 days late to 30 days ahead, a few settled invoices for payer history. Then
times a dry run (read + policy) and a real run (read + policy + writing actions, reminders and
events in one transaction), and a second real run of the same date (idempotent: creates nothing).
Peak memory is the process's maximum resident set (ru_maxrss), measured in a subprocess per case;
the load average beside each case says how busy the (shared) machine was.
The anchor, timed in the same child: one SELECT bringing the open invoices into Python (a run
must read them all). Writes benchmarks/results/dunning.json (not with --quick), prints a rich
table on stderr and ends with one JSON line: `invoices`, `run_s` (PostgreSQL, the largest size),
`run_client_cpu_s` and `run_server_cpu_s` (CPU seconds of this process and of its PostgreSQL
server processes during the run; `sqlite_run_cpu_s`),
`sqlite_run_s`, `dry_run_s`, `read_s` (the anchor) and `run_ratio` = run_s / read_s.

    .venv/bin/python benchmarks/dunning.py [--quick] [--sizes 100000:5000,1000000:50000] [--pg URL]
"""
from __future__ import annotations

import datetime as dt
import json
import os
import platform
import resource
import subprocess
import sys
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:] = [str(HERE.parent)] + [p for p in sys.path if Path(p or ".").resolve() != HERE]

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from benchmarks._common import DEFAULT_PG, emit, parser, write_results  # noqa: E402

RUN_DATE = dt.date(2024, 6, 12)


def _load(engine, *, invoices: int, customers: int) -> None:
    from ledger.tables import Customer, Invoice

    now = dt.datetime.now(dt.UTC)
    batch = 20_000
    with engine.begin() as connection:
        rows = [{"customer_id": f"C{c:07d}", "name": f"Client {c}", "language": "fr",
                 "currency": "EUR", "email": f"c{c}@example.com", "credit_balance": 0,
                 "on_hold": False, "created_at": now, "updated_at": now,
                 "segment": "key_account" if c % 10 == 0 else None} for c in range(customers)]
        for start in range(0, len(rows), batch):
            connection.execute(Customer.__table__.insert(), rows[start:start + batch])
        rows = []
        for n in range(invoices):
            due = RUN_DATE + dt.timedelta(days=30 - (n * 7919) % 106)
            settled = n % 20 == 0  # 5 % settled: payer history for `deteriorating`
            rows.append({"invoice_id": f"I{n:08d}", "customer_id": f"C{n % customers:07d}",
                         "issue_date": due - dt.timedelta(days=30), "due_date": due,
                         "amount": 1000 + n % 5000, "open_amount": 0 if settled else 1000 + n % 5000,
                         "currency": "EUR", "kind": "invoice",
                         "settled_on": due + dt.timedelta(days=n % 17) if settled and due < RUN_DATE else None,
                         "created_at": now, "updated_at": now})
            if len(rows) == batch:
                connection.execute(Invoice.__table__.insert(), rows)
                rows = []
        if rows:
            connection.execute(Invoice.__table__.insert(), rows)


def _server_cpu(pids: set[int]) -> float:
    """CPU seconds used so far by these (local) PostgreSQL server processes, read from /proc."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # not on this machine, or gone
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _case(backend: str, invoices: int, customers: int, pg_url: str, workdir: Path) -> dict:
    """One measurement, run in this (child) process."""
    from sqlalchemy import event, text

    from ledger.db import import_table_modules, make_engine, migrate
    from serving.dunning import run_and_commit

    import_table_modules()
    schema = None
    if backend == "sqlite":
        engine = make_engine(f"sqlite:///{workdir / f'dunning-{invoices}.db'}")
    else:
        schema = f"bench_dunning_{uuid.uuid4().hex[:8]}"
        admin = make_engine(pg_url)
        with admin.begin() as c:
            c.execute(text(f'CREATE SCHEMA "{schema}"'))
        engine = make_engine(pg_url, schema=schema)
    try:
        migrate(engine)
        started = time.perf_counter()
        _load(engine, invoices=invoices, customers=customers)
        load_s = time.perf_counter() - started
        if backend == "postgresql":
            with engine.begin() as c:
                c.execute(text("ANALYZE"))
        started = time.perf_counter()
        with engine.connect() as c:  # the anchor: the open invoices, read once into Python
            c.execute(text("SELECT invoice_id, customer_id, issue_date, due_date, amount, open_amount, "
                           "currency, kind FROM invoice WHERE settled_on IS NULL AND open_amount > 0")).fetchall()
        read_s = round(time.perf_counter() - started, 2)
        timings = {}
        load_before = [round(x, 1) for x in os.getloadavg()]
        backends: set[int] = set()  # PostgreSQL server processes of this engine's connections
        if backend == "postgresql":
            event.listen(engine, "connect", lambda dbapi, _record: backends.add(dbapi.info.backend_pid))
            engine.dispose()  # connections opened from here on are seen
        for label, dry in (("dry_run", True), ("run", False), ("rerun", False)):
            started, cpu, server = time.perf_counter(), time.process_time(), _server_cpu(backends)
            report = run_and_commit(engine=engine, run_date=RUN_DATE, dry_run=dry, actor="bench",
                                    today=RUN_DATE)
            timings[label] = {"seconds": round(time.perf_counter() - started, 2),
                              # CPU seconds of this process and of its PostgreSQL server processes:
                              # steadier than wall time on a loaded machine
                              "client_cpu_s": round(time.process_time() - cpu, 2),
                              "server_cpu_s": round(_server_cpu(backends) - server, 2) if backends else None,
                              "planned": len(report.actions), "created": report.created,
                              "reminders": report.reminders}
        return {"backend": backend, "invoices": invoices, "customers": customers,
                "load_seconds": round(load_s, 1), "read_seconds": read_s, **timings,
                # the machine is shared: the 1/5/15-minute load average before and after the runs
                "load_average": {"before": load_before,
                                 "after": [round(x, 1) for x in os.getloadavg()]},
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}
    finally:
        engine.dispose()
        if schema:
            with admin.begin() as c:
                c.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        elif backend == "sqlite":
            for suffix in ("", "-wal", "-shm"):
                Path(f"{workdir / f'dunning-{invoices}.db'}{suffix}").unlink(missing_ok=True)


def main() -> None:
    parser_ = parser(__doc__.splitlines()[0])
    parser_.add_argument("--sizes", default="100000:5000,1000000:50000",
                        help="invoices:customers pairs, comma separated")
    parser_.add_argument("--backends", default="sqlite,postgresql")
    parser_.add_argument("--pg", default=os.environ.get("TEST_DATABASE_URL", DEFAULT_PG))
    parser_.add_argument("--workdir", default="/tmp")
    parser_.add_argument("--child", help="internal: one case in a child process")
    args = parser_.parse_args()
    if args.quick:
        args.sizes = "20000:1000"
    if args.child:
        backend, invoices, customers = args.child.split(":")
        print(json.dumps(_case(backend, int(invoices), int(customers), args.pg, Path(args.workdir))))
        return
    results = []
    for size in args.sizes.split(","):
        invoices, customers = size.split(":")
        for backend in args.backends.split(","):
            child = subprocess.run(
                [sys.executable, __file__, "--child", f"{backend}:{invoices}:{customers}",
                 "--pg", args.pg, "--workdir", args.workdir],
                capture_output=True, text=True, check=False)
            if child.returncode != 0:
                results.append({"backend": backend, "invoices": int(invoices),
                                "customers": int(customers), "error": child.stderr[-2000:]})
                continue
            results.append(json.loads(child.stdout.strip().splitlines()[-1]))
    write_results("dunning", {"benchmark": "dunning", "machine": platform.platform(),
                              "cpus": os.cpu_count(), "run_date": RUN_DATE.isoformat(),
                              "target": "1,000,000 open invoices of 50,000 customers under 60 s",
                              "results": results}, quick=args.quick)
    table = Table(title="Dunning run (relance quotidienne)")
    for column in ("backend", "invoices", "customers", "load s", "dry run s", "run s", "rerun s",
                   "run CPU s (client/server)", "planned", "created", "reminders", "peak RSS MB"):
        table.add_column(column, justify="right")
    for r in results:
        if "error" in r:
            table.add_row(r["backend"], str(r["invoices"]), str(r["customers"]), "error", "", "",
                          "", "", "", "", "", "")
            continue
        table.add_row(r["backend"], f"{r['invoices']:,}", f"{r['customers']:,}", str(r["load_seconds"]),
                      str(r["dry_run"]["seconds"]), str(r["run"]["seconds"]), str(r["rerun"]["seconds"]),
                      f"{r['run']['client_cpu_s']}/{r['run']['server_cpu_s']}",
                      f"{r['dry_run']['planned']:,}", f"{r['run']['created']:,}",
                      f"{r['run']['reminders']:,}", str(r["peak_rss_mb"]))
    Console(stderr=True, width=160).print(table)
    largest = max(int(size.split(":")[0]) for size in args.sizes.split(","))
    cases = {r["backend"]: r for r in results if r["invoices"] == largest and "error" not in r}
    pg, lite = cases.get("postgresql", {}), cases.get("sqlite", {})
    emit("dunning", {"invoices": largest, "customers": (pg or lite).get("customers"),
                     "run_s": pg.get("run", {}).get("seconds"), "dry_run_s": pg.get("dry_run", {}).get("seconds"),
                     "rerun_s": pg.get("rerun", {}).get("seconds"), "read_s": pg.get("read_seconds"),
                     "created": pg.get("run", {}).get("created"),
                     "run_client_cpu_s": pg.get("run", {}).get("client_cpu_s"),
                     "run_server_cpu_s": pg.get("run", {}).get("server_cpu_s"),
                     "sqlite_run_cpu_s": lite.get("run", {}).get("client_cpu_s"),
                     "sqlite_run_s": lite.get("run", {}).get("seconds"), "sqlite_read_s": lite.get("read_seconds"),
                     "errors": [r["backend"] for r in results if "error" in r]},
         quick=args.quick, ratios={"run_ratio": ("run_s", "read_s"), "sqlite_run_ratio": ("sqlite_run_s", "sqlite_read_s")})


if __name__ == "__main__":
    main()
