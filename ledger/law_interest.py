"""Penalty interest on one invoice (L441-10 II: ECB rate + 10 points per semester, or a contractual
rate floored at 3 × the legal rate) and the recovery indemnity (D441-5); see ``ledger.law``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from ledger.law_rates import (
    CENT,
    DAYS_PER_YEAR,
    LEGAL_RATE_MULTIPLE,
    RECOVERY_INDEMNITY,
    STATUTORY_MARGIN,
    LawError,
    RateTable,
    _semester,
    _semester_end,
    default_rates,
)


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
