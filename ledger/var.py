"""Value at risk in money: what is expected not to be collected within a horizon.

    VaR_h = Σ over open invoices of open_amount × P(not paid within h days | unpaid today)

Each probability is clipped to [0, 1], so each term is at most its open amount and the sum is
never more than what is owed. The probabilities come from the time-to-payment model, or from
the payer's history when no model is served (`rules_unpaid`).
"""
from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
HORIZONS = (30, 90)
# weight, in invoices, of the ledger-wide rate against a payer's own history
PRIOR_WEIGHT = 3.0


def value_at_risk(pairs: Iterable[tuple[Decimal, float]]) -> Decimal:
    """Σ open × p over (open amount, probability) pairs, to the cent, never above Σ open.

    An open amount must be zero or more; a probability outside [0, 1] is clipped to it, and an
    unknown one (NaN) counts as 1: what cannot be estimated is at risk."""
    total = Decimal(0)
    for amount, p in pairs:
        amount = Decimal(amount)
        if amount < 0:
            raise ValueError(f"an open amount cannot be negative, got {amount}")
        p = 1.0 if p is None or math.isnan(p) else min(max(float(p), 0.0), 1.0)
        total += amount * Decimal(repr(p))
    # half-up on a sum of terms each ≤ its amount: the result cannot pass Σ open (a cent multiple)
    return total.quantize(CENT, ROUND_HALF_UP)


class DelayHistogram:
    """Counts of days late (settled − due) of settled invoices, to answer P(D > x) quickly."""

    def __init__(self, counts: Mapping[int, int]):
        self.days = sorted(counts)
        # beyond[i] = number of invoices with D ≥ days[i]
        self.beyond = [0] * (len(self.days) + 1)
        for i in range(len(self.days) - 1, -1, -1):
            self.beyond[i] = self.beyond[i + 1] + counts[self.days[i]]

    @classmethod
    def of(cls, days_late: Sequence[int]) -> DelayHistogram:
        counts: dict[int, int] = {}
        for d in days_late:
            counts[int(d)] = counts.get(int(d), 0) + 1
        return cls(counts)

    def more_than(self, x: int) -> int:
        """Invoices paid more than `x` days after their due date."""
        return self.beyond[bisect.bisect_right(self.days, x)]


def rules_unpaid(payer: DelayHistogram, ledger: DelayHistogram, overdue: int,
                 horizon: int) -> float:
    """P(not paid within `horizon` days | unpaid `overdue` days after the due date) without a model.

    Among invoices that were still unpaid at that age (D > overdue), the share still unpaid
    `horizon` days later (D > overdue + horizon): the payer's own, shrunk towards the ledger's
    with PRIOR_WEIGHT invoices; the ledger's is (n + 1) / (N + 1), so an age nobody ever paid at
    counts as not paid (1). Open invoices are not counted (they have no outcome yet), which makes
    it optimistic for a payer with many old unpaid invoices."""
    prior = (ledger.more_than(overdue + horizon) + 1) / (ledger.more_than(overdue) + 1)
    reached = payer.more_than(overdue)
    still = payer.more_than(overdue + horizon)
    return (still + PRIOR_WEIGHT * prior) / (reached + PRIOR_WEIGHT)
