"""The ground every receivables report stands on (`ledger.kpis`): the constants, `ReportError`, the
dialect helpers, the currency `Lens`, and the receivables and sales at dates."""

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
SALES = "sales:"  # the snapshot kind of daily sales
TOTAL = "total:"  # the snapshot kind of the receivables' total at a day that is not a month end


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

    def segment(self, alias: str, segment: str | None) -> str:
        """The rows of the segment's customers. On PostgreSQL the customer list is kept apart
        (OFFSET 0), so it is read once into a hash table and each row probes it: as a join, the
        planner under-estimated the open invoices and looked each one's customer up (48,000
        lookups at a million invoices)."""
        if segment is None:
            return ""
        apart = " OFFSET 0" if self.dialect == "postgresql" else ""
        return f" AND {alias}.customer_id IN (SELECT customer_id FROM customer WHERE segment = :segment{apart})"


def _sql(session: Session) -> _Sql:
    return _Sql(session.get_bind().dialect.name)


def _fast_plans(session: Session) -> None:
    """PostgreSQL: no JIT for these short queries (compiling them costs more than it saves), and
    memory enough to sort or hash the open invoices of a large ledger (48,000 rows at a million
    invoices) in memory rather than in temporary files (the default 4 MB spilled)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL jit = off"))
        session.execute(text("SET LOCAL work_mem = '64MB'"))


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
    """The currencies the ledger's invoices are in (for the segment), sorted.

    Read by skipping through `ix_invoice_currency` (migration 0020): the smallest currency, then
    the smallest one after it, and so on — a few index probes, not a scan of every invoice. A
    segment of a ledger in one currency has that currency if any of its customers has an invoice
    (found by the customer index, stopping at the first); in a ledger of several currencies a
    segment reads its customers' invoices (probing each currency for one was slower)."""
    query = """WITH RECURSIVE found(currency) AS (
        SELECT MIN(currency) FROM invoice
        UNION ALL
        SELECT (SELECT MIN(i.currency) FROM invoice i WHERE i.currency > found.currency)
        FROM found WHERE found.currency IS NOT NULL)
    SELECT f.currency FROM found f WHERE f.currency IS NOT NULL"""
    everywhere = sorted(row[0] for row in session.execute(text(query)))
    if segment is None or not everywhere:
        return everywhere
    segment_filter = _sql(session).segment("i", segment)
    if len(everywhere) == 1:
        query = f"SELECT 1 FROM invoice i WHERE 1 = 1{segment_filter} LIMIT 1"
        return everywhere if session.execute(text(query), {"segment": segment}).first() else []
    query = "SELECT DISTINCT i.currency FROM invoice i WHERE 1 = 1" + segment_filter
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
    # one cache entry per date: the lenses of a request, and its reports asking for overlapping
    # dates (today in the DSO point, the ageing and the CEI), share one computation of each date
    missing = [day for day in dates if ("receivables_on", day, segment) not in lens.cache]
    if missing:
        computed = _receivables_raw(session, missing, segment)
        for day in missing:
            lens.cache[("receivables_on", day, segment)] = {
                key: value for key, value in computed.items() if key[0] == day}
    raw = {key: value for day in dates for key, value in lens.cache[("receivables_on", day, segment)].items()}
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


def receivables_total(*, session: Session, day: dt.date, segment: str | None = None,
                      lens: Lens | None = None) -> Decimal:
    """Open receivables at `day`, every bucket together: each currency's total converted by `lens`."""
    lens = lens or default_lens(session, day, segment)
    return lens.money(lens.memo(("receivables_total", day, segment),
                                lambda: _receivables_by_currency(session, day, segment)))


