"""An activated policy acts in the daily run (docs/policy.md, "What activation does").

On a small simulator ledger imported into the database: the evaluated candidate is stored with
its evaluation (hash recorded), the run computes the same features the evaluation reads, picks
the arm the stored model predicts best among exploration's bounded variants (never a letter, a
formal notice or a legal step), records the policy's id and the propensity; next-action still
says exactly what the dry run plans; switching off or over works; a missing or altered model
falls back to the rules with a warning; and the simulator's replay of the policy as the run
applies it shows the gain the evaluation predicted.
"""
from __future__ import annotations

import datetime as dt
import random

import numpy as np
import pandas as pd
import pytest
from sqlmodel import Session, select

from features import simulator
from features.decisions import ARM_INDEX, ARM_NAMES, FEATURES, acceptable, ledger_features, logged_dataset, rule_arm
from ledger import policy_history
from ledger.frames import load_ledger_dir
from ledger.importers import import_ledger_dir
from ledger.policies import activate, deactivate, save_evaluation
from ledger.tables import Customer, DunningAction, Invoice, PolicyEvaluation, PolicyModel
from model import policy_model
from model.policy_eval import compare_with_rule, evaluate, read_actions, simulated_values
from model.policy_file import parse
from serving.decisions import next_action
from serving.dunning import run_dunning

RUN_DATE = dt.date(2024, 12, 9)  # a Monday; the ledger stops the day before
DAYS = [RUN_DATE + dt.timedelta(days=k) for k in range(8) if (RUN_DATE + dt.timedelta(days=k)).weekday() < 5]
PARAMS = simulator.SimulationParams(customers=80, months=12, seed=4)


@pytest.fixture(scope="module")
def ledger_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("policy-run")
    simulator.write(PARAMS, directory, as_of=(RUN_DATE - dt.timedelta(days=1)).isoformat())
    return directory


@pytest.fixture(scope="module")
def learned(ledger_dir):
    return evaluate(ledger_dir, "learned", resamples=100)


@pytest.fixture(scope="module")
def stored(learned):
    return policy_model.dump(learned.policy)


def _store(session, learned, stored, *, activate_it=True):
    record = save_evaluation(session, result=learned, definition={"kind": "learned"}, ledger="sim",
                             created_by="test", model=stored)
    if activate_it:
        activate(session, record.id, actor="test")
    session.commit()
    return record


def _imported(session, ledger_dir):
    import_ledger_dir(session=session, directory=ledger_dir, actor="test", today=RUN_DATE)
    session.commit()


def _dry_runs(session):
    actions = []
    for day in DAYS:
        report = run_dunning(session=session, run_date=day, dry_run=True, actor="test", today=RUN_DATE)
        session.rollback()
        actions += [(day, a) for a in report.actions]
    return actions, report


ARM_OF = {("email", "courteous"): "email_courteous", ("email", "neutral"): "email_neutral",
          ("call", "neutral"): "call"}


def test_the_stored_candidate_is_the_evaluated_one(learned, stored, ledger_dir):
    """Round trip: the loaded boosters choose exactly what the evaluated policy chose; an altered
    payload is refused."""
    payload, digest = stored
    assert learned.gain_lower_bound > 0  # this ledger's candidate may be activated
    frame = logged_dataset(load_ledger_dir(ledger_dir), read_actions(ledger_dir)).tail(300)
    loaded = policy_model.load(payload, digest)
    # the run's arm set: the evaluated candidate chose within it too, so the two agree everywhere
    ours = policy_model.choose(loaded, frame, policy_model.run_allowed(frame), rule_arm(frame))
    assert (ours == learned.policy(frame).argmax(axis=1)).all()
    assert (ours == policy_model.as_run(loaded)(frame).argmax(axis=1)).all()
    with pytest.raises(policy_model.PolicyModelError):
        policy_model.load(payload.replace('"metric"', '"metrics"', 1), digest)
    with pytest.raises(policy_model.PolicyModelError):
        policy_model.load(payload[:-10], None)
    assert digest == policy_model.sha256(payload)


def test_the_run_reads_the_features_the_evaluation_reads(session, ledger_dir):
    """The payer features the run computes from the database, as of a decision's week, equal
    those the evaluation computed from the ledger directory for the logged decisions."""
    _imported(session, ledger_dir)
    data = logged_dataset(load_ledger_dir(ledger_dir), read_actions(ledger_dir))
    sample = data.sort_values("decided_on").tail(120)
    computed = []
    for day, group in sample.groupby("decided_on"):
        cutoff = (day - pd.Timedelta(days=day.weekday())).date()
        history = policy_history.load(session, group["customer_id"].tolist(), cutoff)
        columns = ["invoice_id", "customer_id", "decided_on", "amount", "terms_days", "scenario"]
        computed.append(ledger_features(group[columns].reset_index(drop=True), history))
    got = pd.concat(computed).set_index("invoice_id")
    want = sample.set_index("invoice_id").loc[got.index]
    for name in FEATURES:
        assert np.allclose(got[name].astype(float), want[name].astype(float), equal_nan=True), name
    assert want["prior_invoices"].gt(0).mean() > 0.5  # payers with a history: a real comparison


