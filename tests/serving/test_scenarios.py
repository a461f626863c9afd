"""Dunning scenarios: the shipped defaults validate, and bad scenarios fail with a clear sentence."""

from decimal import Decimal

import pytest
from pydantic import ValidationError

from serving.scenarios import (
    DEFAULT_TEMPLATES,
    Scenario,
    ScenarioError,
    load_default_scenarios,
    load_default_segment_map,
    parse_catalog,
    parse_scenario,
    scenario_for,
)


def _scenario(steps: list[dict], **extra) -> dict:
    return {"name": "custom", "label_fr": "Perso", "label_en": "Custom", "steps": steps, **extra}


def _step(name: str, offset: int, channel: str = "email", tone: str = "neutral", **extra) -> dict:
    return {"name": name, "offset_days": offset, "channel": channel, "tone": tone, **extra}


def _errors(exc: pytest.ExceptionInfo[ValidationError]) -> str:
    return " | ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.value.errors())


def test_defaults_load_and_validate():
    scenarios = load_default_scenarios()
    assert set(scenarios) == {"standard", "gentle", "strict"}
    standard = scenarios["standard"]
    assert [(s.offset_days, s.channel) for s in standard.steps] == [
        (-5, "email"), (3, "email"), (10, "call"), (20, "letter"), (30, "formal_notice"), (45, "legal"),
    ]
    assert standard.steps[0].tone == "courteous"
    assert standard.step("formal_notice").claim_penalties
    assert all(s.template in DEFAULT_TEMPLATES for sc in scenarios.values() for s in sc.steps)


def test_gentle_is_softer_and_later_without_legal():
    scenarios = load_default_scenarios()
    gentle, standard = scenarios["gentle"], scenarios["standard"]
    assert all(s.channel != "legal" for s in gentle.steps)
    assert gentle.steps[0].offset_days > standard.steps[1].offset_days
    assert gentle.min_days_between_contacts > standard.min_days_between_contacts
    strict = scenarios["strict"]
    assert strict.step("formal_notice").offset_days < standard.step("formal_notice").offset_days


def test_default_segment_map_points_to_shipped_scenarios():
    assert load_default_segment_map()["key_account"] == "gentle"


def test_default_template_is_channel_and_tone():
    scenario = parse_scenario(_scenario([_step("a", 3, "sms", "firm")]))
    assert scenario.steps[0].template == "sms_firm"


def test_scenario_round_trips_through_json():
    standard = load_default_scenarios()["standard"]
    assert parse_scenario(standard.model_dump(mode="json")) == standard


def test_steps_out_of_order_are_rejected():
    with pytest.raises(ValidationError) as exc:
        parse_scenario(_scenario([_step("late", 10), _step("early", 3)]))
    message = _errors(exc)
    assert message.startswith("steps:")
    assert "ordered strictly by offset_days" in message and "'early'" in message


def test_two_steps_on_the_same_day_are_rejected():
    with pytest.raises(ValidationError, match="ordered strictly"):
        parse_scenario(_scenario([_step("a", 3), _step("b", 3)]))


def test_unknown_channel_is_rejected():
    with pytest.raises(ValidationError) as exc:
        parse_scenario(_scenario([_step("a", 3, channel="fax")]))
    message = _errors(exc)
    assert "steps.0.channel" in message and "unknown channel 'fax'" in message


def test_unknown_tone_is_rejected():
    with pytest.raises(ValidationError, match="unknown tone 'rude'"):
        parse_scenario(_scenario([_step("a", 3, tone="rude")]))


def test_unknown_template_is_rejected_against_default_set():
    with pytest.raises(ValidationError, match="unknown template 'email_shouty'"):
        parse_scenario(_scenario([_step("a", 3, template="email_shouty")]))


def test_templates_are_checked_against_the_set_passed_in():
    data = _scenario([_step("a", 3, template="email_b2b"), _step("b", 10, "call")])
    with pytest.raises(ValidationError, match="unknown template 'call_neutral'"):
        parse_scenario(data, templates={"email_b2b"})
    scenario = parse_scenario(data, templates={"email_b2b", "call_neutral"})
    assert [s.template for s in scenario.steps] == ["email_b2b", "call_neutral"]


def test_negative_minimum_amounts_are_rejected():
    with pytest.raises(ValidationError) as exc:
        parse_scenario(_scenario([_step("a", 3, min_amount="-1")]))
    assert "steps.0.min_amount" in _errors(exc) and "zero or positive" in _errors(exc)
    with pytest.raises(ValidationError) as exc:
        parse_scenario(_scenario([_step("a", 3)], min_amount="-10"))
    assert _errors(exc).startswith("min_amount:")


def test_legal_step_before_formal_notice_is_rejected():
    steps = [_step("legal", 20, "legal", "formal"), _step("notice", 30, "formal_notice", "formal")]
    with pytest.raises(ValidationError, match="must come after a formal_notice"):
        parse_scenario(_scenario(steps))


def test_duplicate_step_names_are_rejected():
    with pytest.raises(ValidationError, match="appears twice"):
        parse_scenario(_scenario([_step("a", 3), _step("a", 10)]))


def test_risk_thresholds_must_be_ordered():
    with pytest.raises(ValidationError, match="low_risk_p .* must be below high_risk_p"):
        parse_scenario(_scenario([_step("a", 3)], risk_rules={"low_risk_p": 0.7, "high_risk_p": 0.6}))


def test_catalog_needs_standard_and_known_segment_targets():
    standard = load_default_scenarios()["standard"].model_dump(mode="json")
    custom = _scenario([_step("a", 3)])
    with pytest.raises(ValidationError, match="'standard' scenario is required"):
        parse_catalog({"scenarios": [custom]})
    with pytest.raises(ValidationError, match="segment 'vip' points to unknown scenario 'nope'"):
        parse_catalog({"scenarios": [standard], "segment_map": {"vip": "nope"}})
    with pytest.raises(ValidationError, match="appear twice"):
        parse_catalog({"scenarios": [standard, standard]})


def test_scenario_for_prefers_customer_then_segment_then_standard():
    scenarios, segment_map = load_default_scenarios(), {"key_account": "gentle"}

    def pick(customer_scenario, segment):
        return scenario_for(
            customer_scenario=customer_scenario, segment=segment,
            scenarios=scenarios, segment_map=segment_map,
        ).name

    assert pick("strict", "key_account") == "strict"
    assert pick(None, "key_account") == "gentle"
    assert pick(None, "sme") == "standard"
    assert pick(None, None) == "standard"
    # a name the billing system made up must not stop a dunning run
    assert pick("vip_typo", "key_account") == "gentle"


def test_scenario_for_without_standard_raises():
    gentle = load_default_scenarios()["gentle"]
    with pytest.raises(ScenarioError, match="standard"):
        scenario_for(customer_scenario=None, segment=None, scenarios={"gentle": gentle}, segment_map={})


def test_step_min_amount_is_decimal():
    scenario = Scenario.model_validate(_scenario([_step("a", 3, min_amount="12.50")]))
    assert scenario.steps[0].min_amount == Decimal("12.50")
