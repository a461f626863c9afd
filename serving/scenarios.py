"""Dunning scenarios (scénarios de relance) as validated data.

A scenario is an ordered list of steps, each an offset in days from the invoice's due date
(negative = before due), a channel, a tone and a template. The thresholds the decision policy
uses to adapt a scenario to the predicted risk live here too (`RiskRules`), so an analyst tunes
them per scenario instead of in code.

Validation is pydantic v2; every error names the field and says what is wrong in one sentence.
Templates are checked against a set of known template names passed in the validation context
(`Scenario.model_validate(data, context={"templates": {...}})`), or the default
`{channel}_{tone}` set.
"""

from __future__ import annotations

import json
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)


class Channel(StrEnum):
    """How a step reaches the customer. A formal notice (mise en demeure) and a legal hand-off
    wait for a person's approval; every other channel goes out on its own."""

    EMAIL = "email"
    SMS = "sms"
    CALL = "call"
    LETTER = "letter"
    FORMAL_NOTICE = "formal_notice"
    LEGAL = "legal"


class Tone(StrEnum):
    """The tone of a reminder, declared from softest to firmest: the policy moves along this
    ladder, and a reminder listing several invoices speaks in its firmest one."""

    COURTEOUS = "courteous"
    NEUTRAL = "neutral"
    FIRM = "firm"
    FORMAL = "formal"


# the one definition of each vocabulary as plain strings (templates, validation messages)
CHANNELS: tuple[str, ...] = tuple(c.value for c in Channel)
TONES: tuple[str, ...] = tuple(t.value for t in Tone)
# a formal notice (and the legal hand-off after it) is formal whatever its step says: the
# law's form, not a matter of tone
FIXED_TONE: dict[str, Tone] = {Channel.FORMAL_NOTICE: Tone.FORMAL, Channel.LEGAL: Tone.FORMAL}
# these wait in `pending_approval` for a person unless the scenario opts out
APPROVAL_CHANNELS: frozenset[str] = frozenset({Channel.FORMAL_NOTICE, Channel.LEGAL})
DEFAULT_TEMPLATES: frozenset[str] = frozenset(f"{c}_{t}" for c in CHANNELS for t in TONES)
DEFAULT_SCENARIO = "standard"
DEFAULT_SCENARIOS_PATH = Path(__file__).parent / "data" / "scenarios.json"


class ScenarioError(ValueError):
    """A scenario catalogue is inconsistent (e.g. no `standard` scenario to fall back on)."""


def _known_templates(info: ValidationInfo) -> frozenset[str]:
    context = info.context or {}
    templates = context.get("templates")
    return frozenset(templates) if templates is not None else DEFAULT_TEMPLATES


def _non_negative(value: Decimal, *, field: str) -> Decimal:
    if value < 0:
        raise ValueError(f"{field} must be zero or positive, got {value}")
    return value


