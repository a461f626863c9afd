"""Value at risk in money, and the payer's-history answer to "when will it be paid".

    VaR_h = Σ over open invoices of open_amount × P(not paid within h days | unpaid today)

Each probability is clipped to [0, 1], so each term is at most its open amount and the sum is
never more than what is owed. The probabilities come from the time-to-payment model, or, when no
model is served, from the payer's own history: :func:`payer_hazards` (a Kaplan–Meier estimate
per payer and delay bin, shrunk towards the pooled one) and :func:`unpaid_after`. That is the
one rules fallback: the worklist (``ledger.collections``) and the risk service
(``serving.risk`` through ``model.survival.rules_hazards``) both call it, so a customer's P(not
paid within 30 days) is the same number on every screen. It lives here, in the lowest layer,
because the worklist reads the ledger without the model.

Delays are cut into the bins of the time-to-payment model (``DELAY_EDGES``, days late); a hazard
``h[k]`` is P(paid in bin k | unpaid when bin k starts). ``S(x) = P(unpaid at the end of day
due + x)`` is the product of ``1 − h`` over the bins passed, log-linear inside a bin; bin 0's
payments are spread over the ``PRE_DUE_DAYS`` days before the due date; after the last edge the
last bin's daily hazard continues.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal

import numpy as np

CENT = Decimal("0.01")
HORIZONS = (30, 90)

# bins of days late (settled − due): bin 0 is "paid by the due date", bin k (k >= 1) "paid in
# (EDGES[k-1], EDGES[k]]"; after the last, "not paid within a year past due". Weekly while most
# payments happen, coarser later (within a bin the daily hazard is taken constant, which is only
# true of short bins). features.labels and model.survival read them from here.
DELAY_EDGES = np.array([0, 7, 14, 21, 30, 45, 60, 75, 90, 120, 150, 180, 270, 365],
                       dtype=np.int64)
N_BINS = len(DELAY_EDGES)
PRE_DUE_DAYS = 7.0
H_MIN, H_MAX = 1e-4, 1 - 1e-4
# a payer's hazards are shrunk towards the pooled ones with this many pseudo-invoices
PRIOR_STRENGTH = 3.0
# pooled hazards when fewer than MIN_POOLED settled invoices are known (a documented generic
# B2B profile: 60 % paid by the due date, then about a third of the rest each week of the
# first month, slower after)
GENERIC_HAZARDS = np.array([0.60, 0.35, 0.30, 0.30, 0.30, 0.25, 0.20, 0.20, 0.20, 0.15, 0.15,
                            0.15, 0.15, 0.10])
MIN_POOLED = 200


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


def delay_bin(days_late: np.ndarray) -> np.ndarray:
    """The bin of each days-late value (N_BINS for beyond the last edge)."""
    return np.searchsorted(DELAY_EDGES, np.asarray(days_late, dtype=float), side="left")


def delay_counts(codes: np.ndarray, n_payers: int, days_late: np.ndarray, settled: np.ndarray,
                 weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(at risk, events), each (n_payers, N_BINS), of Kaplan–Meier by payer and bin.

    ``days_late``: settled − due of a settled invoice; for an open one, days late so far (unpaid
    at the end of day due + days_late). A settled invoice is an event in its bin and at risk in
    it and every bin before; an open one is at risk (no event) only in the bins that ended by its
    age — right-censored, never counted as paid or unpaid beyond what was seen. ``weights``:
    how many invoices each row stands for (rows aggregated by SQL), 1 by default."""
    codes = np.asarray(codes, dtype=np.int64)
    late = np.asarray(days_late, dtype=float)
    settled = np.asarray(settled, dtype=bool)
    weights = np.ones(len(codes)) if weights is None else np.asarray(weights, dtype=float)
    event_bin = np.where(settled, delay_bin(late), -1)
    reached = np.where(settled, event_bin + 1, (late[:, None] >= DELAY_EDGES[None, :]).sum(axis=1))
    reached = np.minimum(reached, N_BINS)
    at_risk = np.zeros((n_payers, N_BINS))
    events = np.zeros((n_payers, N_BINS))
    for k in range(N_BINS):
        at_risk[:, k] = np.bincount(codes, weights=weights * (reached > k), minlength=n_payers)
        events[:, k] = np.bincount(codes, weights=weights * (event_bin == k), minlength=n_payers)
    return at_risk, events


