"""Leaks and censoring: the test window is the future, labels only know the past."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from model.dataset import temporal_split
from model.errors import ModelError
from model.predict import Predictor

from .conftest import SPLIT


def test_splits_are_temporal_and_disjoint(split):
    train, test = split
    assert (train.rows["issue_date"] < pd.Timestamp(SPLIT)).all()
    assert (train.rows["scored_at"] < pd.Timestamp(SPLIT)).all()
    assert (test.rows["issue_date"] >= pd.Timestamp(SPLIT)).all()
    assert not set(train.rows["invoice_id"]) & set(test.rows["invoice_id"])


def test_training_labels_are_censored_at_the_split(frames, split):
    """An invoice settled after D was open at D: in training it is unpaid in every bin that
    was over before D, and has no row for the bin running at D (neither paid nor unpaid)."""
    train = split[0]
    settled = frames.invoices.set_index("invoice_id")["settled_date"]
    later = train.rows[settled.reindex(train.rows["invoice_id"]).to_numpy()
                       >= np.datetime64(pd.Timestamp(SPLIT))]
    assert len(later) > 0
    assert (later["paid"] == 0).all()
    assert (train.rows["bin_end"] < pd.Timestamp(SPLIT)).all()


def test_shuffled_test_labels_leave_auc_near_half(bundle, split):
    test = split[1]
    p = Predictor(bundle).predict(test.X)["p_late"]
    honest = roc_auc_score(test.late, p)
    shuffled = np.random.default_rng(0).permutation(test.late)
    assert honest > 0.75
    assert abs(roc_auc_score(shuffled, p) - 0.5) < 0.05


def test_a_split_outside_the_ledger_is_refused(frames):
    with pytest.raises(ModelError, match="outside the ledger"):
        temporal_split(frames, split_date="2030-01-01")
