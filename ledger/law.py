"""French late-payment law for B2B invoices (Code de commerce art. L441-10 and D441-5).

Pure functions over ``Decimal`` money; no database, no I/O except reading the rate tables.

- **Penalty interest** (pénalités de retard) runs from the day after the due date. Absent a
  contractual rate it is the ECB main refinancing rate + 10 points, where the ECB rate is the one in
  force on 1 January for the first half-year and on 1 July for the second (L441-10 II). A contract
  may set its own rate, but never below 3 × the legal interest rate (taux de l'intérêt légal) of the
  semester; a lower contractual rate is replaced by that floor.
- **Recovery indemnity** (indemnité forfaitaire pour frais de recouvrement): 40 € per late invoice
  (D441-5).
- **Payment terms** may not exceed 60 days from the invoice date, or 45 days end of month
  (L441-10 I).

Rate tables live as data in ``ledger/data/``: ``ecb_rates.csv`` (effective_date, rate_percent: one
row per ECB decision; the last row stays in force until a newer row is added) and
``legal_rates.csv`` (year, half, rate_percent: the legal interest rate for professional creditors,
"autres cas", published each semester by arrêté). To update them, append a row to a copy and pass
``rates=load_rates(ecb_path=..., legal_path=...)``, or edit the shipped files.

Interest is simple interest on days/365, computed exactly per semester and rounded once, to the
cent, ROUND_HALF_UP, on the total (the per-period amounts shown are rounded for display and may
differ from the total by a cent).
"""
from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path

from ledger.errors import LedgerError

DATA_DIR = Path(__file__).parent / "data"
ECB_RATES_PATH = DATA_DIR / "ecb_rates.csv"
LEGAL_RATES_PATH = DATA_DIR / "legal_rates.csv"

STATUTORY_MARGIN = Decimal("10")  # points added to the ECB rate (L441-10 II)
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
    legal: dict[tuple[int, int], Decimal]  # (year, half 1|2) -> rate_percent

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


def _read_legal(path: Path) -> dict[tuple[int, int], Decimal]:
    table = {}
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
    if not table:
        raise LawError(f"{path.name}: no legal interest rates")
    return table


def load_rates(path: Path | str | None = None, *, legal_path: Path | str | None = None) -> RateTable:
    """Load the rate tables: ``path`` is the ECB CSV, ``legal_path`` the legal-rate CSV.

    Either defaults to the file shipped in ``ledger/data/``. Pass your own copy after a new ECB
    decision or a new legal-rate arrêté (one row per change, columns as in the shipped files).
    """
    ecb_file = Path(path) if path is not None else ECB_RATES_PATH
    legal_file = Path(legal_path) if legal_path is not None else LEGAL_RATES_PATH
    return RateTable(ecb=_read_ecb(ecb_file), legal=_read_legal(legal_file))


_default_rates: RateTable | None = None


def default_rates() -> RateTable:
    """The shipped tables, read once (lazily, so importing this module reads no file)."""
    global _default_rates
    if _default_rates is None:
        _default_rates = load_rates()
    return _default_rates


@dataclass(frozen=True)
class PenaltyPeriod:
    """One stretch of days at one rate (a semester, or part of one)."""

    start: date
    end: date  # inclusive
    days: int
    rate_percent: Decimal
    interest: Decimal  # rounded to the cent, for display


@dataclass(frozen=True)
class PenaltyResult:
    """Penalty interest on one invoice as of a date."""

    amount: Decimal  # total interest, rounded to the cent
    days: int
    periods: tuple[PenaltyPeriod, ...] = ()
    contract_rate: Decimal | None = None
    notes: tuple[str, ...] = ()  # e.g. the floor replaced the contract rate


@dataclass(frozen=True)
class Penalties:
    """What a creditor may claim on one invoice: penalty interest and the recovery indemnity."""

    interest: PenaltyResult
    indemnity: Decimal
    total: Decimal = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "total", self.interest.amount + self.indemnity)


def _semester(day: date) -> tuple[int, int]:
    return day.year, 1 if day.month <= 6 else 2


def _semester_end(day: date) -> date:
    return date(day.year, 6, 30) if day.month <= 6 else date(day.year, 12, 31)


def _split_by_semester(start: date, end: date) -> list[tuple[date, date]]:
    """Consecutive [start, end] stretches (inclusive), none crossing 1 January or 1 July."""
    stretches = []
    while start <= end:
        stop = min(_semester_end(start), end)
        stretches.append((start, stop))
        start = stop + timedelta(days=1)
    return stretches


