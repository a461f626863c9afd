"""Money, dates and rates the French way in French and the English way in English.

Plain spaces group thousands in French ("1 234,56 €") rather than the typographic narrow
no-break space: SMS (GSM-7) and the PDF core fonts cannot carry U+202F.
"""
from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
CURRENCY_SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£"}
MONTHS = {
    "fr": ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre",
           "octobre", "novembre", "décembre"],
    "en": ["January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December"],
}


def _grouped(value: Decimal, *, places: int, language: str) -> str:
    text = f"{abs(value):,.{places}f}"  # "1,234.56"
    if language == "fr":
        text = text.replace(",", " ").replace(".", ",")
    return text


def format_money(amount: Decimal | int | str, currency: str = "EUR", language: str = "fr") -> str:
    """1 234,56 € in French, €1,234.56 in English; unknown currencies show their ISO code."""
    value = Decimal(str(amount)).quantize(CENT, ROUND_HALF_UP)
    sign = "-" if value < 0 else ""
    number = _grouped(value, places=2, language=language)
    symbol = CURRENCY_SYMBOLS.get(currency.upper(), currency.upper())
    if language == "fr":
        return f"{sign}{number} {symbol}"
    spacer = "" if len(symbol) == 1 else " "
    return f"{sign}{symbol}{spacer}{number}"


def format_date(d: date, language: str = "fr", *, long: bool = False) -> str:
    """22/11/2026 or 22 novembre 2026 in French; 22 Nov 2026 or 22 November 2026 in English."""
    if language == "fr":
        if long:
            day = "1er" if d.day == 1 else str(d.day)
            return f"{day} {MONTHS['fr'][d.month - 1]} {d.year}"
        return d.strftime("%d/%m/%Y")
    month = MONTHS["en"][d.month - 1]
    return f"{d.day} {month if long else month[:3]} {d.year}"


def format_percent(rate_percent: Decimal | int | str, language: str = "fr") -> str:
    """14,50 % in French, 14.50% in English."""
    value = Decimal(str(rate_percent)).quantize(CENT, ROUND_HALF_UP)
    if language == "fr":
        return f"{_grouped(value, places=2, language='fr')} %"
    return f"{value:.2f}%"
