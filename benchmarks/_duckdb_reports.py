"""The anchor of benchmarks/reports.py: DuckDB computing the core of each timed report over the same
rows (the frames loaded into PostgreSQL), in the same run.

Same definitions as ledger/kpis.py and ledger/forecast.py (docs/reports.md): an invoice is open at d
when issued by d and not settled by then, its open amount at d is today's open amount plus its
allocations dated after d; sales are invoice amounts by issue date; the forecast's rule puts each
open invoice at due + the payer's mean days late (settled in the last 365 days), not before the
day after as_of. Money is grouped by currency, as the ledger does.
"""
from __future__ import annotations

import datetime as dt
import time

import duckdb
import pandas as pd

BUCKET = """CASE WHEN dpd <= 0 THEN 'not_due' WHEN dpd <= 30 THEN '1-30' WHEN dpd <= 60 THEN '31-60'
    WHEN dpd <= 90 THEN '61-90' WHEN dpd <= 180 THEN '91-180' ELSE '180+' END"""


def receivables_sql(dates: list[dt.date]) -> str:
    values = ", ".join(f"DATE '{d.isoformat()}'" for d in dates)
    return f"""
    WITH dates AS (SELECT unnest([{values}]) AS d),
    later AS (SELECT a.invoice_id, i.currency, i.issue_date, i.due_date, a.allocated_on, a.amount
              FROM allocation a JOIN invoice i USING (invoice_id)
              WHERE i.kind = 'invoice' AND a.allocated_on > DATE '{min(dates).isoformat()}'),
    parts AS (SELECT d, invoice_id, currency, due_date, open_amount AS amount
              FROM dates JOIN invoice ON settled_on IS NULL AND issue_date <= d
              WHERE kind = 'invoice' AND open_amount > 0
              UNION ALL
              SELECT d, invoice_id, currency, due_date, amount
              FROM dates JOIN later ON issue_date <= d AND allocated_on > d)
    SELECT d, {BUCKET} AS bucket, currency, count(DISTINCT invoice_id) AS n, sum(amount) AS amount
    FROM (SELECT *, date_diff('day', due_date, d) AS dpd FROM parts) GROUP BY ALL"""


def sales_sql(start: dt.date, end: dt.date) -> str:
    return f"""SELECT issue_date, currency, sum(amount) FROM invoice WHERE kind = 'invoice'
    AND issue_date BETWEEN DATE '{start.isoformat()}' AND DATE '{end.isoformat()}' GROUP BY ALL"""


def month_ends(as_of: dt.date, months: int) -> list[dt.date]:
    ends = [as_of]
    for _ in range(months - 1):
        ends.append(ends[-1].replace(day=1) - dt.timedelta(days=1))
    return sorted(ends)


def kpis(con, as_of: dt.date) -> None:
    """Ageing and DSO at as_of, CEI over 3 months, period stats, disputes, dunning effectiveness."""
    start = as_of - dt.timedelta(days=89)
    month_starts = [d.replace(day=1) for d in month_ends(as_of, 3)]
    dates = sorted({as_of, start - dt.timedelta(days=1), *(m - dt.timedelta(days=1) for m in month_starts),
                    *month_ends(as_of, 3)})
    con.execute(receivables_sql(dates)).fetchall()
    con.execute(sales_sql(month_starts[0] - dt.timedelta(days=24 * 31), as_of)).fetchall()
    a, s = f"DATE '{as_of.isoformat()}'", f"DATE '{start.isoformat()}'"
    con.execute(f"""SELECT currency, count(*), sum(date_diff('day', due_date, settled_on)),
        sum((settled_on > due_date)::INT) FROM invoice WHERE kind = 'invoice'
        AND settled_on BETWEEN {s} AND {a} GROUP BY ALL""").fetchall()
    con.execute(f"""SELECT i.currency, sum(a.amount) FROM allocation a JOIN invoice i USING (invoice_id)
        WHERE a.source_kind = 'payment' AND a.allocated_on BETWEEN {s} AND {a} GROUP BY ALL""").fetchall()
    con.execute("""SELECT customer_id, currency, count(*), sum(open_amount) FROM invoice
        WHERE kind = 'invoice' AND settled_on IS NULL GROUP BY ALL ORDER BY 4 DESC LIMIT 10""").fetchall()
    is_open = f"(d.resolved_on IS NULL OR d.resolved_on > {a})"
    con.execute(f"""SELECT coalesce(d.reason, 'unspecified'), i.currency, count(*), sum({is_open}::INT),
        sum(CASE WHEN {is_open} THEN i.amount ELSE 0 END) FROM dispute d JOIN invoice i USING (invoice_id)
        WHERE d.opened_on <= {a} GROUP BY ALL""").fetchall()
    windows = ", ".join(f"sum((date_diff('day', a.send_on, {a}) >= {w} AND i.settled_on IS NOT NULL "
                        f"AND date_diff('day', a.send_on, i.settled_on) <= {w})::INT)" for w in (7, 14, 30))
    con.execute(f"""SELECT a.step, a.channel, a.tone, i.currency, count(*), {windows}
        FROM dunningaction a JOIN invoice i USING (invoice_id)
        WHERE a.state = 'sent' AND a.send_on <= {a} AND a.send_on > {a} - 365
          AND (i.settled_on IS NULL OR i.settled_on >= a.send_on) GROUP BY ALL""").fetchall()


