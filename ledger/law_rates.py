"""The rate tables of the late-payment law (``ledger/data/``: ECB rates, legal interest rates, up
to when the ECB decisions were checked), the law's constants, and what the tables no longer cover
(`coverage_warnings`). The law itself, and the file format of the tables, are described in
``ledger.law``."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

from ledger.errors import LedgerError

DATA_DIR = Path(__file__).parent / "data"
ECB_RATES_PATH = DATA_DIR / "ecb_rates.csv"
LEGAL_RATES_PATH = DATA_DIR / "legal_rates.csv"
CHECKED_PATH = DATA_DIR / "rates_checked.csv"

STATUTORY_MARGIN = Decimal("10")  # points added to the ECB rate (L441-10 II)
PUBLIC_MARGIN = Decimal("8")  # points added to the ECB rate for public buyers (R2192-31 CCP)
LEGAL_RATE_MULTIPLE = Decimal("3")  # a contractual rate may not be below 3 × the legal rate
RECOVERY_INDEMNITY = Decimal("40.00")  # per late invoice (D441-5)
MAX_TERMS_DAYS = 60
MAX_TERMS_DAYS_END_OF_MONTH = 45
DAYS_PER_YEAR = Decimal(365)
CENT = Decimal("0.01")


class LawError(LedgerError, ValueError):
    """Bad input to a late-payment law function, or a rate the tables do not know."""


class RateUnknownError(LawError):
    """The ECB table does not reach back to the requested date."""


@dataclass(frozen=True)
class RateTable:
    """ECB refinancing rate decisions and legal interest rates, both in percent."""

    ecb: tuple[tuple[date, Decimal], ...]  # (effective_date, rate_percent), sorted
    legal: dict[tuple[int, int], Decimal]  # (year, half 1|2) -> rate_percent ("autres cas")
    # the rate for creditors who are natural persons acting outside a profession; a company's
    # claims never use it, it is here so the table is the whole arrêté
    consumer_legal: dict[tuple[int, int], Decimal] = field(default_factory=dict)
    # the ECB decisions were checked up to this date (None: only the rows themselves are known)
    ecb_checked_through: date | None = None

    def ecb_rate_on(self, day: date) -> Decimal:
        """The ECB main refinancing rate in force on ``day``."""
        in_force = [rate for effective, rate in self.ecb if effective <= day]
        if not in_force:
            raise RateUnknownError(
                f"no ECB rate known on {day.isoformat()}; the table starts on "
                f"{self.ecb[0][0].isoformat()}"
            )
        return in_force[-1]

    def reference_rate(self, year: int, half: int) -> Decimal:
        """The ECB rate that applies to a semester: in force on 1 January or on 1 July."""
        return self.ecb_rate_on(date(year, 1 if half == 1 else 7, 1))

    def legal_rate(self, year: int, half: int) -> tuple[Decimal, str | None]:
        """Legal interest rate of a semester, and a note when a later semester is unknown.

        Legal rates are published a few weeks before each semester, so a daily run may be ahead
        of the table; then the latest known rate is used and the note says so, rather than
        refusing to compute. A semester before the table starts is an error.
        """
        if (year, half) in self.legal:
            return self.legal[(year, half)], None
        latest = max(self.legal)
        if (year, half) < min(self.legal):
            raise RateUnknownError(f"no legal interest rate known for {year} S{half}")
        if (year, half) > latest:
            note = (
                f"legal interest rate for {year} S{half} unknown; latest known "
                f"({latest[0]} S{latest[1]}, {self.legal[latest]} %) used"
            )
            return self.legal[latest], note
        raise RateUnknownError(f"no legal interest rate known for {year} S{half}")


def _decimal(text: str, *, where: str) -> Decimal:
    try:
        return Decimal(text.strip())
    except (InvalidOperation, AttributeError) as exc:
        raise LawError(f"{where}: {text!r} is not a number") from exc


def _read_ecb(path: Path) -> tuple[tuple[date, Decimal], ...]:
    rows = []
    with path.open(newline="", encoding="utf-8") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            where = f"{path.name} line {line}"
            try:
                effective = date.fromisoformat(row["effective_date"].strip())
            except (KeyError, ValueError, AttributeError) as exc:
                raise LawError(f"{where}: effective_date must be an ISO date") from exc
            rows.append((effective, _decimal(row.get("rate_percent", ""), where=where)))
    if not rows:
        raise LawError(f"{path.name}: no ECB rates")
    return tuple(sorted(rows))


def _read_legal(path: Path) -> tuple[dict[tuple[int, int], Decimal], dict[tuple[int, int], Decimal]]:
    table, consumer = {}, {}
    with path.open(newline="", encoding="utf-8") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            where = f"{path.name} line {line}"
            try:
                year, half = int(row["year"]), int(row["half"])
            except (KeyError, ValueError, TypeError) as exc:
                raise LawError(f"{where}: year and half must be integers") from exc
            if half not in (1, 2):
                raise LawError(f"{where}: half must be 1 or 2, got {half}")
            table[(year, half)] = _decimal(row.get("rate_percent", ""), where=where)
            if (row.get("consumer_percent") or "").strip():
                consumer[(year, half)] = _decimal(row["consumer_percent"], where=where)
    if not table:
        raise LawError(f"{path.name}: no legal interest rates")
    return table, consumer


def _read_checked(path: Path) -> date | None:
    if not path.exists():
        return None
    with path.open(newline="", encoding="utf-8") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            if (row.get("table") or "").strip() == "ecb":
                try:
                    return date.fromisoformat((row.get("checked_through") or "").strip())
                except ValueError as exc:
                    raise LawError(f"{path.name} line {line}: checked_through must be an ISO date") from exc
    return None


def load_rates(path: Path | str | None = None, *, legal_path: Path | str | None = None,
               checked_path: Path | str | None = None) -> RateTable:
    """Load the rate tables: ``path`` is the ECB CSV, ``legal_path`` the legal-rate CSV,
    ``checked_path`` the date up to which ECB decisions were checked.

    Each defaults to the file shipped in ``ledger/data/`` (a custom ECB table without a checked
    file counts as checked through its last row). Pass your own copy after a new ECB decision or
    a new legal-rate arrêté (one row per change, columns as in the shipped files).
    """
    ecb_file = Path(path) if path is not None else ECB_RATES_PATH
    legal_file = Path(legal_path) if legal_path is not None else LEGAL_RATES_PATH
    if checked_path is not None:
        checked_file: Path | None = Path(checked_path)
    else:
        checked_file = CHECKED_PATH if path is None else None
    ecb = _read_ecb(ecb_file)
    legal, consumer = _read_legal(legal_file)
    checked = _read_checked(checked_file) if checked_file is not None else None
    return RateTable(ecb=ecb, legal=legal, consumer_legal=consumer,
                     ecb_checked_through=checked or ecb[-1][0])


_default_rates: RateTable | None = None


def default_rates() -> RateTable:
    """The shipped tables, read once (lazily, so importing this module reads no file)."""
    global _default_rates
    if _default_rates is None:
        _default_rates = load_rates()
    return _default_rates


def _semester(day: date) -> tuple[int, int]:
    return day.year, 1 if day.month <= 6 else 2


def _semester_end(day: date) -> date:
    return date(day.year, 6, 30) if day.month <= 6 else date(day.year, 12, 31)


# --- coverage of the rate tables ----------------------------------------------------------------


@dataclass(frozen=True)
class LawWarning:
    """Something a manager must know about the law (its rate tables, or payment terms beyond the
    legal maximum), in French and English."""

    code: str
    fr: str
    en: str

    def message(self, language: str = "fr") -> str:
        return self.en if language == "en" else self.fr


def _semester_start(day: date) -> date:
    return date(day.year, 1 if day.month <= 6 else 7, 1)


def coverage_warnings(today: date, rates: RateTable | None = None) -> list[LawWarning]:
    """What the tables do not know for ``today``'s semester: its legal interest rate (the floor
    of contractual rates), or whether the ECB rate in force on its first day is the last one
    entered (decisions checked only up to ``ecb_checked_through``). Empty when both are known.

    Computations go on with the latest known rates (and say so in their notes); this is what the
    run report and ``/health`` show so that someone updates ``ledger/data/``.
    """
    rates = rates or default_rates()
    warnings = []
    year, half = _semester(today)
    if (year, half) not in rates.legal:
        latest = max(rates.legal)
        warnings.append(LawWarning(
            "legal_rate_missing",
            f"Le taux de l'intérêt légal du {half}{'er' if half == 1 else 'nd'} semestre {year} "
            f"n'est pas dans les tables (dernier connu : {latest[1]}{'er' if latest[1] == 1 else 'nd'} "
            f"semestre {latest[0]}, {rates.legal[latest]} %) : ajoutez-le à ledger/data/legal_rates.csv.",
            f"The legal interest rate for {year} S{half} is not in the tables (latest known: "
            f"{latest[0]} S{latest[1]}, {rates.legal[latest]} %): add it to ledger/data/legal_rates.csv.",
        ))
    start = _semester_start(today)
    checked = rates.ecb_checked_through or rates.ecb[-1][0]
    if checked < start:
        warnings.append(LawWarning(
            "ecb_rate_unchecked",
            f"Les décisions de taux de la BCE ne sont vérifiées que jusqu'au {checked.isoformat()} : "
            f"le taux de référence au {start.isoformat()} ({rates.ecb_rate_on(start)} % d'après les "
            "tables) est à confirmer dans ledger/data/ecb_rates.csv et rates_checked.csv.",
            f"ECB rate decisions are checked only up to {checked.isoformat()}: the reference rate on "
            f"{start.isoformat()} ({rates.ecb_rate_on(start)} % per the tables) must be confirmed in "
            "ledger/data/ecb_rates.csv and rates_checked.csv.",
        ))
    return warnings
