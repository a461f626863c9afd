"""DSO (count-back), CEI by month, ageing, ageing by a dimension and the top debtors, as of any
date (served through `ledger.kpis`)."""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlmodel import Session

from ledger.kpi_receivables import (
    BUCKETS,
    ZERO,
    Lens,
    Receivables,
    ReportError,
    _bucket_case,
    _check_as_of,
    _fast_plans,
    _money,
    _open_at,
    _ratio,
    _sum_days,
    default_lens,
    receivables_at,
    sales_by_day,
)

# --- DSO and CEI ---------------------------------------------------------------------------------

def _month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def _previous_month_end(day: dt.date) -> dt.date:
    return _month_start(day) - dt.timedelta(days=1)


def _month_end(day: dt.date) -> dt.date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def count_back_dso(*, receivables: Decimal, sales: dict[dt.date, Decimal], as_of: dt.date,
                   max_months: int = 24) -> float | None:
    """Days of the most recent sales, month by month back from `as_of`, that the receivables cover.

    The current month counts from its first day to `as_of`; each earlier month whole. A month
    whose sales exceed what is left contributes the matching share of its days.
    """
    if receivables <= 0:
        return 0.0
    left, days = receivables, 0.0
    end = as_of
    for _ in range(max_months):
        start = _month_start(end)
        period_days = (end - start).days + 1
        period_sales = _sum_days(sales, start, end)
        if period_sales >= left and period_sales > 0:
            return round(days + float(left / period_sales) * period_days, 4)
        left -= period_sales
        days += period_days
        end = start - dt.timedelta(days=1)
    return round(days, 4)  # receivables older than the horizon: at least this many days


@dataclass
class DsoPoint:
    on: dt.date
    receivables: Decimal
    current_receivables: Decimal
    sales: Decimal
    dso: float | None
    best_possible_dso: float | None
    average_days_delinquent: float | None
    count_back_dso: float | None
    # the month of `on` is not over: a "to date" point, not a month end
    to_date: bool = False


def _dso_point(rec: Receivables, sales: dict[dt.date, Decimal], days: int) -> DsoPoint:
    window = _sum_days(sales, rec.on - dt.timedelta(days=days - 1), rec.on)
    dso = _ratio(rec.total, window, days)
    best = _ratio(rec.current, window, days)
    add = _ratio(rec.overdue, window, days)  # = DSO − best possible DSO
    return DsoPoint(on=rec.on, receivables=rec.total, current_receivables=rec.current, sales=window,
                    dso=dso, best_possible_dso=best, average_days_delinquent=add,
                    count_back_dso=count_back_dso(receivables=rec.total, sales=sales, as_of=rec.on),
                    to_date=rec.on != _month_end(rec.on))


def _month_ends(as_of: dt.date, months: int) -> list[dt.date]:
    """`as_of` and the ends of the `months - 1` months before it, oldest first."""
    ends = [as_of]
    for _ in range(months - 1):
        ends.append(_previous_month_end(ends[-1]))
    return sorted(ends)


@dataclass
class DsoReport:
    as_of: dt.date
    days: int
    segment: str | None
    current: DsoPoint
    trend: list[DsoPoint]  # complete month ends, then `as_of` (marked to_date inside a month)
    currency: str = "EUR"


def dso(*, session: Session, as_of: dt.date, segment: str | None = None, days: int = 90,
        months: int = 12, lens: Lens | None = None) -> DsoReport:
    """DSO (standard, count-back), best possible DSO and ADD at `as_of`, and at past month ends."""
    _check_as_of(as_of)
    lens = lens or default_lens(session, as_of, segment)
    if days < 1 or days > 730:
        raise ReportError("days", f"must be between 1 and 730, got {days}")
    if months < 1 or months > 36:
        raise ReportError("months", f"must be between 1 and 36, got {months}")
    ends = _month_ends(as_of, months)
    rec = receivables_at(session=session, dates=ends, segment=segment, lens=lens)
    earliest = _month_start(ends[0]) - dt.timedelta(days=max(days, 24 * 31))
    sales = sales_by_day(session=session, start=earliest, end=as_of, segment=segment, lens=lens)
    trend = [_dso_point(rec[day], sales, days) for day in ends]
    return DsoReport(as_of=as_of, days=days, segment=segment, current=trend[-1], trend=trend,
                     currency=lens.currency)


@dataclass
class CeiMonth:
    month: str  # YYYY-MM
    start: dt.date
    end: dt.date
    beginning_receivables: Decimal
    sales: Decimal
    ending_receivables: Decimal
    ending_current_receivables: Decimal
    cei: float | None
    to_date: bool = False  # the month is not over at as_of: its figures run to as_of


