"""French late-payment law (Code de commerce L441-10 and D441-5; Code de la commande publique
R2192-31 and D2192-35 for public buyers).

Pure functions over ``Decimal`` money; no database, no I/O except reading the rate tables — but
for converting the 40 € indemnity into an invoice's currency, where a caller may hand over a
session for ``ledger.fx``'s dated rates (`eur_rate`).

- **Penalty interest** (pénalités de retard) runs from the day after the due date. Absent a
  contractual rate it is the ECB main refinancing rate + 10 points, where the ECB rate is the one in
  force on 1 January for the first half-year and on 1 July for the second (L441-10 II). A contract
  may set its own rate, but never below 3 × the legal interest rate (taux de l'intérêt légal) of the
  semester; a lower contractual rate is replaced by that floor.
- **Recovery indemnity** (indemnité forfaitaire pour frais de recouvrement): 40 € per late invoice
  (D441-5).
- **Payment terms** may not exceed 60 days from the invoice date, or 45 days end of month
  (L441-10 I).
- **Who the debtor is** changes what may be claimed (`claim_for`): a *business* owes the above; a
  *public buyer* owes interest at the ECB rate + 8 points, the ECB rate being the one in force on
  the first day of the semester in which interest started to run, fixed for the whole delay
  (R2192-31), plus the 40 € indemnity (D2192-35); a *consumer* owes neither (L441-10 governs
  dealings between professionals only).

Rate tables live as data in ``ledger/data/``: ``ecb_rates.csv`` (effective_date, rate_percent: one
row per ECB decision; the last row stays in force until a newer row is added) and
``legal_rates.csv`` (year, half, rate_percent: the legal interest rate "for all other cases", i.e.
any creditor other than a natural person acting outside a profession; consumer_percent: the rate
for such a private creditor; source: the arrêté; published each semester, art. L313-2 and D313-1-A
of the Code monétaire et financier), and ``rates_checked.csv`` (up to which date the ECB decisions
were checked: the table cannot tell "unchanged" from "not yet entered"). To update them, append a
row to a copy and pass ``rates=load_rates(ecb_path, legal_path=..., checked_path=...)``, or edit
the shipped files. ``coverage_warnings(today)`` says when they no longer cover today.

Interest is simple interest on days/365, computed exactly per semester and rounded once, to the
cent, ROUND_HALF_UP, on the total (the per-period amounts shown are rounded for display and may
differ from the total by a cent).
"""
from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ledger.errors import LedgerError

if TYPE_CHECKING:  # the law is pure; a session only lets it read dated exchange rates
    from sqlmodel import Session

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


# --- coverage of the rate tables ----------------------------------------------------------------


@dataclass(frozen=True)
class LawWarning:
    """Something a manager must know about the law tables, in French and English."""

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


# --- what may be claimed, by kind of debtor -------------------------------------------------------

CUSTOMER_TYPES = ("business", "consumer", "public_sector")


def public_interest(*, amount: Decimal, due_date: date, as_of: date,
                    rates: RateTable | None = None) -> PenaltyResult:
    """Moratory interest owed by a public buyer (R2192-31 Code de la commande publique): the ECB
    rate in force on the first day of the semester in which interest started to run, + 8 points,
    for the whole delay (it does not change at the next 1 January or 1 July)."""
    if not isinstance(amount, Decimal):
        raise LawError(f"amount must be a Decimal, got {type(amount).__name__}")
    if amount < 0:
        raise LawError(f"amount must not be negative, got {amount}")
    if as_of <= due_date or amount == 0:
        return PenaltyResult(amount=Decimal("0.00"), days=0)
    rates = rates or default_rates()
    start = due_date + timedelta(days=1)
    rate = rates.ecb_rate_on(_semester_start(start)) + PUBLIC_MARGIN
    days = (as_of - due_date).days
    exact = amount * rate / Decimal(100) * days / DAYS_PER_YEAR
    total = exact.quantize(CENT, ROUND_HALF_UP)
    return PenaltyResult(amount=total, days=days,
                         periods=(PenaltyPeriod(start, as_of, days, rate, total),))


