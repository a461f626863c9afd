"""Helpers shared by the integration tests: ledger snapshots, balances and a FEC builder."""
from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

import pytest
from sqlmodel import Session, select

from ledger.tables import Allocation, Customer, Invoice, Payment
from tests.conftest import _clean

HEADER = ("JournalCode|JournalLib|EcritureNum|EcritureDate|CompteNum|CompteLib|CompAuxNum|CompAuxLib|"
          "PieceRef|PieceDate|EcritureLib|Debit|Credit|EcritureLet|DateLet|ValidDate|Montantdevise|Idevise")


def fec(*lines: str, separator: str = "|", header: str = HEADER) -> str:
    """A FEC text from pipe-separated lines (written with `separator`)."""
    return "\n".join(line.replace("|", separator) for line in (header, *lines)) + "\n"


def snapshot(engine) -> dict[str, dict]:
    """The ledger facts a FEC carries: customers, invoices, payments, allocations, credit."""
    with Session(engine) as session:
        return {
            "customers": {c.customer_id: c.name for c in session.exec(select(Customer))},
            "invoices": {i.invoice_id: (i.customer_id, i.issue_date, i.due_date, i.amount, i.kind,
                                        i.settled_on, i.open_amount, getattr(i, "applies_to", None))
                         for i in session.exec(select(Invoice))},
            "payments": {p.payment_id: (p.customer_id, p.paid_on, p.amount, p.invoice_id)
                         for p in session.exec(select(Payment))},
            "unallocated": {p.payment_id: p.unallocated_amount for p in session.exec(select(Payment))},
            "allocations": {(a.invoice_id, a.source_kind, a.source_id): (a.amount, a.allocated_on)
                            for a in session.exec(select(Allocation))},
            "credit": {c.customer_id: c.credit_balance for c in session.exec(select(Customer))},
        }


def open_balances(engine) -> dict[str, Decimal]:
    """What each customer owes per the ledger: open invoices less unused payments and credit notes."""
    balance: dict[str, Decimal] = defaultdict(lambda: Decimal("0.00"))
    with Session(engine) as session:
        for i in session.exec(select(Invoice)):
            balance[i.customer_id] += i.open_amount if i.kind != "credit_note" else -i.open_amount
        for p in session.exec(select(Payment)):
            balance[p.customer_id] -= p.unallocated_amount
    return dict(balance)


def auxiliary_balances(text: str) -> dict[str, Decimal]:
    """Σ debits − Σ credits of each 411 auxiliary account of a FEC text (the books' balance)."""
    rows = [line.split("|" if "|" in text.splitlines()[0] else "\t") for line in text.splitlines() if line]
    header, body = rows[0], rows[1:]
    at = {name: header.index(name) for name in ("CompteNum", "CompAuxNum", "Debit", "Credit")}
    balance: dict[str, Decimal] = defaultdict(lambda: Decimal("0.00"))

    def amount(value: str) -> Decimal:
        return Decimal(value.replace(" ", "").replace(",", ".") or "0")

    for row in body:
        if row[at["CompteNum"]].startswith("411"):
            balance[row[at["CompAuxNum"]]] += amount(row[at["Debit"]]) - amount(row[at["Credit"]])
    return dict(balance)


@pytest.fixture
def wipe():
    return _clean


@pytest.fixture
def loopback_webhooks(monkeypatch):
    """The documented setting that lets webhooks reach a receiver on 127.0.0.1 (tests, dev)."""
    from ledger.config import get_settings

    monkeypatch.setenv("WEBHOOKS_ALLOW_LOOPBACK", "1")
    get_settings.cache_clear()
    yield
    monkeypatch.delenv("WEBHOOKS_ALLOW_LOOPBACK")
    get_settings.cache_clear()
