"""The rules: each looks at the context and contributes an `Adjustment` to the scenario's plan,
with one reason sentence in French and English; thresholds come from `scenario.risk_rules`."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from functools import lru_cache

from serving.policy.context import Adjustment, _Context, _en_amount, _fr_amount
from serving.policy.types import Reason

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

