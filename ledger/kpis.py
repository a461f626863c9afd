"""Receivables KPIs as of any date: DSO, CEI, ageing, overdue rate, disputes, dunning effectiveness.

Everything is computed point in time: only events dated ≤ `as_of` count. An invoice is open at a
date d when it was issued on or before d and not settled by then (`settled_on` null or > d); its
open amount at d is its amount less the allocations (payments, credit notes) dated ≤ d. Credit
notes themselves are not receivables; unapplied customer credit is not netted off.

Currencies are never added up as they are. Every report is read through a `Lens`: either one
currency (its own invoices, in that currency) or the reporting currency, where each currency's
amounts are converted at the rates in force on `as_of` (`ledger.fx`, one rate per currency for
the whole report, so a trend is at constant rates) and currencies with no rate are left out and
named (`Lens.unconverted`). The database groups every money sum by currency; the lens converts
each group (rounded half-up to the cent) and adds the results.

The heavy lifting is plain SQL that runs on SQLite and PostgreSQL alike (small dialect helpers:
a date parameter and a difference of dates in days), aggregated in the database; Python only
assembles the few resulting rows. Definitions and formulas are in the README (Reporting).
"""
from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlmodel import Session

from ledger import snapshots
from ledger.kpi_ageing import (
    AgingBucket,
    AgingReport,
    AgingRow,
    CeiMonth,
    Debtor,
    DsoPoint,
    DsoReport,
    aging,
    aging_by,
    cei_by_month,
    count_back_dso,
    dso,
    top_debtors,
)
from ledger.kpi_receivables import (
    BUCKETS,
    CENT,
    WINDOWS,
    ZERO,
    Lens,
    Receivables,
    ReportError,
    _check_as_of,
    _ratio,
    _receivables_fresh,
    _receivables_raw,
    _sql,
    default_lens,
    ledger_currencies,
    receivables_at,
    receivables_total,
    sales_by_day,
)

__all__ = [
    "BUCKETS", "CENT", "WINDOWS", "ZERO",
    "AgingBucket", "AgingReport", "AgingRow", "CeiMonth", "Debtor", "DisputeReason", "DsoPoint",
    "DsoReport", "DunningEffect", "KpiReport", "Lens", "PeriodStats", "Receivables", "ReportError",
    "_receivables_fresh", "_receivables_raw",
    "aging", "aging_by", "cei_by_month", "count_back_dso", "default_lens", "disputes", "dso",
    "dunning_effectiveness", "kpis", "ledger_currencies", "period_stats", "receivables_at", "receivables_total",
    "sales_by_day", "top_debtors",
]


# --- payment behaviour over a period -------------------------------------------------------------

@dataclass
class PeriodStats:
    start: dt.date  # first day of the period
    end: dt.date    # as_of
    invoices_paid: int
    average_days_late_paid: float | None
    share_paid_late: float | None
    opening_receivables: Decimal
    sales: Decimal
    collected: Decimal
    recovery_rate: float | None


