"""The decision policy: who to chase, when, how and in what tone — as pure functions.

`decide` combines a customer's dunning scenario with the predicted risk and the context of the
invoice and returns one `Decision`. No database, no clock: everything comes in as arguments, so
the API, the daily run and the tests ask the same function the same question.

How it reads:
1. guards (`_GUARDS`): reasons never to chase now — settled, below the scenario's minimum, open
   dispute, customer on hold, active promise to pay. The first that applies returns `wait`.
2. rules (`_RULES`): each a small function that looks at the context and contributes an
   `Adjustment` (shift the overdue steps, firmer tone, pre-due reminder, call, skip steps) with
   one reason sentence in French and English. Thresholds come from `scenario.risk_rules`.
3. scheduling: the adjusted steps form a plan; the next step is the first one not done (nor
   superseded by a later step done) whose time has come; it waits until the step before it was
   completed (e-mail sent, call logged, letter posted, formal notice received) plus its delay;
   its send date respects the minimum delay between two contacts and lands on a French business
   day.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Literal

from ledger.calendar import next_business_day
from ledger.statuses import claim_filing_deadline, hold_active, insolvent
from serving.money import money
from serving.scenarios import FIXED_TONE, TONES, Channel, Scenario, Step, Tone

Action = Literal["wait", "email", "sms", "call", "letter", "formal_notice", "legal"]
Basis = Literal["model", "rules"]

# a reminder in a soft channel can be softened or turned into a call; a formal notice or a
# legal hand-off never is
_SOFT_CHANNELS = frozenset({Channel.EMAIL, Channel.SMS, Channel.CALL, Channel.LETTER})
_CALLABLE_CHANNELS = frozenset({Channel.EMAIL, Channel.SMS})
# the policy firms tones up to "firm"; "formal" belongs to formal notices and legal steps
_FIRMEST_ADJUSTED_TONE = TONES.index(Tone.FIRM)
PRE_DUE_STEP_NAME = "pre_due_reminder"


# --- inputs and output ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InvoiceState:
    invoice_id: str
    customer_id: str
    issue_date: date
    due_date: date
    amount: Decimal
    open_amount: Decimal
    currency: str = "EUR"
    settled: bool = False
    has_open_dispute: bool = False
    active_promise_until: date | None = None
    broken_promise: bool = False


@dataclass(frozen=True, slots=True)
class CustomerState:
    customer_id: str
    language: str = "fr"
    segment: str | None = None
    on_hold: bool = False
    open_balance: Decimal = Decimal("0")
    # statuses (ledger.statuses): a hold may end on a date; an insolvency stops dunning for good
    on_hold_until: date | None = None
    insolvency_date: date | None = None
    customer_type: str = "business"
    overdue_balance: Decimal = Decimal("0")
    # 0 means this is the payer's first delay with us
    previously_late_count: int = 0
    # computed by the caller, e.g. days late trending up over the last invoices
    deteriorating: bool = False


@dataclass(frozen=True, slots=True)
class Risk:
    """The time-to-payment answers for one open invoice, as of the scoring date.

    p_late / p_severe / expected_days_late describe the invoice as a whole (an invoice already
    overdue has p_late 1); p_unpaid_30 / p_unpaid_90 are P(not paid within 30 / 90 days of the
    scoring date | unpaid then), for a not-yet-due invoice too; expected_pay_date is the date by
    which payment is as likely as not (None: not within a year). Providers built before these
    fields may omit p_unpaid_*: p_unpaid_30 then takes p_late (the number the policy read before)
    and p_unpaid_90 p_severe.
    """

    p_late: float
    p_severe: float
    expected_days_late: float
    grade: str
    source: Literal["model", "rules"] = "model"
    p_unpaid_30: float | None = None
    p_unpaid_90: float | None = None
    expected_pay_date: date | None = None

    def __post_init__(self) -> None:
        for name, older in (("p_unpaid_30", self.p_late), ("p_unpaid_90", self.p_severe)):
            if getattr(self, name) is None:
                object.__setattr__(self, name, float(older))


@dataclass(frozen=True, slots=True)
class Reason:
    code: str
    fr: str
    en: str

    def text(self, language: str = "fr") -> str:
        return self.en if language == "en" else self.fr


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    basis: Basis
    reasons: list[Reason]
    # for `wait`: the date the policy expects to act next, or None when it cannot tell
    send_on: date | None = None
    channel: str | None = None
    tone: str | None = None
    template: str | None = None
    step: str | None = None
    # the caller computes the amounts (ledger law); the policy only says whether to claim them
    claim_penalties: bool = False
    # for `wait`: the step expected next, if any
    next_step: str | None = None

    def is_due(self, on: date) -> bool:
        """Whether a run on `on` should create this action now."""
        return self.action != "wait" and self.send_on is not None and self.send_on <= on


# --- calendar --------------------------------------------------------------------------------

# a daily run asks for the next business day of a few hundred distinct dates a million times
_NEXT_BUSINESS_DAY: dict[date, date] = {}


def _next_business_day(day: date) -> date:
    found = _NEXT_BUSINESS_DAY.get(day)
    if found is None:
        if len(_NEXT_BUSINESS_DAY) >= 100_000:
            _NEXT_BUSINESS_DAY.clear()
        found = _NEXT_BUSINESS_DAY[day] = next_business_day(day)
    return found


# --- sentences -------------------------------------------------------------------------------


def _fr_date(day: date) -> str:
    return f"{day.day:02d}/{day.month:02d}/{day.year}"


def _fr_amount(amount: Decimal, currency: str) -> str:
    return money(amount, currency, "fr")


def _en_amount(amount: Decimal, currency: str) -> str:
    return money(amount, currency, "en")


# --- context and adjustments -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Context:
    invoice: InvoiceState
    customer: CustomerState
    risk: Risk | None
    scenario: Scenario
    today: date
    last_contact_on: date | None
    steps_done: frozenset[str]
    # (step, day it closed or None while open), for the steps done; empty: not known, every
    # step done counts as closed long ago
    step_closed: tuple[tuple[str, date | None], ...] = ()

    @property
    def overdue(self) -> bool:
        return self.invoice.due_date < self.today

    @property
    def risk_p(self) -> float | None:
        """The risk a person sees: P(late) before the due date; once overdue, P(late) is 1 and
        what matters is P(not paid within 30 days | unpaid today)."""
        if self.risk is None:
            return None
        # p_unpaid_30 is filled in by Risk.__post_init__ (p_late when a provider left it out)
        return float(self.risk.p_unpaid_30 or 0.0) if self.overdue else self.risk.p_late

    @property
    def high_risk(self) -> bool:
        p = self.risk_p
        return p is not None and p >= self.scenario.risk_rules.high_risk_p

    @property
    def low_risk(self) -> bool:
        p = self.risk_p
        return p is not None and p < self.scenario.risk_rules.low_risk_p


@dataclass(frozen=True, slots=True)
class Adjustment:
    """What one rule changes in the scenario's plan, and why."""

    reason: Reason
    # added to the offsets of overdue steps (negative = earlier)
    shift_days: int = 0
    # make sure a reminder goes out this many days before the due date
    pre_due_days: int | None = None
    # notches up the tone ladder courteous → neutral → firm
    firmer: int = 0
    # the first reminder after the due date becomes a courteous email
    courteous_first_contact: bool = False
    # email and SMS steps become a call task
    call: bool = False
    # jump over this many pending steps, never past the formal notice
    skip_steps: int = 0