def dso(con, as_of: dt.date) -> None:
    """Receivables at the 12 month ends and the daily sales the DSO points need."""
    ends = month_ends(as_of, 12)
    con.execute(receivables_sql(ends)).fetchall()
    con.execute(sales_sql(ends[0].replace(day=1) - dt.timedelta(days=24 * 31), as_of)).fetchall()


def forecast(con, as_of: dt.date) -> None:
    """Open invoices at as_of placed at due + the payer's mean days late, summed by week."""
    a = f"DATE '{as_of.isoformat()}'"
    con.execute(f"""
    WITH history AS (
        SELECT customer_id, avg(date_diff('day', due_date, settled_on)) AS mu,
               stddev_samp(date_diff('day', due_date, settled_on)) AS sigma
        FROM invoice WHERE kind = 'invoice' AND settled_on > {a} - 365 AND settled_on <= {a}
        GROUP BY customer_id HAVING count(*) >= 2),
    later AS (SELECT invoice_id, sum(amount) AS amount FROM allocation WHERE allocated_on > {a} GROUP BY ALL),
    open_at AS (
        SELECT i.invoice_id, i.customer_id, i.currency, i.due_date, i.open_amount + coalesce(l.amount, 0) AS open
        FROM invoice i LEFT JOIN later l USING (invoice_id)
        WHERE i.kind = 'invoice' AND i.issue_date <= {a} AND (i.settled_on IS NULL OR i.settled_on > {a})),
    placed AS (
        SELECT o.currency, o.open,
               greatest(o.due_date + CAST(round(coalesce(h.mu, 0)) AS INTEGER), {a} + 1) AS expected
        FROM open_at o LEFT JOIN history h USING (customer_id) WHERE o.open > 0)
    SELECT least((date_diff('day', {a}, expected) - 1) // 7, 13) AS week, currency, sum(open)
    FROM placed GROUP BY ALL""").fetchall()


ANCHORS = {"kpis": kpis, "dso": dso, "cash-forecast": forecast}


def time_anchors(frames: dict[str, pd.DataFrame], as_of: dt.date, repeat: int) -> dict[str, float]:
    """Median seconds of each anchor (after one warm-up), DuckDB in memory over the frames."""
    con = duckdb.connect()
    for name, frame in frames.items():
        con.register(f"{name}_frame", frame)
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM {name}_frame")
    for column in ("issue_date", "due_date", "settled_on"):
        con.execute(f"ALTER TABLE invoice ALTER {column} TYPE DATE")
    con.execute("ALTER TABLE allocation ALTER allocated_on TYPE DATE")
    for table, columns in (("dispute", ("opened_on", "resolved_on")), ("dunningaction", ("send_on",))):
        for column in columns:
            con.execute(f"ALTER TABLE {table} ALTER {column} TYPE DATE")
    timings = {}
    for name, run in ANCHORS.items():
        run(con, as_of)
        seconds = []
        for _ in range(repeat):
            started = time.perf_counter()
            run(con, as_of)
            seconds.append(time.perf_counter() - started)
        timings[name] = round(sorted(seconds)[len(seconds) // 2], 4)
    con.close()
    return timings
