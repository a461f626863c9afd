"""The Dask engine of `relance train --engine dask [--scheduler ADDRESS]`, and `relance cluster`.

`--scheduler tcp://host:8786` (or a Coiled / Kubernetes Dask scheduler address) connects to an
existing cluster; without it a LocalCluster is started on this machine for the run. The ledger
comes from `--ledger` (a Parquet ledger directory or URL on storage the workers can read, e.g.
s3://bucket/ledger; a CSV directory is read here and then partitioned) or from the database
(DATABASE_URL), read by the workers one customer bucket at a time.
"""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from ledger.config import get_settings

console = Console()

WORDS: dict[str, dict[str, str]] = {
    "local": {"fr": "Cluster Dask local : {workers} workers", "en": "Local Dask cluster: {workers} workers"},
    "remote": {"fr": "Connecté au scheduler Dask {address}", "en": "Connected to the Dask scheduler {address}"},
    "workers": {"fr": "Workers du cluster", "en": "Cluster workers"},
}


def _w(key: str, **values: object) -> str:
    words = WORDS[key]
    return (words.get(get_settings().language) or words["fr"]).format(**values)


@contextmanager
def dask_client(scheduler: str | None, *, workers: int | None = None, quiet: bool = False):
    """A distributed Client on ``scheduler``, or on a LocalCluster started for the block."""
    from distributed import Client, LocalCluster

    if scheduler:
        with Client(scheduler) as client:
            if not quiet:
                console.print(_w("remote", address=scheduler), style="dim")
            yield client
        return
    with LocalCluster(n_workers=workers, threads_per_worker=1, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        if not quiet:
            console.print(_w("local", workers=len(cluster.workers)), style="dim")
        yield client


def read_ledger(ledger: str | Path | None, *, partitions: int):
    """The ledger as a :class:`features.distributed.DaskLedger` (Parquet, CSV dir or database)."""
    from features.distributed import from_frames, read_parquet_ledger, read_sql_ledger

    if ledger is None:
        settings = get_settings()
        return read_sql_ledger(settings.database_url, npartitions=partitions)
    text = str(ledger)
    local = Path(text)
    if "://" not in text and local.is_dir() and not any(local.glob("invoices*.parquet")) \
            and not (local / "invoices").is_dir():
        from ledger.frames import load_ledger_dir

        return from_frames(load_ledger_dir(local), npartitions=partitions)
    return read_parquet_ledger(text, npartitions=partitions)


def train_dask(*, ledger: str | Path | None, scheduler: str | None, partitions: int,
               recent: float, config):
    """Train and register on the cluster; returns (Registered, report) like the pandas path."""
    from model.distributed import train_and_register_dask

    with dask_client(scheduler):
        dask_ledger = read_ledger(ledger, partitions=partitions)
        return train_and_register_dask(dask_ledger, config=config, recent_fraction=recent)


def cluster(scheduler: Annotated[str | None, typer.Option(
        "--scheduler", help="Dask scheduler address (default: a local cluster)")] = None) -> None:
    """Show the Dask cluster `relance train --engine dask` would use (workers, threads, memory)."""
    with dask_client(scheduler) as client:
        info = client.scheduler_info()
        table = Table(title=_w("workers"))
        for column in ("worker", "threads", "memory GB"):
            table.add_column(column, justify="right")
        for address, worker in info["workers"].items():
            table.add_row(address, str(worker["nthreads"]), f"{worker['memory_limit'] / 1e9:.1f}")
        console.print(table)


def register(app: typer.Typer) -> None:
    app.command("cluster")(cluster)