@dataclass(frozen=True, slots=True)
class _Plan:
    """All rules' adjustments folded together."""

    shift_days: int = 0
    pre_due_days: int | None = None
    firmer: int = 0
    courteous_first_contact: bool = False
    call: bool = False
    skip_steps: int = 0
    reasons: tuple[Reason, ...] = ()


@lru_cache(maxsize=4096)
def _fold(adjustments: tuple[Adjustment, ...]) -> _Plan:
    shift, pre_due, firmer, courteous, call, skip = 0, None, 0, False, False, 0
    reasons: list[Reason] = []
    for adj in adjustments:
        shift += adj.shift_days
        if adj.pre_due_days is not None:
            pre_due = adj.pre_due_days if pre_due is None else max(pre_due, adj.pre_due_days)
        firmer += adj.firmer
        courteous = courteous or adj.courteous_first_contact
        call = call or adj.call
        skip = max(skip, adj.skip_steps)
        reasons.append(adj.reason)
    return _Plan(shift, pre_due, firmer, courteous, call, skip, tuple(reasons))


# --- guards: reasons to wait -------------------------------------------------------------------


def _wait(ctx: _Context, reason: Reason, *, until: date | None = None) -> Decision:
    return Decision(action="wait", basis=_basis(ctx), reasons=[reason], send_on=until)


def _guard_settled(ctx: _Context) -> Decision | None:
    if ctx.invoice.settled or ctx.invoice.open_amount <= 0:
        return _wait(ctx, Reason(
            "settled",
            f"La facture {ctx.invoice.invoice_id} est soldée : aucune relance.",
            f"Invoice {ctx.invoice.invoice_id} is settled: no reminder.",
        ))
    return None


