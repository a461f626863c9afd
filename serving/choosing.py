"""Where exploration plugs into decisions: what a chooser is given and returns. Its own module so
that `serving.decisions` (which calls a chooser) and `serving.exploration` (which is one) both
depend on it, and not on each other."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from serving.policy import Decision, InvoiceState


@dataclass(frozen=True, slots=True)
class Chosen:
    """The decision kept for an invoice and the probability it had of being chosen."""

    decision: Decision
    propensity: float = 1.0
    policy_id: int | None = None  # the active learned/analyst policy that chose it (None: rules)


class Chooser(Protocol):
    """Picks the decision to act on among those the policy deems acceptable for an invoice.

    Called with every decision `policy.decide` returns (due or not). The default keeps the
    policy's own choice. An exploring chooser (issue #21) may return another acceptable decision
    within hard bounds — never a formal notice or legal step at random, never earlier than the
    policy allows — with the probability it had of being chosen."""

    def __call__(self, invoice: InvoiceState, decision: Decision) -> Chosen: ...


def policy_choice(invoice: InvoiceState, decision: Decision) -> Chosen:
    return Chosen(decision)
