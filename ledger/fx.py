"""Exchange rates: a dated table of euro reference rates, and the one conversion decision.

Rates are stored the way the ECB publishes them: on a date, 1 EUR = `rate` units of `currency`.
Any pair converts through the euro (GBP → USD = amount / rate_GBP × rate_USD), on the latest
rate of each currency dated on or before the day asked, and no older than `fx_max_age_days`
(the ECB skips weekends and TARGET holidays: a few days, never weeks). When a rate is missing the
answer is None — an amount is never converted 1:1 by default, so a report can say what it could
not convert instead of summing it silently.

`convert(session, ...)` answers one amount; `rates_on(session, on)` loads the rates of a day once
so a report converts many totals with the same decision (`Rates.convert`).
"""
from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path

from sqlalchemy import func
from sqlmodel import Session, select

from ledger.config import get_settings
from ledger.errors import FieldError, LedgerValidationError
from ledger.tables import ECB_SOURCE, RATE_DIGITS, ExchangeRate, utcnow

BASE = "EUR"
CENT = Decimal("0.01")
MAX_RATE = Decimal("100000000")
MAX_ROWS = 500_000


@dataclass(frozen=True)
class Converted:
    """`amount` in the target currency (to the cent), `rate` applied (target per source unit) and
    the date of the oldest rate used (None when no rate was needed: same currency)."""

    amount: Decimal
    rate: Decimal
    rate_date: dt.date | None


def reporting_currency() -> str:
    """The currency reports total in (setting `REPORTING_CURRENCY`, default EUR)."""
    return get_settings().reporting_currency.strip().upper()


@dataclass(frozen=True)
class Rates:
    """The euro rates in force on `on`: currency → (rate, rate_date), stale ones left out."""

    on: dt.date
    table: dict[str, tuple[Decimal, dt.date]]

    def rate(self, currency: str, to: str) -> tuple[Decimal, dt.date | None] | None:
        """Units of `to` per unit of `currency`, with the oldest rate date used; None if unknown."""
        currency, to = currency.upper(), to.upper()
        if currency == to:
            return Decimal(1), None
        legs = [self._leg(code) for code in (currency, to)]
        if any(leg is None for leg in legs):
            return None
        (rate_from, date_from), (rate_to, date_to) = legs  # type: ignore[misc]
        dates = [d for d in (date_from, date_to) if d is not None]
        return rate_to / rate_from, (min(dates) if dates else None)

    def convert(self, amount: Decimal, currency: str, to: str) -> Converted | None:
        """`amount` of `currency` in `to`, rounded half-up to the cent; None when no rate is known."""
        found = self.rate(currency, to)
        if found is None:
            return None
        rate, rate_date = found
        return Converted(amount=(Decimal(amount) * rate).quantize(CENT, ROUND_HALF_UP),
                         rate=rate, rate_date=rate_date)

    def _leg(self, code: str) -> tuple[Decimal, dt.date | None] | None:
        if code == BASE:
            return Decimal(1), None
        return self.table.get(code)


def rates_on(session: Session, on: dt.date, currencies: Iterable[str] | None = None) -> Rates:
    """The latest rate of each currency dated on or before `on`, if no older than the limit."""
    oldest = on - dt.timedelta(days=get_settings().fx_max_age_days)
    latest = (select(ExchangeRate.currency, func.max(ExchangeRate.rate_date).label("rate_date"))
              .where(ExchangeRate.rate_date <= on, ExchangeRate.rate_date >= oldest))
    wanted = sorted({c.upper() for c in currencies} - {BASE}) if currencies is not None else None
    if wanted is not None:
        if not wanted:
            return Rates(on=on, table={})
        latest = latest.where(ExchangeRate.currency.in_(wanted))
    latest = latest.group_by(ExchangeRate.currency).subquery()
    rows = session.exec(select(ExchangeRate).join(
        latest, (ExchangeRate.currency == latest.c.currency)
        & (ExchangeRate.rate_date == latest.c.rate_date))).all()
    return Rates(on=on, table={row.currency: (Decimal(row.rate), row.rate_date) for row in rows})