class Step(BaseModel):
    """One step of a scenario: when (offset from due date), how (channel), in what tone."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_\-]+$")
    offset_days: int = Field(ge=-90, le=365)
    channel: Channel
    tone: Tone
    template: str = ""
    min_amount: Decimal = Decimal("0")
    claim_penalties: bool = False
    # days after the previous step was completed (e-mail sent, call logged, letter posted,
    # formal notice received); default: the gap between the two steps' offsets
    delay_days: int | None = Field(default=None, ge=0, le=365)

    @field_validator("channel", mode="before")
    @classmethod
    def _known_channel(cls, value: Any) -> Any:
        if value not in CHANNELS:
            raise ValueError(f"unknown channel {value!r}: expected one of {', '.join(CHANNELS)}")
        return value

    @field_validator("tone", mode="before")
    @classmethod
    def _known_tone(cls, value: Any) -> Any:
        if value not in TONES:
            raise ValueError(f"unknown tone {value!r}: expected one of {', '.join(TONES)}")
        return value

    @field_validator("min_amount")
    @classmethod
    def _min_amount_positive(cls, value: Decimal) -> Decimal:
        return _non_negative(value, field="min_amount")

    @model_validator(mode="before")
    @classmethod
    def _default_template(cls, data: Any) -> Any:
        # the default template name follows channel and tone: "email_courteous"
        if isinstance(data, dict) and not data.get("template"):
            data = {**data, "template": f"{data.get('channel')}_{data.get('tone')}"}
        return data

    @model_validator(mode="after")
    def _template_known(self, info: ValidationInfo) -> Step:
        known = _known_templates(info)
        if self.template not in known:
            raise ValueError(
                f"template: unknown template {self.template!r} in step {self.name!r}; "
                f"known templates are {', '.join(sorted(known))}"
            )
        return self

    @property
    def pre_due(self) -> bool:
        return self.offset_days < 0


class RiskRules(BaseModel):
    """Thresholds of the decision policy, per scenario (documented in the README table)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    low_risk_p: float = Field(default=0.25, gt=0, lt=1)
    high_risk_p: float = Field(default=0.6, gt=0, lt=1)
    very_high_exposure_amount: Decimal = Decimal("50000")
    large_amount_call_threshold: Decimal = Decimal("10000")
    courteous_delay_days: int = Field(default=5, ge=0, le=60)
    pre_due_days: int = Field(default=7, ge=1, le=60)
    high_risk_pull_in_days: int = Field(default=3, ge=0, le=60)
    escalate_skip_steps: int = Field(default=1, ge=0, le=10)
    broken_promise_pull_in_days: int = Field(default=7, ge=0, le=60)

    @field_validator("very_high_exposure_amount", "large_amount_call_threshold")
    @classmethod
    def _amount_positive(cls, value: Decimal, info: ValidationInfo) -> Decimal:
        return _non_negative(value, field=str(info.field_name))

    @model_validator(mode="after")
    def _ordered_thresholds(self) -> RiskRules:
        if self.low_risk_p >= self.high_risk_p:
            raise ValueError(
                f"low_risk_p ({self.low_risk_p}) must be below high_risk_p ({self.high_risk_p})"
            )
        return self


