"""Payment terms as customers and packages write them, and the due dates they give.

"30 jours", "45 jours fin de mois" (45 days, then the end of that month), "fin de mois 45 jours"
(the end of the issue month, then 45 days), "fin de mois", "à réception" / "comptant" (due on
issue), and the same in English ("30 days", "45 days end of month", "end of month 45 days",
"on receipt"). A bare number is a number of days.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import pandas as pd

MAX_DAYS = 365


class TermsError(ValueError):
    """Terms the parser cannot read; the message is a sentence naming them."""


@dataclass(frozen=True)
class Terms:
    days: int = 0
    # None: issue + days; "after": end of the month of issue + days; "before": issue + days, then
    # the end of that month (art. L441-10: "45 jours fin de mois" is read that way by default)
    end_of_month: str | None = None

    def due(self, issued: pd.Series) -> pd.Series:
        """Due dates of these terms for a series of issue dates (datetime64)."""
        if self.end_of_month == "after":
            return issued + pd.offsets.MonthEnd(0) + pd.to_timedelta(self.days, unit="D")
        shifted = issued + pd.to_timedelta(self.days, unit="D")
        return shifted + pd.offsets.MonthEnd(0) if self.end_of_month == "before" else shifted


_DAYS = r"(\d{1,3})\s*(?:jours?|j|days?|d)?"
_EOM = r"(?:fin\s+de\s+mois|fdm|end\s+of\s+(?:the\s+)?month|eom)"
_PATTERNS = (
    (re.compile(rf"^(?:net\s+)?{_DAYS}$"), None),
    (re.compile(rf"^{_DAYS}\s*,?\s*{_EOM}$"), "before"),
    (re.compile(rf"^{_EOM}\s*,?\s*(?:\+\s*)?{_DAYS}$"), "after"),
)
_ON_RECEIPT = re.compile(r"^(?:a\s+reception(?:\s+de\s+facture)?|comptant|immediat|"
                         r"on\s+receipt|due\s+on\s+receipt|cash|0)$")
_END_OF_MONTH = re.compile(rf"^{_EOM}$")


def parse_terms(text: str | int) -> Terms:
    """Terms from their usual spellings; raises TermsError with a sentence otherwise."""
    if isinstance(text, int):
        return _checked(Terms(days=text), str(text))
    raw = str(text)
    plain = unicodedata.normalize("NFKD", raw).encode("ascii", "ignore").decode().lower()
    plain = re.sub(r"\s+", " ", plain.replace("-", " ")).strip(" .")
    if _ON_RECEIPT.match(plain):
        return Terms()
    if _END_OF_MONTH.match(plain):
        return Terms(end_of_month="before")
    for pattern, end_of_month in _PATTERNS:
        found = pattern.match(plain)
        if found:
            return _checked(Terms(days=int(found.group(1)), end_of_month=end_of_month), raw)
    raise TermsError(f"unreadable payment terms {raw[:60]!r} (e.g. \"30 jours\", \"45 jours fin de mois\", "
                     f"\"fin de mois 45 jours\", \"à réception\")")


def _checked(terms: Terms, raw: str) -> Terms:
    if not 0 <= terms.days <= MAX_DAYS:
        raise TermsError(f"payment terms {raw[:60]!r}: days must be between 0 and {MAX_DAYS}")
    return terms


def read_terms_file(data: bytes | str) -> dict[str, str]:
    """customer_id → terms from a two-column CSV (`;`, `,` or tab; a header line is skipped)."""
    import csv
    import io

    text = data.decode("utf-8-sig", errors="replace") if isinstance(data, bytes) else data
    sample = text[:2048]
    delimiter = next((d for d in (";", "\t", ",") if d in sample), ";")
    found: dict[str, str] = {}
    for number, row in enumerate(csv.reader(io.StringIO(text), delimiter=delimiter), start=1):
        if len(row) < 2 or not row[0].strip():
            continue
        customer_id, terms = row[0].strip()[:64], row[1].strip()[:60]
        if number == 1 and customer_id.lower() in ("customer_id", "client", "customer", "compauxnum"):
            continue
        found[customer_id] = terms
    return found
