"""Pausing Python's cyclic garbage collector through one large batch.

Validating or ingesting 100,000 records creates a few hundred thousand objects that all live
until the batch ends; CPython (3.11) runs a full collection each time the survivors grow by a
quarter, walking every object of the process each time: about a third of a large batch's CPU
time, and nothing to collect (a batch builds no reference cycles that outlive it). The pause is
process-wide and brief; the collector comes back on at the end (if it was on), also on error,
and a nested or concurrent pause leaves the outermost one to switch it back.
"""
from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

LARGE = 1_000  # records in a batch from which pausing pays


@contextmanager
def paused_gc(records: int = LARGE) -> Iterator[None]:
    if records < LARGE or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