def _receivables_by_currency(session: Session, day: dt.date, segment: str | None) -> dict[str, Decimal]:
    """{currency: open amount at `day`}. A month end is its snapshot; another day d is the previous
    month end m's snapshot moved to d — plus the invoices issued in (m, d] as open at d, less what
    was allocated in (m, d] to invoices issued by m — which is the fresh computation's sum, term by
    term (`_open_at_cte`: open at d = today's open amount + the allocations dated after d).

    That total is kept too (snapshot kind "total:", dated d, one row per currency): the KPI
    period's opening day (as_of − days) is asked by every KPI report of a day, and like a month
    end it is forgotten by the triggers when a write touches a date on or before it."""
    if snapshots.is_month_end(day) or not snapshots.usable(session):
        raw = _receivables_raw(session, [day], segment)
    else:
        raw = snapshots.read(session, [day], segment, TOTAL)
        if (day, snapshots.MARKER) not in raw:
            _receivables_raw(session, [_previous_month_end(day)], segment)  # its snapshot, filled if missing
            raw = snapshots.cached(session, [day], segment, _moved_totals, kind=TOTAL)
    base: dict[str, Decimal] = {}
    for _, amounts in raw.values():
        for currency, amount in amounts.items():
            base[currency] = base.get(currency, ZERO) + _money(amount)
    return base


def _previous_month_end(day: dt.date) -> dt.date:
    return day.replace(day=1) - dt.timedelta(days=1)


def _moved_totals(session: Session, days: Sequence[dt.date], segment: str | None) -> snapshots.Raw:
    """Snapshot rows of kind "total:": (d, "all") → ({currency: 0}, {currency: R(d)}), each d the
    previous month end's receivables (its snapshot, else fresh) moved to d by the rows in between."""
    raw: snapshots.Raw = {}
    for day in days:
        month_end = _previous_month_end(day)
        base = snapshots.read(session, [month_end], segment)
        if (month_end, snapshots.MARKER) not in base:
            base = _receivables_fresh(session, [month_end], segment)
        totals: dict[str, Decimal] = {}
        for _, amounts in base.values():
            for currency, amount in amounts.items():
                totals[currency] = totals.get(currency, ZERO) + _money(amount)
        for currency, amount in _receivables_moved(session, month_end, day, segment).items():
            totals[currency] = totals.get(currency, ZERO) + amount
        raw[(day, "all")] = ({currency: 0 for currency in totals}, totals)
    return raw


def _receivables_moved(session: Session, since: dt.date, day: dt.date, segment: str | None) -> dict[str, Decimal]:
    """{currency: R(day) − R(since)} for since < day, from the rows dated in (since, day] only."""
    _fast_plans(session)
    sql = _sql(session)
    seg = sql.segment("i", segment)
    # what was allocated in (since, day] to invoices issued by `since`: one lookup by key per
    # allocation of the month (a join would scan every invoice); on PostgreSQL a LATERAL kept
    # apart (OFFSET 0) so that the lookup runs once per allocation, not once more for the filter
    owner = (f"i.invoice_id = a.invoice_id AND i.kind = 'invoice' AND i.issue_date <= {sql.date('since')}{seg}")
    month = f"a.allocated_on > {sql.date('since')} AND a.allocated_on <= {sql.date('day')}"
    if sql.dialect == "postgresql":
        paid = (f"SELECT i.currency, -a.amount FROM allocation a CROSS JOIN LATERAL "
                f"(SELECT i.currency FROM invoice i WHERE {owner} OFFSET 0) i WHERE {month}")
    else:
        paid = (f"SELECT paid.currency, -paid.amount FROM (SELECT (SELECT i.currency FROM invoice i "
                f"WHERE {owner}) AS currency, a.amount FROM allocation a WHERE {month}) paid "
                f"WHERE paid.currency IS NOT NULL")
    statement = f"""SELECT currency, SUM(amount) FROM (
        SELECT i.currency, i.open_amount AS amount FROM invoice i
        WHERE i.kind = 'invoice' AND i.settled_on IS NULL AND i.open_amount > 0
          AND i.issue_date > {sql.date('since')} AND i.issue_date <= {sql.date('day')}{seg}
        UNION ALL
        SELECT i.currency, a.amount FROM allocation a JOIN invoice i ON i.invoice_id = a.invoice_id
        WHERE i.kind = 'invoice' AND i.issue_date > {sql.date('since')} AND i.issue_date <= {sql.date('day')}
          AND a.allocated_on > {sql.date('day')}{seg}
        UNION ALL
        {paid}
    ) moved GROUP BY currency"""
    params = {"since": sql.param(since), "day": sql.param(day), "segment": segment}
    return {currency: _money(amount) for currency, amount in session.execute(text(statement), params)}