def period_stats(*, session: Session, as_of: dt.date, days: int = 90,
                 segment: str | None = None, lens: Lens | None = None) -> PeriodStats:
    """Days late of the invoices settled in (as_of − days, as_of] and the recovery rate."""
    _check_as_of(as_of)
    lens = lens or default_lens(session, as_of, segment)
    start = as_of - dt.timedelta(days=days - 1)

    def query():
        sql = _sql(session)
        params = {"start": sql.param(start), "end": sql.param(as_of), "segment": segment}
        late = sql.days("i.settled_on", "i.due_date")
        paid = session.execute(text(f"""
            SELECT i.currency, COUNT(*), SUM({late}), SUM(CASE WHEN {late} > 0 THEN 1 ELSE 0 END)
            FROM invoice i WHERE i.kind = 'invoice' AND i.settled_on >= {sql.date('start')}
              AND i.settled_on <= {sql.date('end')}{sql.segment('i', segment)}
            GROUP BY i.currency"""), params).all()
        in_period = (f"a.source_kind = 'payment' AND a.allocated_on >= {sql.date('start')} "
                     f"AND a.allocated_on <= {sql.date('end')}{sql.segment('a', segment)}")
        currencies = ledger_currencies(session=session)
        if len(currencies) == 1:
            # a ledger in one currency: every allocation's invoice (a foreign key) is in it, so
            # the join that only finds each allocation's currency (a scan of every invoice) is
            # not needed; the same sum, grouped the same way
            collected = session.execute(text(
                f"SELECT :currency, SUM(a.amount) FROM allocation a WHERE {in_period} HAVING COUNT(*) > 0"),
                params | {"currency": currencies[0]}).all()
        else:
            collected = session.execute(text(f"""
            SELECT i.currency, SUM(a.amount) FROM allocation a JOIN invoice i ON i.invoice_id = a.invoice_id
            WHERE {in_period} GROUP BY i.currency"""), params).all()
        return paid, dict(collected)

    paid, collected_by = lens.memo(("period", start, as_of, segment), query)
    covered = [r for r in paid if lens.covers(r[0])]
    n_paid = sum(int(r[1]) for r in covered)
    total_late = sum(int(r[2] or 0) for r in covered)
    n_late = sum(int(r[3] or 0) for r in covered)
    opening = start - dt.timedelta(days=1)
    opening_rec = receivables_total(session=session, day=opening, segment=segment, lens=lens)
    sales = sum(sales_by_day(session=session, start=start, end=as_of, segment=segment, lens=lens).values(), ZERO)
    collected = lens.money(collected_by)
    return PeriodStats(start=start, end=as_of, invoices_paid=n_paid,
                       average_days_late_paid=round(total_late / n_paid, 2) if n_paid else None,
                       share_paid_late=_ratio(n_late, n_paid),
                       opening_receivables=opening_rec, sales=sales, collected=collected,
                       recovery_rate=_ratio(collected, opening_rec + sales))


# --- disputes ------------------------------------------------------------------------------------

@dataclass
class DisputeReason:
    reason: str
    opened: int            # opened on or before as_of
    open: int              # still open at as_of
    resolved: int          # resolved on or before as_of
    open_amount: Decimal   # disputed amount (dispute amount, else invoice amount) still open
    average_open_age_days: float | None
    average_resolution_days: float | None


def disputes(*, session: Session, as_of: dt.date, segment: str | None = None,
             lens: Lens | None = None) -> list[DisputeReason]:
    """Disputes (litiges) by reason at `as_of`: counts, ages of the open ones, time to resolve."""
    _check_as_of(as_of)
    lens = lens or default_lens(session, as_of, segment)

    def query():
        sql = _sql(session)
        is_open = f"(d.resolved_on IS NULL OR d.resolved_on > {sql.date('as_of')})"
        statement = f"""
        SELECT COALESCE(d.reason, 'unspecified') AS reason, i.currency, COUNT(*),
               SUM(CASE WHEN {is_open} THEN 1 ELSE 0 END),
               SUM(CASE WHEN {is_open} THEN COALESCE(d.amount, i.amount) ELSE 0 END),
               SUM(CASE WHEN {is_open} THEN {sql.days(sql.date('as_of'), 'd.opened_on')} ELSE 0 END),
               SUM(CASE WHEN NOT {is_open} THEN {sql.days('d.resolved_on', 'd.opened_on')} ELSE 0 END)
        FROM dispute d JOIN invoice i ON i.invoice_id = d.invoice_id
        WHERE d.opened_on <= {sql.date('as_of')}{sql.segment('i', segment)}
        GROUP BY COALESCE(d.reason, 'unspecified'), i.currency"""
        return session.execute(text(statement), {"as_of": sql.param(as_of), "segment": segment}).all()

    per: dict[str, dict[str, Any]] = {}
    for reason, currency, opened, open_, amount, open_age, resolution in lens.memo(("disputes", as_of, segment), query):
        if not lens.covers(currency):
            continue
        row = per.setdefault(reason, {"opened": 0, "open": 0, "amount": {}, "age": 0, "resolution": 0})
        row["opened"] += int(opened)
        row["open"] += int(open_ or 0)
        row["amount"][currency] = amount
        row["age"] += int(open_age or 0)
        row["resolution"] += int(resolution or 0)
    rows = []
    for reason, r in per.items():
        resolved = r["opened"] - r["open"]
        rows.append(DisputeReason(
            reason=reason, opened=r["opened"], open=r["open"], resolved=resolved,
            open_amount=lens.money(r["amount"]),
            average_open_age_days=round(r["age"] / r["open"], 2) if r["open"] else None,
            average_resolution_days=round(r["resolution"] / resolved, 2) if resolved else None))
    return sorted(rows, key=lambda row: (-row.opened, row.reason))


