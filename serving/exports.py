"""CSV exports: the one function every CSV download goes through.

- `excel-fr` (default): `;` between fields, decimal comma, UTF-8 with a BOM — what French Excel
  opens by double-click without mangling accents or amounts;
- `excel-en`: `,` and a decimal point, UTF-8 with a BOM.

A text cell that a spreadsheet would read as a formula (starting with `=`, `+`, `-`, `@`, a tab or
a carriage return) is neutralised with a leading apostrophe (OWASP "CSV injection"): a customer
name such as `=HYPERLINK(…)` is shown as text, never run. Numbers are written by us, not by the
user, and stay numbers.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any, Literal

from fastapi.responses import Response

Dialect = Literal["excel-fr", "excel-en"]
DIALECTS: dict[str, dict[str, str]] = {
    "excel-fr": {"delimiter": ";", "decimal": ","},
    "excel-en": {"delimiter": ",", "decimal": "."},
}
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
BOM = "\ufeff"


def neutralise(text: str) -> str:
    """A text cell that cannot start a formula."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def cell(value: Any, dialect: Dialect = "excel-fr") -> str:
    """One value as the dialect writes it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (Decimal, float, int)):
        text = format(value, "f") if isinstance(value, Decimal) else str(value)
        return text.replace(".", DIALECTS[dialect]["decimal"])
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return neutralise(str(value))


def to_csv(header: Sequence[str], rows: Iterable[Sequence[Any]], dialect: Dialect = "excel-fr") -> str:
    """The CSV text (BOM first) of a header and rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=DIALECTS[dialect]["delimiter"], lineterminator="\r\n")
    writer.writerow([neutralise(str(h)) for h in header])
    for row in rows:
        writer.writerow([cell(v, dialect) for v in row])
    return BOM + buffer.getvalue()


def csv_response(header: Sequence[str], rows: Iterable[Sequence[Any]], filename: str,
                 dialect: Dialect = "excel-fr") -> Response:
    """A CSV download (`filename`.csv) in the dialect."""
    safe = "".join(ch for ch in filename if ch.isalnum() or ch in "-_.") or "export"
    return Response(to_csv(header, rows, dialect).encode("utf-8"), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{safe}.csv"'})
