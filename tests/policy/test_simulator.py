"""The simulator where reminders matter: payer types, logged propensities, the truth beside the
ledger, replay from the same seed, and features the ledger gives back exactly."""
import numpy as np
import pandas as pd
import pytest

from features import simulator
from features.decisions import (
    ARM_INDEX,
    ARM_NAMES,
    FEATURES,
    acceptable,
    exploring_policy,
    logged_dataset,
    one_hot,
    rule_arm,
)
from ledger.frames import load_ledger_dir

PARAMS = simulator.SimulationParams(customers=80, months=12, seed=11)


@pytest.fixture(scope="module")
def logged():
    world = simulator.build_world(PARAMS)
    seen = []

    def policy(frame):
        seen.append(frame.copy())
        return exploring_policy(PARAMS.exploration)(frame)

    return simulator.simulate(world, policy), pd.concat(seen, ignore_index=True)


@pytest.fixture(scope="module")
def ledger_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("sim")
    simulator.write(PARAMS, directory)
    return directory


def test_propensities_are_the_exploring_policys_and_stay_in_bounds(logged):
    sim, frames = logged
    decisions = sim.decisions.set_index("invoice_id")
    frames = frames.set_index("invoice_id").loc[decisions.index]
    expected = exploring_policy(0.5)(frames)
    arms = decisions["arm"].map(ARM_INDEX).to_numpy()
    assert np.allclose(decisions["propensity"], expected[np.arange(len(arms)), arms])
    mask = acceptable(frames)
    assert mask[np.arange(len(arms)), arms].all()
    assert not (decisions["channel"].isin(["formal_notice", "legal"])).any()
    # key accounts are never sent a firm letter at random; calls only from mid-size amounts
    gentle = frames["scenario"] == "gentle"
    assert not (decisions["arm"][gentle.to_numpy()] == "letter_firm").any()
    assert (frames["amount"][decisions["arm"].to_numpy() == "call"] >= 1000).all()
    # every acceptable arm was explored
    assert set(decisions["arm"]) == set(ARM_NAMES)


def test_payer_types_answer_as_documented(logged):
    sim, _ = logged
    d = sim.decisions
    rate = d.groupby(["payer_type", "arm"])["p_respond"].mean()
    assert rate["cash_strapped", "call"] > 10 * rate["cash_strapped", "email_neutral"]
    assert rate["forgetful", "email_courteous"] > 2 * rate["forgetful", "email_neutral"]
    # and the realised outcomes follow: cash-strapped payers pay within 14 days after a call
    # far more often than after an e-mail
    cash = d[d["payer_type"] == "cash_strapped"]
    assert cash[cash["arm"] == "call"]["paid_14"].mean() > cash[cash["arm"] == "email_neutral"]["paid_14"].mean() + 0.2


def test_reminders_tire(logged):
    sim, _ = logged
    d = sim.decisions[(sim.decisions["payer_type"] == "forgetful") & (sim.decisions["arm"] == "email_courteous")]
    contacts = sim.contacts
    recent = [int(((contacts["customer_id"] == row.customer_id)
                   & (contacts["sent_on"] >= row.decided_on - pd.Timedelta(days=30))
                   & (contacts["sent_on"] < row.decided_on)).sum()) for row in d.itertuples()]
    recent = np.array(recent)
    assert (recent > 0).any() and (recent == 0).any()
    assert np.allclose(d["p_respond"], simulator.RESPONSE["forgetful"]["email_courteous"]
                       * simulator.FATIGUE ** recent)


def test_replay_with_the_logged_policy_reproduces_the_log(logged, ledger_dir):
    sim, _ = logged
    replayed = simulator.replay(ledger_dir, exploring_policy(PARAMS.exploration))
    pd.testing.assert_frame_equal(replayed.reset_index(drop=True), sim.decisions.reset_index(drop=True))


def test_replay_switches_policy_on_the_date_and_changes_only_what_follows(ledger_dir, logged):
    sim, _ = logged
    switch = pd.Timestamp("2024-07-01")

    def always_call(frame):
        return one_hot(np.where(acceptable(frame)[:, ARM_INDEX["call"]], ARM_INDEX["call"], rule_arm(frame)))

    replayed = simulator.replay(ledger_dir, always_call, switch_on=switch)
    before = replayed[replayed["decided_on"] < switch].reset_index(drop=True)
    logged_before = sim.decisions[sim.decisions["decided_on"] < switch].reset_index(drop=True)
    pd.testing.assert_frame_equal(before, logged_before)
    after = replayed[replayed["decided_on"] >= switch]
    large = after["acceptable"].str.contains("call")
    assert (after[large]["arm"] == "call").all()
    assert (after["propensity"] == 1.0).all()


def test_a_firm_letter_costs_key_accounts_invoices():
    world = simulator.build_world(PARAMS)
    firm = np.full(len(ARM_NAMES), 0.0)
    firm[ARM_INDEX["letter_firm"]] = 1.0
    harsh = simulator.simulate(world, lambda frame: np.tile(firm, (len(frame), 1)))
    gentle = simulator.simulate(simulator.build_world(PARAMS), exploring_policy(0.5))
    lost = harsh.decisions[harsh.decisions["payer_type"] == "key_account"]["invoices_lost"].sum()
    assert lost > 0
    assert harsh.dropped.sum() == lost
    assert gentle.dropped.sum() == 0
    assert (harsh.decisions[harsh.decisions["payer_type"] != "key_account"]["invoices_lost"] == 0).all()


def test_the_ledger_gives_back_the_simulators_features_and_truth(ledger_dir, logged):
    sim, frames = logged
    ledger = load_ledger_dir(ledger_dir)
    actions = pd.read_csv(ledger_dir / "actions.csv", parse_dates=["decided_on", "sent_on"])
    effects = pd.read_csv(ledger_dir / "effects.csv")
    data = logged_dataset(ledger, actions).set_index("invoice_id")
    seen = frames.set_index("invoice_id").loc[data.index]
    for column in FEATURES:
        assert np.allclose(np.nan_to_num(data[column].to_numpy(float), nan=-1),
                           np.nan_to_num(seen[column].to_numpy(float), nan=-1)), column
    truth = sim.decisions.set_index("invoice_id").loc[data.index]
    known = data["known_14"]
    assert (data.loc[known, "paid_14"] == truth.loc[known, "paid_14"]).all()
    assert list(effects["action_id"]) == list(actions["action_id"])
    assert np.allclose(effects["true_effect"], effects["p_respond"] - effects["p_respond_rule"])
    assert set(effects["payer_type"]) <= set(simulator.TYPES)


def test_default_synth_does_not_know_the_simulator():
    # `relance synth` without the flag is features.synth.generate, which the simulator only reads
    import inspect

    from features import synth
    assert "simulator" not in inspect.getsource(synth)