# --- dunning effectiveness -----------------------------------------------------------------------

@dataclass
class DunningEffect:
    step: str
    channel: str
    tone: str
    sent: int                     # sent actions on invoices still open on the send date
    settled: dict[int, int]       # window → invoices settled within it
    eligible: dict[int, int]      # window → actions whose window had fully elapsed at as_of
    share: dict[int, float | None]


def dunning_effectiveness(*, session: Session, as_of: dt.date, segment: str | None = None,
                          days: int = 365, lens: Lens | None = None) -> list[DunningEffect]:
    """Share of the invoices reminded at each step, channel and tone that were settled within
    7/14/30 days of the send date, over reminders sent in the `days` up to `as_of`; only windows
    fully elapsed at `as_of` count."""
    _check_as_of(as_of)
    if days < 1:
        raise ReportError("days", f"must be at least 1, got {days}")
    lens = lens or default_lens(session, as_of, segment)

    since = as_of - dt.timedelta(days=days)

    def query():
        months = _closed_months(since, as_of)
        if len(months) < 2 or not snapshots.usable(session):
            return _dunning_fresh(session, as_of, [(since, as_of)], segment)
        # the whole months at least 30 days past from `dunningsnapshot` (every window elapsed:
        # their counts no longer depend on as_of), the ragged ends fresh
        stored = snapshots.dunning_months(session, months, segment, _dunning_by_month)
        head_end = months[0].replace(day=1) - dt.timedelta(days=1)
        rows = _dunning_fresh(session, as_of, [(since, head_end), (months[-1], as_of)], segment)
        for counts in stored.values():
            for (step, channel, tone, currency), (sent, s7, s14, s30) in counts.items():
                rows.append((step, channel, tone, currency, sent, sent, s7, sent, s14, sent, s30))
        return rows

    per: dict[tuple[str, str, str], list[int]] = {}
    for r in lens.memo(("dunning", as_of, segment, days), query):
        if not lens.covers(r[3]):
            continue
        sums = per.setdefault((r[0], r[1], r[2]), [0] * (1 + 2 * len(WINDOWS)))
        for k, value in enumerate(r[4:]):
            sums[k] += int(value or 0)
    rows = []
    for (step, channel, tone), sums in sorted(per.items()):
        eligible = {w: sums[1 + 2 * k] for k, w in enumerate(WINDOWS)}
        settled = {w: sums[2 + 2 * k] for k, w in enumerate(WINDOWS)}
        rows.append(DunningEffect(step=step, channel=channel, tone=tone, sent=sums[0],
                                  settled=settled, eligible=eligible,
                                  share={w: _ratio(settled[w], eligible[w]) for w in WINDOWS}))
    return rows


def _closed_months(since: dt.date, as_of: dt.date) -> list[dt.date]:
    """The ends of the whole months inside (since, as_of] whose reminders' every window has
    elapsed at as_of (month end + the longest window ≤ as_of), oldest first."""
    first = since + dt.timedelta(days=1)
    if first.day != 1:
        first = _month_end(first) + dt.timedelta(days=1)
    ends = []
    while _month_end(first) + dt.timedelta(days=max(WINDOWS)) <= as_of:
        ends.append(_month_end(first))
        first = ends[-1] + dt.timedelta(days=1)
    return ends


