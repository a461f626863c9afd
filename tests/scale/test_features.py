"""The Dask path computes exactly the pandas features and labels, from every source."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from features.distributed import (
    DistributedError,
    build_features_dask,
    build_labels_dask,
    customer_bucket,
    from_frames,
    read_parquet_ledger,
    read_sql_ledger,
    write_parquet_ledger,
)
from features.labels import build_labels
from features.pipeline import build_features
from ledger.frames import derive_settlement, write_ledger_dir


def by_invoice(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values("invoice_id", ignore_index=True)


def test_features_are_identical_to_pandas(client, ledger):
    dask_ledger = from_frames(ledger, npartitions=4)
    got = build_features_dask(dask_ledger).compute()
    pd.testing.assert_frame_equal(by_invoice(got), by_invoice(build_features(ledger)))
    as_of = ledger.as_of - pd.Timedelta(days=40)
    got = build_features_dask(dask_ledger, as_of=as_of).compute()
    pd.testing.assert_frame_equal(by_invoice(got), by_invoice(build_features(ledger, as_of=as_of)))


def test_labels_are_identical_to_pandas(client, ledger):
    cutoff = ledger.as_of - pd.Timedelta(days=90)
    got = build_labels_dask(from_frames(ledger, npartitions=3), cutoff=cutoff,
                            horizon_days=15).compute()
    expected = build_labels(ledger, cutoff=cutoff, horizon_days=15)
    pd.testing.assert_frame_equal(by_invoice(got), by_invoice(expected))


def test_every_table_of_a_customer_lands_in_one_partition(client, ledger):
    dask_ledger = from_frames(ledger, npartitions=4)
    owner = ledger.invoices.set_index("invoice_id")["customer_id"]
    seen: dict[str, int] = {}
    for name, table in dask_ledger.tables.items():
        for k, part in enumerate(table.to_delayed()):
            part = part.compute()
            customers = part["customer_id"] if "_routed_only" not in part else \
                part["invoice_id"].map(owner)
            assert (customer_bucket(customers, npartitions=4) == k).all(), name
            for customer in customers.unique():
                assert seen.setdefault(customer, k) == k
    assert set(seen) >= set(ledger.invoices["customer_id"])


def test_bucket_is_stable_and_spreads_customers():
    ids = pd.Series([f"C{i:06d}" for i in range(4000)])
    buckets = customer_bucket(ids, npartitions=8)
    assert (buckets == customer_bucket(ids.to_numpy(), npartitions=8)).all()
    counts = np.bincount(buckets, minlength=8)
    assert counts.min() > 400 and counts.max() < 600


def test_parquet_ledger_round_trip(client, ledger, tmp_path):
    write_parquet_ledger(ledger, tmp_path / "ledger")
    dask_ledger = read_parquet_ledger(str(tmp_path / "ledger"), npartitions=3)
    assert dask_ledger.as_of == ledger.as_of
    for name in ("customers", "invoices", "payments", "disputes", "reminders", "promises"):
        read = dask_ledger.tables[name].compute().reset_index(drop=True)
        read = read.drop(columns=[c for c in ("customer_id", "_routed_only")
                                  if c in read and c not in getattr(ledger, name)])
        key = read.columns[0]
        pd.testing.assert_frame_equal(read.sort_values(key, ignore_index=True),
                                      getattr(ledger, name).sort_values(key, ignore_index=True),
                                      check_dtype=False)
    got = build_features_dask(dask_ledger).compute()
    pd.testing.assert_frame_equal(by_invoice(got), by_invoice(build_features(ledger)))


def test_chunked_parquet_without_settlement_replays_allocation(client, ledger, tmp_path):
    # a billing export: tables as folders of files, no derived settled dates
    write_parquet_ledger(ledger, tmp_path / "flat", settled=False)
    chunked = tmp_path / "chunked"
    chunked.mkdir()
    for file in (tmp_path / "flat").iterdir():
        frame = pd.read_parquet(file)
        (chunked / file.stem).mkdir()
        half = len(frame) // 2
        frame.iloc[:half].to_parquet(chunked / file.stem / "part-0.parquet", index=False)
        frame.iloc[half:].to_parquet(chunked / file.stem / "part-1.parquet", index=False)
    dask_ledger = read_parquet_ledger(str(chunked), npartitions=4)
    invoices = derive_settlement(ledger.invoices, ledger.payments, as_of=ledger.as_of)
    expected = build_features(type(ledger)(**{**ledger.__dict__, "invoices": invoices}))
    got = build_features_dask(dask_ledger).compute()
    pd.testing.assert_frame_equal(by_invoice(got), by_invoice(expected))


def test_a_ledger_without_invoices_is_refused(tmp_path, ledger):
    write_parquet_ledger(ledger, tmp_path / "ledger")
    (tmp_path / "ledger" / "invoices.parquet").unlink(missing_ok=True)
    with pytest.raises(DistributedError, match="invoices"):
        read_parquet_ledger(str(tmp_path / "ledger"))


def test_database_read_path_matches_pandas(client, db, ledger, tmp_path):
    from sqlmodel import Session

    from ledger.importers import import_ledger_dir
    from ledger.store import read_frames

    write_ledger_dir(ledger, tmp_path / "csv")
    with Session(db) as session:
        import_ledger_dir(session=session, directory=tmp_path / "csv", actor="test", today=dt.date.today())
        session.commit()
    with Session(db) as session:
        expected = read_frames(session=session, as_of=ledger.as_of.date())
    url = db.url.render_as_string(hide_password=False)
    dask_ledger = read_sql_ledger(url, schema=getattr(db, "url_schema", None), npartitions=3,
                                  as_of=ledger.as_of)
    assert dask_ledger.npartitions == 3
    got = build_features_dask(dask_ledger).compute()
    assert len(got) == len(expected.invoices[expected.invoices["kind"] == "invoice"])
    pd.testing.assert_frame_equal(by_invoice(got), by_invoice(build_features(expected)))
    labels = build_labels_dask(dask_ledger).compute()
    pd.testing.assert_frame_equal(by_invoice(labels), by_invoice(build_labels(expected)))
