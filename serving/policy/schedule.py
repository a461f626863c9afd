"""Scheduling: the next pending step whose time has come, after the step before it closed plus its
delay, the minimum delay between two contacts, on a French business day."""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

from serving.policy.context import _basis, _Context, _fr_date, _next_business_day, _Plan
from serving.policy.plan import PlannedStep, _channel_and_tone, _escalation_target, _pending, _plan_steps, _step_tone
from serving.policy.types import Decision, Reason
from serving.scenarios import Scenario

# --- scheduling --------------------------------------------------------------------------------


def _step_reason(ctx: _Context, target: PlannedStep, step_on: date, offset: int) -> Reason:
    label_fr, label_en = ctx.scenario.label_fr, ctx.scenario.label_en
    due = ctx.invoice.due_date
    return Reason(
        "step_due",
        f"Étape « {target.name} » du scénario « {label_fr} » : prévue le {_fr_date(step_on)} "
        f"(J{offset:+d} par rapport à l'échéance du {_fr_date(due)}).",
        f"Step '{target.name}' of scenario '{label_en}': due on {step_on.isoformat()} "
        f"(D{offset:+d} from the due date {due.isoformat()}).",
    )


def _timing_reasons(ctx: _Context, earliest: date, send_on: date) -> list[Reason]:
    reasons: list[Reason] = []
    if ctx.last_contact_on is not None:
        floor = ctx.last_contact_on + timedelta(days=ctx.scenario.min_days_between_contacts)
        if floor == earliest and floor > ctx.today:
            days = ctx.scenario.min_days_between_contacts
            reasons.append(Reason(
                "min_contact_delay",
                f"Dernier contact le {_fr_date(ctx.last_contact_on)} : {days} jours minimum entre "
                f"deux contacts, pas avant le {_fr_date(floor)}.",
                f"Last contact on {ctx.last_contact_on.isoformat()}: at least {days} days between "
                f"two contacts, not before {floor.isoformat()}.",
            ))
    if send_on != earliest:
        reasons.append(Reason(
            "business_day",
            f"Le {_fr_date(earliest)} n'est pas un jour ouvré (week-end ou jour férié) : envoi "
            f"le {_fr_date(send_on)}.",
            f"{earliest.isoformat()} is not a business day (weekend or public holiday): sent on "
            f"{send_on.isoformat()}.",
        ))
    return reasons


# Scheduling depends on the invoice only through its due date and which steps its amount makes
# eligible, so a run over a million invoices meets a few thousand distinct questions: memoise
# the answer (all but the leading reasons). Keyed by id(scenario); the value keeps the scenario
# alive so its id cannot be reused.
_SCHEDULE_CACHE: dict[tuple[object, ...], tuple[Scenario, Decision]] = {}
_SCHEDULE_CACHE_SIZE = 65_536


def _schedule(ctx: _Context, plan: _Plan, base_reasons: list[Reason]) -> Decision:
    scenario = ctx.scenario
    open_amount = ctx.invoice.open_amount
    key = (
        id(scenario), tuple(open_amount >= s.min_amount for s in scenario.steps),
        plan.shift_days, plan.pre_due_days, plan.firmer, plan.courteous_first_contact, plan.call,
        plan.skip_steps, ctx.invoice.due_date, ctx.today, ctx.last_contact_on, ctx.steps_done,
        ctx.step_closed, _basis(ctx),
    )
    cached = _SCHEDULE_CACHE.get(key)
    if cached is None or cached[0] is not scenario:
        if len(_SCHEDULE_CACHE) >= _SCHEDULE_CACHE_SIZE:
            _SCHEDULE_CACHE.clear()
        cached = _SCHEDULE_CACHE[key] = (scenario, _schedule_uncached(ctx, plan))
    tail = cached[1]
    return Decision(
        action=tail.action, basis=tail.basis, reasons=[*base_reasons, *tail.reasons],
        send_on=tail.send_on, channel=tail.channel, tone=tail.tone, template=tail.template,
        step=tail.step, claim_penalties=tail.claim_penalties, next_step=tail.next_step,
    )