def pooled_hazards(at_risk: np.ndarray, events: np.ndarray, n_settled: float) -> np.ndarray:
    """The ledger's hazards from summed counts (the generic profile below MIN_POOLED settled
    invoices or when a bin was never reached)."""
    total = np.asarray(at_risk).reshape(-1, N_BINS).sum(axis=0)
    if n_settled >= MIN_POOLED and (total > 0).all():
        paid = np.asarray(events).reshape(-1, N_BINS).sum(axis=0)
        return np.clip(paid / total, 0.02, 0.98)
    return GENERIC_HAZARDS.copy()


def payer_hazards(at_risk: np.ndarray, events: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """Each payer's hazards, shrunk towards ``prior`` with PRIOR_STRENGTH pseudo-invoices (a
    short history moves them a little; a payer with none gets the prior)."""
    hazards = (events + PRIOR_STRENGTH * prior) / (at_risk + PRIOR_STRENGTH)
    return np.clip(hazards, H_MIN, H_MAX)


def own_hazards(at_risk: np.ndarray, events: np.ndarray, n_settled: np.ndarray) -> np.ndarray:
    """Each payer's rules hazards, the payer **pooled with itself only**: the prior is its own
    pooled rate (`pooled_hazards`: the generic profile below MIN_POOLED settled invoices), so
    its answer never depends on which other customers are scored with it (one customer's page,
    a chunk of the dunning run, the worklist and a nightly refresh agree, and an ingest for
    another customer leaves it unchanged). ``n_settled``: each payer's settled invoices."""
    at_risk, events = np.atleast_2d(at_risk), np.atleast_2d(events)
    with np.errstate(divide="ignore", invalid="ignore"):
        own = np.clip(events / at_risk, 0.02, 0.98)
    pooled = (np.asarray(n_settled, dtype=float) >= MIN_POOLED) & (at_risk > 0).all(axis=1)
    prior = np.where(pooled[:, None], own, GENERIC_HAZARDS[None, :])
    return payer_hazards(at_risk, events, prior)


def survival_knots(h: np.ndarray, terms: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Knot abscissae x (n, N_BINS + 1), log S at them (n, N_BINS + 1), and the slope beyond."""
    h = np.clip(np.asarray(h, dtype=float), H_MIN, H_MAX)
    n = len(h)
    spread = np.full(n, PRE_DUE_DAYS) if terms is None else np.clip(
        np.asarray(terms, dtype=float), 1.0, PRE_DUE_DAYS)
    edges = DELAY_EDGES.astype(float)
    x = np.column_stack([-spread, np.broadcast_to(edges, (n, N_BINS))])
    log1m = np.log1p(-h)
    logs = np.column_stack([np.zeros(n), np.cumsum(log1m, axis=1)])
    slope = log1m[:, -1] / (edges[-1] - edges[-2])
    return x, logs, slope


def log_survival(h: np.ndarray, x: np.ndarray, terms: np.ndarray | None = None) -> np.ndarray:
    """log S at days late ``x``: ``x`` is (n,) or (n, m); returns the same shape."""
    kx, logs, slope = survival_knots(h, terms)
    x = np.asarray(x, dtype=float)
    flat = x.ndim == 1
    xs = x[:, None] if flat else x
    out = np.empty(xs.shape)
    rows = np.arange(xs.shape[0])
    for j in range(xs.shape[1]):
        xj = xs[:, j]
        # segment i spans knots i and i + 1 (i = 0 .. N_BINS - 1)
        i = np.clip((xj[:, None] > kx).sum(axis=1) - 1, 0, N_BINS - 1)
        x0, x1 = kx[rows, i], kx[rows, i + 1]
        l0, l1 = logs[rows, i], logs[rows, i + 1]
        inside = l0 + (l1 - l0) * (xj - x0) / (x1 - x0)
        value = np.where(xj <= kx[:, 0], 0.0, inside)
        out[:, j] = np.where(xj > kx[:, -1], logs[:, -1] + slope * (xj - kx[:, -1]), value)
    return out[:, 0] if flat else out


def unpaid_after(h: np.ndarray, age: np.ndarray, days: float | np.ndarray,
                 terms: np.ndarray | None = None) -> np.ndarray:
    """P(still unpaid ``days`` after today | unpaid today at ``age`` days late): S(age + days)
    / S(age), the model's hazards or the payer's (:func:`payer_hazards`) alike."""
    age = np.asarray(age, dtype=float)
    return np.exp(log_survival(h, age + days, terms) - log_survival(h, age, terms))
