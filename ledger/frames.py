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

from ledger.ledger_dir import REQUIRED_FILES, ledger_tables, read_table

CUSTOMER_COLUMNS = [
    "customer_id", "name", "country", "language", "segment", "email", "phone",
    "payment_terms_days", "credit_limit", "currency", "dunning_scenario", "address",
    "postal_code", "city",
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


# --- ledger directories ------------------------------------------------------------------------

LEDGER_FILES = ("customers", "invoices", "payments", "disputes", "reminders", "promises")


def load_ledger_dir(directory, *, as_of=None) -> LedgerFrames:
    """A ledger directory as typed frames, settled dates derived from allocations.

    `as_of` defaults to the latest event in the directory: what is open then is open.
    """
    tables = ledger_tables(directory)
    for name in ("reminders", "promises"):
        extra = read_table(directory, name)
        if extra is not None:
            tables[name] = extra
    frames = {name: _typed(name, table) for name, table in tables.items()}
    invoices, payments = frames["invoices"], frames["payments"]
    if as_of is None:
        candidates = [invoices["issue_date"].max(), payments["paid_on"].max()]
        as_of = max((c for c in candidates if pd.notna(c)), default=pd.Timestamp.today().normalize())
    as_of = pd.Timestamp(as_of)
    frames["invoices"] = derive_settlement(invoices, payments, as_of=as_of)
    return LedgerFrames(as_of=as_of, **frames)


def write_ledger_dir(frames: LedgerFrames, directory, *, settled: bool = False) -> None:
    """Write frames as a ledger directory (CSV). Derived settled dates are left out unless asked."""
    from pathlib import Path

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for name in LEDGER_FILES:
        frame: pd.DataFrame = getattr(frames, name)
        if name not in REQUIRED_FILES and frame.empty:
            continue
        if name == "invoices" and not settled:
            frame = frame.drop(columns=["settled_date"], errors="ignore")
        out = frame.copy()
        for column in out.columns:
            if pd.api.types.is_datetime64_any_dtype(out[column]):
                out[column] = out[column].dt.strftime("%Y-%m-%d")
        out.to_csv(directory / f"{name}.csv", index=False)


def _typed(name: str, table: pd.DataFrame) -> pd.DataFrame:
    frame = table.copy()
    for column in SCHEMAS[name]:
        if column not in frame.columns:
            frame[column] = ""
    for column in DATE_COLUMNS.get(name, []):
        frame[column] = pd.to_datetime(frame[column].replace("", None), format="ISO8601")
    for column in ("amount", "credit_limit", "true_p_late"):
        if column in frame.columns:
            frame[column] = pd.to_numeric(frame[column].replace("", None)).astype(float)
    if name == "customers":
        frame["payment_terms_days"] = pd.to_numeric(frame["payment_terms_days"].replace("", None))
        frame["language"] = frame["language"].replace("", "fr")
    if name == "invoices":
        frame["kind"] = frame["kind"].replace("", "invoice")
        frame["currency"] = frame["currency"].replace("", "EUR")
    if name == "payments":
        frame["invoice_id"] = frame["invoice_id"].replace("", None)
    return frame


def derive_settlement(invoices: pd.DataFrame, payments: pd.DataFrame, *, as_of) -> pd.DataFrame:
    """Add `settled_date` (NaT while open at `as_of`) and `open_amount` from the allocation rules.

    The same `ledger.allocation.allocate` the database uses, replayed on the events known at
    `as_of`, so a ledger directory and the database agree. Customers whose every payment names
    one of their invoices without ever paying it beyond its amount, and who have no credit note,
    never reach the rules' oldest-first pool: each payment goes to its invoice from the later of
    its date and the invoice's issue, and an invoice settles when its payments add up to its
    amount (on the last one's date). Those are computed in numpy, to the cent; every other
    customer goes through `allocate` one by one (tests check both agree).
    """
    as_of = pd.Timestamp(as_of)
    invoices = invoices.drop(columns=["settled_date", "open_amount"], errors="ignore").copy()
    known_payments = payments[payments["paid_on"] <= as_of]
    known_invoices = invoices[invoices["issue_date"] <= as_of]
    settled, open_amount, slow = _settle_direct(known_invoices, known_payments)
    rest = known_invoices[known_invoices["customer_id"].isin(slow)]
    if len(rest):
        slow_settled, slow_open = _allocate_each(
            rest, known_payments[known_payments["customer_id"].isin(slow)])
        settled = pd.concat([settled, slow_settled])
        open_amount = pd.concat([open_amount, slow_open])
    invoices["settled_date"] = pd.to_datetime(invoices["invoice_id"].map(settled))
    invoices["open_amount"] = invoices["invoice_id"].map(open_amount).astype(float)
    return invoices


def _settle_direct(invoices: pd.DataFrame,
                   payments: pd.DataFrame) -> tuple[pd.Series, pd.Series, set]:
    """(settled date, open amount) by invoice id of the customers whose payments and credit
    notes each name one of their invoices (`invoice_id`, `applies_to`) and never overpay it,
    and the set of the other customers."""
    import numpy as np

    is_credit = invoices["kind"].to_numpy(object) == "credit_note"
    bills, notes = invoices[~is_credit], invoices[is_credit]
    ids = pd.Index(bills["invoice_id"])
    if not ids.is_unique:  # an id shared by two customers: the rules sort it out per customer
        return pd.Series(dtype="datetime64[ns]"), pd.Series(dtype=float), set(invoices["customer_id"])
    cents = np.round(bills["amount"].to_numpy(float) * 100).astype(np.int64)
    customers = bills["customer_id"].to_numpy(object)
    applies = notes["applies_to"] if "applies_to" in notes else pd.Series(None, index=notes.index)
    credit_customer = np.concatenate([payments["customer_id"].to_numpy(object),
                                      notes["customer_id"].to_numpy(object)])
    named = pd.concat([payments["invoice_id"], applies], ignore_index=True)
    target = ids.get_indexer(named.where(named.notna() & (named != ""), None))
    credit_cents = np.round(np.concatenate([payments["amount"].to_numpy(float),
                                            notes["amount"].to_numpy(float)]) * 100).astype(np.int64)
    credit_on = np.concatenate([payments["paid_on"].to_numpy("datetime64[ns]"),
                                notes["issue_date"].to_numpy("datetime64[ns]")])
    found = target >= 0
    same = np.zeros(len(target), dtype=bool)
    same[found] = customers[target[found]] == credit_customer[found]
    total = np.bincount(target[same], weights=credit_cents[same], minlength=len(ids))
    slow = set(credit_customer[~same | (credit_cents <= 0)]) | set(customers[(cents <= 0)
                                                                             | (total > cents)])
    fast = ~np.isin(customers, list(slow)) if slow else np.ones(len(ids), dtype=bool)
    issue = bills["issue_date"].to_numpy("datetime64[ns]")
    on = np.maximum(credit_on[same], issue[target[same]])
    last = pd.Series(on).groupby(target[same]).max()
    when = np.full(len(ids), np.datetime64("NaT"), dtype="datetime64[ns]")
    when[last.index.to_numpy()] = last.to_numpy()
    paid_up = fast & (total == cents)
    settled = pd.Series(np.where(paid_up, when, np.datetime64("NaT")), index=ids)[fast]
    open_amount = pd.Series((cents - total) / 100.0, index=ids)[fast]
    return settled.dropna(), open_amount, slow


def _allocate_each(invoices: pd.DataFrame, payments: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """(settled date, open amount) by invoice id, by `ledger.allocation.allocate` per customer."""
    from decimal import Decimal

    from ledger.allocation import CreditLine, InvoiceLine, allocate

    settled: dict[str, pd.Timestamp] = {}
    open_amount: dict[str, float] = {}
    pay_groups = {key: group for key, group in payments.groupby("customer_id", sort=False)}
    for customer_id, group in invoices.groupby("customer_id", sort=False):
        lines, credits = [], []
        for row in group.itertuples(index=False):
            amount = Decimal(str(round(row.amount, 2)))
            if row.kind == "credit_note":
                target = getattr(row, "applies_to", None)
                credits.append(CreditLine("credit_note", row.invoice_id, row.issue_date.date(), amount,
                                          target if isinstance(target, str) and target else None))
            else:
                lines.append(InvoiceLine(row.invoice_id, row.issue_date.date(), row.due_date.date(), amount))
        paid = pay_groups.get(customer_id)
        if paid is not None:
            for row in paid.itertuples(index=False):
                credits.append(CreditLine("payment", row.payment_id, row.paid_on.date(),
                                          Decimal(str(round(row.amount, 2))),
                                          row.invoice_id if isinstance(row.invoice_id, str) else None))
        result = allocate(lines, credits)
        for invoice_id, on in result.settled_on.items():
            if on is not None:
                settled[invoice_id] = pd.Timestamp(on)
        for invoice_id, value in result.open_amount.items():
            open_amount[invoice_id] = float(value)
    return pd.Series(settled, dtype="datetime64[ns]"), pd.Series(open_amount, dtype=float)