def test_an_active_learned_policy_chooses_the_first_reminders(session, ledger_dir, learned, stored):
    _imported(session, ledger_dir)
    rules, _ = _dry_runs(session)
    record = _store(session, learned, stored)
    chosen, report = _dry_runs(session)
    assert "policy_unavailable" not in _codes(report)
    loaded = policy_model.load(*stored)
    rule_of = {(day, a.invoice_id): a for day, a in rules}
    firsts = [(day, a) for day, a in chosen if a.step == "first_reminder"]
    assert len(firsts) >= 10
    changed = 0
    for day, action in chosen:
        rule = rule_of.get((day, action.invoice_id))
        if rule is not None and rule.step == "first_reminder" and rule.channel == "email" \
                and rule.tone in ("courteous", "neutral"):
            assert action.policy_id == record.id, action  # every e-mail first reminder is asked
        if action.policy_id is None:
            continue
        # only first reminders are the policy's; never a letter, formal notice or legal step
        assert action.step == "first_reminder" and action.channel in ("email", "call")
        assert action.policy_id == record.id and action.propensity == 1.0
        if rule is None:
            continue
        if (action.channel, action.tone) != (rule.channel, rule.tone):
            changed += 1
            # the model predicts the chosen arm better than the rule's by its margin
            frame = _features(session, day, action.invoice_id)
            score = loaded.scores(frame)[0]
            assert score[ARM_INDEX[ARM_OF[(action.channel, action.tone)]]] > \
                score[ARM_INDEX[ARM_OF[(rule.channel, rule.tone)]]] + loaded.margin
    assert changed >= 1
    # the decisions the policy did not touch are the rules' own
    mine = {(day, a.invoice_id) for day, a in chosen if a.policy_id is not None}
    theirs = {(day, a.invoice_id): a for day, a in chosen}
    for key, rule in rule_of.items():
        if key in mine:
            continue
        if key not in theirs:  # a first reminder the policy chose to send three business days later
            assert rule.step == "first_reminder", rule
            continue
        got = theirs[key]
        assert (got.step, got.channel, got.tone, got.send_on) == (rule.step, rule.channel, rule.tone, rule.send_on)
    # a real run records the policy's id and the probability with each action
    report = run_dunning(session=session, run_date=RUN_DATE, dry_run=False, actor="test", today=RUN_DATE)
    session.commit()
    rows = session.exec(select(DunningAction).where(DunningAction.run_date == RUN_DATE)).all()
    assert {(r.invoice_id, r.policy_id, r.propensity) for r in rows} == {
        (a.invoice_id, a.policy_id, a.propensity) for a in report.actions}


def _features(session, day, invoice_id):
    invoice = session.get(Invoice, invoice_id)
    customer = session.get(Customer, invoice.customer_id)
    scenario = customer.dunning_scenario or "standard"
    frame = pd.DataFrame({"invoice_id": [invoice_id], "customer_id": [invoice.customer_id],
                          "decided_on": [pd.Timestamp(day)], "amount": [float(invoice.amount)],
                          "terms_days": [float(customer.payment_terms_days)], "scenario": [scenario]})
    cutoff = day - dt.timedelta(days=day.weekday())
    return ledger_features(frame, policy_history.load(session, [invoice.customer_id], cutoff))


