"""A ledger directory read as string frames: `customers`, `invoices`, `payments` (required),
`disputes`, `reminders`, `promises` as CSV or Parquet, or the public IBM "Accounts Receivable"
sample adapted to that contract. `ledger.frames` types these frames for the features;
`ledger.importers` validates them into an ingestion batch."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ledger.errors import LedgerError

REQUIRED_FILES = ("customers", "invoices", "payments")
INGESTED_FILES = ("customers", "invoices", "payments", "disputes")
IBM_FILE = "WA_Fn-UseC_-Accounts-Receivable.csv"


def read_table(directory, name: str) -> pd.DataFrame | None:
    """One file of a ledger directory as strings (ids keep their leading zeros), or None."""

    directory = Path(directory)
    for suffix in (".csv", ".parquet"):
        path = directory / f"{name}{suffix}"
        if path.exists():
            if suffix == ".csv":
                return _read_csv_strings(path)
            return pd.read_parquet(path).astype(str).replace({"None": "", "nan": "", "NaT": ""})
    return None


def _read_csv_strings(path) -> pd.DataFrame:
    """Every column as text, an empty field as "" (pyarrow's reader: several times faster than
    pandas' own on large files; ids keep their leading zeros)."""
    table = read_csv_arrow(path)
    if table is None:
        return pd.DataFrame()
    return pd.DataFrame({name: text_column(table.column(name)) for name in table.column_names})


def read_csv_arrow(path):
    """A CSV file as a pyarrow Table of strings (an empty field as ""), None without a header."""
    import csv

    import pyarrow as pa
    import pyarrow.csv as pacsv

    with open(path, newline="", encoding="utf-8-sig") as handle:
        header = next(csv.reader(handle), [])
    if not header:
        return None
    return pacsv.read_csv(path, parse_options=pacsv.ParseOptions(newlines_in_values=True),
                          convert_options=pacsv.ConvertOptions(
        column_types={name: pa.string() for name in header}, strings_can_be_null=False))


def text_column(column):
    """A pyarrow string column as a numpy array of Python strings (object). A column of few
    distinct values (codes, customer ids) is converted through its dictionary: one Python string
    per distinct value, shared by its rows, instead of one per row."""
    import pyarrow.compute as pc

    # a sample decides: ids (all distinct) are not worth hashing
    if len(column) >= 10_000 and pc.count_distinct(column.slice(0, 2_000)).as_py() <= 500:
        encoded = pc.dictionary_encode(column.combine_chunks() if column.num_chunks != 1 else column.chunk(0))
        if len(encoded.dictionary) <= len(column) // 4 and encoded.null_count == 0:
            words = encoded.dictionary.to_numpy(zero_copy_only=False).astype(object, copy=False)
            return words[encoded.indices.to_numpy(zero_copy_only=False)]
    return column.to_numpy(zero_copy_only=False).astype(object, copy=False)


def is_ibm_dir(directory: Path) -> bool:
    return (directory / IBM_FILE).exists() and not (directory / "customers.csv").exists()


def ledger_tables(directory: str | Path) -> dict[str, pd.DataFrame]:
    """The tables of a ledger directory (or of the IBM sample, adapted) as string frames."""
    directory = Path(directory)
    if not directory.is_dir():
        raise LedgerError(f"{directory}: not a directory")
    if is_ibm_dir(directory):
        return ibm_tables(directory / IBM_FILE)
    tables = {name: read_table(directory, name) for name in INGESTED_FILES}
    missing = [name for name in REQUIRED_FILES if tables[name] is None]
    if missing:
        raise LedgerError(f"{directory}: missing {', '.join(name + '.csv' for name in missing)}")
    return {name: table for name, table in tables.items() if table is not None}


def ibm_tables(path: str | Path) -> dict[str, pd.DataFrame]:
    """The IBM "Accounts Receivable" sample, adapted to the ledger contract.

    - one customer per customerID; its countryCode (not ISO) becomes the segment `country-391`;
    - one invoice per invoiceNumber (read as a string: leading zeros matter), amount in EUR;
    - one payment per invoice, on SettledDate, naming the invoice;
    - Disputed=Yes becomes a dispute opened halfway between issue and settlement and resolved on
      settlement: it is not an issue-time fact, so it must only be known from its own date on.
    DaysToSettle and DaysLate are dropped: they are the label in disguise.
    """
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    dates = {c: pd.to_datetime(raw[c], format="%m/%d/%Y") for c in ("InvoiceDate", "DueDate", "SettledDate")}
    iso = {c: dates[c].dt.strftime("%Y-%m-%d") for c in dates}
    customers = (raw.groupby("customerID", sort=True)["countryCode"].first().reset_index()
                 .rename(columns={"customerID": "customer_id"}))
    customers = pd.DataFrame({
        "customer_id": customers["customer_id"], "name": "Client " + customers["customer_id"],
        "segment": "country-" + customers["countryCode"], "language": "en",
        "payment_terms_days": "30", "currency": "EUR"})
    invoices = pd.DataFrame({
        "invoice_id": raw["invoiceNumber"], "customer_id": raw["customerID"],
        "issue_date": iso["InvoiceDate"], "due_date": iso["DueDate"],
        "amount": raw["InvoiceAmount"], "currency": "EUR", "kind": "invoice"})
    payments = pd.DataFrame({
        "payment_id": "PAY-" + raw["invoiceNumber"], "customer_id": raw["customerID"],
        "paid_on": iso["SettledDate"], "amount": raw["InvoiceAmount"], "currency": "EUR",
        "invoice_id": raw["invoiceNumber"]})
    disputed = raw["Disputed"].str.lower() == "yes"
    opened = dates["InvoiceDate"] + (dates["SettledDate"] - dates["InvoiceDate"]) / 2
    disputes = pd.DataFrame({
        "dispute_id": "DSP-" + raw.loc[disputed, "invoiceNumber"],
        "invoice_id": raw.loc[disputed, "invoiceNumber"],
        "opened_on": opened[disputed].dt.strftime("%Y-%m-%d"), "reason": "other",
        "status": "resolved_rejected", "resolved_on": iso["SettledDate"][disputed]})
    return {"customers": customers, "invoices": invoices, "payments": payments, "disputes": disputes}
