"""Exploration: the daily run may choose at random among the actions the policy deems
acceptable for an invoice, and stores the probability of the one it chose (docs/policy.md).

Off by default (``RELANCE_EXPLORATION=0``); ``relance demo`` and the simulator turn it on. With a
share ``e`` > 0, an e-mail reminder the policy decides is one of these variants:

- the policy's own tone (courteous or neutral), now — probability 1 − e + e/k;
- the other of courteous / neutral, now; a courteous e-mail three business days later;
- a call instead, for a mid-size amount (open amount ≥ 1,000) — each e/k,

k being the number of variants. Hard bounds: only e-mail reminders in a courteous or neutral tone
of an overdue invoice are ever varied — never a pre-due courtesy e-mail, a call the policy chose, a letter, a formal
notice or a legal step —, and a variant may act later than the policy, never earlier, so no
legal delay is ever skipped. The draw is a hash of the invoice and the step: a run replayed, or
next-action asked the same day, makes the same choice.
"""
from __future__ import annotations

import dataclasses
import hashlib
from decimal import Decimal

from ledger.calendar import add_business_days
from serving.choosing import Chosen
from serving.policy import PRE_DUE_STEP_NAME, Decision, InvoiceState, Reason

MID_AMOUNT = Decimal("1000")  # features.decisions.MID_AMOUNT: calls are offered from here
LATER_BUSINESS_DAYS = 3
_VARIED_TONES = ("courteous", "neutral")


def variants(invoice: InvoiceState, decision: Decision) -> list[tuple[str, str, int]]:
    """(channel, tone, business days later) the run may choose from; the policy's first."""
    own = (decision.channel or "email", decision.tone or "neutral", 0)
    if (decision.action != "email" or decision.channel != "email" or decision.tone not in _VARIED_TONES
            or decision.step in (None, PRE_DUE_STEP_NAME) or decision.send_on is None
            or decision.send_on <= invoice.due_date):  # a courtesy reminder before the due date
        return [own]
    other = "neutral" if decision.tone == "courteous" else "courteous"
    out = [own, ("email", other, 0), ("email", "courteous", LATER_BUSINESS_DAYS)]
    if invoice.open_amount >= MID_AMOUNT:
        out.append(("call", "neutral", 0))
    return out


def _uniform(invoice_id: str, step: str) -> float:
    digest = hashlib.blake2b(f"relance-exploration|{invoice_id}|{step}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def vary(decision: Decision, option: tuple[str, str, int], reason: Reason) -> Decision:
    """The decision acting as ``option`` (channel, tone, business days later) instead."""
    channel, tone, later = option
    send_on = add_business_days(decision.send_on, later) if later and decision.send_on else decision.send_on
    return dataclasses.replace(decision, action=channel, channel=channel, tone=tone,
                               template=None, send_on=send_on, reasons=[*decision.reasons, reason])


def mixed_draw(invoice: InvoiceState, decision: Decision, count: int, preferred: int,
               exploration: float) -> tuple[int, list[float]]:
    """The option drawn (index) and every option's probability: ``preferred`` with
    1 − e + e/k, each other with e/k (k = ``count``). The draw is a hash of the invoice and the
    step, so a replayed run or next-action makes the same choice."""
    share = exploration / count
    probabilities = [share] * count
    probabilities[preferred] += 1.0 - exploration
    draw, total, index = _uniform(invoice.invoice_id, decision.step or ""), 0.0, 0
    for index, probability in enumerate(probabilities):  # noqa: B007  (the index is the choice)
        total += probability
        if draw < total:
            break
    return index, probabilities


def explored_reason(option: tuple[str, str, int], probability: float) -> Reason:
    channel, tone, later = option
    return Reason(
        "exploration",
        f"Variante choisie au hasard parmi les actions acceptables (exploration, probabilité "
        f"{probability:.2f}) : {channel}, ton {tone}" + (", trois jours ouvrés plus tard" if later else ""),
        f"Variant chosen at random among the acceptable actions (exploration, probability "
        f"{probability:.2f}): {channel}, {tone} tone" + (", three business days later" if later else ""))


class ExploringChooser:
    """A ``serving.decisions.Chooser`` exploring a share ``exploration`` of the decisions."""

    def __init__(self, exploration: float):
        if not 0.0 < exploration <= 1.0:
            raise ValueError(f"exploration must be in (0, 1], got {exploration}")
        self.exploration = exploration

    def __call__(self, invoice: InvoiceState, decision: Decision) -> Chosen:
        options = variants(invoice, decision)
        if len(options) == 1:
            return Chosen(decision)
        index, probabilities = mixed_draw(invoice, decision, len(options), 0, self.exploration)
        if index == 0:
            return Chosen(decision, propensity=probabilities[0])
        return Chosen(vary(decision, options[index], explored_reason(options[index], probabilities[index])),
                      propensity=probabilities[index])


def configured_chooser():
    """The chooser the settings ask for: exploring when RELANCE_EXPLORATION > 0, else None
    (the policy's own choice)."""
    from ledger.config import get_settings

    share = get_settings().exploration
    return ExploringChooser(share) if share > 0 else None
