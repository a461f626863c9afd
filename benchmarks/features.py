"""Benchmark: point-in-time features for 1,000,000 invoices of 50,000 customers.

Times ``features.pipeline.build_features`` (all features, training mode: each invoice scored at
its issue date) and measures its peak traced memory (tracemalloc, second run), beside a DuckDB
SQL reference computing a representative subset of the same features (payer history with window
functions and ASOF joins, open exposure, tenure) on the same frames, and checks that both agree.
Writes benchmarks/results/features.json (not with --quick), prints a rich table on stderr and ends
with one JSON line: `features_s` (the pandas pipeline), `duckdb_features_s` (the anchor, 8 of the
features) and `features_ratio`.

    .venv/bin/python benchmarks/features.py [--quick] [--customers 50000 --invoices 1000000]
"""
from __future__ import annotations

import os
import platform
import resource
import sys
import time
import tracemalloc
from pathlib import Path

# run as a script, this file's folder comes first on sys.path and its name would shadow the
# features package: put the repository root there instead
HERE = Path(__file__).resolve().parent
sys.path[:] = [str(HERE.parent)] + [p for p in sys.path if Path(p or ".").resolve() != HERE]

import duckdb  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from benchmarks._common import emit, parser, write_results  # noqa: E402
from features.pipeline import FEATURE_COLUMNS, build_features  # noqa: E402
from features.synth import generate  # noqa: E402
from ledger.frames import LedgerFrames  # noqa: E402

SUBSET = ["hist_n_settled", "hist_share_late", "hist_share_late_amount", "hist_mean_days_late",
          "hist_max_days_late", "open_count", "open_amount", "tenure_days"]

# Same rules as the pipeline: a row scored at t (its issue date) sees events dated < t.
DUCKDB_QUERY = """
WITH inv AS (
    SELECT invoice_id, customer_id, issue_date, due_date, settled_date, amount,
           date_diff('day', due_date, settled_date) AS days_late
    FROM invoices WHERE kind = 'invoice'
),
settled_daily AS (  -- one row per customer and settlement day, so ASOF picks whole days
    SELECT customer_id, settled_date AS day, count(*) AS n,
           sum((days_late > 0)::INT) AS n_late, sum(amount * (days_late > 0)::INT) AS late_amount,
           sum(amount) AS amount, sum(days_late) AS days_late, max(days_late) AS max_late
    FROM inv WHERE settled_date IS NOT NULL GROUP BY ALL
),
settled_cum AS (
    SELECT customer_id, day,
           sum(n) OVER w AS n, sum(n_late) OVER w AS n_late,
           sum(late_amount) OVER w AS late_amount, sum(amount) OVER w AS amount,
           sum(days_late) OVER w AS days_late, max(max_late) OVER w AS max_late
    FROM settled_daily
    WINDOW w AS (PARTITION BY customer_id ORDER BY day ROWS UNBOUNDED PRECEDING)
),
issued_cum AS (
    SELECT customer_id, day, sum(n) OVER w AS n, sum(amount) OVER w AS amount,
           min(day) OVER (PARTITION BY customer_id) AS first_day
    FROM (SELECT customer_id, issue_date AS day, count(*) AS n, sum(amount) AS amount
          FROM inv GROUP BY ALL)
    WINDOW w AS (PARTITION BY customer_id ORDER BY day ROWS UNBOUNDED PRECEDING)
)
SELECT t.invoice_id,
       coalesce(s.n, 0) AS hist_n_settled,
       coalesce(s.n_late / s.n, 0) AS hist_share_late,
       coalesce(s.late_amount / s.amount, 0) AS hist_share_late_amount,
       coalesce(s.days_late / s.n, 0) AS hist_mean_days_late,
       coalesce(s.max_late, 0) AS hist_max_days_late,
       coalesce(i.n, 0) - coalesce(s.n, 0) AS open_count,
       round(coalesce(i.amount, 0) - coalesce(s.amount, 0), 2) AS open_amount,
       coalesce(date_diff('day', i.first_day, t.issue_date), 0) AS tenure_days
FROM inv t
ASOF LEFT JOIN settled_cum s ON t.customer_id = s.customer_id AND t.issue_date > s.day
ASOF LEFT JOIN issued_cum i ON t.customer_id = i.customer_id AND t.issue_date > i.day
"""


