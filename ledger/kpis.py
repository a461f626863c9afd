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
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import text
from sqlmodel import Session

from ledger import fx, snapshots
from ledger.errors import FieldError, LedgerValidationError

ZERO = Decimal("0")
CENT = Decimal("0.01")
BUCKETS = ("not_due", "1-30", "31-60", "61-90", "91-180", "180+")
WINDOWS = (7, 14, 30)


class ReportError(LedgerValidationError):
    """A report parameter that cannot be used (→ 422 naming the field)."""

    def __init__(self, field_name: str, message: str):
        super().__init__([FieldError(field_name, message)])


# --- dialect helpers -----------------------------------------------------------------------------

@dataclass(frozen=True)
class _Sql:
    """The two things SQLite and PostgreSQL spell differently, and segment filtering."""

    dialect: str

    def date(self, name: str) -> str:
        return f"CAST(:{name} AS DATE)" if self.dialect == "postgresql" else f":{name}"

    def days(self, later: str, earlier: str) -> str:
        if self.dialect == "postgresql":
            return f"({later} - {earlier})"
        return f"CAST(julianday({later}) - julianday({earlier}) AS INTEGER)"

    def materialized(self) -> str:
        # computed once, not re-joined per date (PostgreSQL would inline it)
        return "MATERIALIZED " if self.dialect == "postgresql" else ""

    def param(self, value: dt.date) -> Any:
        # SQLite stores dates as ISO text: compare text with text (no deprecated adapters)
        return value if self.dialect == "postgresql" else value.isoformat()

    @staticmethod
    def segment(alias: str, segment: str | None) -> str:
        if segment is None:
            return ""
        return f" AND {alias}.customer_id IN (SELECT customer_id FROM customer WHERE segment = :segment)"


def _sql(session: Session) -> _Sql:
    return _Sql(session.get_bind().dialect.name)


def _fast_plans(session: Session) -> None:
    """PostgreSQL: no JIT for these short queries (compiling them costs more than it saves)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL jit = off"))


def _money(value: Any) -> Decimal:
    # SQLite sums NUMERIC as float: cents are what the ledger holds, so round back to them
    if value is None:
        return ZERO
    return Decimal(str(value)).quantize(CENT)


def _to_date(value: Any) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def _ratio(numerator: Decimal | float, denominator: Decimal | float, scale: float = 1.0) -> float | None:
    if not denominator:
        return None
    return round(float(numerator) / float(denominator) * scale, 4)


def _check_as_of(as_of: dt.date) -> None:
    if not isinstance(as_of, dt.date):
        raise ReportError("as_of", f"expected a date, got {as_of!r}")


# --- currencies ----------------------------------------------------------------------------------

@dataclass
class Lens:
    """How a report adds money: the currencies it covers and each one's rate into `currency`.

    `Lens.only(c)` covers the invoices in c (rate 1); `Lens.reporting(...)` covers every currency
    with a known rate, converted. `cache` holds what the database answered, grouped by currency,
    so the lenses of one request share one query per figure."""

    currency: str
    rates: dict[str, Decimal]
    rate_dates: dict[str, dt.date | None] = field(default_factory=dict)
    unconverted: list[str] = field(default_factory=list)
    cache: dict = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def only(cls, currency: str, cache: dict | None = None) -> Lens:
        return cls(currency=currency, rates={currency: Decimal(1)}, rate_dates={currency: None},
                   cache=cache if cache is not None else {})

    @classmethod
    def reporting(cls, *, session: Session, as_of: dt.date, currencies: Sequence[str],
                  to: str | None = None, cache: dict | None = None) -> Lens:
        """The reporting currency (setting), with the rates in force on `as_of`."""
        to = (to or fx.reporting_currency()).upper()
        rates = fx.rates_on(session, as_of, [*currencies, to])
        found: dict[str, Decimal] = {}
        dates: dict[str, dt.date | None] = {}
        missing: list[str] = []
        for code in sorted(set(currencies)):
            rate = rates.rate(code, to)
            if rate is None:
                missing.append(code)
            else:
                found[code], dates[code] = rate
        return cls(currency=to, rates=found, rate_dates=dates, unconverted=missing,
                   cache=cache if cache is not None else {})

    def covers(self, currency: str) -> bool:
        return currency in self.rates

    def money(self, by_currency: dict[str, Any]) -> Decimal:
        """Σ over covered currencies of amount × rate, each rounded half-up to the cent."""
        total = ZERO
        for code, amount in by_currency.items():
            rate = self.rates.get(code)
            if rate is not None and amount is not None:
                total += (_money(amount) * rate).quantize(CENT, ROUND_HALF_UP)
        return total

    def count(self, by_currency: dict[str, Any]) -> int:
        return sum(int(n or 0) for code, n in by_currency.items() if code in self.rates)

    @property
    def rate_date(self) -> dt.date | None:
        """The oldest rate date used (None when nothing needed converting)."""
        used = [d for d in self.rate_dates.values() if d is not None]
        return min(used) if used else None

    def memo(self, key: tuple, compute):
        if key not in self.cache:
            self.cache[key] = compute()
        return self.cache[key]


def ledger_currencies(*, session: Session, segment: str | None = None) -> list[str]:
    """The currencies the ledger's invoices are in (for the segment), sorted."""
    query = "SELECT DISTINCT i.currency FROM invoice i WHERE 1 = 1" + _Sql.segment("i", segment)
    return sorted(row[0] for row in session.execute(text(query), {"segment": segment}))


