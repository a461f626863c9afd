"""Benchmark: every report on a ledger of 1,000,000 invoices (PostgreSQL), and a smaller SQLite one.

Bulk-loads a synthetic ledger (50,000 customers, 3 years of invoices, one allocation per settled
invoice plus partial payments, disputes, sent dunning actions) with COPY into a dedicated schema
(`relance_bench_reports`, dropped and recreated), migrated to every head (so the report indexes of
0005 are there), then times each report function as the API calls it: one warm-up run, then the
median of `--repeat` runs. The anchor, in the same run: DuckDB (in memory) computing the core of
the KPIs, the DSO trend and the forecast over the same rows (benchmarks/_duckdb_reports.py).
Writes benchmarks/results/reports.json (not with --quick), prints a rich table on stderr and ends
with one JSON line: one `<report>_s` per report (PostgreSQL, all segments), `duckdb_kpis_s`,
`duckdb_dso_s`, `duckdb_forecast_s` and each `<report>_ratio` = report / DuckDB.

    .venv/bin/python benchmarks/reports.py [--quick] [--invoices 1000000 --sqlite-invoices 100000]
    .venv/bin/python benchmarks/reports.py --schema relance_bench_reports_1m --reuse  # load once, iterate

With `--schema NAME --reuse` a schema loaded completely by an earlier run with the same sizes (the
schema's comment records them) is migrated to head and timed again instead of reloaded (the
month-end snapshots it holds stay: they are what a running service has); otherwise it is loaded
and kept.
    BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test (the default)
"""
from __future__ import annotations

import datetime as dt
import io
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:] = [str(HERE.parent)] + [p for p in sys.path if Path(p or ".").resolve() != HERE]

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlmodel import Session  # noqa: E402

from benchmarks._common import DEFAULT_PG, emit, load, parser, write_results  # noqa: E402
from benchmarks._duckdb_reports import time_anchors  # noqa: E402
from ledger import forecast, kpis  # noqa: E402
from ledger.db import import_table_modules, make_engine, migrate  # noqa: E402

SCHEMA = f"relance_bench_reports_{os.getpid()}"  # --schema NAME replaces it (and --reuse reads it)
AS_OF = dt.date(2026, 11, 20)
SEGMENTS = np.array(["pme", "eti", "ge", "public"])


# --- synthetic ledger ----------------------------------------------------------------------------

