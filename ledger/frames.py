"""Ledger frames: the ledger contract as pandas DataFrames.

This is the hand-off between the system of record (ledger/) and payer histories (features/):
features never open the database, they receive a :class:`LedgerFrames`. Frames come from a
ledger directory (:func:`load_ledger_dir`), from the database (``ledger.store.read_frames``) or
from the synthetic generator (``features.synth``).

Column contract (dates are ``datetime64[ns]``, money is ``float64`` here: frames feed features,
the exact ``Decimal`` amounts live in the database):

customers  customer_id, name, country, language, segment, email, phone, payment_terms_days,
           credit_limit, currency, dunning_scenario
invoices   invoice_id, customer_id, issue_date, due_date, amount, currency, kind
           (invoice|credit_note), settled_date (NaT while open at ``as_of``), optional true_p_late
payments   payment_id, customer_id, paid_on, amount, currency, invoice_id (NaN: unallocated)
disputes   dispute_id, invoice_id, opened_on, reason, status, resolved_on
reminders  reminder_id, invoice_id, customer_id, sent_on, channel, step
promises   promise_id, customer_id, invoice_id, created_on, promised_date, amount, status, closed_on
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

CUSTOMER_COLUMNS = [
    "customer_id", "name", "country", "language", "segment", "email", "phone",
    "payment_terms_days", "credit_limit", "currency", "dunning_scenario",
]
INVOICE_COLUMNS = [
    "invoice_id", "customer_id", "issue_date", "due_date", "amount", "currency", "kind",
    "settled_date",
]
PAYMENT_COLUMNS = ["payment_id", "customer_id", "paid_on", "amount", "currency", "invoice_id"]
DISPUTE_COLUMNS = ["dispute_id", "invoice_id", "opened_on", "reason", "status", "resolved_on"]
REMINDER_COLUMNS = ["reminder_id", "invoice_id", "customer_id", "sent_on", "channel", "step"]
PROMISE_COLUMNS = [
    "promise_id", "customer_id", "invoice_id", "created_on", "promised_date", "amount", "status",
    "closed_on",
]

DATE_COLUMNS = {
    "invoices": ["issue_date", "due_date", "settled_date"],
    "payments": ["paid_on"],
    "disputes": ["opened_on", "resolved_on"],
    "reminders": ["sent_on"],
    "promises": ["created_on", "promised_date", "closed_on"],
}

SCHEMAS = {
    "customers": CUSTOMER_COLUMNS,
    "invoices": INVOICE_COLUMNS,
    "payments": PAYMENT_COLUMNS,
    "disputes": DISPUTE_COLUMNS,
    "reminders": REMINDER_COLUMNS,
    "promises": PROMISE_COLUMNS,
}


def empty_frame(name: str) -> pd.DataFrame:
    """An empty frame with the contract's columns (dates typed as datetimes)."""
    frame = pd.DataFrame({column: pd.Series(dtype="object") for column in SCHEMAS[name]})
    for column in DATE_COLUMNS.get(name, []):
        frame[column] = pd.Series(dtype="datetime64[ns]")
    return frame


@dataclass
class LedgerFrames:
    """The whole ledger as frames, extracted at ``as_of`` (events after it are unknown)."""

    customers: pd.DataFrame
    invoices: pd.DataFrame
    payments: pd.DataFrame
    as_of: pd.Timestamp
    disputes: pd.DataFrame = field(default_factory=lambda: empty_frame("disputes"))
    reminders: pd.DataFrame = field(default_factory=lambda: empty_frame("reminders"))
    promises: pd.DataFrame = field(default_factory=lambda: empty_frame("promises"))
