"""Money, percentages and dates for people, in French or English, with Babel (CLDR data).

Each amount is shown in its own currency ("1 234,56 £GB" is never "1 234,56 €"). `plain=True`
swaps the narrow and ordinary no-break spaces of French grouping for spaces, for the PDF core
fonts, which carry Latin-1 only.
"""
from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from babel.core import Locale
from babel.dates import format_date as babel_date
from babel.numbers import format_currency, format_decimal, get_currency_precision

LOCALES = {"fr": "fr_FR", "en": "en_GB"}
_LETTERS_THEN_DIGIT = re.compile(r"(?<=[A-Za-z])(?=[-\d])")


def _locale(language: str) -> str:
    return LOCALES.get(language, LOCALES["fr"])


def _plain(text: str) -> str:
    return text.replace("\u202f", " ").replace("\xa0", " ")


def money(amount: Decimal | int | str | None, currency: str, language: str = "fr", *, plain: bool = False) -> str:
    """1 234,56 € / €1,234.56; 1 234,56 $US / US$1,234.56; an unknown amount is a dash."""
    if amount is None:
        return "—"
    code = currency.upper()
    locale = _locale(language)
    shape = _shape(code, locale)
    # rounded half up to the currency's digits, as amounts due are (Babel would round half even)
    value = Decimal(str(amount)).quantize(shape.quantum if shape else _quantum(code), ROUND_HALF_UP)
    text = _written(value, shape) if shape is not None and value and value.is_finite() else None
    if text is None:
        text = _babel_money(value, code, locale)
    return _plain(text) if plain else text


def _babel_money(value: Decimal, code: str, locale: str) -> str:
    text = format_currency(value, code, locale=locale)
    # CLDR's currency spacing, which Babel leaves out: a code written in letters never touches
    # the digits ("CHF 10.00", not "CHF10.00")
    return _LETTERS_THEN_DIGIT.sub("\xa0", text)


def _quantum(code: str) -> Decimal:
    return Decimal(1).scaleb(-get_currency_precision(code))


@dataclass(frozen=True, slots=True)
class _Shape:
    """How Babel writes a non-zero amount of one currency in one locale, read off probes: what
    goes before and after the digits (by sign), the grouping and decimal symbols. Formatting an
    amount then costs a few string operations instead of Babel's pattern machinery (~50 µs a
    call: a daily run writes the amounts of its reason sentences hundreds of thousands of
    times). Every probe must come out as Babel writes it, else there is no shape and Babel
    formats (tests/serving/test_money.py compares the two over many amounts)."""

    quantum: Decimal
    digits: int
    group: str
    decimal: str
    before: str
    after: str
    minus_before: str
    minus_after: str


_PROBE = re.compile(r"^(\D*)1(\D+)234(?:\2)567(?:(\D+)(\d+))?(\D*)$")


@functools.lru_cache(maxsize=512)
def _shape(code: str, locale: str) -> _Shape | None:
    digits = get_currency_precision(code)
    fraction = "123456789"[:digits]
    probe = Decimal("1234567" + (f".{fraction}" if digits else ""))
    positive, negative = _PROBE.match(_babel_money(probe, code, locale)), _PROBE.match(_babel_money(-probe, code, locale))
    if positive is None or negative is None or (positive[4] or "") != fraction:
        return None
    shape = _Shape(quantum=_quantum(code), digits=digits, group=positive[2],
                   decimal=positive[3] or "", before=positive[1], after=positive[5],
                   minus_before=negative[1], minus_after=negative[5])
    if (negative[2], negative[3] or "") != (shape.group, shape.decimal):
        return None
    for text in ("1", "12", "123", "1234", "12345", "123456", "0.5", "1234567890123"):
        for value in (Decimal(text), -Decimal(text)):
            value = value.quantize(shape.quantum, ROUND_HALF_UP)
            if value and _written(value, shape) != _babel_money(value, code, locale):
                return None
    return shape


def _written(value: Decimal, shape: _Shape) -> str:
    whole, _, fraction = format(abs(value), "f").partition(".")
    digits = f"{int(whole):,}".replace(",", shape.group)
    if shape.digits:
        digits += shape.decimal + fraction
    if value < 0:
        return shape.minus_before + digits + shape.minus_after
    return shape.before + digits + shape.after


def number(value: Decimal | float | int, language: str = "fr", *, plain: bool = False) -> str:
    text = format_decimal(value, locale=_locale(language))
    return _plain(text) if plain else text


def percent(share: float | None, language: str = "fr", *, plain: bool = False) -> str:
    """0.8367 → 83,7 % / 83.7% (one decimal)."""
    if share is None:
        return "—"
    value = format_decimal(round(share * 100, 1), format="#,##0.#", locale=_locale(language))
    text = f"{value}\u202f%" if language == "fr" else f"{value}%"
    return _plain(text) if plain else text


def date(day: dt.date | None, language: str = "fr") -> str:
    """30/06/2026 in both languages; a dash for none."""
    return "—" if day is None else babel_date(day, format="dd/MM/yyyy", locale=_locale(language))


def whole_money(amount: Decimal | int | str | None, currency: str, language: str = "fr") -> str:
    """1 234 567 € / €1,234,567: rounded to whole units, for headline tiles; a dash for none."""
    if amount is None:
        return "—"
    locale = _locale(language)
    pattern = Locale.parse(locale).currency_formats["standard"].pattern.replace(".00", "")
    whole = Decimal(str(amount)).quantize(Decimal(1), ROUND_HALF_UP)
    text = format_currency(whole, currency.upper(), format=pattern, locale=locale, currency_digits=False)
    return _LETTERS_THEN_DIGIT.sub("\xa0", text)  # "CHF 12", as money() writes it


def long_date(day: dt.date, language: str = "fr") -> str:
    """1er novembre 2026 / 1 November 2026: the day written out, as letters date things."""
    text = babel_date(day, format="d MMMM y", locale=_locale(language))
    return ("1er" + text[1:]) if language == "fr" and day.day == 1 else text


def short_date(day: dt.date, language: str = "fr") -> str:
    """22/11/2026 in French; 22 Nov 2026 in English (no day/month order to guess)."""
    pattern = "dd/MM/yyyy" if language != "en" else "d MMM y"
    return babel_date(day, format=pattern, locale=_locale(language))


def rate(rate_percent: Decimal | int | str, language: str = "fr", *, plain: bool = False) -> str:
    """An annual rate given in percent, two decimals: 14,50 % / 14.50%."""
    value = Decimal(str(rate_percent)).quantize(Decimal("0.01"), ROUND_HALF_UP)
    number_text = format_decimal(value, format="#,##0.00", locale=_locale(language))
    text = f"{number_text}\u202f%" if language == "fr" else f"{number_text}%"
    return _plain(text) if plain else text
