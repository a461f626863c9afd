"""IPS, SNIPS and DR against values worked out by hand on tiny logs."""
import numpy as np
import pytest

from model import ope

# three logged decisions, two arms
REWARD = np.array([1.0, 0.0, 1.0])
ARM = np.array([0, 1, 0])
PROPENSITY = np.array([0.5, 0.25, 0.8])
TARGET = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
PREDICTED = np.array([[0.6, 0.2], [0.5, 0.1], [0.3, 0.7]])


def test_estimates_by_hand():
    # weights π(a_i|x_i)/p_i: 1/0.5 = 2, 0/0.25 = 0, 0/0.8 = 0
    result = ope.estimate(REWARD, ARM, PROPENSITY, TARGET, PREDICTED)
    assert result.logged_value == pytest.approx(2 / 3)
    assert result.ips == pytest.approx((2 * 1 + 0 + 0) / 3)
    assert result.snips == pytest.approx(2 / 2)
    # DR terms: direct Σ_a π q̂ = 0.6, 0.5, 0.7; corrections 2 × (1 − 0.6) = 0.8, 0, 0
    assert result.dr == pytest.approx((1.4 + 0.5 + 0.7) / 3)


def test_stochastic_target_by_hand():
    target = np.array([[0.5, 0.5], [0.5, 0.5], [0.5, 0.5]])
    result = ope.estimate(REWARD, ARM, PROPENSITY, target, PREDICTED)
    weights = np.array([0.5 / 0.5, 0.5 / 0.25, 0.5 / 0.8])  # 1, 2, 0.625
    assert result.ips == pytest.approx((1 * 1 + 2 * 0 + 0.625 * 1) / 3)
    assert result.snips == pytest.approx((1 + 0 + 0.625) / (1 + 2 + 0.625))
    direct = np.array([0.4, 0.3, 0.5])
    correction = weights * (REWARD - np.array([0.6, 0.1, 0.3]))  # 0.4, -0.2, 0.4375
    assert result.dr == pytest.approx((direct + correction).mean())


def test_the_logging_policy_evaluates_to_what_was_logged():
    # the candidate equal to the logging policy: IPS and SNIPS give back the observed mean
    rng = np.random.default_rng(1)
    n = 400
    logging = np.tile([0.7, 0.3], (n, 1))
    arm = (rng.random(n) < 0.3).astype(int)
    reward = rng.random(n) < np.where(arm == 1, 0.6, 0.2)
    propensity = logging[np.arange(n), arm]
    result = ope.estimate(reward, arm, propensity, logging, np.full((n, 2), 0.5))
    assert result.ips == pytest.approx(reward.mean())
    assert result.snips == pytest.approx(reward.mean())


def test_dr_is_right_with_a_perfect_outcome_model_even_with_wrong_weights_on_average():
    rng = np.random.default_rng(2)
    n = 20_000
    arm = (rng.random(n) < 0.5).astype(int)
    reward = (rng.random(n) < np.where(arm == 1, 0.8, 0.2)).astype(float)
    truth = np.tile([0.2, 0.8], (n, 1))
    always_one = np.tile([0.0, 1.0], (n, 1))
    result = ope.estimate(reward, arm, np.full(n, 0.5), always_one, truth)
    assert result.dr == pytest.approx(0.8, abs=0.02)
    assert result.ips == pytest.approx(0.8, abs=0.02)


def test_bootstrap_of_identical_decisions_has_no_width():
    n = 30
    intervals = ope.bootstrap(np.ones(n), np.zeros(n), np.full(n, 0.5), np.tile([1.0, 0.0], (n, 1)),
                              np.tile([0.9, 0.1], (n, 1)), resamples=100)
    # DR term each: 0.9 + 2 × (1 − 0.9) = 1.1; logged value 1 → gain 0.1
    assert intervals.dr == pytest.approx((1.1, 1.1))
    assert intervals.gain == pytest.approx((0.1, 0.1))
    assert intervals.snips == pytest.approx((1.0, 1.0))


def test_bootstrap_interval_covers_the_estimate_and_narrows_with_more_decisions():
    rng = np.random.default_rng(3)

    def width(n):
        arm = (rng.random(n) < 0.5).astype(int)
        reward = (rng.random(n) < 0.5).astype(float)
        target = np.tile([0.0, 1.0], (n, 1))
        predicted = np.full((n, 2), 0.5)
        point = ope.estimate(reward, arm, np.full(n, 0.5), target, predicted)
        low, high = ope.bootstrap(reward, arm, np.full(n, 0.5), target, predicted, resamples=300).dr
        assert low <= point.dr <= high
        return high - low

    assert width(2000) < width(100)


@pytest.mark.parametrize("propensity", [0.0, -0.1, 1.5])
def test_impossible_propensities_are_refused(propensity):
    with pytest.raises(ValueError, match="propensities"):
        ope.estimate(REWARD, ARM, np.array([0.5, propensity, 0.8]), TARGET, PREDICTED)


def test_no_decision_is_refused():
    with pytest.raises(ValueError, match="no logged decision"):
        ope.estimate(np.array([]), np.array([]), np.array([]), np.zeros((0, 2)), np.zeros((0, 2)))