def _guard_below_minimum(ctx: _Context) -> Decision | None:
    minimum, inv = ctx.scenario.min_amount, ctx.invoice
    if inv.open_amount < minimum:
        return _wait(ctx, Reason(
            "below_minimum",
            f"Le reste dû ({_fr_amount(inv.open_amount, inv.currency)}) est inférieur au minimum "
            f"du scénario ({_fr_amount(minimum, inv.currency)}) : aucune relance.",
            f"The open amount ({_en_amount(inv.open_amount, inv.currency)}) is below the "
            f"scenario's minimum ({_en_amount(minimum, inv.currency)}): no reminder.",
        ))
    return None


def _guard_open_dispute(ctx: _Context) -> Decision | None:
    if ctx.invoice.has_open_dispute:
        return _wait(ctx, Reason(
            "open_dispute",
            "Un litige est ouvert sur cette facture : relances suspendues jusqu'à sa résolution.",
            "A dispute is open on this invoice: reminders paused until it is resolved.",
        ))
    return None


def _guard_insolvency(ctx: _Context) -> Decision | None:
    opened = ctx.customer.insolvency_date
    if not insolvent(insolvency_date=opened, today=ctx.today):
        return None
    assert opened is not None
    deadline = claim_filing_deadline(opened)
    return _wait(ctx, Reason(
        "insolvency",
        f"Procédure collective ouverte le {_fr_date(opened)} : aucune relance (arrêt des "
        "poursuites individuelles) ; déclarer la créance au mandataire judiciaire dans les deux "
        f"mois de la publication au BODACC, au plus tôt avant le {_fr_date(deadline)}.",
        f"Insolvency proceedings opened on {opened.isoformat()}: no reminder (individual "
        "collection actions are barred); file the claim within two months of the BODACC "
        f"publication, at the earliest by {deadline.isoformat()}.",
    ))


def _guard_on_hold(ctx: _Context) -> Decision | None:
    cust = ctx.customer
    if not hold_active(on_hold=cust.on_hold, on_hold_until=cust.on_hold_until, today=ctx.today):
        return None
    if cust.on_hold_until is None:
        return _wait(ctx, Reason(
            "on_hold",
            "Le client est en suspens (relances bloquées jusqu'à levée) : aucune relance.",
            "The customer is on hold (reminders blocked until released): no reminder.",
        ))
    resume_on = _next_business_day(cust.on_hold_until + timedelta(days=1))
    return _wait(ctx, Reason(
        "on_hold",
        f"Le client est en suspens jusqu'au {_fr_date(cust.on_hold_until)} inclus : relance au "
        f"plus tôt le {_fr_date(resume_on)}.",
        f"The customer is on hold until {cust.on_hold_until.isoformat()} inclusive: next reminder "
        f"no earlier than {resume_on.isoformat()}.",
    ), until=resume_on)


def _guard_active_promise(ctx: _Context) -> Decision | None:
    until = ctx.invoice.active_promise_until
    if until is not None and until >= ctx.today:
        resume_on = _next_business_day(until + timedelta(days=1))
        return _wait(ctx, Reason(
            "active_promise",
            f"Promesse de paiement jusqu'au {_fr_date(until)} : relance au plus tôt le "
            f"{_fr_date(resume_on)}.",
            f"Promise to pay until {until.isoformat()}: next reminder no earlier than "
            f"{resume_on.isoformat()}.",
        ), until=resume_on)
    return None


_GUARDS: tuple[Callable[[_Context], Decision | None], ...] = (
    _guard_settled,
    _guard_below_minimum,
    _guard_open_dispute,
    _guard_insolvency,
    _guard_on_hold,
    _guard_active_promise,
)


# --- rules: adjustments to the scenario --------------------------------------------------------


def _rule_low_risk_first_delay(ctx: _Context) -> Adjustment | None:
    # the payer probably forgot: be courteous and give them a few more days
    if not ctx.low_risk or ctx.customer.previously_late_count > 0:
        return None
    if ctx.customer.deteriorating or ctx.invoice.broken_promise:
        return None
    assert ctx.risk is not None  # low_risk implies a risk
    return _low_risk_adjustment(ctx.risk_p, ctx.scenario.risk_rules.courteous_delay_days,
                                ctx.overdue)


# the adjustments below depend on a few values only: built once, not once per invoice
def _risk_words(overdue: bool) -> tuple[str, str]:
    if overdue:
        return ("probabilité de non-paiement sous 30 jours",
                "probability of not being paid within 30 days")
    return "probabilité de retard", "probability of late payment"


