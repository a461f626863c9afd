"""Shared frames for the feature tests: a tiny hand-made ledger and a small synthetic one."""
from __future__ import annotations

import pandas as pd
import pytest

from features.synth import generate
from ledger.frames import LedgerFrames

D = pd.Timestamp


def tiny_ledger() -> LedgerFrames:
    """Two customers; every feature of it is computed by hand in test_pipeline.py."""
    invoices = pd.DataFrame({
        "invoice_id": ["I1", "I2", "I3", "I4", "I5"],
        "customer_id": ["A", "A", "A", "A", "B"],
        "issue_date": [D("2024-01-01"), D("2024-01-15"), D("2024-02-01"), D("2024-03-10"),
                       D("2024-01-05")],
        "due_date": [D("2024-01-31"), D("2024-02-14"), D("2024-03-02"), D("2024-04-09"),
                     D("2024-02-04")],
        "amount": [100.0, 300.0, 200.0, 50.0, 1000.0],
        "currency": "EUR",
        "kind": "invoice",
        # I1 10 days late, I2 4 days early, I3 open, I4 on the day, I5 31 days late
        "settled_date": [D("2024-02-10"), D("2024-02-10"), pd.NaT, D("2024-04-09"),
                         D("2024-03-06")],
    })
    payments = pd.DataFrame({
        "payment_id": ["P1", "P2", "P3", "P4"],
        "customer_id": ["A", "A", "B", "A"],
        "paid_on": [D("2024-02-10"), D("2024-02-10"), D("2024-03-06"), D("2024-04-09")],
        "amount": [100.0, 300.0, 1000.0, 50.0],
        "currency": "EUR",
        "invoice_id": ["I1", "I2", "I5", "I4"],
    })
    disputes = pd.DataFrame({
        "dispute_id": ["D1"], "invoice_id": ["I1"], "opened_on": [D("2024-02-01")],
        "reason": ["pricing"], "status": ["resolved_rejected"], "resolved_on": [D("2024-02-08")],
    })
    reminders = pd.DataFrame({
        "reminder_id": ["R1", "R2"], "invoice_id": ["I1", "I3"], "customer_id": ["A", "A"],
        "sent_on": [D("2024-02-07"), D("2024-03-09")], "channel": "email", "step": [1, 1],
    })
    promises = pd.DataFrame({
        "promise_id": ["PR1"], "customer_id": ["A"], "invoice_id": ["I3"],
        "created_on": [D("2024-03-10")], "promised_date": [D("2024-03-20")], "amount": [200.0],
        "status": ["broken"], "closed_on": [D("2024-03-21")],
    })
    customers = pd.DataFrame({"customer_id": ["A", "B"], "name": ["Alpha", "Beta"],
                              "country": ["FR", "BE"], "language": ["fr", "fr"]})
    return LedgerFrames(customers=customers, invoices=invoices, payments=payments,
                        as_of=D("2024-04-30"), disputes=disputes, reminders=reminders,
                        promises=promises)


@pytest.fixture
def tiny() -> LedgerFrames:
    return tiny_ledger()


@pytest.fixture(scope="session")
def synthetic() -> LedgerFrames:
    return generate(customers=300, months=18, seed=7)