def synth(n_invoices: int, n_customers: int, seed: int = 7) -> dict[str, pd.DataFrame]:
    """Frames shaped like the tables; settled_on/open_amount consistent with the allocations."""
    rng = np.random.default_rng(seed)
    now = pd.Timestamp("2026-11-22T00:00:00Z")
    customers = pd.DataFrame({
        "customer_id": [f"C{k:06d}" for k in range(n_customers)],
        "name": [f"Client {k}" for k in range(n_customers)],
        "language": "fr", "segment": SEGMENTS[rng.integers(0, 4, n_customers)],
        "currency": "EUR", "credit_balance": 0, "on_hold": False,
        "created_at": now, "updated_at": now})
    payer_mean = rng.normal(8, 12, n_customers)

    cust = rng.integers(0, n_customers, n_invoices)
    as_of = pd.Timestamp(AS_OF)
    issue = as_of - pd.to_timedelta(rng.integers(0, 3 * 365, n_invoices), unit="D")
    terms = rng.choice([30, 45, 60], n_invoices)
    due = issue + pd.to_timedelta(terms, unit="D")
    late = np.round(payer_mean[cust] + rng.normal(0, 10, n_invoices)).astype(int)
    late = np.maximum(late, -terms)  # never paid before it was issued
    settled = due + pd.to_timedelta(late, unit="D")
    amount = np.round(rng.lognormal(7, 1, n_invoices), 2)
    is_settled = settled <= as_of
    invoice_ids = np.array([f"F{k:08d}" for k in range(n_invoices)])

    # one payment per settled invoice; 10 % of all invoices got a partial payment first
    partial = rng.random(n_invoices) < 0.10
    partial_on = issue + pd.to_timedelta((np.maximum((settled - issue).days, 1) * 0.5).astype(int), unit="D")
    partial = partial & (partial_on <= as_of)
    partial_amount = np.round(amount * 0.4, 2)
    settled_alloc = is_settled
    alloc = pd.concat([
        pd.DataFrame({"customer_id": customers["customer_id"].to_numpy()[cust[partial]],
                      "invoice_id": invoice_ids[partial], "source_kind": "payment",
                      "source_id": [f"PP{k}" for k in np.flatnonzero(partial)],
                      "amount": partial_amount[partial], "allocated_on": partial_on[partial]}),
        pd.DataFrame({"customer_id": customers["customer_id"].to_numpy()[cust[settled_alloc]],
                      "invoice_id": invoice_ids[settled_alloc], "source_kind": "payment",
                      "source_id": [f"P{k}" for k in np.flatnonzero(settled_alloc)],
                      "amount": np.round(amount - np.where(partial, partial_amount, 0), 2)[settled_alloc],
                      "allocated_on": settled[settled_alloc]}),
    ], ignore_index=True)
    alloc.insert(0, "id", np.arange(1, len(alloc) + 1))
    open_amount = np.where(is_settled, 0.0, np.round(amount - np.where(partial, partial_amount, 0), 2))
    invoices = pd.DataFrame({
        "invoice_id": invoice_ids, "customer_id": customers["customer_id"].to_numpy()[cust],
        "issue_date": issue.date, "due_date": due.date, "amount": amount, "currency": "EUR",
        "kind": "invoice", "open_amount": open_amount,
        "settled_on": pd.Series(settled.date, dtype=object).where(is_settled, None),
        "created_at": now, "updated_at": now})

    n_disputes = n_invoices // 50
    pick = rng.choice(n_invoices, n_disputes, replace=False)
    opened = issue[pick] + pd.to_timedelta(rng.integers(5, 60, n_disputes), unit="D")
    keep = opened <= as_of
    resolved = opened + pd.to_timedelta(rng.integers(3, 90, n_disputes), unit="D")
    disputes = pd.DataFrame({
        "dispute_id": [f"L{k}" for k in range(n_disputes)], "invoice_id": invoice_ids[pick],
        "opened_on": opened.date, "reason": rng.choice(["price", "quality", "delivery", "duplicate"], n_disputes),
        "status": np.where(resolved <= as_of, "resolved", "open"),
        "resolved_on": pd.Series(resolved.date, dtype=object).where(resolved <= as_of, None),
        "created_at": now, "updated_at": now})[keep]

    # a sent reminder on each invoice that went 5 days past due before as_of, steps by lateness
    reminded = np.flatnonzero((late > 5) & (due + pd.to_timedelta(5, unit="D") <= as_of))
    steps = [("reminder1", "email", "courteous", 5), ("reminder2", "email", "firm", 20),
             ("call", "call", "firm", 35)]
    actions = []
    for step, channel, tone, after in steps:
        rows = reminded[late[reminded] > after]
        send = due[rows] + pd.to_timedelta(after, unit="D")
        rows, send = rows[send <= as_of], send[send <= as_of]
        actions.append(pd.DataFrame({
            "customer_id": customers["customer_id"].to_numpy()[cust[rows]], "invoice_id": invoice_ids[rows],
            "step": step, "action": channel, "channel": channel, "tone": tone, "send_on": send.date,
            "state": "sent", "attempts": 1, "created_at": now, "updated_at": now}))
    actions = pd.concat(actions, ignore_index=True)
    actions.insert(0, "id", np.arange(1, len(actions) + 1))
    return {"customer": customers, "invoice": invoices, "allocation": alloc, "dispute": disputes,
            "dunningaction": actions}


# --- loading -------------------------------------------------------------------------------------

def ledger_stamp(frames: dict[str, pd.DataFrame], seed: int = 7) -> str:
    """What a loaded schema holds: written as the schema's comment once its load is complete, so
    that `--reuse` takes only a schema fully loaded with the same rows."""
    return f"relance reports bench: seed={seed} " + " ".join(f"{t}={len(f)}" for t, f in frames.items())


