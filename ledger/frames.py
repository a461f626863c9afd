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

import numpy as np
import pandas as pd

from ledger.ledger_dir import REQUIRED_FILES, is_ibm_dir, ledger_tables, read_csv_arrow, read_table, text_column

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
    frames = _read_frames(directory)
    invoices, payments = frames["invoices"], frames["payments"]
    if as_of is None:
        candidates = [invoices["issue_date"].max(), payments["paid_on"].max()]
        as_of = max((c for c in candidates if pd.notna(c)), default=pd.Timestamp.today().normalize())
    as_of = pd.Timestamp(as_of)
    frames["invoices"] = derive_settlement(invoices, payments, as_of=as_of)
    return LedgerFrames(as_of=as_of, **frames)


NUMBER_COLUMNS = ("amount", "credit_limit", "true_p_late")


def _read_frames(directory) -> dict[str, pd.DataFrame]:
    """The directory's tables, typed. CSV files are typed as pyarrow reads them (dates and
    amounts cast in pyarrow, `_arrow_frame`); Parquet files, the IBM sample, a missing file go
    through `ledger_tables` / `read_table` (their errors) and pandas."""
    from pathlib import Path

    path = Path(directory)
    names = [name for name in LEDGER_FILES if path.is_dir() and (path / f"{name}.csv").exists()]
    if not path.is_dir() or is_ibm_dir(path) or any(name not in names for name in REQUIRED_FILES):
        return _read_frames_by_pandas(directory)
    frames = {}
    for name in LEDGER_FILES:
        if name in names:
            table = read_csv_arrow(path / f"{name}.csv")
            frames[name] = _typed(name, pd.DataFrame() if table is None else _arrow_frame(name, table))
        else:
            extra = read_table(directory, name)
            if extra is not None:
                frames[name] = _typed(name, extra)
    return frames


def _read_frames_by_pandas(directory) -> dict[str, pd.DataFrame]:
    """The directory's tables read by pandas (`ledger_tables`, `read_table`), typed: the path of
    Parquet files, the IBM sample and incomplete directories, and the reference the pyarrow path
    is tested against."""
    tables = ledger_tables(directory)
    for name in ("reminders", "promises"):
        extra = read_table(directory, name)
        if extra is not None:
            tables[name] = extra
    return {name: _typed(name, table) for name, table in tables.items()}


def _arrow_frame(name: str, table) -> pd.DataFrame:
    """A pyarrow table of strings as a frame: date and number columns cast by pyarrow when
    every value is plain (YYYY-MM-DD dates, numbers pyarrow parses), the rest as text; a column
    pyarrow does not cast is left as text for `_typed` (pandas' parsing and errors)."""
    columns = {}
    for column in table.column_names:
        values = table.column(column)
        typed = None
        if column in DATE_COLUMNS.get(name, ()):
            typed = _arrow_dates(values)
        elif column in NUMBER_COLUMNS:
            typed = _arrow_numbers(values)
        columns[column] = text_column(values) if typed is None else typed
    return pd.DataFrame(columns, copy=False)


def _arrow_blanked(values):
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()), values)


