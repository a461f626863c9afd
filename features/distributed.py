"""The feature pipeline on Dask: the same functions, one partition of customers at a time.

:func:`features.pipeline.build_features` and :func:`features.labels.build_labels` only ever relate
rows of one customer to each other, so a ledger split by customer is a ledger too: partition k
holds every table's rows of the customers whose hash falls in bucket k, and each partition goes
through the pandas functions unchanged (``map_partitions``). There is no second implementation of
any feature: concatenating the partitions' outputs gives exactly the pandas result (row order
aside).

Every table is routed by the same bucket function of ``customer_id`` (tables without a customer,
such as disputes, take the customer of their invoice), then shuffled with ``set_index`` on fixed
divisions ``0 … n-1`` so that partition k is bucket k in every table. Memory per worker is bounded
by a partition's size, not by the ledger's.

Sources: a Parquet ledger directory (``invoices.parquet`` or ``invoices/`` of files, on local or
shared storage: any fsspec URL Dask reads), a pandas :class:`LedgerFrames`, or the database
(PostgreSQL or SQLite), read per customer bucket with :func:`ledger.store.read_frames`, so the
typing of the frames is exactly that of the pandas path.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd

from features.labels import LABEL_COLUMNS, build_labels
from features.pipeline import build_features
from features.registry import FEATURE_COLUMNS
from ledger.frames import DATE_COLUMNS, LEDGER_FILES, LedgerFrames, derive_settlement, empty_frame

__all__ = ["DaskLedger", "DistributedError", "build_features_dask", "build_labels_dask",
           "customer_bucket", "from_frames", "map_ledger", "read_parquet_ledger",
           "read_sql_ledger", "write_parquet_ledger"]

BUCKET = "_bucket"
# customers per database read: an IN list stays far below PostgreSQL's 65,535 parameters
SQL_CUSTOMERS_PER_PART = 20_000
SQL_TABLES = ("customers", "invoices", "payments", "disputes", "reminders", "promises")


class DistributedError(ValueError):
    """The ledger cannot be partitioned or read for the distributed path."""


@dataclass
class DaskLedger:
    """The ledger as Dask frames whose partition k holds, in every table, the customers of bucket k."""

    tables: dict[str, dd.DataFrame]
    as_of: pd.Timestamp
    npartitions: int

    def persist(self) -> DaskLedger:
        """Keep the partitioned tables in the cluster's memory (several passes read them)."""
        persisted = dask.persist(*self.tables.values())
        return DaskLedger(dict(zip(self.tables, persisted)), self.as_of, self.npartitions)


# ------------------------------------------------------------------------------- routing


def customer_bucket(customer_ids: pd.Series | np.ndarray, *, npartitions: int) -> np.ndarray:
    """The bucket (0 … npartitions-1) of each customer id: stable across processes and runs."""
    values = pd.Series(np.asarray(customer_ids, dtype=object)).astype(str).to_numpy(object)
    hashes = pd.util.hash_array(values, categorize=False)  # SipHash with a fixed key
    return (hashes % np.uint64(npartitions)).astype(np.int64)


def _with_bucket(frame: pd.DataFrame, npartitions: int) -> pd.DataFrame:
    return frame.assign(**{BUCKET: customer_bucket(frame["customer_id"].fillna(""),
                                                   npartitions=npartitions)})


def _route(table: dd.DataFrame, npartitions: int) -> dd.DataFrame:
    # divisions 0, 1, …, n-1, n-1: partition k holds exactly bucket k (the last one is closed)
    divisions = (*range(npartitions), npartitions - 1)
    routed = table.map_partitions(_with_bucket, npartitions,
                                  meta=_with_bucket(table._meta, npartitions))
    return routed.set_index(BUCKET, divisions=divisions, sort=True)


def partition_by_customer(tables: Mapping[str, dd.DataFrame], *, as_of: pd.Timestamp,
                          npartitions: int) -> DaskLedger:
    """Shuffle every table on its customer's bucket (disputes etc. via their invoice)."""
    if npartitions < 1:
        raise DistributedError(f"npartitions must be >= 1, got {npartitions}")
    if "invoices" not in tables or "customers" not in tables:
        raise DistributedError("a ledger needs at least customers and invoices")
    owners = tables["invoices"][["invoice_id", "customer_id"]].rename(
        columns={"customer_id": "_owner"})
    routed = {}
    for name, table in tables.items():
        if "customer_id" not in table.columns:
            if "invoice_id" not in table.columns:
                raise DistributedError(f"{name} has neither customer_id nor invoice_id")
            # the customer only routes the row: the partition gets the table's own columns back
            table = table.merge(owners, on="invoice_id", how="inner").rename(
                columns={"_owner": "customer_id"})
            table = table.assign(_routed_only=True)
        routed[name] = _route(table, npartitions)
    return DaskLedger(routed, pd.Timestamp(as_of), npartitions)