def cei_by_month(*, session: Session, as_of: dt.date, months: int = 12,
                 segment: str | None = None, lens: Lens | None = None) -> list[CeiMonth]:
    """Collection effectiveness index of each calendar month up to `as_of` (the last one to date)."""
    _check_as_of(as_of)
    lens = lens or default_lens(session, as_of, segment)
    starts = [_month_start(as_of)]
    for _ in range(months - 1):
        starts.append(_month_start(starts[-1] - dt.timedelta(days=1)))
    starts.sort()
    ends = [min(_month_end(start), as_of) for start in starts]
    openings = [start - dt.timedelta(days=1) for start in starts]
    rec = receivables_at(session=session, dates=openings + ends, segment=segment, lens=lens)
    sales = sales_by_day(session=session, start=starts[0], end=as_of, segment=segment, lens=lens)
    rows = []
    for start, end, opening in zip(starts, ends, openings, strict=True):
        begin, sold = rec[opening].total, _sum_days(sales, start, end)
        collectible = begin + sold
        rows.append(CeiMonth(month=start.strftime("%Y-%m"), start=start, end=end,
                             beginning_receivables=begin, sales=sold,
                             ending_receivables=rec[end].total,
                             ending_current_receivables=rec[end].current,
                             cei=_ratio(collectible - rec[end].total,
                                        collectible - rec[end].current, 100),
                             to_date=end != _month_end(start)))
    return rows


# --- ageing, top debtors -------------------------------------------------------------------------

@dataclass
class AgingBucket:
    bucket: str
    count: int
    amount: Decimal
    share: float | None


@dataclass
class AgingReport:
    as_of: dt.date
    segment: str | None
    total: Decimal
    count: int
    overdue: Decimal
    overdue_rate: float | None
    buckets: list[AgingBucket]
    currency: str = "EUR"


def aging(*, session: Session, as_of: dt.date, segment: str | None = None,
          lens: Lens | None = None) -> AgingReport:
    """Ageing balance (balance âgée) at `as_of`: open invoices by days past due."""
    _check_as_of(as_of)
    lens = lens or default_lens(session, as_of, segment)
    rec = receivables_at(session=session, dates=[as_of], segment=segment, lens=lens)[as_of]
    buckets = [AgingBucket(bucket=b, count=rec.counts[b], amount=rec.buckets[b],
                           share=_ratio(rec.buckets[b], rec.total)) for b in BUCKETS]
    return AgingReport(as_of=as_of, segment=segment, total=rec.total, count=rec.count,
                       overdue=rec.overdue, overdue_rate=_ratio(rec.overdue, rec.total),
                       buckets=buckets, currency=lens.currency)


@dataclass
class AgingRow:
    key: str                 # customer id, or agent id ("" for customers with no agent)
    name: str | None         # the customer's name (by customer)
    agent: str | None
    count: int
    total: Decimal
    overdue: Decimal
    buckets: dict[str, Decimal]


def aging_by(*, session: Session, as_of: dt.date, by: str, segment: str | None = None,
             agent: str | None = None, lens: Lens | None = None) -> list[AgingRow]:
    """Ageing balance per customer or per agent (`by`), largest overdue first; `agent` keeps
    one agent's portfolio only."""
    _check_as_of(as_of)
    if by not in ("customer", "agent"):
        raise ReportError("by", f"must be bucket, customer or agent, got {by!r}")
    lens = lens or default_lens(session, as_of, segment)

    def query():
        _fast_plans(session)
        [(cte, params)] = _open_at(session, [as_of], segment)
        statement = f"""WITH {cte}
        SELECT o.customer_id, c.name, c.assigned_agent, {_bucket_case('o.days_past_due')}, o.currency,
               COUNT(*), SUM(o.open_amount)
        FROM open_at o JOIN customer c ON c.customer_id = o.customer_id
        GROUP BY o.customer_id, c.name, c.assigned_agent, {_bucket_case('o.days_past_due')}, o.currency"""
        return session.execute(text(statement), params).all()

    rows: dict[str, dict[str, Any]] = {}
    for customer_id, name, assigned, bucket, currency, n, amount in lens.memo(("aging_by", as_of, segment), query):
        if not lens.covers(currency) or (agent is not None and assigned != agent):
            continue
        key = customer_id if by == "customer" else (assigned or "")
        row = rows.setdefault(key, {"name": name if by == "customer" else None,
                                    "agent": assigned if by == "customer" else (assigned or None),
                                    "count": 0, "buckets": {b: {} for b in BUCKETS}})
        row["count"] += int(n)
        cell = row["buckets"][bucket]
        cell[currency] = cell.get(currency, ZERO) + _money(amount)
    out = []
    for key, row in rows.items():
        buckets = {b: lens.money(row["buckets"][b]) for b in BUCKETS}
        total = sum(buckets.values(), ZERO)
        out.append(AgingRow(key=key, name=row["name"], agent=row["agent"], count=row["count"],
                            total=total, overdue=total - buckets["not_due"], buckets=buckets))
    return sorted(out, key=lambda r: (-r.overdue, -r.total, r.key))