def default_lens(session: Session, as_of: dt.date, segment: str | None) -> Lens:
    """The reporting currency over the ledger's currencies (what a report uses when not told)."""
    return Lens.reporting(session=session, as_of=as_of,
                          currencies=ledger_currencies(session=session, segment=segment))


def _group(rows, key_len: int) -> dict[tuple, dict[str, Any]]:
    """Rows (key…, currency, value) → {key: {currency: value}}."""
    out: dict[tuple, dict[str, Any]] = {}
    for row in rows:
        out.setdefault(tuple(row[:key_len]), {})[row[key_len]] = row[key_len + 1]
    return out


# --- receivables at dates ------------------------------------------------------------------------

@dataclass
class Receivables:
    """Open receivables at one date, split by ageing bucket (days past due at that date)."""

    on: dt.date
    total: Decimal = ZERO
    count: int = 0
    buckets: dict[str, Decimal] = field(default_factory=lambda: {b: ZERO for b in BUCKETS})
    counts: dict[str, int] = field(default_factory=lambda: {b: 0 for b in BUCKETS})

    @property
    def current(self) -> Decimal:
        """Not yet due (due date ≥ the date)."""
        return self.buckets["not_due"]

    @property
    def overdue(self) -> Decimal:
        return self.total - self.current


def _bucket_case(days: str) -> str:
    return (f"CASE WHEN {days} <= 0 THEN 'not_due' WHEN {days} <= 30 THEN '1-30' "
            f"WHEN {days} <= 60 THEN '31-60' WHEN {days} <= 90 THEN '61-90' "
            f"WHEN {days} <= 180 THEN '91-180' ELSE '180+' END")