@dataclass(frozen=True)
class IndemnityAmount:
    """The 40 € recovery indemnity, and its value in the invoice's currency when that differs.

    The law fixes it in euros: the euro amount is what is claimed; a converted amount is shown
    beside it only with the dated rate it comes from."""

    eur: Decimal
    currency: str
    amount: Decimal | None  # in ``currency``; None when no dated rate is known
    rate: Decimal | None = None  # units of ``currency`` for 1 EUR
    rate_date: date | None = None

    @property
    def converted(self) -> bool:
        return self.currency != "EUR" and self.amount is not None


def eur_rate(currency: str, on: date, session: Session | None = None) -> tuple[Decimal, date] | None:
    """Units of ``currency`` for 1 EUR on ``on`` (the latest ECB reference rate on or before it,
    from ``ledger.fx``), with the rate's date; None when unknown or without a database session.
    The one place the law converts money: never 1:1 by default."""
    if currency == "EUR":
        return Decimal(1), on
    if session is None:
        return None
    from ledger import fx  # the dated rate table lives in the database

    converted = fx.convert(session, Decimal(1), "EUR", currency, on)
    if converted is None:
        return None
    return converted.rate, converted.rate_date or on


def indemnity_for(currency: str, on: date, session: Session | None = None) -> IndemnityAmount:
    """The 40 € indemnity for an invoice in ``currency``, converted at the rate of ``on``."""
    if currency == "EUR":
        return IndemnityAmount(eur=RECOVERY_INDEMNITY, currency="EUR", amount=RECOVERY_INDEMNITY)
    found = eur_rate(currency, on, session)
    if found is None:
        return IndemnityAmount(eur=RECOVERY_INDEMNITY, currency=currency, amount=None)
    rate, rate_date = found
    return IndemnityAmount(eur=RECOVERY_INDEMNITY, currency=currency,
                           amount=(RECOVERY_INDEMNITY * rate).quantize(CENT, ROUND_HALF_UP),
                           rate=rate, rate_date=rate_date)


@dataclass(frozen=True)
class Claim:
    """What may be claimed on one invoice from one customer as of a date.

    ``interest`` is in the invoice's currency; ``indemnity`` is the 40 € (None: not owed);
    ``total`` is in the invoice's currency and includes the indemnity only when it could be
    converted (always, for a euro invoice)."""

    customer_type: str
    interest: PenaltyResult
    indemnity: IndemnityAmount | None
    notes: tuple[str, ...] = ()

    @property
    def indemnity_in_currency(self) -> Decimal:
        if self.indemnity is None or self.indemnity.amount is None:
            return Decimal("0.00")
        return self.indemnity.amount

    @property
    def total(self) -> Decimal:
        return self.interest.amount + self.indemnity_in_currency


def claim_for(*, customer_type: str, amount: Decimal, due_date: date, as_of: date,
              currency: str = "EUR", contract_rate: Decimal | None = None,
              rates: RateTable | None = None, session: Session | None = None) -> Claim:
    """Interest and indemnity on ``amount`` (still open, or paid late) by kind of debtor:
    business → L441-10 (ECB + 10, or the contract rate floored at 3 × the legal rate) + 40 €;
    public_sector → ECB + 8 fixed at the start of the delay + 40 €; consumer → nothing."""
    if customer_type not in CUSTOMER_TYPES:
        raise LawError(f"customer_type must be one of {', '.join(CUSTOMER_TYPES)}, got {customer_type!r}")
    if customer_type == "consumer":
        return Claim(customer_type, PenaltyResult(amount=Decimal("0.00"), days=0), None, (
            "consumer: no L441-10 late-payment penalties nor recovery indemnity",))
    if customer_type == "public_sector":
        interest = public_interest(amount=amount, due_date=due_date, as_of=as_of, rates=rates)
    else:
        interest = penalty_interest(amount=amount, due_date=due_date, as_of=as_of,
                                    contract_rate=contract_rate, rates=rates)
    late = interest.days > 0 and amount > 0
    indemnity = indemnity_for(currency, as_of, session) if late else None
    notes = list(interest.notes)
    if indemnity is not None and currency != "EUR":
        notes.append(
            f"indemnity fixed by law at 40 EUR; {indemnity.amount} {currency} at the rate of "
            f"{indemnity.rate_date}" if indemnity.converted else
            f"indemnity fixed by law at 40 EUR; no dated EUR/{currency} rate known, claimed in euros")
    return Claim(customer_type, interest, indemnity, tuple(notes))


