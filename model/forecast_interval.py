"""The 80 % interval of each week of the model's cash forecast, calibrated on its own past errors.

A week's forecast is Σ amount × P(paid that week) over the open invoices. Read as a sum of
independent invoices its standard deviation is ``sd = √Σ amount² p (1 − p)``, and ± 1.2816 sd
would be an 80 % interval — but invoices are not independent: one payer's invoices go out in the
same payment run, a payer who slides slides on all its invoices, and the model's own error
(lateness drifting after training) moves every invoice the same way. Measured on synthetic
ledgers, weekly actuals fell inside ± 1.2816 sd 57–74 % of the time while each invoice fell
inside its own 80 % pay-date interval 83–85 % of the time: the per-invoice distributions are right,
their sum's spread is not.

So the interval is **split conformal** on the forecast's own out-of-time residuals: for each past
week whose actual is known, the score ``r = (actual − forecast) / sd``; the interval is
``[forecast + q_low × sd, forecast + q_high × sd]`` with ``q_low``, ``q_high`` the 10th and 90th
percentiles of the scores (finite-sample corrected: ranks ⌊0.1 (n + 1)⌋ and ⌈0.9 (n + 1)⌉).
Signed scores let a forecast that has been running high (or low) get an interval shifted the
same way. The scores come only from forecasts of the served booster made **after its
early-stopping date** (``valid_from``: it never learnt a payment in those weeks) and whose week
has ended; with fewer than ``MIN_SCORES`` of them the interval falls back to ± 1.2816 sd.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

NOMINAL = 0.8
Z80 = 1.2815515655446004
MIN_SCORES = 20


@dataclass(frozen=True)
class WeekInterval:
    """Multipliers of a week's independent-invoice standard deviation: [mean + low·sd, mean + high·sd]."""

    low: float = -Z80
    high: float = Z80
    n: int = 0  # scores the multipliers come from (0: the independence fallback)
    method: str = "independent"

    def bounds(self, mean: np.ndarray, sd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean, sd = np.asarray(mean, float), np.asarray(sd, float)
        return np.maximum(mean + self.low * sd, 0.0), mean + self.high * sd

    def to_dict(self) -> dict:
        return {"method": self.method, "low": round(self.low, 4), "high": round(self.high, 4),
                "n": self.n, "nominal": NOMINAL}

    @classmethod
    def from_dict(cls, data: dict | None) -> WeekInterval:
        if not data:
            return cls()
        return cls(low=float(data["low"]), high=float(data["high"]), n=int(data.get("n", 0)),
                   method=str(data.get("method", "split-conformal")))


def scores(actual: np.ndarray, mean: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """(actual − forecast) / sd per week; weeks with nothing forecast (sd 0) give no score."""
    actual, mean, sd = (np.asarray(x, float) for x in (actual, mean, sd))
    keep = sd > 0
    return (actual[keep] - mean[keep]) / sd[keep]


def conformal(found: np.ndarray, *, nominal: float = NOMINAL) -> WeekInterval:
    """The split-conformal multipliers from past scores (the fallback below ``MIN_SCORES``)."""
    found = np.sort(np.asarray(found, float))
    n = len(found)
    if n < MIN_SCORES:
        return WeekInterval()
    tail = (1 - nominal) / 2
    # 1-based ranks (the tiny slack keeps 0.1 × 100 from rounding to 9.999…)
    low_rank = max(math.floor(tail * (n + 1) + 1e-9), 1)
    high_rank = min(math.ceil((1 - tail) * (n + 1) - 1e-9), n)
    low, high = float(found[low_rank - 1]), float(found[high_rank - 1])
    # never narrower than the independent-invoice interval, around the same centre
    centre, half = (low + high) / 2, max((high - low) / 2, Z80)
    return WeekInterval(low=centre - half, high=centre + half, n=n, method="split-conformal")
