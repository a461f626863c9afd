"""Training threads: one per core by default, an explicit setting or RELANCE_TRAIN_THREADS wins."""
from __future__ import annotations

import os

from model.train import TrainConfig


def test_threads_default_to_one_per_core(monkeypatch):
    monkeypatch.delenv("RELANCE_TRAIN_THREADS", raising=False)
    assert TrainConfig().threads == (os.cpu_count() or 1)
    assert TrainConfig().params(1000, ["a"])["num_threads"] == (os.cpu_count() or 1)


def test_the_environment_or_the_config_overrides_the_default(monkeypatch):
    monkeypatch.setenv("RELANCE_TRAIN_THREADS", "1")
    assert TrainConfig().threads == 1
    assert TrainConfig(num_threads=3).threads == 3
    monkeypatch.setenv("RELANCE_TRAIN_THREADS", "many")  # not a number: the default
    assert TrainConfig().threads == (os.cpu_count() or 1)