def _arrow_dates(values):
    """datetime64[ns] (NaT for ""), or None unless every value is a valid YYYY-MM-DD date."""
    import pyarrow as pa
    import pyarrow.compute as pc

    blanked = _arrow_blanked(values)
    lengths = pc.utf8_length(blanked.drop_null())  # YYYY-MM-DD; the cast checks the rest
    if len(lengths) and (pc.min(lengths).as_py() != 10 or pc.max(lengths).as_py() != 10):
        return None
    try:
        dates = pc.cast(pc.cast(blanked, pa.date32()), pa.timestamp("ns"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    return dates.to_numpy(zero_copy_only=False).astype("datetime64[ns]", copy=False)


def _arrow_numbers(values):
    """float64 (NaN for ""), or None when pyarrow does not parse every value as a number."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        numbers = pc.cast(_arrow_blanked(values), pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    return numbers.to_numpy(zero_copy_only=False).astype(float, copy=False)


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
    frame = table.copy(deep=False)  # columns are replaced, never written in place
    for column in SCHEMAS[name]:
        if column not in frame.columns:
            frame[column] = ""
    for column in DATE_COLUMNS.get(name, []):
        if frame[column].dtype != "datetime64[ns]":
            frame[column] = pd.to_datetime(frame[column].replace("", None), format="ISO8601")
    for column in NUMBER_COLUMNS:
        if column in frame.columns and frame[column].dtype != float:
            frame[column] = pd.to_numeric(frame[column].replace("", None)).astype(float)
    if name == "customers":
        frame["payment_terms_days"] = pd.to_numeric(frame["payment_terms_days"].replace("", None))
        _blank_as(frame, "language", "fr")
    if name == "invoices":
        _blank_as(frame, "kind", "invoice")
        _blank_as(frame, "currency", "EUR")
    if name == "payments":
        _blank_as(frame, "invoice_id", None)
    return frame


def _blank_as(frame: pd.DataFrame, column: str, value) -> None:
    """`column`'s "" replaced by `value` (a scan, and a copy only when a blank is there)."""
    if (frame[column].to_numpy(object) == "").any():
        frame[column] = frame[column].replace("", value)


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
    import numpy as np

    as_of = pd.Timestamp(as_of)
    # a new frame (columns are only added to it, never written in place: no deep copy needed)
    invoices = invoices.drop(columns=["settled_date", "open_amount"], errors="ignore")
    known_payments = payments[payments["paid_on"] <= as_of]
    known = (invoices["issue_date"] <= as_of).to_numpy()
    known_invoices = invoices[known]
    settled, open_amount, slow = _settle_direct(known_invoices, known_payments)
    rest = known_invoices["customer_id"].isin(slow).to_numpy() if slow else np.zeros(len(known_invoices), bool)
    if rest.any():
        slow_settled, slow_open = _allocate_each(
            known_invoices[rest], known_payments[known_payments["customer_id"].isin(slow)])
    else:
        slow_settled, slow_open = pd.Series(dtype="datetime64[ns]"), pd.Series(dtype=float)
    ids = invoices["invoice_id"]
    if not pd.Index(ids).is_unique:  # results are by id: every row of an id gets its values
        by_id_settled = pd.concat([pd.Series(settled, index=known_invoices["invoice_id"]).dropna(),
                                   slow_settled])
        by_id_open = pd.concat([pd.Series(open_amount, index=known_invoices["invoice_id"]).dropna(),
                                slow_open])
        invoices["settled_date"] = pd.to_datetime(ids.map(by_id_settled))
        invoices["open_amount"] = ids.map(by_id_open).astype(float)
        return invoices
    # unique ids: the direct path's values are positional; the rules' go to their customers' rows
    if len(slow_settled) or len(slow_open):
        slow_ids = pd.Index(known_invoices["invoice_id"].to_numpy()[rest])
        where = np.flatnonzero(rest)
        at = slow_settled.index.get_indexer(slow_ids) if len(slow_settled) else np.full(len(where), -1)
        settled[where] = np.where(at >= 0, slow_settled.to_numpy("datetime64[ns]")[at], np.datetime64("NaT"))
        at = slow_open.index.get_indexer(slow_ids) if len(slow_open) else np.full(len(where), -1)
        open_amount[where] = np.where(at >= 0, slow_open.to_numpy(float)[at], np.nan)
    all_settled = np.full(len(invoices), np.datetime64("NaT"), dtype="datetime64[ns]")
    all_open = np.full(len(invoices), np.nan)
    all_settled[known], all_open[known] = settled, open_amount
    invoices["settled_date"] = all_settled
    invoices["open_amount"] = all_open
    return invoices


def _settle_direct(invoices: pd.DataFrame,
                   payments: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, set]:
    """(settled date, open amount), aligned with `invoices`' rows, for the invoices of the
    customers whose payments and credit notes each name one of their invoices (`invoice_id`,
    `applies_to`) and never overpay it (NaT / NaN elsewhere: credit notes, other customers), and
    the set of the other customers."""
    import numpy as np

    n = len(invoices)
    settled = np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")
    open_amount = np.full(n, np.nan)
    is_credit = invoices["kind"].to_numpy(object) == "credit_note"
    bills, notes = invoices[~is_credit], invoices[is_credit]
    ids = pd.Index(bills["invoice_id"])
    if not ids.is_unique:  # an id shared by two customers: the rules sort it out per customer
        return settled, open_amount, set(invoices["customer_id"])
    cents = np.round(bills["amount"].to_numpy(float) * 100).astype(np.int64)
    applies = notes["applies_to"] if "applies_to" in notes else pd.Series(None, index=notes.index)
    # customers as integer codes, bills' and credits' alike
    codes, customer_ids = pd.factorize(np.concatenate([bills["customer_id"].to_numpy(object),
                                                       payments["customer_id"].to_numpy(object),
                                                       notes["customer_id"].to_numpy(object)]))
    customers, credit_customer = codes[:len(bills)], codes[len(bills):]
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
    is_slow = np.zeros(len(customer_ids), dtype=bool)
    is_slow[credit_customer[~same | (credit_cents <= 0)]] = True
    is_slow[customers[(cents <= 0) | (total > cents)]] = True
    fast = ~is_slow[customers]
    issue = bills["issue_date"].to_numpy("datetime64[ns]")
    on = np.maximum(credit_on[same], issue[target[same]]).view(np.int64)
    last = np.full(len(ids), np.iinfo(np.int64).min, dtype=np.int64)
    np.maximum.at(last, target[same], on)
    when = np.where(last == np.iinfo(np.int64).min, np.datetime64("NaT"), last.view("datetime64[ns]"))
    paid_up = fast & (total == cents)
    rows = np.flatnonzero(~is_credit)
    settled[rows[paid_up]] = when[paid_up]
    open_amount[rows[fast]] = ((cents - total) / 100.0)[fast]
    return settled, open_amount, set(customer_ids[is_slow])


def _allocate_each(invoices: pd.DataFrame, payments: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """(settled date, open amount) by invoice id, by `ledger.allocation.allocate` per customer
    (customers in order of first appearance, each one's rows in frame order)."""
    from decimal import Decimal

    from ledger.allocation import CreditLine, InvoiceLine, allocate

    def _dates(frame: pd.DataFrame, column: str) -> list:
        return list(frame[column].to_numpy("datetime64[D]").astype(object))  # datetime.date

    def _groups(frame: pd.DataFrame) -> dict[str, list[int]]:
        codes, keys = pd.factorize(frame["customer_id"].to_numpy(object))
        order = np.argsort(codes, kind="stable")
        cuts = np.flatnonzero(np.diff(codes[order])) + 1
        return {keys[codes[rows[0]]]: rows.tolist() for rows in np.split(order, cuts)
                if len(rows) and codes[rows[0]] >= 0}

    ids, kinds, amounts = (invoices[c].tolist() for c in ("invoice_id", "kind", "amount"))
    issued, due = _dates(invoices, "issue_date"), _dates(invoices, "due_date")
    applies = invoices["applies_to"].tolist() if "applies_to" in invoices else [None] * len(invoices)
    pay_ids, pay_amounts, pay_named = (payments[c].tolist() for c in ("payment_id", "amount", "invoice_id"))
    paid_on = _dates(payments, "paid_on")
    pay_groups = _groups(payments)

    settled: dict[str, pd.Timestamp] = {}
    open_amount: dict[str, float] = {}
    for customer_id, rows in _groups(invoices).items():
        lines, credits = [], []
        for i in rows:
            amount = Decimal(str(round(amounts[i], 2)))
            if kinds[i] == "credit_note":
                target = applies[i]
                credits.append(CreditLine("credit_note", ids[i], issued[i], amount,
                                          target if isinstance(target, str) and target else None))
            else:
                lines.append(InvoiceLine(ids[i], issued[i], due[i], amount))
        for j in pay_groups.get(customer_id, ()):
            named = pay_named[j]
            credits.append(CreditLine("payment", pay_ids[j], paid_on[j], Decimal(str(round(pay_amounts[j], 2))),
                                      named if isinstance(named, str) else None))
        result = allocate(lines, credits)
        for invoice_id, on in result.settled_on.items():
            if on is not None:
                settled[invoice_id] = pd.Timestamp(on)
        for invoice_id, value in result.open_amount.items():
            open_amount[invoice_id] = float(value)
    return pd.Series(settled, dtype="datetime64[ns]"), pd.Series(open_amount, dtype=float)
