"""Helpers shared by the integration tests: ledger snapshots and a FEC builder."""
from __future__ import annotations

import pytest
from sqlmodel import Session, select

from ledger.models import Customer, Invoice, Payment
from tests.conftest import _clean

HEADER = ("JournalCode|JournalLib|EcritureNum|EcritureDate|CompteNum|CompteLib|CompAuxNum|CompAuxLib|"
          "PieceRef|PieceDate|EcritureLib|Debit|Credit|EcritureLet|DateLet|ValidDate|Montantdevise|Idevise")


def fec(*lines: str, separator: str = "|", header: str = HEADER) -> str:
    """A FEC text from pipe-separated lines (written with `separator`)."""
    return "\n".join(line.replace("|", separator) for line in (header, *lines)) + "\n"


def snapshot(engine) -> dict[str, dict]:
    """The ledger facts a FEC carries: customers, invoices, payments, settled dates."""
    with Session(engine) as session:
        return {
            "customers": {c.customer_id: c.name for c in session.exec(select(Customer))},
            "invoices": {i.invoice_id: (i.customer_id, i.issue_date, i.due_date, i.amount, i.kind,
                                        i.settled_on, i.open_amount, getattr(i, "applies_to", None))
                         for i in session.exec(select(Invoice))},
            "payments": {p.payment_id: (p.customer_id, p.paid_on, p.amount, p.invoice_id)
                         for p in session.exec(select(Payment))},
        }


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