def convert(session: Session, amount: Decimal, currency: str, to: str, on: dt.date) -> Converted | None:
    """`amount` of `currency` in `to` at the rates in force on `on`; None when no rate is known."""
    return rates_on(session, on, [currency, to]).convert(amount, currency, to)


# --- storing rates ------------------------------------------------------------------------------

@dataclass(frozen=True)
class RateIn:
    currency: str
    rate_date: dt.date
    rate: Decimal


@dataclass(frozen=True)
class ImportReport:
    rows: int                 # (currency, date) rates read
    created: int
    updated: int
    unchanged: int
    first_date: dt.date | None
    last_date: dt.date | None
    currencies: list[str]
    skipped_currencies: list[str]  # columns of the file that are not configured currencies


def validate_rate(currency: str, rate_date: dt.date, rate: Decimal, field: str) -> list[FieldError]:
    """Why a rate cannot be stored (empty when it can)."""
    errors = []
    if len(currency) != 3 or not currency.isalpha() or not currency.isupper():
        errors.append(FieldError(f"{field}.currency", f"{currency!r} is not an ISO 4217 code such as USD"))
    elif currency == BASE:
        errors.append(FieldError(f"{field}.currency", "rates are per euro: EUR itself has no rate"))
    if not isinstance(rate, Decimal) or not rate.is_finite() or rate <= 0 or rate >= MAX_RATE:
        errors.append(FieldError(f"{field}.rate", f"a rate must be a number above 0 and below {MAX_RATE}"))
    elif rate != rate.quantize(Decimal(1).scaleb(-RATE_DIGITS["decimal_places"]), ROUND_HALF_UP):
        errors.append(FieldError(f"{field}.rate", "a rate has at most 10 decimals"))
    if not dt.date(1999, 1, 1) <= rate_date <= dt.date(2999, 12, 31):
        errors.append(FieldError(f"{field}.rate_date", "the euro's rates start on 1999-01-04"))
    return errors


def store_rates(*, session: Session, rates: list[RateIn], source: str = ECB_SOURCE) -> dict[str, int]:
    """Upsert rates by (currency, date) in the caller's transaction: importing twice changes nothing."""
    errors = [e for i, r in enumerate(rates) for e in validate_rate(r.currency, r.rate_date, r.rate, f"rates[{i}]")]
    if errors:
        raise LedgerValidationError(errors)
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    by_key = {(r.currency, r.rate_date): r for r in rates}  # the last of duplicates wins
    currencies = sorted({c for c, _ in by_key})
    existing: dict[tuple[str, dt.date], ExchangeRate] = {}
    for chunk in _chunks(currencies, 50):
        dates = [d for (c, d) in by_key if c in chunk]
        for row in session.exec(select(ExchangeRate).where(
                ExchangeRate.currency.in_(chunk), ExchangeRate.rate_date >= min(dates),
                ExchangeRate.rate_date <= max(dates))):
            existing[(row.currency, row.rate_date)] = row
    for key, rate in by_key.items():
        row = existing.get(key)
        if row is None:
            session.add(ExchangeRate(currency=rate.currency, rate_date=rate.rate_date, rate=rate.rate,
                                     source=source))
            counts["created"] += 1
        elif Decimal(row.rate) != rate.rate:
            row.rate, row.source, row.updated_at = rate.rate, source, utcnow()
            session.add(row)
            counts["updated"] += 1
        else:
            counts["unchanged"] += 1
    session.flush()
    return counts


def _chunks(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start:start + size]


# --- the ECB's CSV files ------------------------------------------------------------------------

class FxFileError(LedgerValidationError):
    """An exchange-rate file that cannot be read; nothing of it was stored."""


