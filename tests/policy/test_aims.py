"""The issue's aims on a seeded simulator ledger: the learned policy against the rule policy,
replayed from the same seed, and the doubly robust interval against the simulated truth."""
import pandas as pd
import pytest

from features import simulator
from model.policy_eval import compare_with_rule, evaluate


@pytest.fixture(scope="module")
def ledger_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("aims")
    simulator.write(simulator.SimulationParams(customers=150, months=18, seed=3), directory)
    return directory


@pytest.fixture(scope="module")
def learned(ledger_dir):
    return evaluate(ledger_dir, "learned", resamples=200)


def test_the_dr_interval_covers_the_simulated_truth(learned):
    low, high = learned.dr_ci
    assert low <= learned.simulated <= high
    # the logged policy replayed is the log itself (same seed, same draws)
    assert learned.simulated_logged == pytest.approx(learned.logged_value)
    assert learned.n > 500


def test_the_learned_policy_pays_sooner_than_the_rule_with_no_more_formal_notices(ledger_dir, learned):
    result = compare_with_rule(ledger_dir, learned.policy, pd.Timestamp(learned.split_on))
    learned_days, rule_days = result.mean_days_late
    learned_30, rule_30 = result.paid_within_30
    assert rule_days - learned_days >= 3 or learned_30 - rule_30 >= 0.05
    assert result.formal_notices[0] <= result.formal_notices[1]
    assert result.invoices_lost == (0, 0)  # no firm letter to a key account: inside the bounds


def test_the_learned_policy_does_better_than_logged_in_the_replay(learned):
    assert learned.simulated > learned.simulated_logged
    assert learned.dr > learned.logged_value