@lru_cache(maxsize=4096, typed=True)
def _low_risk_adjustment(p_late: float, days: int, overdue: bool = False) -> Adjustment:
    what_fr, what_en = _risk_words(overdue)
    return Adjustment(
        reason=Reason(
            "low_risk_first_delay",
            f"Risque faible ({what_fr} {p_late:.0%}) et premier retard : "
            f"rappel courtois par e-mail, relances décalées de {days} jours.",
            f"Low risk ({what_en} {p_late:.0%}) and first delay: "
            f"courteous email, reminders {days} days later.",
        ),
        shift_days=days,
        courteous_first_contact=True,
    )


def _rule_high_risk_or_deteriorating(ctx: _Context) -> Adjustment | None:
    if not (ctx.high_risk or ctx.customer.deteriorating):
        return None
    rules = ctx.scenario.risk_rules
    if ctx.high_risk:
        assert ctx.risk is not None
        return _high_risk_adjustment(ctx.risk_p, ctx.risk.grade, rules.pre_due_days,
                                     rules.high_risk_pull_in_days, ctx.overdue)
    return _high_risk_adjustment(None, None, rules.pre_due_days, rules.high_risk_pull_in_days)


@lru_cache(maxsize=4096, typed=True)
def _high_risk_adjustment(p_late: float | None, grade: str | None, pre_due_days: int,
                          pull_in_days: int, overdue: bool = False) -> Adjustment:
    if p_late is not None:
        code = "high_risk"
        what_fr, what_en = _risk_words(overdue)
        why_fr = f"Risque élevé ({what_fr} {p_late:.0%}, note {grade})"
        why_en = f"High risk ({what_en} {p_late:.0%}, grade {grade})"
    else:
        code = "deteriorating"
        why_fr, why_en = "Payeur en dégradation (retards en hausse)", "Deteriorating payer (delays rising)"
    return Adjustment(
        reason=Reason(
            code,
            f"{why_fr} : rappel {pre_due_days} jours avant l'échéance, relances avancées "
            f"de {pull_in_days} jours, ton plus ferme.",
            f"{why_en}: reminder {pre_due_days} days before the due date, reminders "
            f"{pull_in_days} days earlier, firmer tone.",
        ),
        shift_days=-pull_in_days,
        pre_due_days=pre_due_days,
        firmer=1,
    )


def _rule_large_amount_call(ctx: _Context) -> Adjustment | None:
    threshold, inv = ctx.scenario.risk_rules.large_amount_call_threshold, ctx.invoice
    if not (ctx.high_risk or ctx.customer.deteriorating) or inv.open_amount < threshold:
        return None
    return _large_amount_adjustment(inv.open_amount, inv.currency, threshold)


@lru_cache(maxsize=4096, typed=True)
def _large_amount_adjustment(amount: Decimal, currency: str, threshold: Decimal) -> Adjustment:
    return Adjustment(
        reason=Reason(
            "large_amount_call",
            f"Montant important ({_fr_amount(amount, currency)}, seuil "
            f"{_fr_amount(threshold, currency)}) chez un payeur à risque : appel plutôt "
            "qu'un e-mail ou un SMS.",
            f"Large amount ({_en_amount(amount, currency)}, threshold "
            f"{_en_amount(threshold, currency)}) for a risky payer: a call rather than an "
            "email or SMS.",
        ),
        call=True,
    )


def _rule_very_high_exposure(ctx: _Context) -> Adjustment | None:
    rules, cust, currency = ctx.scenario.risk_rules, ctx.customer, ctx.invoice.currency
    if cust.overdue_balance < rules.very_high_exposure_amount or rules.escalate_skip_steps == 0:
        return None
    return _exposure_adjustment(cust.overdue_balance, currency, rules.very_high_exposure_amount,
                                rules.escalate_skip_steps)


@lru_cache(maxsize=4096, typed=True)
def _exposure_adjustment(balance: Decimal, currency: str, threshold: Decimal, skip: int) -> Adjustment:
    return Adjustment(
        reason=Reason(
            "very_high_exposure",
            f"Encours échu très élevé ({_fr_amount(balance, currency)}, seuil "
            f"{_fr_amount(threshold, currency)}) : escalade plus rapide "
            f"vers la mise en demeure ({skip} étape(s) sautée(s)).",
            f"Very high overdue balance ({_en_amount(balance, currency)}, threshold "
            f"{_en_amount(threshold, currency)}): faster escalation towards "
            f"formal notice ({skip} step(s) skipped).",
        ),
        skip_steps=skip,
    )