def _partition_frames(as_of: pd.Timestamp, names: tuple[str, ...],
                      *parts: pd.DataFrame) -> LedgerFrames:
    tables = {}
    for name, part in zip(names, parts):
        part = part.reset_index(drop=True)
        if "_routed_only" in part.columns:
            part = part.drop(columns=["customer_id", "_routed_only"])
        tables[name] = part
    for name in LEDGER_FILES:
        tables.setdefault(name, empty_frame(name))
    invoices = tables["invoices"]
    if "settled_date" not in invoices.columns:
        # a ledger exported without derived dates: replay the allocation, customer by customer
        invoices = derive_settlement(invoices, tables["payments"], as_of=as_of)
    tables["invoices"] = invoices
    return LedgerFrames(as_of=as_of, **tables)


def map_ledger(ledger: DaskLedger, func: Callable[[LedgerFrames], pd.DataFrame], *,
               meta: pd.DataFrame) -> dd.DataFrame:
    """``func`` applied to each partition's :class:`LedgerFrames` (its customers, all tables)."""
    names = tuple(ledger.tables)

    def run(*parts: pd.DataFrame) -> pd.DataFrame:
        frames = _partition_frames(ledger.as_of, names, *parts)
        if len(frames.invoices) == 0:
            return meta.iloc[:0]
        return func(frames).reset_index(drop=True)

    return dd.map_partitions(run, *ledger.tables.values(), meta=meta, align_dataframes=False,
                             enforce_metadata=False)


# ------------------------------------------------------------------------------- features


def features_meta() -> pd.DataFrame:
    frame = pd.DataFrame({name: pd.Series(dtype=float) for name in FEATURE_COLUMNS})
    frame.insert(0, "scored_at", pd.Series(dtype="datetime64[ns]"))
    frame.insert(0, "customer_id", pd.Series(dtype=object))
    frame.insert(0, "invoice_id", pd.Series(dtype=object))
    return frame


def labels_meta() -> pd.DataFrame:
    dtypes = {"invoice_id": object, "customer_id": object, "issue_date": "datetime64[ns]",
              "due_date": "datetime64[ns]", "days_late": float, "late": "Int8",
              "severe": "Int8", "censored": bool}
    return pd.DataFrame({name: pd.Series(dtype=dtypes[name]) for name in LABEL_COLUMNS})


def build_features_dask(ledger: DaskLedger, *, as_of: pd.Timestamp | None = None
                        ) -> dd.DataFrame:
    """:func:`features.pipeline.build_features` on every partition (same rows, any order)."""
    as_of = None if as_of is None else pd.Timestamp(as_of)
    return map_ledger(ledger, lambda frames: build_features(frames, as_of=as_of),
                      meta=features_meta())


def build_labels_dask(ledger: DaskLedger, *, cutoff: pd.Timestamp | None = None,
                      horizon_days: int = 0) -> dd.DataFrame:
    """:func:`features.labels.build_labels` on every partition (same rows, any order)."""
    cutoff = pd.Timestamp(ledger.as_of if cutoff is None else cutoff)
    return map_ledger(ledger, lambda frames: build_labels(frames, cutoff=cutoff,
                                                          horizon_days=horizon_days),
                      meta=labels_meta())


# -------------------------------------------------------------------------------- sources