def _open_at_cte(sql: _Sql, dates: Sequence[dt.date], segment: str | None) -> tuple[str, dict]:
    """CTEs ending in `open_at`: one row per date d and invoice open at d, with its open amount
    and days past due at d.

    No allocation is ever dated after its invoice's settlement nor before its issue, so for an
    invoice issued by d: open at d = stored open amount (today's) + its allocations dated after d.
    That is two cheap parts: the invoices unsettled today, and the allocations after the earliest
    date (none at all when d is today) — rather than a lookup per invoice and date.
    """
    params: dict[str, Any] = {f"d{k}": sql.param(day) for k, day in enumerate(dates)}
    params |= {"dmin": sql.param(min(dates)), "dmax": sql.param(max(dates))}
    values = " UNION ALL ".join(f"SELECT {sql.date(f'd{k}')} AS d" for k in range(len(dates)))
    cte = f"""dates AS ({values}),
    later AS {sql.materialized()}(
        SELECT a.invoice_id, i.customer_id, i.currency, i.issue_date, i.due_date, a.allocated_on, a.amount
        FROM allocation a JOIN invoice i ON i.invoice_id = a.invoice_id
        WHERE a.allocated_on > {sql.date('dmin')} AND i.issue_date <= {sql.date('dmax')}
          AND i.kind = 'invoice'{sql.segment('i', segment)}
    ),
    parts AS (
        SELECT dates.d AS d, i.invoice_id, i.customer_id, i.currency, i.due_date, i.open_amount AS amount
        FROM dates JOIN invoice i ON i.settled_on IS NULL AND i.issue_date <= dates.d
        WHERE i.kind = 'invoice' AND i.open_amount > 0{sql.segment('i', segment)}
        UNION ALL
        SELECT dates.d, later.invoice_id, later.customer_id, later.currency, later.due_date, later.amount
        FROM dates JOIN later ON later.issue_date <= dates.d AND later.allocated_on > dates.d
    ),
    open_at AS (
        SELECT d, invoice_id, customer_id, currency, due_date, SUM(amount) AS open_amount,
               {sql.days('d', 'due_date')} AS days_past_due
        FROM parts GROUP BY d, invoice_id, customer_id, currency, due_date
    )"""
    if segment is not None:
        params["segment"] = segment
    return cte, params


def _open_at(session: Session, dates: Sequence[dt.date], segment: str | None) -> list[tuple[str, dict]]:
    return [_open_at_cte(_sql(session), dates, segment)]


def receivables_at(*, session: Session, dates: Sequence[dt.date],
                   segment: str | None = None, lens: Lens | None = None) -> dict[dt.date, Receivables]:
    """Open receivables at each date, by ageing bucket, in one query (money through `lens`)."""
    dates = sorted(set(dates))
    result = {day: Receivables(on=day) for day in dates}
    if not dates:
        return result
    lens = lens or default_lens(session, dates[-1], segment)
    raw = lens.memo(("receivables", tuple(dates), segment),
                    lambda: _receivables_raw(session, dates, segment))
    for (day, bucket), (counts, amounts) in raw.items():
        row = result[day]
        row.buckets[bucket] = lens.money(amounts)
        row.counts[bucket] = lens.count(counts)
        row.total += row.buckets[bucket]
        row.count += row.counts[bucket]
    return result


def _receivables_raw(session: Session, dates: Sequence[dt.date], segment: str | None):
    """Month ends from their snapshots (`ledger.snapshots`), other dates fresh."""
    return snapshots.receivables(session, dates, segment, _receivables_fresh)


def _receivables_fresh(session: Session, dates: Sequence[dt.date], segment: str | None):
    _fast_plans(session)
    sql = _sql(session)
    raw: dict[tuple, tuple[dict, dict]] = {}
    for cte, params in _open_at(session, dates, segment):
        # straight from the parts: an invoice's bucket at d depends on its due date alone
        days = sql.days("d", "due_date")
        query = f"""WITH {cte}
        SELECT d, {_bucket_case(days)} AS bucket, currency, COUNT(DISTINCT invoice_id) AS n,
               SUM(amount) AS amount
        FROM parts GROUP BY d, {_bucket_case(days)}, currency"""
        for day, bucket, currency, count, amount in session.execute(text(query), params):
            counts, amounts = raw.setdefault((_to_date(day), bucket), ({}, {}))
            counts[currency], amounts[currency] = int(count), _money(amount)
    return raw