class Scenario(BaseModel):
    """A named dunning scenario: ordered steps plus the policy's thresholds."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_\-]+$")
    label_fr: str = Field(min_length=1)
    label_en: str = Field(min_length=1)
    steps: list[Step] = Field(min_length=1)
    min_amount: Decimal = Decimal("0")
    min_days_between_contacts: int = Field(default=5, ge=0, le=90)
    grace_days: int = Field(default=0, ge=0, le=60)
    # the furthest a promise to pay may be dated (or an instalment plan may run), from the day
    # it is recorded: a promise beyond it is refused, never obeyed (ledger.promises)
    promise_max_days: int = Field(default=60, ge=1, le=365)
    risk_rules: RiskRules = Field(default_factory=RiskRules)
    # formal notices and legal hand-offs wait for a person's approval unless a scenario opts out
    approval_required: bool = True

    @field_validator("min_amount")
    @classmethod
    def _min_amount_positive(cls, value: Decimal) -> Decimal:
        return _non_negative(value, field="min_amount")

    @field_validator("steps")
    @classmethod
    def _steps_consistent(cls, steps: list[Step]) -> list[Step]:
        _check_unique_names(steps)
        _check_order(steps)
        _check_legal_after_formal_notice(steps)
        return steps

    def step(self, name: str) -> Step:
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(f"scenario {self.name!r} has no step {name!r}")


def _check_unique_names(steps: list[Step]) -> None:
    seen: set[str] = set()
    for step in steps:
        if step.name in seen:
            raise ValueError(f"steps: step name {step.name!r} appears twice; names must be unique")
        seen.add(step.name)


def _check_order(steps: list[Step]) -> None:
    for before, after in zip(steps, steps[1:]):
        if after.offset_days <= before.offset_days:
            raise ValueError(
                "steps must be ordered strictly by offset_days: "
                f"step {after.name!r} ({after.offset_days:+d} days) comes after "
                f"step {before.name!r} ({before.offset_days:+d} days)"
            )


def _check_legal_after_formal_notice(steps: list[Step]) -> None:
    # French practice: a legal hand-off needs a prior mise en demeure (formal notice)
    seen_formal_notice = False
    for step in steps:
        if step.channel == "formal_notice":
            seen_formal_notice = True
        elif step.channel == "legal" and not seen_formal_notice:
            raise ValueError(
                f"steps: legal step {step.name!r} must come after a formal_notice step "
                "(mise en demeure)"
            )


class ScenarioCatalog(BaseModel):
    """All scenarios plus the segment → scenario map, validated together."""

    model_config = ConfigDict(extra="forbid")

    scenarios: list[Scenario] = Field(min_length=1)
    segment_map: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> ScenarioCatalog:
        names = [s.name for s in self.scenarios]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"scenarios: scenario name(s) {', '.join(duplicates)} appear twice")
        if DEFAULT_SCENARIO not in names:
            raise ValueError(f"scenarios: a {DEFAULT_SCENARIO!r} scenario is required as fallback")
        for segment, target in self.segment_map.items():
            if target not in names:
                raise ValueError(
                    f"segment_map: segment {segment!r} points to unknown scenario {target!r}"
                )
        return self

    def by_name(self) -> dict[str, Scenario]:
        return {s.name: s for s in self.scenarios}


def parse_catalog(data: Any, *, templates: set[str] | frozenset[str] | None = None) -> ScenarioCatalog:
    """Validate a catalogue (`{"scenarios": [...], "segment_map": {...}}`) against known templates."""
    context = {"templates": templates} if templates is not None else None
    return ScenarioCatalog.model_validate(data, context=context)


def parse_scenario(data: Any, *, templates: set[str] | frozenset[str] | None = None) -> Scenario:
    """Validate one scenario (e.g. the body of `PUT /dunning/scenarios/{name}`)."""
    context = {"templates": templates} if templates is not None else None
    return Scenario.model_validate(data, context=context)


@lru_cache(maxsize=1)
def _default_catalog() -> ScenarioCatalog:
    return parse_catalog(json.loads(DEFAULT_SCENARIOS_PATH.read_text(encoding="utf-8")))


def load_default_scenarios() -> dict[str, Scenario]:
    """The scenarios shipped with Relance: `standard`, `gentle`, `strict`."""
    return _default_catalog().by_name()


def load_default_segment_map() -> dict[str, str]:
    """The shipped segment → scenario map (e.g. key accounts → `gentle`)."""
    return dict(_default_catalog().segment_map)


def resolve_scenario(
    *,
    customer_scenario: str | None,
    segment: str | None,
    scenarios: dict[str, Scenario],
    segment_map: dict[str, str],
) -> tuple[Scenario, str | None]:
    """The customer's scenario, and the unknown name it replaced (None: no fallback).

    In order: the customer's `dunning_scenario` when it names a scenario; when it is a key of the
    segment → scenario table (an alias such as `key_account`), the scenario the table names; then
    the table's scenario for the customer's segment; else `standard`.
    Ingestion refuses unknown names, so a fallback happens only when a scenario was removed (or
    a record predates the check): the run reports it as a warning.
    """
    if DEFAULT_SCENARIO not in scenarios:
        raise ScenarioError(f"no {DEFAULT_SCENARIO!r} scenario to fall back on")
    unknown = None
    if customer_scenario:
        if customer_scenario in scenarios:
            return scenarios[customer_scenario], None
        mapped = segment_map.get(customer_scenario)
        if mapped in scenarios:
            return scenarios[mapped], None
        unknown = customer_scenario
    if segment is not None:
        mapped = segment_map.get(segment)
        if mapped in scenarios:
            return scenarios[mapped], unknown
    return scenarios[DEFAULT_SCENARIO], unknown


def scenario_for(
    *,
    customer_scenario: str | None,
    segment: str | None,
    scenarios: dict[str, Scenario],
    segment_map: dict[str, str],
) -> Scenario:
    """The customer's scenario (see `resolve_scenario`)."""
    return resolve_scenario(customer_scenario=customer_scenario, segment=segment,
                            scenarios=scenarios, segment_map=segment_map)[0]


def accepted_names(scenarios: dict[str, Scenario] | frozenset[str],
                   segment_map: dict[str, str]) -> frozenset[str]:
    """What a customer's `dunning_scenario` may say: a scenario's name, or a key of the
    segment → scenario table that maps to an existing scenario."""
    names = frozenset(scenarios)
    return names | {alias for alias, target in segment_map.items() if target in names}