def _schedule_uncached(ctx: _Context, plan: _Plan) -> Decision:
    """The decision with only the scheduling reasons; `_schedule` puts the others in front."""
    base_reasons: list[Reason] = []
    inv, scenario = ctx.invoice, ctx.scenario
    pending = _pending(_plan_steps(scenario=scenario, open_amount=inv.open_amount, plan=plan), ctx.steps_done)
    floor = (
        ctx.last_contact_on + timedelta(days=scenario.min_days_between_contacts)
        if ctx.last_contact_on is not None else None
    )
    planned = _plan_steps(scenario=scenario, open_amount=inv.open_amount, plan=plan)
    previous = _previous_step(planned, ctx.steps_done)
    closed = dict(ctx.step_closed)
    for index, candidate in enumerate(pending):
        step_on = inv.due_date + timedelta(days=candidate.offset_days)
        after_previous = None
        if previous is not None and previous.name in closed:
            closed_on = closed[previous.name]
            if closed_on is None:
                return _previous_open(ctx, previous, candidate)
            after_previous = closed_on + timedelta(days=_delay(previous, candidate))
        earliest = max(d for d in (ctx.today, step_on, floor, after_previous) if d is not None)
        send_on = _next_business_day(earliest)
        if candidate.pre_due and send_on > inv.due_date:
            continue  # a reminder "before the due date" sent after it would be nonsense
        timing = _timing_reasons(ctx, earliest, send_on)
        if (previous is not None and after_previous is not None and after_previous == earliest
                and after_previous > ctx.today):
            # after_previous is set only from a closed day of `previous`
            timing.insert(0, _previous_delay_reason(previous, candidate, after_previous
                                                    - timedelta(days=_delay(previous, candidate)),
                                                    after_previous))
        if step_on > ctx.today:
            return _next_step_later(ctx, candidate, send_on, base_reasons, timing)
        target = _escalation_target(pending, index, plan.skip_steps)
        channel, tone = _channel_and_tone(ctx, target, plan)
        step = target.step
        same_as_step = (channel, tone) == (step.channel, _step_tone(step))
        return Decision(
            action=channel,  # type: ignore[arg-type]  # channels are the non-wait actions
            basis=_basis(ctx),
            send_on=send_on,
            channel=channel,
            tone=tone,
            template=step.template if same_as_step else f"{channel}_{tone}",
            step=target.name,
            claim_penalties=step.claim_penalties,
            reasons=[*base_reasons, _step_reason(ctx, target, step_on, candidate.offset_days), *timing],
        )
    return Decision(action="wait", basis=_basis(ctx), reasons=[*base_reasons, Reason(
        "scenario_complete",
        f"Toutes les étapes du scénario « {scenario.label_fr} » sont faites : suivi manuel par "
        "un chargé de recouvrement.",
        f"All steps of scenario '{scenario.label_en}' are done: manual follow-up by a collection "
        "agent.",
    )])


def _next_step_later(ctx: _Context, candidate: PlannedStep, send_on: date, base_reasons: list[Reason],
                     timing: list[Reason]) -> Decision:
    """Wait for `candidate`'s day: nothing to send until then."""
    return Decision(
        action="wait", basis=_basis(ctx), send_on=send_on, next_step=candidate.name,
        reasons=[*base_reasons, Reason(
            "next_step_later",
            f"Prochaine étape « {candidate.name} » le {_fr_date(send_on)} : rien à "
            "envoyer d'ici là.",
            f"Next step '{candidate.name}' on {send_on.isoformat()}: nothing to send "
            "until then.",
        ), *timing],
    )


def _previous_step(planned: list[PlannedStep], steps_done: frozenset[str]) -> PlannedStep | None:
    """The last step of the plan already done: the next one waits for it."""
    return next((p for p in reversed(planned) if p.name in steps_done), None)


def _delay(previous: PlannedStep, candidate: PlannedStep) -> int:
    """Days between a step's completion and the next: the step's own `delay_days`, else the gap
    between the two steps in the scenario."""
    if candidate.step.delay_days is not None:
        return candidate.step.delay_days
    return max(0, candidate.step.offset_days - previous.step.offset_days)


def _previous_open(ctx: _Context, previous: PlannedStep, candidate: PlannedStep) -> Decision:
    return Decision(action="wait", basis=_basis(ctx), next_step=candidate.name, reasons=[Reason(
        "previous_step_open",
        f"L'étape « {previous.name} » n'est pas encore faite (envoi, appel ou courrier en "
        f"attente) : l'étape « {candidate.name} » attend qu'elle le soit.",
        f"Step '{previous.name}' is not done yet (sending, call or letter pending): step "
        f"'{candidate.name}' waits until it is.",
    )])


def _previous_delay_reason(previous: PlannedStep, candidate: PlannedStep, closed_on: date,
                           after: date) -> Reason:
    days = (after - closed_on).days
    return Reason(
        "previous_step_delay",
        f"Étape « {previous.name} » faite le {_fr_date(closed_on)} : l'étape « {candidate.name} » "
        f"attend {days} jours, pas avant le {_fr_date(after)}.",
        f"Step '{previous.name}' done on {closed_on.isoformat()}: step '{candidate.name}' waits "
        f"{days} days, not before {after.isoformat()}.",
    )


def _no_model_reason(scenario: Scenario) -> Reason:
    return _no_model_reason_for(scenario.label_fr, scenario.label_en)


@lru_cache(maxsize=256)
def _no_model_reason_for(label_fr: str, label_en: str) -> Reason:
    return Reason(
        "no_model",
        f"Aucune prédiction de risque disponible : décision selon les seules règles du scénario "
        f"« {label_fr} ».",
        f"No risk prediction available: decision from the rules of scenario "
        f"'{label_en}' alone.",
    )