def reusable(url: str, stamp: str) -> bool:
    admin = make_engine(url)
    try:
        with admin.connect() as connection:
            comment = connection.execute(
                text("SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = :s"),
                {"s": SCHEMA}).scalar()
    finally:
        admin.dispose()
    return comment == stamp


def load_postgres(url: str, frames: dict[str, pd.DataFrame]):
    admin = make_engine(url)
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE'))
        connection.execute(text(f'CREATE SCHEMA "{SCHEMA}"'))
    admin.dispose()
    engine = make_engine(url, schema=SCHEMA)
    migrate(engine)
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cursor:
            for table, frame in frames.items():
                buffer = io.StringIO()
                frame.to_csv(buffer, index=False, header=False, na_rep="\\N")
                columns = ", ".join(f'"{c}"' for c in frame.columns)
                with cursor.copy(f'COPY "{table}" ({columns}) FROM STDIN (FORMAT csv, NULL \'\\N\')') as copy:
                    copy.write(buffer.getvalue())
            cursor.execute("SELECT setval(pg_get_serial_sequence('allocation', 'id'), max(id)) FROM allocation")
            cursor.execute("SELECT setval(pg_get_serial_sequence('dunningaction', 'id'), max(id)) FROM dunningaction")
        raw.commit()
        # VACUUM sets the visibility map, which index-only scans need; it refuses a transaction
        driver = raw.driver_connection
        driver.autocommit = True
        with driver.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
            stamp = ledger_stamp(frames).replace("'", "''")  # COMMENT takes no parameter
            cursor.execute(f"COMMENT ON SCHEMA \"{SCHEMA}\" IS '{stamp}'")
        driver.autocommit = False  # the connection goes back to the pool: transactions again
    finally:
        raw.close()
    return engine


def load_sqlite(path: Path, frames: dict[str, pd.DataFrame]):
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    with engine.begin() as connection:
        for table, frame in frames.items():
            frame = frame.copy()
            for column in frame.columns:
                if column.endswith(("_at",)):
                    frame[column] = frame[column].astype(str)
                elif frame[column].dtype == object:
                    frame[column] = frame[column].map(lambda v: v.isoformat() if isinstance(v, dt.date) else v)
            frame.to_sql(table, connection.connection.driver_connection, if_exists="append", index=False, chunksize=50_000)
        connection.exec_driver_sql("ANALYZE")
    return engine


# --- timing --------------------------------------------------------------------------------------

def reports(segment: str | None) -> dict[str, Callable[[Session], object]]:
    return {
        "kpis": lambda s: kpis.kpis(session=s, as_of=AS_OF, segment=segment),
        "aging": lambda s: kpis.aging(session=s, as_of=AS_OF, segment=segment),
        "dso": lambda s: kpis.dso(session=s, as_of=AS_OF, segment=segment),
        "dunning-effectiveness": lambda s: kpis.dunning_effectiveness(session=s, as_of=AS_OF, segment=segment),
        "disputes": lambda s: kpis.disputes(session=s, as_of=AS_OF, segment=segment),
        "cash-forecast": lambda s: forecast.cash_forecast(session=s, as_of=AS_OF, segment=segment),
    }


def time_reports(engine, repeat: int, segment: str | None) -> dict[str, float]:
    timings = {}
    with Session(engine) as session:
        for name, run in reports(segment).items():
            run(session)  # warm-up: caches, plans
            seconds = []
            for _ in range(repeat):
                start = time.perf_counter()
                run(session)
                seconds.append(time.perf_counter() - start)
            timings[name] = round(statistics.median(seconds), 4)
    return timings


