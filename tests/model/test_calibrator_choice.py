"""Per-bin calibrators are kept only when the held-out rows show a miscalibration beyond noise."""
from __future__ import annotations

import numpy as np

from model.calibrate import fit_calibrator, improves_on_identity
from model.train import _calibrators


def _rows(n: int, truth_slope: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Raw probabilities p and outcomes drawn from sigmoid(truth_slope × logit(p))."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.05, 0.95, n)
    logit = np.log(p / (1 - p))
    y = (rng.random(n) < 1 / (1 + np.exp(-truth_slope * logit))).astype(int)
    return p, y


def test_a_calibrated_booster_keeps_identity_on_a_few_hundred_rows() -> None:
    # the raw probabilities are right: what Platt fits on 300 rows is noise, and the test at the
    # 5 % level keeps it in about one draw of twenty (a check of the level, not of luck)
    kept = 0
    for seed in range(100):
        p, y = _rows(300, 1.0, seed)
        platt = fit_calibrator(p, y, method="platt")
        assert platt.method == "platt" and (platt.a, platt.b) != (1.0, 0.0)
        kept += improves_on_identity(platt, p, y)
    assert kept <= 12  # 5 % of 100 is 5; 12 is beyond the 99th percentile of that count


def test_a_real_miscalibration_is_kept() -> None:
    # outcomes twice as sharp as the raw probabilities (slope 2): 3,000 rows leave no doubt
    p, y = _rows(3000, 2.0, 0)
    platt = fit_calibrator(p, y, method="platt")
    assert 1.7 < platt.a < 2.3
    assert improves_on_identity(platt, p, y)
    assert not improves_on_identity(fit_calibrator(p, y, method="identity"), p, y)


def test_a_calibrator_that_would_reverse_the_ranking_is_identity() -> None:
    p, y = _rows(500, -1.0, 1)  # outcomes fall as p rises: no monotone calibration fits
    assert fit_calibrator(p, y, method="platt").method == "identity"


def test_each_bin_chooses_on_its_own_rows() -> None:
    good_p, good_y = _rows(300, 1.0, 2)  # bin 0: calibrated already
    bad_p, bad_y = _rows(3000, 2.0, 3)  # bin 1: too flat
    raw = np.concatenate([good_p, bad_p])
    y = np.concatenate([good_y, bad_y])
    bins = np.repeat([0, 1], [300, 3000])
    found = _calibrators(raw, y, bins, "platt")
    assert found["0"].method == "identity" and found["1"].method == "platt"
    assert all(found[str(k)].method == "identity" for k in range(2, 14))