# --- itemised interest, for letters and penalty invoices --------------------------------------------


@dataclass(frozen=True)
class InvoiceInterest:
    """One line of an itemised claim: an invoice, the amount late, days late, rate(s), interest."""

    invoice_id: str
    due_date: date
    amount: Decimal  # the amount on which interest runs (open amount, or the part paid late)
    until: date  # interest runs to this date inclusive
    days: int
    rates_percent: tuple[Decimal, ...]
    interest: Decimal
    indemnity: IndemnityAmount | None
    notes: tuple[str, ...] = ()


def itemise(invoices: Iterable[Any], *, as_of: date, customer_type: str = "business",
            contract_rate: Decimal | None = None,
            rates: RateTable | None = None, session: Session | None = None) -> list[InvoiceInterest]:
    """Interest per open invoice as of ``as_of`` (what a letter or a formal notice lists).

    ``invoices``: objects with ``invoice_id``, ``due_date``, ``open_amount`` and ``currency``
    (ledger ``Invoice`` rows, the run's ``OpenInvoice``). Invoices not yet due are left out."""
    lines = []
    for invoice in sorted(invoices, key=lambda i: (i.due_date, i.invoice_id)):
        if invoice.due_date >= as_of:
            continue  # not late yet: nothing runs
        claim = claim_for(customer_type=customer_type, amount=Decimal(invoice.open_amount),
                          due_date=invoice.due_date, as_of=as_of,
                          currency=getattr(invoice, "currency", "EUR") or "EUR",
                          contract_rate=contract_rate, rates=rates, session=session)
        lines.append(InvoiceInterest(
            invoice_id=invoice.invoice_id, due_date=invoice.due_date,
            amount=Decimal(invoice.open_amount), until=as_of,
            days=(as_of - invoice.due_date).days,
            rates_percent=tuple(dict.fromkeys(p.rate_percent for p in claim.interest.periods)),
            interest=claim.interest.amount, indemnity=claim.indemnity, notes=claim.notes))
    return lines


def late_payment_claim(*, invoice_id: str, due_date: date, currency: str,
                       paid_parts: list[tuple[Decimal, date]], customer_type: str = "business",
                       contract_rate: Decimal | None = None,
                       rates: RateTable | None = None,
                       session: Session | None = None) -> InvoiceInterest | None:
    """What an invoice paid late owes: interest on each part from the day after the due date to
    the day it was paid, plus one indemnity; None when nothing was paid late (or a consumer)."""
    late_parts = [(amount, on) for amount, on in paid_parts if on > due_date and amount > 0]
    if not late_parts or customer_type == "consumer":
        return None
    interest, rates_seen, notes, days = Decimal(0), [], [], 0
    for amount, on in late_parts:
        claim = claim_for(customer_type=customer_type, amount=amount, due_date=due_date, as_of=on,
                          currency=currency, contract_rate=contract_rate, rates=rates,
                          session=session)
        interest += claim.interest.amount
        rates_seen += [p.rate_percent for p in claim.interest.periods]
        notes += [n for n in claim.notes if n not in notes]
        days = max(days, claim.interest.days)
    last_paid = max(on for _, on in late_parts)
    return InvoiceInterest(
        invoice_id=invoice_id, due_date=due_date, amount=sum((a for a, _ in late_parts), Decimal(0)),
        until=last_paid, days=days, rates_percent=tuple(dict.fromkeys(rates_seen)),
        interest=interest, indemnity=indemnity_for(currency, last_paid, session), notes=tuple(notes))
