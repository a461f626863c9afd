"""The weekly forecast interval calibrated on past forecasts (split conformal), worked by hand.

Scores r = (actual − forecast) / sd. With the 99 scores −49 … 49 (n = 99) the 80 % interval's
multipliers are the scores of ranks ⌊0.1 × 100⌋ = 10 and ⌈0.9 × 100⌉ = 90: −40 and 40. With 19
scores (below MIN_SCORES = 20) the interval stays the independent-invoice one, ∓ 1.2816. Scores
all between 0 and 1 (a forecast running low, tightly) give an interval shifted up but never
narrower than 2 × 1.2816 sd (the same centre, 0.5).
"""
from __future__ import annotations

import numpy as np
import pytest

from model.forecast_interval import MIN_SCORES, Z80, WeekInterval, conformal, scores


def test_multipliers_are_the_finite_sample_ranks_of_the_scores():
    found = conformal(np.arange(-49.0, 50.0))
    assert (found.low, found.high, found.n, found.method) == (-40.0, 40.0, 99, "split-conformal")
    low, high = found.bounds(np.array([100.0]), np.array([2.0]))
    assert low[0] == 20.0 and high[0] == 180.0


def test_too_few_scores_keep_the_independent_interval():
    found = conformal(np.arange(MIN_SCORES - 1, dtype=float))
    assert (found.low, found.high, found.n) == (-Z80, Z80, 0)


def test_a_forecast_running_low_gets_an_interval_shifted_up_never_narrower():
    found = conformal(np.linspace(0.0, 1.0, 99))  # ranks 10 and 90: 9/98 and 89/98
    centre = (9 / 98 + 89 / 98) / 2
    assert found.low == pytest.approx(centre - Z80) and found.high == pytest.approx(centre + Z80)
    # a low bound is never below nothing
    assert found.bounds(np.array([0.0]), np.array([1.0]))[0][0] == 0.0


def test_scores_skip_weeks_with_nothing_forecast_and_round_trip():
    assert scores(np.array([5.0, 3.0]), np.array([4.0, 0.0]), np.array([2.0, 0.0])).tolist() == [0.5]
    found = conformal(np.arange(-49.0, 50.0))
    assert WeekInterval.from_dict(found.to_dict()) == found
    assert WeekInterval.from_dict(None) == WeekInterval()