def _dunning_sql(session: Session, as_of: dt.date, ranges: list[tuple[dt.date, dt.date]], segment: str | None,
                 by_month: bool) -> tuple[str, dict[str, Any]]:
    sql = _sql(session)
    after = sql.days("i.settled_on", "a.send_on")
    age = sql.days(sql.date("as_of"), "a.send_on")
    parts = []
    for w in WINDOWS:
        parts.append(f"SUM(CASE WHEN {age} >= {w} THEN 1 ELSE 0 END)")
        parts.append(f"SUM(CASE WHEN {age} >= {w} AND i.settled_on IS NOT NULL "
                     f"AND {after} <= {w} THEN 1 ELSE 0 END)")
    sent = " OR ".join(f"(a.send_on > {sql.date(f'lo{k}')} AND a.send_on <= {sql.date(f'hi{k}')})"
                       for k in range(len(ranges)))
    month = ("CAST(date_trunc('month', a.send_on) AS DATE)" if sql.dialect == "postgresql"
             else "substr(a.send_on, 1, 7)")
    key = f"{month}, " if by_month else ""
    statement = f"""
    SELECT {key}COALESCE(a.step, ''), a.channel, COALESCE(a.tone, ''), i.currency, COUNT(*), {', '.join(parts)}
    FROM dunningaction a JOIN invoice i ON i.invoice_id = a.invoice_id
    WHERE a.state IN ('sent', 'posted', 'delivered') AND ({sent})
      AND (i.settled_on IS NULL OR i.settled_on >= a.send_on){sql.segment('i', segment)}
    GROUP BY {key}COALESCE(a.step, ''), a.channel, COALESCE(a.tone, ''), i.currency"""
    params: dict[str, Any] = {"as_of": sql.param(as_of), "segment": segment}
    for k, (lo, hi) in enumerate(ranges):
        params[f"lo{k}"], params[f"hi{k}"] = sql.param(lo), sql.param(hi)
    return statement, params


def _dunning_fresh(session: Session, as_of: dt.date, ranges: list[tuple[dt.date, dt.date]],
                   segment: str | None) -> list[tuple]:
    """Rows (step, channel, tone, currency, sent, then eligible and settled per window) of the
    reminders sent in the (lo, hi] `ranges`."""
    ranges = [(lo, hi) for lo, hi in ranges if lo < hi]
    if not ranges:
        return []
    statement, params = _dunning_sql(session, as_of, ranges, segment, by_month=False)
    return [tuple(row) for row in session.execute(text(statement), params)]


def _dunning_by_month(session: Session, month_ends: Sequence[dt.date],
                      segment: str | None) -> dict[dt.date, snapshots.DunningCounts]:
    """Each month's counts: reminders sent in it, and settled within each window of the send."""
    assert WINDOWS == (7, 14, 30), "dunningsnapshot keeps these three windows"
    wanted = set(month_ends)
    lo = min(month_ends).replace(day=1) - dt.timedelta(days=1)
    # as_of far enough after the months that every window has elapsed: the counts of a closed month
    statement, params = _dunning_sql(session, max(month_ends) + dt.timedelta(days=max(WINDOWS)),
                                     [(lo, max(month_ends))], segment, by_month=True)
    out: dict[dt.date, snapshots.DunningCounts] = {day: {} for day in month_ends}
    for month, step, channel, tone, currency, sent, _, s7, _, s14, _, s30 in session.execute(text(statement), params):
        start = month if isinstance(month, dt.date) else dt.date.fromisoformat(f"{month}-01")
        if _month_end(start) in wanted:
            out[_month_end(start)][(step, channel, tone, currency)] = [int(sent), int(s7), int(s14), int(s30)]
    return out


def _month_end(day: dt.date) -> dt.date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


# --- everything at once --------------------------------------------------------------------------

@dataclass
class KpiReport:
    as_of: dt.date
    segment: str | None
    days: int
    dso: DsoPoint
    aging: AgingReport
    period: PeriodStats
    cei: list[CeiMonth]
    top_debtors: list[Debtor]
    disputes: list[DisputeReason]
    dunning: list[DunningEffect]
    currency: str = "EUR"


def kpis(*, session: Session, as_of: dt.date, segment: str | None = None, days: int = 90,
         months: int = 3, lens: Lens | None = None) -> KpiReport:
    """The headline KPIs at `as_of` (see docs/reports.md for each definition)."""
    lens = lens or default_lens(session, as_of, segment)
    common = {"session": session, "as_of": as_of, "segment": segment, "lens": lens}
    report = dso(**common, days=days, months=1)
    return KpiReport(as_of=as_of, segment=segment, days=days, dso=report.current,
                     aging=aging(**common), period=period_stats(**common, days=days),
                     cei=cei_by_month(**common, months=months), top_debtors=top_debtors(**common),
                     disputes=disputes(**common), dunning=dunning_effectiveness(**common),
                     currency=lens.currency)