def sales_by_day(*, session: Session, start: dt.date, end: dt.date,
                 segment: str | None = None, lens: Lens | None = None) -> dict[dt.date, Decimal]:
    """Credit sales (invoice amounts, credit notes excluded) per issue date in [start, end]."""
    lens = lens or default_lens(session, end, segment)

    def query():
        sql = _sql(session)
        statement = f"""SELECT i.issue_date, i.currency, SUM(i.amount) FROM invoice i
        WHERE i.kind = 'invoice' AND i.issue_date >= {sql.date('start')} AND i.issue_date <= {sql.date('end')}
        {sql.segment('i', segment)} GROUP BY i.issue_date, i.currency"""
        params: dict[str, Any] = {"start": sql.param(start), "end": sql.param(end), "segment": segment}
        return _group(((_to_date(d), c, v) for d, c, v in session.execute(text(statement), params)), 1)

    raw = lens.memo(("sales", start, end, segment), query)
    days = {day: lens.money(amounts) for (day,), amounts in raw.items()}
    return {day: amount for day, amount in days.items() if any(lens.covers(c) for c in raw[(day,)])}


def _sum_days(sales: dict[dt.date, Decimal], start: dt.date, end: dt.date) -> Decimal:
    """Sales issued in [start, end]."""
    return sum((amount for day, amount in sales.items() if start <= day <= end), ZERO)


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
        statement = f"""WITH {cte}
        SELECT o.customer_id, c.name, c.segment, COUNT(*), SUM(o.open_amount) AS open_balance,
               SUM(CASE WHEN o.days_past_due > 0 THEN o.open_amount ELSE 0 END) AS overdue,
               MAX(o.days_past_due)
        FROM open_at o JOIN customer c ON c.customer_id = o.customer_id
        WHERE o.currency = :currency
        GROUP BY o.customer_id, c.name, c.segment
        ORDER BY overdue DESC, open_balance DESC, o.customer_id COLLATE "C" LIMIT :limit"""
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
        collected = session.execute(text(f"""
            SELECT i.currency, SUM(a.amount) FROM allocation a JOIN invoice i ON i.invoice_id = a.invoice_id
            WHERE a.source_kind = 'payment' AND a.allocated_on >= {sql.date('start')}
              AND a.allocated_on <= {sql.date('end')}{sql.segment('a', segment)}
            GROUP BY i.currency"""), params).all()
        return paid, dict(collected)

    paid, collected_by = lens.memo(("period", start, as_of, segment), query)
    covered = [r for r in paid if lens.covers(r[0])]
    n_paid = sum(int(r[1]) for r in covered)
    total_late = sum(int(r[2] or 0) for r in covered)
    n_late = sum(int(r[3] or 0) for r in covered)
    opening = start - dt.timedelta(days=1)
    opening_rec = receivables_at(session=session, dates=[opening], segment=segment, lens=lens)[opening].total
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

    def query():
        sql = _sql(session)
        after = sql.days("i.settled_on", "a.send_on")
        age = sql.days(sql.date("as_of"), "a.send_on")
        parts = []
        for w in WINDOWS:
            parts.append(f"SUM(CASE WHEN {age} >= {w} THEN 1 ELSE 0 END)")
            parts.append(f"SUM(CASE WHEN {age} >= {w} AND i.settled_on IS NOT NULL "
                         f"AND {after} <= {w} THEN 1 ELSE 0 END)")
        statement = f"""
        SELECT COALESCE(a.step, ''), a.channel, COALESCE(a.tone, ''), i.currency, COUNT(*), {', '.join(parts)}
        FROM dunningaction a JOIN invoice i ON i.invoice_id = a.invoice_id
        WHERE a.state IN ('sent', 'posted', 'delivered') AND a.send_on <= {sql.date('as_of')} AND a.send_on > {sql.date('since')}
          AND (i.settled_on IS NULL OR i.settled_on >= a.send_on){sql.segment('i', segment)}
        GROUP BY COALESCE(a.step, ''), a.channel, COALESCE(a.tone, ''), i.currency"""
        params = {"as_of": sql.param(as_of), "since": sql.param(as_of - dt.timedelta(days=days)),
                  "segment": segment}
        return session.execute(text(statement), params).all()

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
