"""Business days: reminders are never sent on a weekend or a public holiday.

Public holidays come from the ``holidays`` package (France by default: the 11 national holidays;
pass ``subdiv="57"`` etc. for Alsace-Moselle's two extra days). Holiday sets are cached per
(country, subdivision, year), so a daily run over a million invoices asks the package once.
"""
from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

import holidays

from ledger.errors import LedgerError

WEEKEND = (5, 6)  # Saturday, Sunday
MAX_SEARCH_DAYS = 366  # no calendar has a year without a business day; guards a bad table


class CalendarError(LedgerError, ValueError):
    """Unknown country or subdivision, or a bad argument."""


@lru_cache(maxsize=256)
def _holidays(country: str, subdiv: str | None, year: int) -> frozenset[date]:
    try:
        table = holidays.country_holidays(country, subdiv=subdiv, years=year)
    except NotImplementedError as exc:
        raise CalendarError(f"unknown country or subdivision: {country!r} {subdiv or ''}") from exc
    return frozenset(table)


def holiday_name(
    d: date, country: str = "FR", *, subdiv: str | None = None, language: str | None = None
) -> str | None:
    """The public holiday's name on ``d``, or None; ``language`` e.g. "fr" or "en_US"."""
    if d not in _holidays(country.upper(), subdiv, d.year):
        return None
    table = holidays.country_holidays(country.upper(), subdiv=subdiv, years=d.year, language=language)
    return table.get(d)


def is_business_day(d: date, country: str = "FR", *, subdiv: str | None = None) -> bool:
    """True on a weekday that is not a public holiday of ``country``."""
    return d.weekday() not in WEEKEND and d not in _holidays(country.upper(), subdiv, d.year)


def next_business_day(d: date, country: str = "FR", *, subdiv: str | None = None) -> date:
    """``d`` itself if it is a business day, else the first business day after it."""
    return _roll(d, step=1, country=country, subdiv=subdiv)


def previous_business_day(d: date, country: str = "FR", *, subdiv: str | None = None) -> date:
    """``d`` itself if it is a business day, else the last business day before it."""
    return _roll(d, step=-1, country=country, subdiv=subdiv)


def _roll(d: date, *, step: int, country: str, subdiv: str | None) -> date:
    for _ in range(MAX_SEARCH_DAYS):
        if is_business_day(d, country, subdiv=subdiv):
            return d
        d += timedelta(days=step)
    raise CalendarError(f"no business day within {MAX_SEARCH_DAYS} days of {d.isoformat()}")


def add_business_days(
    d: date, days: int, country: str = "FR", *, subdiv: str | None = None
) -> date:
    """The date ``days`` business days after ``d`` (before it when negative).

    ``d`` itself need not be a business day; zero rolls it forward to the next business day,
    since a zero offset means "as soon as we may send".
    """
    if days == 0:
        return next_business_day(d, country, subdiv=subdiv)
    step = 1 if days > 0 else -1
    remaining = abs(days)
    while remaining:
        d += timedelta(days=step)
        if is_business_day(d, country, subdiv=subdiv):
            remaining -= 1
    return d


def business_days_between(
    start: date, end: date, country: str = "FR", *, subdiv: str | None = None
) -> int:
    """Business days in (start, end]: how many sending days have passed since ``start``."""
    if end <= start:
        return 0
    return sum(
        is_business_day(start + timedelta(days=offset), country, subdiv=subdiv)
        for offset in range(1, (end - start).days + 1)
    )