def ledger(customers: int, invoices: int, seed: int) -> LedgerFrames:
    """A synthetic ledger cut to exactly ``invoices`` invoices (the earliest issued)."""
    months = 12
    while True:
        frames = generate(customers=customers, months=months, seed=seed)
        kept = frames.invoices[frames.invoices["kind"] == "invoice"]
        if len(kept) >= invoices:
            break
        months += 2
    kept = kept.iloc[:invoices]  # invoice ids follow issue order
    frames.invoices = kept.reset_index(drop=True)
    return frames


def run_pandas(frames: LedgerFrames) -> tuple[pd.DataFrame, float, float]:
    start = time.perf_counter()
    features = build_features(frames)
    seconds = time.perf_counter() - start
    tracemalloc.start()
    build_features(frames)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return features, seconds, peak / 2**20


def run_duckdb(frames: LedgerFrames) -> tuple[pd.DataFrame, float]:
    connection = duckdb.connect()
    invoices = frames.invoices[["invoice_id", "customer_id", "issue_date", "due_date",
                                "settled_date", "amount", "kind"]]
    connection.register("invoices", invoices)
    start = time.perf_counter()
    result = connection.execute(DUCKDB_QUERY).df()
    return result, time.perf_counter() - start


def main() -> None:
    args_parser = parser(__doc__.splitlines()[0])
    args_parser.add_argument("--customers", type=int, default=50_000)
    args_parser.add_argument("--invoices", type=int, default=1_000_000)
    args_parser.add_argument("--seed", type=int, default=0)
    args = args_parser.parse_args()
    if args.quick:
        args.customers, args.invoices = 2_000, 40_000

    start = time.perf_counter()
    frames = ledger(args.customers, args.invoices, args.seed)
    synth_seconds = time.perf_counter() - start
    features, pandas_seconds, pandas_peak_mb = run_pandas(frames)
    reference, duckdb_seconds = run_duckdb(frames)

    ours = features.set_index("invoice_id")[SUBSET].sort_index()
    theirs = reference.set_index("invoice_id")[SUBSET].sort_index().astype(float)
    agree = bool(np.allclose(ours.to_numpy(), theirs.to_numpy(), rtol=1e-9, atol=1e-6))
    result = {
        "invoices": len(frames.invoices), "customers": int(frames.invoices["customer_id"].nunique()),
        "payments": len(frames.payments), "reminders": len(frames.reminders),
        "disputes": len(frames.disputes), "promises": len(frames.promises),
        "features": len(FEATURE_COLUMNS), "duckdb_features": len(SUBSET),
        "synth_seconds": round(synth_seconds, 2),
        "pandas_seconds": round(pandas_seconds, 2),
        "pandas_peak_traced_mb": round(pandas_peak_mb, 1),
        "duckdb_seconds": round(duckdb_seconds, 2),
        "ratio_pandas_to_duckdb": round(pandas_seconds / duckdb_seconds, 2),
        "process_max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "subset_agrees_with_duckdb": agree,
        "cpus": os.cpu_count(), "python": platform.python_version(),
        "duckdb": duckdb.__version__, "pandas": pd.__version__,
    }
    write_results("features", result, quick=args.quick)

    table = Table(title=f"Features: {result['invoices']:,} invoices, {result['customers']:,} customers")
    table.add_column("engine")
    table.add_column("features", justify="right")
    table.add_column("seconds", justify="right")
    table.add_column("peak memory", justify="right")
    table.add_row("pandas/numpy pipeline", str(len(FEATURE_COLUMNS)), f"{pandas_seconds:.2f}",
                  f"{pandas_peak_mb:,.0f} MB traced")
    table.add_row("DuckDB SQL reference", str(len(SUBSET)), f"{duckdb_seconds:.2f}", "-")
    table.caption = (f"ratio {result['ratio_pandas_to_duckdb']}x · subset agrees: {agree} · "
                     f"process max RSS {result['process_max_rss_mb']:,.0f} MB · "
                     f"synth {synth_seconds:.1f} s")
    Console(stderr=True, width=160).print(table)
    emit("features", {"invoices": result["invoices"], "features_s": result["pandas_seconds"],
                      "duckdb_features_s": result["duckdb_seconds"], "agrees": agree,
                      "peak_traced_mb": result["pandas_peak_traced_mb"]},
         quick=args.quick, ratios={"features_ratio": ("features_s", "duckdb_features_s")})


if __name__ == "__main__":
    main()
