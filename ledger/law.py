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

The module is split by concern: the rate tables and their coverage in ``ledger.law_rates``, penalty
interest in ``ledger.law_interest``; this module keeps payment terms and what may be claimed by
kind of debtor, and re-exports the names callers import from ``ledger.law``.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from ledger.law_interest import Penalties, PenaltyPeriod, PenaltyResult, penalties_due, penalty_interest
from ledger.law_rates import (
    CENT,
    CHECKED_PATH,
    DATA_DIR,
    DAYS_PER_YEAR,
    ECB_RATES_PATH,
    LEGAL_RATE_MULTIPLE,
    LEGAL_RATES_PATH,
    MAX_TERMS_DAYS,
    MAX_TERMS_DAYS_END_OF_MONTH,
    PUBLIC_MARGIN,
    RECOVERY_INDEMNITY,
    STATUTORY_MARGIN,
    LawError,
    LawWarning,
    RateTable,
    RateUnknownError,
    _semester_start,
    coverage_warnings,
    default_rates,
    load_rates,
)

if TYPE_CHECKING:  # the law is pure; a session only lets it read dated exchange rates
    from sqlmodel import Session

__all__ = [
    "CENT", "CHECKED_PATH", "CUSTOMER_TYPES", "DATA_DIR", "DAYS_PER_YEAR", "ECB_RATES_PATH",
    "LEGAL_RATES_PATH", "LEGAL_RATE_MULTIPLE", "MAX_TERMS_DAYS", "MAX_TERMS_DAYS_END_OF_MONTH",
    "PUBLIC_MARGIN", "RECOVERY_INDEMNITY", "STATUTORY_MARGIN",
    "Claim", "IndemnityAmount", "InvoiceInterest", "LawError", "LawWarning", "Penalties",
    "PenaltyPeriod", "PenaltyResult", "RateTable", "RateUnknownError",
    "claim_for", "coverage_warnings", "default_rates", "eur_rate", "indemnity_for", "itemise",
    "late_payment_claim", "load_rates", "penalties_due", "penalty_interest", "public_interest",
    "terms_warnings",
]


def terms_warnings(*, terms_days: int, end_of_month: bool = False) -> list[LawWarning]:
    """Warnings when payment terms exceed L441-10 I: 60 days net, or 45 days end of month."""
    if terms_days < 0:
        raise LawError(f"terms_days must not be negative, got {terms_days}")
    if end_of_month and terms_days > MAX_TERMS_DAYS_END_OF_MONTH:
        return [LawWarning(
            code="terms_above_45_days_end_of_month",
            fr=(f"Délai de paiement de {terms_days} jours fin de mois supérieur au maximum légal "
                f"de {MAX_TERMS_DAYS_END_OF_MONTH} jours fin de mois (art. L441-10 I du Code de "
                "commerce)."),
            en=(f"Payment terms of {terms_days} days end of month exceed the legal maximum of "
                f"{MAX_TERMS_DAYS_END_OF_MONTH} days end of month (French Commercial Code "
                "art. L441-10 I)."),
        )]
    if not end_of_month and terms_days > MAX_TERMS_DAYS:
        return [LawWarning(
            code="terms_above_60_days",
            fr=(f"Délai de paiement de {terms_days} jours supérieur au maximum légal de "
                f"{MAX_TERMS_DAYS} jours à compter de la date d'émission de la facture "
                "(art. L441-10 I du Code de commerce)."),
            en=(f"Payment terms of {terms_days} days exceed the legal maximum of {MAX_TERMS_DAYS} "
                "days from the invoice date (French Commercial Code art. L441-10 I)."),
        )]
    return []

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
