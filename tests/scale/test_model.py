"""A model trained with lightgbm.dask is as good as the pandas one, and serves unchanged."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from features.distributed import build_features_dask, from_frames
from features.pipeline import build_features
from features.synth import generate
from model.bundle import ModelBundle
from model.dataset import recent_split_date, temporal_split
from model.distributed import dataset_of, fit_bundle_dask, predict_dask, recent_split_date_dask, split_rows_dask
from model.predict import Predictor
from model.train import TrainConfig, fit_bundle


@pytest.fixture(scope="module")
def trained(client):
    # larger than the feature tests' ledger: on ~600 test invoices two pandas fits that differ
    # only by their seed already differ by 0.01 in AUC, here by about 0.002
    frames = generate(customers=400, months=18, seed=2)
    split = recent_split_date(frames)
    train, test = temporal_split(frames, split_date=split)
    dask_ledger = from_frames(frames, npartitions=2)
    rows = split_rows_dask(dask_ledger, split_date=split).persist()
    bundle = fit_bundle_dask(rows[rows["window"] == "train"], train_cutoff=split)
    return {"frames": frames, "split": split, "train": train, "test": test,
            "dask_ledger": dask_ledger, "rows": rows, "bundle": bundle}


def test_split_date_and_rows_match_pandas(trained):
    assert recent_split_date_dask(trained["dask_ledger"]) == trained["split"]
    rows = trained["rows"]
    for window in ("train", "test"):
        got = dataset_of(rows[rows["window"] == window].compute())
        pd.testing.assert_frame_equal(got.X, trained[window].X)
        pd.testing.assert_frame_equal(got.rows, trained[window].rows)


def test_dask_model_is_as_good_as_pandas_on_the_temporal_test_split(trained):
    test = trained["test"]
    pandas_bundle = fit_bundle(trained["train"], train_cutoff=trained["split"],
                               config=TrainConfig(num_threads=1))
    pandas_auc = roc_auc_score(test.late, Predictor(pandas_bundle).predict(test.X)["p_late"])
    rows = trained["rows"]
    predicted = predict_dask(Predictor(trained["bundle"]), rows[rows["window"] == "test"])
    predicted = test.rows[["invoice_id"]].merge(predicted.compute(), on="invoice_id")
    assert len(predicted) == len(test)
    dask_auc = roc_auc_score(test.late, predicted["p_late"])
    assert abs(dask_auc - pandas_auc) <= 0.005, (dask_auc, pandas_auc)
    assert dask_auc > 0.75


def test_bundle_serves_unchanged_and_distributed_scoring_equals_local(trained, tmp_path):
    bundle = trained["bundle"]
    assert isinstance(bundle, ModelBundle) and bundle.meta["engine"] == "dask"
    assert set(bundle.calibrators) == {str(k) for k in range(14)} and len(bundle.reference) > 0
    loaded = Predictor.load(bundle.save(tmp_path / "bundle"))
    as_of = trained["frames"].as_of + pd.Timedelta(days=1)
    features = build_features(trained["frames"], as_of=as_of)
    local = loaded.predict(features)
    distributed = predict_dask(loaded, build_features_dask(trained["dask_ledger"], as_of=as_of))
    distributed = features[["invoice_id"]].merge(distributed.compute(), on="invoice_id")
    for column in ("p_late", "p_severe", "expected_days_late"):
        np.testing.assert_allclose(distributed[column].to_numpy(), local[column].to_numpy())
    assert (local["p_severe"] <= local["p_late"] + 1e-12).all()
