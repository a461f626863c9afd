"""The analyst's policy file: validated, read as rules, kept inside the safety bounds."""
import json

import numpy as np
import pandas as pd
import pytest

from features.decisions import ARM_INDEX, bounded
from model.policy_file import PolicyFileError, load, parse


def frame():
    return pd.DataFrame({
        "scenario": ["standard", "standard", "gentle", "standard"],
        "amount": [500.0, 5_000.0, 30_000.0, 2_000.0],
        "terms_days": [30.0] * 4,
        "prior_invoices": [3.0, 5.0, 2.0, 0.0],
        "prior_mean_days_late": [40.0, 25.0, 30.0, np.nan],  # the last payer has no history
        "prior_late_share": [1.0, 0.6, 0.5, np.nan],
        "email_response_rate": [0.0, np.nan, np.nan, np.nan],
        "strong_response_rate": [np.nan] * 4,
        "contacts_30d": [0.0, 1.0, 0.0, 0.0],
    })


POLICY = {
    "name": "Slow payers: a call from 1,000 €, a firm letter below",
    "rules": [
        {"if": {"prior_mean_days_late": {"min": 20}, "amount": {"min": 1000}}, "then": "call"},
        {"if": {"prior_mean_days_late": {"min": 20}}, "then": "letter_firm"},
    ],
    "otherwise": "rule",
}


def test_first_matching_rule_wins_and_missing_history_matches_no_range():
    chosen = parse(POLICY)(frame()).argmax(axis=1)
    assert list(chosen) == [ARM_INDEX["letter_firm"], ARM_INDEX["call"], ARM_INDEX["call"],
                            ARM_INDEX["email_neutral"]]  # the last: no history → the rule's arm


def test_the_safety_bounds_replace_what_a_file_may_not_do():
    policy = parse({"name": "firm for all", "rules": [], "otherwise": "letter_firm"})
    chosen = bounded(policy(frame()), frame()).argmax(axis=1)
    # the key account (gentle) never gets a firm letter: the rule's courteous e-mail instead...
    # ...and the gentle scenario's large amount (≥ 25,000) is the rule's call
    assert chosen[2] == ARM_INDEX["call"]
    assert list(chosen[[0, 1, 3]]) == [ARM_INDEX["letter_firm"]] * 3
    policy = parse({"name": "call all", "rules": [], "otherwise": "call"})
    # a call for 500 € is outside the bounds (mid-size amounts from 1,000 €): the rule's e-mail
    assert bounded(policy(frame()), frame()).argmax(axis=1)[0] == ARM_INDEX["email_neutral"]


def test_scenario_condition():
    policy = parse({"name": "gentle", "rules": [{"if": {"scenario": ["gentle"]}, "then": "email_courteous_later"}]})
    chosen = policy(frame()).argmax(axis=1)
    assert chosen[2] == ARM_INDEX["email_courteous_later"]
    assert chosen[0] == ARM_INDEX["email_neutral"]


@pytest.mark.parametrize(("data", "where"), [
    ({"rules": []}, "name"),
    ({"name": "x", "rules": [{"if": {}, "then": "formal_notice"}]}, "rules.0.then"),
    ({"name": "x", "rules": [{"if": {"amont": {"min": 1}}, "then": "call"}]}, "rules.0.if.amont"),
    ({"name": "x", "rules": [{"if": {"amount": {"min": 5, "max": 1}}, "then": "call"}]}, "rules.0.if.amount"),
    ({"name": "x", "rules": [{"if": {"amount": {}}, "then": "call"}]}, "rules.0.if.amount"),
    ({"name": "x", "rules": [], "otherwise": "legal"}, "otherwise"),
    ({"name": "x", "rules": [], "run": "import os"}, "run"),
    (["not", "an", "object"], "(root)"),
])
def test_invalid_files_name_the_field(data, where):
    with pytest.raises(PolicyFileError) as error:
        parse(data, source="p.json")
    assert f"p.json: {where}:" in str(error.value)


def test_unknown_arm_lists_the_arms():
    with pytest.raises(PolicyFileError, match="arms: rule, email_courteous"):
        parse({"name": "x", "rules": [], "otherwise": "sms"})


def test_load_reads_json_and_refuses_what_is_not(tmp_path):
    good = tmp_path / "p.json"
    good.write_text(json.dumps(POLICY), encoding="utf-8")
    assert load(good).name == POLICY["name"]
    bad = tmp_path / "bad.json"
    bad.write_text("{name: 1", encoding="utf-8")
    with pytest.raises(PolicyFileError, match="not valid JSON"):
        load(bad)
    with pytest.raises(PolicyFileError, match="no such file"):
        load(tmp_path / "missing.json")
    big = tmp_path / "big.json"
    big.write_text(" " * 100_001, encoding="utf-8")
    with pytest.raises(PolicyFileError, match="larger than"):
        load(big)
