"""The plan: the scenario's steps after the rules' adjustments, which are still pending, and the
channel and tone of the step to send."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from serving.policy.context import _Context, _Plan
from serving.policy.types import PRE_DUE_STEP_NAME
from serving.scenarios import FIXED_TONE, TONES, Channel, Scenario, Step, Tone

# a reminder in a soft channel can be softened or turned into a call; a formal notice or a
# legal hand-off never is
_SOFT_CHANNELS = frozenset({Channel.EMAIL, Channel.SMS, Channel.CALL, Channel.LETTER})
_CALLABLE_CHANNELS = frozenset({Channel.EMAIL, Channel.SMS})
# the policy firms tones up to "firm"; "formal" belongs to formal notices and legal steps
_FIRMEST_ADJUSTED_TONE = TONES.index(Tone.FIRM)


# --- the plan: adjusted steps ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlannedStep:
    """A scenario step after the rules' adjustments."""

    step: Step
    offset_days: int

    @property
    def name(self) -> str:
        return self.step.name

    @property
    def pre_due(self) -> bool:
        return self.step.offset_days < 0


# the plan depends on few inputs and a daily run asks for it a million times: memoise it.
# Keyed by id(scenario); the value keeps the scenario alive so its id cannot be reused.
_PLAN_CACHE: dict[tuple[int, int, int | None, tuple[bool, ...]], tuple[Scenario, list[PlannedStep]]] = {}
_PLAN_CACHE_SIZE = 4096


def _plan_steps(*, scenario: Scenario, open_amount: Decimal, plan: _Plan) -> list[PlannedStep]:
    """The scenario's steps for this amount, with offsets moved by the rules' adjustments."""
    eligible = tuple(open_amount >= s.min_amount for s in scenario.steps)
    key = (id(scenario), plan.shift_days, plan.pre_due_days, eligible)
    cached = _PLAN_CACHE.get(key)
    if cached is not None and cached[0] is scenario:
        return cached[1]
    if len(_PLAN_CACHE) >= _PLAN_CACHE_SIZE:
        _PLAN_CACHE.clear()
    planned = _build_plan(scenario=scenario, eligible=eligible, plan=plan)
    _PLAN_CACHE[key] = (scenario, planned)
    return planned


def _build_plan(*, scenario: Scenario, eligible: tuple[bool, ...], plan: _Plan) -> list[PlannedStep]:
    steps = [s for s, ok in zip(scenario.steps, eligible) if ok]
    if plan.pre_due_days is not None and not any(s.offset_days < 0 for s in steps):
        # the scenario has no pre-due reminder: a risky payer gets one anyway
        steps.insert(0, Step(
            name=PRE_DUE_STEP_NAME, offset_days=-plan.pre_due_days, channel="email", tone="courteous",
        ))
    # grace days come from the scenario: an overdue step never fires before due + grace
    overdue_floor = max(1, scenario.grace_days)
    planned: list[PlannedStep] = []
    first_pre_due = True
    for step in steps:
        if step.offset_days < 0:
            offset = step.offset_days
            if first_pre_due and plan.pre_due_days is not None:
                offset = min(offset, -plan.pre_due_days)
            first_pre_due = False
        elif step.offset_days == 0:
            offset = max(0, plan.shift_days)
        else:
            offset = max(overdue_floor, step.offset_days + plan.shift_days)
        planned.append(PlannedStep(step=step, offset_days=offset))
    return planned


def _pending(planned: list[PlannedStep], steps_done: frozenset[str]) -> list[PlannedStep]:
    # a step before the last one done is superseded (skipped by escalation, or caught up)
    last_done = max((i for i, p in enumerate(planned) if p.name in steps_done), default=-1)
    return [p for p in planned[last_done + 1:] if p.name not in steps_done]


def _escalation_target(pending: list[PlannedStep], index: int, skip: int) -> PlannedStep:
    """The step to send when `skip` pending steps may be jumped, stopping at the formal notice."""
    current = pending[index]
    if skip == 0 or current.pre_due:
        return current
    limit = len(pending) - 1
    for j in range(index, len(pending)):
        channel = pending[j].step.channel
        if channel == "formal_notice":
            limit = j
            break
        if channel == "legal":
            # a legal hand-off is never reached by skipping
            limit = max(index, j - 1)
            break
    return pending[min(index + skip, limit)]


def _firmer(tone: str, notches: int) -> str:
    index = TONES.index(tone)
    if notches <= 0 or index >= _FIRMEST_ADJUSTED_TONE:
        return tone
    return TONES[min(index + notches, _FIRMEST_ADJUSTED_TONE)]


def _channel_and_tone(ctx: _Context, target: PlannedStep, plan: _Plan) -> tuple[str, str]:
    step = target.step
    channel, tone = str(step.channel), _step_tone(step)
    if step.channel not in _SOFT_CHANNELS:
        return channel, tone
    overdue_done = any(s.name in ctx.steps_done for s in ctx.scenario.steps if s.offset_days >= 0)
    if plan.courteous_first_contact and not target.pre_due and not overdue_done:
        return Channel.EMAIL.value, Tone.COURTEOUS.value
    tone = _firmer(tone, plan.firmer)
    if plan.call and channel in _CALLABLE_CHANNELS:
        channel = Channel.CALL.value
    return channel, tone


def _step_tone(step: Step) -> str:
    """The step's tone, except where the law fixes the form (a formal notice is formal)."""
    return str(FIXED_TONE.get(step.channel, step.tone))