def main() -> None:
    args_parser = parser(__doc__.splitlines()[0])
    args_parser.add_argument("--invoices", type=int, default=1_000_000)
    args_parser.add_argument("--customers", type=int, default=50_000)
    args_parser.add_argument("--sqlite-invoices", type=int, default=100_000)
    args_parser.add_argument("--repeat", type=int, default=3)
    args_parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL schema")
    args_parser.add_argument("--schema", help="PostgreSQL schema name (default: one per process)")
    args_parser.add_argument("--reuse", action="store_true",
                             help="with --schema: time the ledger already loaded there by an earlier run "
                                  "with the same sizes (migrated to head first), else load it; implies --keep")
    args = args_parser.parse_args()
    global SCHEMA
    if args.schema:
        SCHEMA = args.schema
    if args.reuse:
        if not args.schema:
            args_parser.error("--reuse needs --schema NAME")
        args.keep = True
    if args.quick:
        args.invoices, args.customers, args.sqlite_invoices, args.repeat = 50_000, 2_500, 0, 1
    import_table_modules()
    console = Console(width=160, stderr=True)
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_PG)
    runs = []

    with console.status(f"synthetic ledger, {args.invoices:,} invoices"):
        frames = synth(args.invoices, args.customers)
    counts = {name: len(frame) for name, frame in frames.items()}
    if args.reuse and reusable(url, ledger_stamp(frames)):
        with console.status(f"reusing schema {SCHEMA} (migrating to head)"):
            start = time.perf_counter()
            engine = make_engine(url, schema=SCHEMA)
            migrate(engine)
            load_seconds = 0.0
            console.print(f"reused the ledger in schema {SCHEMA} ({time.perf_counter() - start:.1f} s to migrate)")
    else:
        with console.status("COPY into PostgreSQL"):
            start = time.perf_counter()
            engine = load_postgres(url, frames)
            load_seconds = time.perf_counter() - start
    with console.status("DuckDB anchor"):
        anchors = time_anchors(frames, AS_OF, args.repeat)
    with console.status("timing reports on PostgreSQL"):
        for segment in (None, "pme")[:1 if args.quick else 2]:
            runs.append({"backend": "postgresql", "rows": counts, "segment": segment,
                         "load_seconds": round(load_seconds, 1),
                         "seconds": time_reports(engine, args.repeat, segment), "load": load()})
    engine.dispose()
    if not args.keep:
        admin = make_engine(url)
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE'))
        admin.dispose()

    if args.sqlite_invoices:
        small = synth(args.sqlite_invoices, max(args.customers * args.sqlite_invoices // args.invoices, 100))
        with tempfile.TemporaryDirectory() as folder, console.status("SQLite reference"):
            start = time.perf_counter()
            engine = load_sqlite(Path(folder) / "bench.db", small)
            load_seconds = time.perf_counter() - start
            runs.append({"backend": "sqlite", "rows": {n: len(f) for n, f in small.items()},
                         "segment": None, "load_seconds": round(load_seconds, 1),
                         "seconds": time_reports(engine, args.repeat, None), "load": load()})
            engine.dispose()

    result = {"as_of": AS_OF.isoformat(), "target_seconds": 1.0, "repeat": args.repeat,
              "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                          "platform": platform.platform(),
                          # other work on the machine slows every figure: keep it with them
                          "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()]},
              "duckdb_seconds": anchors, "runs": runs}
    write_results("reports", result, quick=args.quick)

    table = Table(title=f"Reports as of {AS_OF} (median of {args.repeat}, seconds)")
    table.add_column("backend")
    table.add_column("invoices", justify="right")
    table.add_column("segment")
    names = list(reports(None))
    for name in names:
        table.add_column(name, justify="right")
    for run in runs:
        cells = [f"[{'green' if run['seconds'][n] < 1 else 'red'}]{run['seconds'][n]:.3f}" for n in names]
        table.add_row(run["backend"], f"{run['rows']['invoice']:,}", run["segment"] or "all", *cells)
    table.add_row("duckdb (anchor)", f"{args.invoices:,}", "all",
                  *(f"{anchors[n]:.3f}" if n in anchors else "" for n in names))
    console.print(table)
    seconds = runs[0]["seconds"]
    figures = {"invoices": args.invoices, **{f"{name.replace('-', '_')}_s": seconds[name] for name in names},
               "duckdb_kpis_s": anchors["kpis"], "duckdb_dso_s": anchors["dso"],
               "duckdb_forecast_s": anchors["cash-forecast"]}
    emit("reports", figures, quick=args.quick,
         ratios={"kpis_ratio": ("kpis_s", "duckdb_kpis_s"), "dso_ratio": ("dso_s", "duckdb_dso_s"),
                 "forecast_ratio": ("cash_forecast_s", "duckdb_forecast_s")})


if __name__ == "__main__":
    main()
