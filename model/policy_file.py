"""An analyst's proposed policy as a file: JSON rules, validated, never executed.

    {
      "name": "Call the slow payers",
      "rules": [
        {"if": {"prior_mean_days_late": {"min": 20}, "amount": {"min": 1000}}, "then": "call"},
        {"if": {"scenario": "gentle"}, "then": "email_courteous"}
      ],
      "otherwise": "rule"
    }

The first rule whose every condition holds gives the arm; ``"rule"`` means the rule policy's own
arm. A range condition on a feature the payer has no history for (no earlier invoice) does not
hold. An arm outside the invoice's safety bounds (``features.decisions.acceptable``) is replaced
by the rule's arm — a file cannot send a firm letter to a key account or call for a small amount.
See docs/policy.md.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from features.decisions import ARM_INDEX, ARM_NAMES, one_hot, rule_arm

RANGE_FEATURES = ("amount", "terms_days", "prior_invoices", "prior_mean_days_late",
                  "prior_late_share", "email_response_rate", "strong_response_rate", "contacts_30d")
MAX_BYTES = 100_000


class PolicyFileError(ValueError):
    """A policy file that cannot be read or does not follow the format (message names the field)."""


class Range(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min is above max")
        return self


class Condition(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scenario: str | list[str] | None = None
    amount: Range | None = None
    terms_days: Range | None = None
    prior_invoices: Range | None = None
    prior_mean_days_late: Range | None = None
    prior_late_share: Range | None = None
    email_response_rate: Range | None = None
    strong_response_rate: Range | None = None
    contacts_30d: Range | None = None


ArmName = Literal["rule", "email_courteous", "email_neutral", "email_courteous_later", "call",
                  "letter_firm"]


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    when: Condition = Field(alias="if")
    then: ArmName


class PolicyFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    rules: list[Rule] = Field(max_length=100)
    otherwise: ArmName = "rule"

    def __call__(self, frame: pd.DataFrame) -> np.ndarray:
        """The file as a ``features.decisions.Policy``: one arm per decision."""
        rule = rule_arm(frame)
        chosen = np.full(len(frame), -1)
        for item in self.rules:
            hold = _holds(item.when, frame) & (chosen < 0)
            chosen[hold] = _arm(item.then, rule)[hold]
        chosen = np.where(chosen < 0, _arm(self.otherwise, rule), chosen)
        return one_hot(chosen)


def _arm(name: str, rule: np.ndarray) -> np.ndarray:
    return rule if name == "rule" else np.full(len(rule), ARM_INDEX[name])


def _holds(condition: Condition, frame: pd.DataFrame) -> np.ndarray:
    hold = np.ones(len(frame), dtype=bool)
    if condition.scenario is not None:
        names = [condition.scenario] if isinstance(condition.scenario, str) else condition.scenario
        hold &= frame["scenario"].isin(names).to_numpy()
    for name in RANGE_FEATURES:
        bounds: Range | None = getattr(condition, name)
        if bounds is None:
            continue
        values = frame[name].to_numpy(dtype=float)
        ok = ~np.isnan(values)
        if bounds.min is not None:
            ok &= np.nan_to_num(values, nan=-np.inf) >= bounds.min
        if bounds.max is not None:
            ok &= np.nan_to_num(values, nan=np.inf) <= bounds.max
        hold &= ok
    return hold


def load(path: Path | str) -> PolicyFile:
    """Read and validate a policy file; ``PolicyFileError`` with a sentence naming the field."""
    path = Path(path)
    if not path.is_file():
        raise PolicyFileError(f"{path}: no such file")
    if path.stat().st_size > MAX_BYTES:
        raise PolicyFileError(f"{path}: larger than {MAX_BYTES} bytes")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise PolicyFileError(f"{path}: not valid JSON ({error})") from None
    return parse(data, source=str(path))


def parse(data: object, *, source: str = "policy") -> PolicyFile:
    try:
        return PolicyFile.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(root)"
        hint = f" (arms: {', '.join(('rule',) + ARM_NAMES)})" if first["type"] == "literal_error" else ""
        raise PolicyFileError(f"{source}: {where}: {first['msg']}{hint}") from None
