"""One in-process Dask cluster (2 workers, 1 thread each) for the module, and the shared ledgers.

``processes=False``: on a loaded 2-core machine spawning worker processes takes tens of seconds,
threads start at once, and LightGBM keeps its network state per thread, so ``lightgbm.dask``
trains on two in-process workers as on two machines.
"""
from __future__ import annotations

import logging

import pytest

from features.synth import generate
from ledger.frames import LedgerFrames


@pytest.fixture(scope="package")
def client():
    from distributed import Client, LocalCluster

    logging.getLogger("distributed").setLevel(logging.ERROR)
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                           dashboard_address=None)
    with Client(cluster) as dask_client:
        yield dask_client
    cluster.close()


@pytest.fixture(scope="package")
def ledger() -> LedgerFrames:
    return generate(customers=200, months=12, seed=2)