def _rule_broken_promise(ctx: _Context) -> Adjustment | None:
    if not ctx.invoice.broken_promise:
        return None
    return _broken_promise_adjustment(ctx.scenario.risk_rules.broken_promise_pull_in_days)


@lru_cache(maxsize=64, typed=True)
def _broken_promise_adjustment(days: int) -> Adjustment:
    return Adjustment(
        reason=Reason(
            "broken_promise",
            f"Promesse de paiement non tenue : étape suivante avancée de {days} jours, ton plus "
            "ferme.",
            f"Broken promise to pay: next step {days} days earlier, firmer tone.",
        ),
        shift_days=-days,
        firmer=1,
    )


_RULES: tuple[Callable[[_Context], Adjustment | None], ...] = (
    _rule_low_risk_first_delay,
    _rule_high_risk_or_deteriorating,
    _rule_large_amount_call,
    _rule_very_high_exposure,
    _rule_broken_promise,
)


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


# --- scheduling --------------------------------------------------------------------------------


def _basis(ctx: _Context) -> Basis:
    return "model" if ctx.risk is not None and ctx.risk.source == "model" else "rules"


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


def decide(
    *,
    invoice: InvoiceState,
    customer: CustomerState,
    risk: Risk | None,
    scenario: Scenario,
    today: date,
    last_contact_on: date | None,
    steps_done: Iterable[str],
    step_closed: Mapping[str, date | None] | None = None,
) -> Decision:
    """The next action for one invoice: guards first, then the scenario adjusted by the rules.

    `step_closed`: for the steps done, the day each closed (None while still open); without it
    every step done counts as closed long ago."""
    done = frozenset(steps_done)
    ctx = _Context(
        invoice=invoice, customer=customer, risk=risk, scenario=scenario, today=today,
        last_contact_on=last_contact_on, steps_done=done,
        step_closed=tuple(sorted((k, v) for k, v in (step_closed or {}).items() if k in done)),
    )
    for guard in _GUARDS:
        decision = guard(ctx)
        if decision is not None:
            return decision
    plan = _fold(tuple(adj for rule in _RULES if (adj := rule(ctx)) is not None))
    base_reasons = [_no_model_reason(scenario)] if risk is None else []
    return _schedule(ctx, plan, [*base_reasons, *plan.reasons])


# --- the daily run's pre-filter ------------------------------------------------------------------

_EARLIEST_OFFSET: dict[int, tuple[Scenario, int]] = {}


def earliest_step_offset(scenario: Scenario) -> int:
    """The earliest day, from the due date, on which any step of `scenario` can fall, whatever
    the risk and the rules: a pre-due step (or the pre-due reminder a risky payer gets), else the
    due date itself (overdue steps never fall before due + grace, and pulling in never crosses it).
    """
    cached = _EARLIEST_OFFSET.get(id(scenario))
    if cached is None or cached[0] is not scenario:
        offset = min(0, -scenario.risk_rules.pre_due_days, *(s.offset_days for s in scenario.steps))
        cached = _EARLIEST_OFFSET[id(scenario)] = (scenario, offset)
    return cached[1]


def may_act(
    *,
    invoice: InvoiceState,
    customer: CustomerState,
    scenario: Scenario,
    today: date,
    last_contact_on: date | None,
) -> bool:
    """False only when `decide(...)` cannot be due on `today` for this invoice, whatever its risk
    and steps done: a cheap, conservative pre-filter for the daily run (most open invoices have
    nothing due on a given day). True means "ask `decide`", not "act".

    Why each test is exact: an action's send date is the next business day on or after
    max(today, step date, last contact + minimum delay), and it is due only when that is today;
    the guards (settled, below minimum, dispute, insolvency, hold, active promise) always wait.
    """
    if _next_business_day(today) != today:
        return False  # every send date would roll past a weekend or holiday
    if invoice.settled or invoice.has_open_dispute:
        return False
    if (hold_active(on_hold=customer.on_hold, on_hold_until=customer.on_hold_until, today=today)
            or insolvent(insolvency_date=customer.insolvency_date, today=today)):
        return False
    if invoice.open_amount <= 0 or invoice.open_amount < scenario.min_amount:
        return False
    until = invoice.active_promise_until
    if until is not None and until >= today:
        return False
    if (last_contact_on is not None
            and last_contact_on + timedelta(days=scenario.min_days_between_contacts) > today):
        return False
    # no step, however pulled in, falls on or before today yet
    return invoice.due_date + timedelta(days=earliest_step_offset(scenario)) <= today
