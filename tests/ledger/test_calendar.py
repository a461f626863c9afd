"""Business days against the French calendar of 2024 (checked on a printed calendar).

May 2024: 1 (Wed) Fête du travail, 8 (Wed) Victoire 1945, 9 (Thu) Ascension, 20 (Mon) Pentecôte.
11 November 2024 is a Monday; 26 December is a holiday only in Alsace-Moselle (subdiv "57").
"""
from datetime import date

import pytest

from ledger.calendar import (
    CalendarError,
    add_business_days,
    business_days_between,
    holiday_name,
    is_business_day,
    next_business_day,
    previous_business_day,
)


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2024, 5, 1), False),  # public holiday
        (date(2024, 5, 2), True),
        (date(2024, 5, 4), False),  # Saturday
        (date(2024, 5, 5), False),  # Sunday
        (date(2024, 5, 9), False),  # Ascension
        (date(2024, 5, 20), False),  # Whit Monday
        (date(2024, 7, 15), True),  # 14 July fell on a Sunday; no bridge day in France
        (date(2025, 4, 21), False),  # Easter Monday 2025
    ],
)
def test_is_business_day(day, expected):
    assert is_business_day(day) is expected


def test_next_business_day_skips_holidays_and_weekends():
    assert next_business_day(date(2024, 5, 8)) == date(2024, 5, 10)  # 8 and 9 May off
    assert next_business_day(date(2024, 11, 9)) == date(2024, 11, 12)  # Sat, Sun, 11 Nov
    assert next_business_day(date(2024, 5, 2)) == date(2024, 5, 2)  # already one


def test_previous_business_day():
    assert previous_business_day(date(2024, 5, 9)) == date(2024, 5, 7)


def test_add_business_days_forward_and_back():
    assert add_business_days(date(2024, 4, 30), 1) == date(2024, 5, 2)
    assert add_business_days(date(2024, 5, 3), 3) == date(2024, 5, 10)
    assert add_business_days(date(2024, 5, 13), -2) == date(2024, 5, 7)
    assert add_business_days(date(2024, 5, 4), 0) == date(2024, 5, 6)  # Saturday rolls on


def test_alsace_moselle_has_its_own_holidays():
    assert is_business_day(date(2024, 12, 26))
    assert not is_business_day(date(2024, 12, 26), subdiv="57")


def test_other_countries_use_their_calendar():
    # 26 December (Boxing Day) is a bank holiday in England but a working day in France
    assert not is_business_day(date(2024, 12, 26), "GB")


def test_business_days_between_counts_end_not_start():
    assert business_days_between(date(2024, 4, 30), date(2024, 5, 10)) == 5  # 2,3,6,7,10
    assert business_days_between(date(2024, 5, 10), date(2024, 5, 10)) == 0


def test_holiday_name_in_french():
    assert holiday_name(date(2024, 5, 1), language="fr") == "Fête du Travail"
    assert holiday_name(date(2024, 5, 2)) is None


def test_unknown_country_is_a_clear_error():
    with pytest.raises(CalendarError, match="XX"):
        is_business_day(date(2024, 5, 2), "XX")