def sales_by_day(*, session: Session, start: dt.date, end: dt.date,
                 segment: str | None = None, lens: Lens | None = None) -> dict[dt.date, Decimal]:
    """Credit sales (invoice amounts, credit notes excluded) per issue date in [start, end]."""
    lens = lens or default_lens(session, end, segment)

    def query():
        rows = _sales_rows(session, start, end, segment)
        return _group(((_to_date(d), c, v) for d, c, v in rows), 1)

    raw = lens.memo(("sales", start, end, segment), query)
    days = {day: lens.money(amounts) for (day,), amounts in raw.items()}
    return {day: amount for day, amount in days.items() if any(lens.covers(c) for c in raw[(day,)])}


def _sales_fresh(session: Session, start: dt.date, end: dt.date, segment: str | None) -> list[tuple]:
    """(issue date, currency, Σ amount, invoices) of the invoices issued in [start, end]."""
    if start > end:
        return []
    sql = _sql(session)
    statement = f"""SELECT i.issue_date, i.currency, SUM(i.amount), COUNT(*) FROM invoice i
    WHERE i.kind = 'invoice' AND i.issue_date >= {sql.date('start')} AND i.issue_date <= {sql.date('end')}
    {sql.segment('i', segment)} GROUP BY i.issue_date, i.currency"""
    params: dict[str, Any] = {"start": sql.param(start), "end": sql.param(end), "segment": segment}
    return [tuple(row) for row in session.execute(text(statement), params)]


def _sales_months(session: Session, month_ends: Sequence[dt.date], segment: str | None) -> snapshots.Raw:
    """Daily sales of whole months, as snapshot rows: (month end, "dNN") → ({currency: invoices},
    {currency: amount})."""
    wanted = set(month_ends)
    raw: snapshots.Raw = {}
    for day, currency, amount, count in _sales_fresh(session, min(month_ends).replace(day=1), max(month_ends),
                                                       segment):
        day = _to_date(day)
        month_end = _month_end(day)
        if month_end in wanted:
            counts, amounts = raw.setdefault((month_end, f"d{day.day:02d}"), ({}, {}))
            counts[currency], amounts[currency] = int(count), _money(amount)
    return raw


def _sales_rows(session: Session, start: dt.date, end: dt.date, segment: str | None) -> list[tuple]:
    """(issue date, currency, Σ amount) in [start, end]: the whole months inside from their
    snapshots (`ledger.snapshots`, kind "sales:"; the triggers that forget a month-end receivable
    forget them too, as a write moving a sale touches an invoice issued by that month's end), the
    ragged ends fresh."""
    first = start if start.day == 1 else _month_end(start) + dt.timedelta(days=1)
    month_ends = []
    while first <= end and _month_end(first) <= end:
        month_ends.append(_month_end(first))
        first = month_ends[-1] + dt.timedelta(days=1)
    if len(month_ends) < 2 or not snapshots.usable(session):
        return [row[:3] for row in _sales_fresh(session, start, end, segment)]
    raw = snapshots.cached(session, month_ends, segment, _sales_months, kind=SALES)
    rows = [row[:3] for row in _sales_fresh(session, start, month_ends[0].replace(day=1) - dt.timedelta(days=1),
                                             segment)]
    for (month_end, bucket), (_, amounts) in raw.items():
        day = month_end.replace(day=int(bucket[1:]))
        rows.extend((day, currency, amount) for currency, amount in amounts.items())
    rows.extend(row[:3] for row in _sales_fresh(session, month_ends[-1] + dt.timedelta(days=1), end, segment))
    return rows


def _month_end(day: dt.date) -> dt.date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def _sum_days(sales: dict[dt.date, Decimal], start: dt.date, end: dt.date) -> Decimal:
    """Sales issued in [start, end]."""
    return sum((amount for day, amount in sales.items() if start <= day <= end), ZERO)