def _period_rate(
    *, rates: RateTable, year: int, half: int, contract_rate: Decimal | None
) -> tuple[Decimal, str | None]:
    if contract_rate is None:
        return rates.reference_rate(year, half) + STATUTORY_MARGIN, None
    legal, note = rates.legal_rate(year, half)
    floor = LEGAL_RATE_MULTIPLE * legal
    if contract_rate >= floor:
        return contract_rate, note
    floor_note = (
        f"{year} S{half}: contract rate {contract_rate} % is below the legal floor "
        f"{floor} % (3 × legal interest rate {legal} %); the floor applies"
    )
    return floor, floor_note if note is None else f"{note}; {floor_note}"


def penalty_interest(
    *,
    amount: Decimal,
    due_date: date,
    as_of: date,
    contract_rate: Decimal | None = None,
    rates: RateTable | None = None,
) -> PenaltyResult:
    """Penalty interest on ``amount`` from the day after ``due_date`` to ``as_of`` inclusive.

    ``contract_rate`` is an annual rate in percent (``Decimal("12")`` for 12 %); without it the
    statutory rate (ECB reference rate + 10 points) applies. Simple interest, days/365, split by
    semester because the reference rate changes on 1 January and 1 July.
    """
    if not isinstance(amount, Decimal):
        raise LawError(f"amount must be a Decimal, got {type(amount).__name__}")
    if amount < 0:
        raise LawError(f"amount must not be negative, got {amount}")
    if contract_rate is not None and not Decimal(0) <= contract_rate <= Decimal(100):
        raise LawError(f"contract_rate is a percentage between 0 and 100, got {contract_rate}")
    if as_of <= due_date or amount == 0:
        return PenaltyResult(amount=Decimal("0.00"), days=0, contract_rate=contract_rate)
    rates = rates or default_rates()
    periods, notes, exact_total = [], [], Decimal(0)
    for start, end in _split_by_semester(due_date + timedelta(days=1), as_of):
        year, half = _semester(start)
        rate, note = _period_rate(rates=rates, year=year, half=half, contract_rate=contract_rate)
        days = (end - start).days + 1
        interest = amount * rate / Decimal(100) * days / DAYS_PER_YEAR
        exact_total += interest
        periods.append(PenaltyPeriod(start, end, days, rate, interest.quantize(CENT, ROUND_HALF_UP)))
        if note:
            notes.append(note)
    return PenaltyResult(
        amount=exact_total.quantize(CENT, ROUND_HALF_UP),
        days=(as_of - due_date).days,
        periods=tuple(periods),
        contract_rate=contract_rate,
        notes=tuple(notes),
    )


def penalties_due(
    *,
    amount: Decimal,
    due_date: date,
    as_of: date,
    contract_rate: Decimal | None = None,
    rates: RateTable | None = None,
) -> Penalties:
    """Penalty interest plus the 40 € recovery indemnity, for an invoice late on ``as_of``.

    ``amount`` is the amount still open. An invoice that is not late (``as_of`` on or before the
    due date, or nothing open) owes neither.
    """
    interest = penalty_interest(
        amount=amount, due_date=due_date, as_of=as_of, contract_rate=contract_rate, rates=rates
    )
    late = interest.days > 0 and amount > 0
    return Penalties(interest=interest, indemnity=RECOVERY_INDEMNITY if late else Decimal("0.00"))


@dataclass(frozen=True)
class TermsWarning:
    """Payment terms beyond the legal maximum, in French and English."""

    code: str
    fr: str
    en: str

    def message(self, language: str = "fr") -> str:
        return self.en if language == "en" else self.fr


def terms_warnings(*, terms_days: int, end_of_month: bool = False) -> list[TermsWarning]:
    """Warnings when payment terms exceed L441-10 I: 60 days net, or 45 days end of month."""
    if terms_days < 0:
        raise LawError(f"terms_days must not be negative, got {terms_days}")
    if end_of_month and terms_days > MAX_TERMS_DAYS_END_OF_MONTH:
        return [TermsWarning(
            code="terms_above_45_days_end_of_month",
            fr=(f"Délai de paiement de {terms_days} jours fin de mois supérieur au maximum légal "
                f"de {MAX_TERMS_DAYS_END_OF_MONTH} jours fin de mois (art. L441-10 I du Code de "
                "commerce)."),
            en=(f"Payment terms of {terms_days} days end of month exceed the legal maximum of "
                f"{MAX_TERMS_DAYS_END_OF_MONTH} days end of month (French Commercial Code "
                "art. L441-10 I)."),
        )]
    if not end_of_month and terms_days > MAX_TERMS_DAYS:
        return [TermsWarning(
            code="terms_above_60_days",
            fr=(f"Délai de paiement de {terms_days} jours supérieur au maximum légal de "
                f"{MAX_TERMS_DAYS} jours à compter de la date d'émission de la facture "
                "(art. L441-10 I du Code de commerce)."),
            en=(f"Payment terms of {terms_days} days exceed the legal maximum of {MAX_TERMS_DAYS} "
                "days from the invoice date (French Commercial Code art. L441-10 I)."),
        )]
    return []