def test_switching_off_over_and_falling_back(session, ledger_dir, learned, stored):
    _imported(session, ledger_dir)
    rules, _ = _dry_runs(session)
    first = _store(session, learned, stored)
    # an analyst's file, activated over the learned policy: every first reminder from 1,000 up is a call
    calls = parse({"name": "call them", "rules": [], "otherwise": "call"})
    second = save_evaluation(session, result=learned, definition={"kind": "file"}, ledger="sim",
                             created_by="test", model=policy_model.dump(calls))
    second.gain_low = 0.01  # (the learned result stands in for the file's evaluation)
    activate(session, second.id, actor="test")
    session.commit()
    assert session.get(PolicyEvaluation, first.id).state == "retired"
    chosen, _ = _dry_runs(session)
    mine = [a for _, a in chosen if a.policy_id == second.id]
    assert any(a.channel == "call" for a in mine)
    for action in mine:  # below 1,000 a call is out of bounds: the scenario's e-mail stays
        big = session.get(Invoice, action.invoice_id).open_amount >= 1000
        assert (action.channel == "call") == big, action
    assert not any(a.policy_id == first.id for _, a in chosen)
    # altered in the database: the rules decide, the run warns (French and English), no error text
    model = session.get(PolicyModel, second.id)
    model.payload = model.payload.replace('"call"', '"email_neutral"')
    session.commit()
    fallen, report = _dry_runs(session)
    assert "policy_unavailable" in _codes(report)
    warning = next(w for w in report.notices if w.code == "policy_unavailable")
    assert "n° " + str(second.id) in warning.fr and f"#{second.id}" in warning.en
    assert "Error" not in warning.en and "Traceback" not in warning.en
    assert _plain(fallen) == _plain(rules)
    # missing: the same
    session.delete(session.get(PolicyModel, second.id))
    session.commit()
    fallen, report = _dry_runs(session)
    assert "policy_unavailable" in _codes(report) and _plain(fallen) == _plain(rules)
    # switched off: the rules, no warning
    deactivate(session, second.id, actor="test")
    session.commit()
    back, report = _dry_runs(session)
    assert "policy_unavailable" not in _codes(report) and _plain(back) == _plain(rules)


def _codes(report):
    return {w.code for w in report.notices}


def _plain(actions):
    return [(day, a.invoice_id, a.step, a.channel, a.tone, a.send_on, a.policy_id) for day, a in actions]


@pytest.mark.parametrize("exploration", [0.0, 0.5])
def test_next_action_equals_the_dry_run_with_an_active_policy(session, monkeypatch, learned, exploration):
    """The randomised one-decision-path check (tests/dunning/test_one_decision_path.py) with an
    analyst's policy active (a call for every first reminder it may), with and without
    exploration around it: the propensity logged is the mixed one."""
    from ledger.config import get_settings
    from tests.dunning.test_one_decision_path import RUN_DATE as DATE
    from tests.dunning.test_one_decision_path import _random_ledger

    monkeypatch.setenv("RELANCE_EXPLORATION", str(exploration))
    get_settings.cache_clear()
    try:
        _random_ledger(session, random.Random(7), customers=40, invoices=260)
        policy = parse({"name": "call", "rules": [{"if": {"scenario": "standard"}, "then": "email_courteous_later"}],
                        "otherwise": "call"})
        record = save_evaluation(session, result=learned, definition={"kind": "file"}, ledger=None,
                                 created_by="test", model=policy_model.dump(policy))
        record.gain_low = 0.01
        activate(session, record.id, actor="test")
        session.commit()
        report = run_dunning(session=session, run_date=DATE, dry_run=True, actor="test", today=DATE)
        session.rollback()
        planned = {a.invoice_id: a for a in report.actions}
        for invoice in session.exec(select(Invoice).where(Invoice.settled_on.is_(None), Invoice.kind == "invoice")):
            found = next_action(session=session, invoice=invoice, today=DATE, risk_for=None)
            assert found.action == planned.get(invoice.invoice_id), invoice.invoice_id
        decided = [a for a in report.actions if a.policy_id == record.id]
        assert decided
        if exploration == 0:
            assert all(a.propensity == 1.0 for a in decided)
        else:
            assert {round(a.propensity, 3) for a in decided} <= {0.625, 0.125, 0.667, 0.167}
    finally:
        monkeypatch.delenv("RELANCE_EXPLORATION")
        get_settings.cache_clear()


def test_the_replay_of_the_policy_as_the_run_applies_it_shows_the_predicted_gain(ledger_dir, learned, stored):
    """Coarse: replayed forward from the same seed, the policy as the run applies it (exploration's
    arms: no letter) pays sooner than the rules, with no more formal notices, and its true value
    lies in the evaluation's interval."""
    applied = policy_model.as_run(policy_model.load(*stored))
    split = pd.Timestamp(learned.split_on)
    result = compare_with_rule(ledger_dir, applied, split)
    assert result.mean_days_late[0] < result.mean_days_late[1]
    assert result.paid_within_30[0] > result.paid_within_30[1]
    assert result.formal_notices[0] <= result.formal_notices[1]
    truth, logged = simulated_values(ledger_dir, applied, split, simulator.simulated_as_of(ledger_dir),
                                     learned.metric)
    low, high = learned.dr_ci
    assert low <= truth <= high and truth > logged
    assert set(np.flatnonzero(policy_model.run_allowed(pd.DataFrame(
        {"amount": [500.0, 5000.0, 50000.0], "scenario": ["standard"] * 3})).any(axis=0))) <= {
        ARM_INDEX[n] for n in ARM_NAMES if n != "letter_firm"}