def from_frames(frames: LedgerFrames, *, npartitions: int = 8) -> DaskLedger:
    """A pandas ledger, partitioned by customer (tests and small ledgers)."""
    tables = {name: dd.from_pandas(getattr(frames, name), npartitions=max(1, npartitions // 2),
                                   sort=False)
              for name in LEDGER_FILES if len(getattr(frames, name)) or name in
              ("customers", "invoices", "payments")}
    return partition_by_customer(tables, as_of=frames.as_of, npartitions=npartitions)


def write_parquet_ledger(frames: LedgerFrames, directory: str | Path, *,
                         settled: bool = True) -> Path:
    """Write frames as a Parquet ledger directory (``<table>.parquet``), typed columns kept.

    ``settled=True`` keeps the derived ``settled_date`` so readers need not replay allocations.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for name in LEDGER_FILES:
        frame = getattr(frames, name)
        if name not in ("customers", "invoices", "payments") and frame.empty:
            continue
        if name == "invoices" and not settled:
            frame = frame.drop(columns=["settled_date", "open_amount"], errors="ignore")
        frame.to_parquet(directory / f"{name}.parquet", index=False)
    return directory


def read_parquet_ledger(directory: str, *, npartitions: int = 8,
                        as_of: pd.Timestamp | str | None = None,
                        storage_options: dict | None = None) -> DaskLedger:
    """A Parquet ledger directory (local path or any fsspec URL: s3://, gs://, abfs://…).

    Each table is ``<table>.parquet`` or a folder ``<table>/`` of Parquet files (written chunk by
    chunk). ``as_of`` defaults, as for :func:`ledger.frames.load_ledger_dir`, to the latest
    issue or payment date.
    """
    import fsspec

    fs, root = fsspec.core.url_to_fs(str(directory), **(storage_options or {}))
    tables = {}
    for name in LEDGER_FILES:
        for candidate in (f"{root}/{name}.parquet", f"{root}/{name}"):
            if fs.exists(candidate):
                path = candidate if "://" not in str(directory) else \
                    str(directory).rstrip("/") + candidate[len(root):]
                table = dd.read_parquet(path, storage_options=storage_options)
                tables[name] = table.map_partitions(_typed, name,
                                                    meta=_typed(table._meta, name))
                break
    missing = [name for name in ("customers", "invoices", "payments") if name not in tables]
    if missing:
        raise DistributedError(f"{directory}: missing {', '.join(missing)} (.parquet)")
    if as_of is None:
        issued, paid = dask.compute(tables["invoices"]["issue_date"].max(),
                                    tables["payments"]["paid_on"].max())
        as_of = max((v for v in (issued, paid) if pd.notna(v)),
                    default=pd.Timestamp.today().normalize())
    return partition_by_customer(tables, as_of=pd.Timestamp(as_of), npartitions=npartitions)


def _typed(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    """Parquet columns as the frame contract types them: object ids, ns dates, float money."""
    frame = frame.copy()
    for column in frame.columns:
        if column in DATE_COLUMNS.get(name, []):
            frame[column] = pd.to_datetime(frame[column]).astype("datetime64[ns]")
        elif isinstance(frame[column].dtype, pd.StringDtype) or frame[column].dtype == object:
            frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    for column in ("amount", "credit_limit", "true_p_late", "open_amount"):
        if column in frame.columns:
            frame[column] = frame[column].astype(float)
    return frame


def read_sql_ledger(url: str, *, schema: str | None = None, npartitions: int = 8,
                    as_of: pd.Timestamp | str | None = None) -> DaskLedger:
    """The database ledger (PostgreSQL or SQLite), one read per customer bucket.

    Customer ids are listed once; each partition then reads its customers' rows with
    :func:`ledger.store.read_frames` on the worker, so no shuffle is needed and the frames are
    typed exactly as on the pandas path. ``as_of`` defaults to today, as there.
    """
    import sqlalchemy as sa

    from ledger.db import make_engine

    engine = make_engine(url, schema=schema)
    with engine.connect() as connection:
        ids = pd.Series(connection.execute(sa.text("SELECT customer_id FROM customer"))
                        .scalars().all(), dtype=object)
    engine.dispose()
    as_of = pd.Timestamp(as_of or pd.Timestamp.today().normalize())
    n = max(npartitions, -(-len(ids) // SQL_CUSTOMERS_PER_PART))
    buckets = customer_bucket(ids, npartitions=n)
    groups = [ids[buckets == k].tolist() for k in range(n)]
    parts = [dask.delayed(_read_bucket)(url, schema, customer_ids, as_of) for customer_ids in groups]
    meta = _read_bucket(url, schema, [], as_of)
    tables = {name: dd.from_delayed([dask.delayed(getattr)(part, name) for part in parts],
                                    meta=getattr(meta, name), verify_meta=False)
              for name in SQL_TABLES}
    return DaskLedger(tables, as_of, n)


def _read_bucket(url: str, schema: str | None, customer_ids: list[str],
                 as_of: pd.Timestamp) -> LedgerFrames:
    from sqlmodel import Session

    from ledger.db import make_engine
    from ledger.store import read_frames

    engine = make_engine(url, schema=schema)
    try:
        with Session(engine) as session:
            # an empty bucket still reads (no rows) so every partition has the same columns
            frames = read_frames(session=session, as_of=as_of.date(),
                                 customer_ids=customer_ids or ["-relance-no-customer-"])
    finally:
        engine.dispose()
    return frames