def parse_ecb_csv(text: str, *, currencies: Iterable[str] | None = None,
                  since: dt.date | None = None) -> tuple[list[RateIn], list[str]]:
    """Rates of the ECB's `eurofxref-hist.csv` (`Date,USD,JPY,…,` one row a day, `N/A` where no
    rate) or of the daily `eurofxref.csv` (`Date, USD, …` with dates like `27 November 2026`).

    Only the configured currencies are kept (the others are returned as skipped); `since` drops
    older days. Any unreadable cell makes the whole file invalid, naming its line and column."""
    wanted = {c.upper() for c in (currencies if currencies is not None else get_settings().currency_codes)}
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header = next(reader, None)
    if not header or header[0].strip().lower() != "date":
        raise FxFileError([FieldError("line 1", "not an ECB rates file: the first column must be Date")])
    columns = [name.strip().upper() for name in header]
    errors: list[FieldError] = []
    for index, name in enumerate(columns[1:], start=1):
        if name and (len(name) != 3 or not name.isalpha()):
            errors.append(FieldError(f"line 1, column {index + 1}", f"{name!r} is not a currency code"))
    if errors:
        raise FxFileError(errors)
    keep = [(i, name) for i, name in enumerate(columns) if i > 0 and name and name in wanted and name != BASE]
    skipped = sorted({name for i, name in enumerate(columns) if i > 0 and name and name not in wanted})
    rates: list[RateIn] = []
    for line_no, row in enumerate(reader, start=2):
        if not row or not any(cell.strip() for cell in row):
            continue
        day = _ecb_date(row[0].strip())
        if day is None:
            errors.append(FieldError(f"line {line_no}, column Date", f"{row[0].strip()[:40]!r} is not a date"))
            continue
        if since is not None and day < since:
            continue
        for index, name in keep:
            cell = row[index].strip() if index < len(row) else ""
            if cell in ("", "N/A", "NA", "-"):
                continue
            try:
                rate = Decimal(cell)
            except InvalidOperation:
                errors.append(FieldError(f"line {line_no}, column {name}", f"{cell[:40]!r} is not a number"))
                continue
            problems = validate_rate(name, day, rate, f"line {line_no}")
            errors.extend(FieldError(f"line {line_no}, column {name}", p.message) for p in problems)
            if not problems:
                rates.append(RateIn(currency=name, rate_date=day, rate=rate))
        if len(rates) > MAX_ROWS:
            raise FxFileError([FieldError(f"line {line_no}", f"more than {MAX_ROWS} rates: use --since")])
        if len(errors) >= 100:
            break
    if errors:
        raise FxFileError(errors)
    return rates, skipped


def _ecb_date(value: str) -> dt.date | None:
    for pattern in ("%Y-%m-%d", "%d %B %Y"):
        try:
            return dt.datetime.strptime(value, pattern).date()
        except ValueError:
            continue
    return None


def import_ecb(*, session: Session, source: Path | bytes | str, since: dt.date | None = None) -> ImportReport:
    """Read an ECB euro reference-rates CSV and upsert its rates (in the caller's transaction)."""
    if isinstance(source, Path):
        source = source.read_bytes()
    if isinstance(source, bytes):
        try:
            source = source.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise FxFileError([FieldError("file", "not UTF-8 text: is it the ECB's CSV file (not the zip)?")]) from None
    rates, skipped = parse_ecb_csv(source, since=since)
    counts = store_rates(session=session, rates=rates, source=ECB_SOURCE)
    dates = [r.rate_date for r in rates]
    return ImportReport(rows=len(rates), **counts, first_date=min(dates, default=None),
                        last_date=max(dates, default=None),
                        currencies=sorted({r.currency for r in rates}), skipped_currencies=skipped)


def list_rates(*, session: Session, currency: str | None = None, start: dt.date | None = None,
               end: dt.date | None = None, limit: int = 100, offset: int = 0) -> tuple[list[ExchangeRate], int]:
    """Stored rates, newest first, filtered by currency and date range."""
    query = select(ExchangeRate)
    if currency:
        query = query.where(ExchangeRate.currency == currency.upper())
    if start:
        query = query.where(ExchangeRate.rate_date >= start)
    if end:
        query = query.where(ExchangeRate.rate_date <= end)
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    rows = session.exec(query.order_by(ExchangeRate.rate_date.desc(), ExchangeRate.currency)
                        .offset(offset).limit(limit)).all()
    return list(rows), int(total)
