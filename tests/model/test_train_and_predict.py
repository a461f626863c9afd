"""Behaviour of the trained model: history matters the right way, overdue balance never helps."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from model.bundle import ModelBundle
from model.errors import ModelError
from model.predict import PREDICTION_COLUMNS, Predictor

LATE_HISTORY = {"hist_share_late": 1.0, "hist_share_late_amount": 1.0,
                "hist_mean_days_late": 30.0, "hist_median_days_late_last12": 30.0,
                "hist_max_days_late": 30.0, "hist_mean_days_late_last3": 30.0,
                "hist_mean_days_late_last12": 30.0, "hist_mean_reminders": 2.0,
                "hist_share_paid_after_reminder": 1.0}
ON_TIME_HISTORY = {"hist_share_late": 0.0, "hist_share_late_amount": 0.0,
                   "hist_mean_days_late": -2.0, "hist_median_days_late_last12": -2.0,
                   "hist_max_days_late": 0.0, "hist_mean_days_late_last3": -2.0,
                   "hist_mean_days_late_last12": -2.0, "hist_mean_reminders": 0.0,
                   "hist_share_paid_after_reminder": 0.0}


def _established(test) -> pd.DataFrame:
    """Test rows of customers with a history (12+ settled invoices), all else left as is."""
    X = test.X[test.X["hist_n_settled"] >= 12].head(60).copy()
    X["hist_cold_start"] = 0.0
    X["hist_trend_days_late"] = 0.0
    return X


def test_a_payer_late_on_every_past_invoice_scores_riskier(bundle, split):
    predictor = Predictor(bundle)
    X = _established(split[1])
    late = predictor.predict(X.assign(**LATE_HISTORY))
    on_time = predictor.predict(X.assign(**ON_TIME_HISTORY))
    assert len(X) >= 30
    assert (late["p_late"] > on_time["p_late"]).all()
    assert (late["expected_days_late"] > on_time["expected_days_late"]).mean() > 0.9


def test_more_overdue_balance_never_lowers_risk_much(bundle, split):
    predictor = Predictor(bundle)
    X = _established(split[1]).head(30)
    previous = None
    for count, amount in [(0, 0.0), (1, 500.0), (2, 5_000.0), (4, 50_000.0), (8, 500_000.0)]:
        p = predictor.predict(X.assign(overdue_count=float(count), overdue_amount=amount,
                                       open_count=X["open_count"] + count,
                                       open_amount=X["open_amount"] + amount))["p_late"]
        if previous is not None:
            assert (p >= previous - 0.05).all(), (count, amount)
        previous = p


def test_predictions_are_probabilities_in_input_order(bundle, split):
    X = split[1].X.sample(200, random_state=0)
    predicted = Predictor(bundle).predict(X)
    assert list(predicted.columns) == PREDICTION_COLUMNS
    assert predicted.index.equals(X.index)
    assert predicted[["p_late", "p_severe"]].stack().between(0, 1).all()
    assert (predicted["p_severe"] <= predicted["p_late"]).all()
    assert (predicted["expected_days_late"] >= 0).all()


def test_saved_bundle_reloads_to_identical_predictions(bundle, split, tmp_path):
    saved = bundle.save(tmp_path / "bundle")
    reloaded = Predictor.load(saved)
    X = split[1].X.head(300)
    pd.testing.assert_frame_equal(reloaded.predict(X), Predictor(bundle).predict(X))
    # the reference: model inputs (with the bin), days overdue and the calibrated hazard
    assert ModelBundle.load_reference(saved).shape[1] == len(bundle.features) + 2


def test_missing_features_are_refused_by_name(bundle, split):
    with pytest.raises(ModelError, match="hist_share_late"):
        Predictor(bundle).predict(split[1].X.drop(columns=["hist_share_late"]))


def test_calibration_is_fitted_after_the_rows_the_booster_learned_from(bundle, split):
    """The booster learns from rows whose bin was over before C; the calibrators from rows
    scored from C on; the served booster is that same booster (no refit)."""
    train = split[0]
    valid_from = pd.Timestamp(bundle.meta["valid_from"])
    assert valid_from > train.rows["scored_at"].min()
    fit = (train.rows["bin_end"] < valid_from).sum()
    valid = (train.rows["scored_at"] >= valid_from).sum()
    assert (bundle.meta["n_fit"], bundle.meta["n_valid"]) == (fit, valid)
    assert bundle.meta["refit"] is False
    assert np.isfinite(list(bundle.meta["best_iterations"].values())).all()


def test_hazards_stay_inside_a_sane_range(bundle, split):
    hazards = Predictor(bundle).hazards(split[1].X.head(500))
    assert hazards.shape == (500, 14)
    assert hazards.min() >= 0.001 and hazards.max() <= 0.999