@dataclass
class Debtor:
    customer_id: str
    name: str | None
    segment: str | None
    open_invoices: int
    open_balance: Decimal
    overdue_balance: Decimal
    max_days_past_due: int


def top_debtors(*, session: Session, as_of: dt.date, segment: str | None = None,
                limit: int = 10, lens: Lens | None = None) -> list[Debtor]:
    """Customers with the most overdue, then the most open, at `as_of`."""
    _check_as_of(as_of)
    lens = lens or default_lens(session, as_of, segment)

    def query():
        _fast_plans(session)
        [(cte, params)] = _open_at(session, [as_of], segment)
        statement = f"""WITH {cte}
        SELECT customer_id, currency, COUNT(*), SUM(open_amount),
               SUM(CASE WHEN days_past_due > 0 THEN open_amount ELSE 0 END), MAX(days_past_due)
        FROM open_at GROUP BY customer_id, currency"""
        return session.execute(text(statement), params).all()

    single = _single_currency(session, lens)
    if single is not None:
        return _top_debtors_in(session, as_of, segment, limit, single, lens)
    per: dict[str, dict[str, Any]] = {}
    for customer_id, currency, n, open_balance, overdue, max_dpd in lens.memo(("debtors", as_of, segment), query):
        if not lens.covers(currency):
            continue
        row = per.setdefault(customer_id, {"n": 0, "open": {}, "overdue": {}, "max_dpd": 0})
        row["n"] += int(n)
        row["open"][currency], row["overdue"][currency] = open_balance, overdue
        row["max_dpd"] = max(row["max_dpd"], int(max_dpd))
    ranked = sorted(((lens.money(r["overdue"]), lens.money(r["open"]), cid, r) for cid, r in per.items()),
                    key=lambda item: (-item[0], -item[1], item[2]))[:limit]
    names = _customer_names(session, [cid for _, _, cid, _ in ranked])
    return [Debtor(customer_id=cid, name=names.get(cid, (None, None))[0],
                   segment=names.get(cid, (None, None))[1], open_invoices=r["n"], open_balance=open_,
                   overdue_balance=overdue, max_days_past_due=max(r["max_dpd"], 0))
            for overdue, open_, cid, r in ranked]


def _single_currency(session: Session, lens: Lens) -> str | None:
    """The one currency a lens covers at rate 1, on PostgreSQL (exact sums): then a ranking is
    the database's, with no conversion that could reorder near ties."""
    if session.get_bind().dialect.name != "postgresql" or len(lens.rates) != 1:
        return None
    [(currency, rate)] = lens.rates.items()
    return currency if rate == 1 else None


def _top_debtors_in(session: Session, as_of: dt.date, segment: str | None, limit: int, currency: str,
                    lens: Lens) -> list[Debtor]:
    """Top debtors of one currency ranked and cut by the database (50,000 customers need not
    travel to Python to keep ten)."""
    def query():
        _fast_plans(session)
        [(cte, params)] = _open_at(session, [as_of], segment)
        # ranked and cut per customer first, then the kept few joined to their names (joining
        # every open invoice's customer before grouping cost 48,000 lookups at a million invoices);
        # every invoice has its customer (a foreign key), so the inner join drops nothing
        statement = f"""WITH {cte},
        ranked AS (
            SELECT o.customer_id, COUNT(*) AS n, SUM(o.open_amount) AS open_balance,
                   SUM(CASE WHEN o.days_past_due > 0 THEN o.open_amount ELSE 0 END) AS overdue,
                   MAX(o.days_past_due) AS max_dpd
            FROM open_at o WHERE o.currency = :currency GROUP BY o.customer_id
            ORDER BY overdue DESC, open_balance DESC, o.customer_id COLLATE "C" LIMIT :limit)
        SELECT r.customer_id, c.name, c.segment, r.n, r.open_balance, r.overdue, r.max_dpd
        FROM ranked r JOIN customer c ON c.customer_id = r.customer_id
        ORDER BY r.overdue DESC, r.open_balance DESC, r.customer_id COLLATE "C"
        """
        return session.execute(text(statement), params | {"currency": currency, "limit": limit}).all()

    rows = lens.memo(("debtors_in", as_of, segment, currency, limit), query)
    return [Debtor(customer_id=cid, name=name, segment=seg, open_invoices=int(n), open_balance=_money(open_),
                   overdue_balance=_money(overdue), max_days_past_due=max(int(max_dpd), 0))
            for cid, name, seg, n, open_, overdue, max_dpd in rows]


def _customer_names(session: Session, ids: list[str]) -> dict[str, tuple[str | None, str | None]]:
    if not ids:
        return {}
    marks = ", ".join(f":c{k}" for k in range(len(ids)))
    rows = session.execute(text(f"SELECT customer_id, name, segment FROM customer WHERE customer_id IN ({marks})"),
                           {f"c{k}": cid for k, cid in enumerate(ids)})
    return {r[0]: (r[1], r[2]) for r in rows}
