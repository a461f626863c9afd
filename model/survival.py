"""Time to payment as discrete-time hazards: the one representation every consumer reads.

An invoice's days late ``T = settled − due`` is cut into intervals (``EDGES``, in days late):

    bin 0: paid on or before the due date     (T <= 0)
    bin k: paid in (EDGES[k-1], EDGES[k]]     (weekly to 30 days, then 15 days to 90, 30 to 180,
                                               then 180-270 and 270-365)
    beyond: not paid within 365 days past due (the "not paid within the horizon" end)

A hazard ``h[k]`` is P(paid in bin k | unpaid when bin k starts). Whoever estimates them (the
LightGBM hazard model of :mod:`model.train`, or the payer's own history in :func:`rules_hazards`
when no model is served), everything else is arithmetic on them, here:

- the survival ``S(x) = P(unpaid at the end of day due + x)`` is the product of ``1 − h`` over the
  bins passed; inside a bin the daily hazard is taken constant (log S linear in x). Bin 0's
  payments are spread over the last ``PRE_DUE_DAYS`` days before the due date (early payers pay a
  few days before it); after 365 days the last bin's daily hazard continues;
- for an invoice unpaid at age ``d`` (days late so far; negative before the due date), every
  answer is conditional: ``P(unpaid at x | unpaid at d) = S(x) / S(d)``;
- quantiles invert log S (piecewise linear) exactly, without a daily grid.

Nothing here imports LightGBM: serving with rules loads this module only.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ledger.var import (
    DELAY_EDGES,
    GENERIC_HAZARDS,
    N_BINS,
    PRE_DUE_DAYS,
    PRIOR_STRENGTH,
    delay_bin,
    delay_counts,
    log_survival,
    own_hazards,
    survival_knots,
    unpaid_after,
)

EDGES = DELAY_EDGES.astype(float)
HORIZON_DAYS = 180  # expected days late is capped here (restricted mean)
SEVERE_DAYS = 30
__all__ = ["EDGES", "GENERIC_HAZARDS", "N_BINS", "PRIOR_STRENGTH", "PRE_DUE_DAYS", "bin_of", "bin_start", "log_survival",
           "quantile_days", "restricted_mean_late", "rules_hazards", "summarise",
           "unpaid_after", "weekly_mass"]


def bin_of(days_late: np.ndarray) -> np.ndarray:
    """The bin of each days-late value (N_BINS for beyond the horizon)."""
    return delay_bin(days_late)


def bin_start(k: np.ndarray) -> np.ndarray:
    """Days late at which bin k starts (bin 0: -inf, as -1e9)."""
    k = np.asarray(k)
    return np.where(k == 0, -1e9, EDGES[np.clip(k - 1, 0, N_BINS - 1)])


def quantile_days(h: np.ndarray, age: np.ndarray, q: float,
                  terms: np.ndarray | None = None, limit: float = 365.0) -> np.ndarray:
    """Days late by which payment has probability ``q`` given unpaid at ``age`` (NaN: not
    within ``limit`` days of today)."""
    kx, logs, slope = survival_knots(h, terms)
    age = np.asarray(age, dtype=float)
    target = log_survival(h, age, terms) + np.log1p(-q)
    rows = np.arange(len(age))
    # first knot at or below the target (log S is non-increasing)
    below = logs <= target[:, None] + 1e-12
    first = np.where(below.any(axis=1), below.argmax(axis=1), -1)
    i = np.clip(first, 1, N_BINS)
    x0, x1 = kx[rows, i - 1], kx[rows, i]
    l0, l1 = logs[rows, i - 1], logs[rows, i]
    with np.errstate(divide="ignore", invalid="ignore"):
        inside = x0 + (target - l0) * (x1 - x0) / np.where(l1 == l0, -1e-12, l1 - l0)
        beyond = kx[:, -1] + (target - logs[:, -1]) / np.where(slope < 0, slope, -1e-12)
    x = np.where(first > 0, inside, beyond)
    x = np.maximum(x, age)
    return np.where(x - age <= limit, np.ceil(x - 1e-9), np.nan)


def restricted_mean_late(h: np.ndarray, terms: np.ndarray | None = None) -> np.ndarray:
    """E[min(max(T, 0), 180)] of a new invoice: expected days late, capped at 180 days."""
    kx, logs, _ = survival_knots(h, terms)
    total = np.zeros(len(h))
    last = int(np.searchsorted(EDGES, HORIZON_DAYS))  # knot index of day 180 is last + 1
    for i in range(1, last + 1):  # segments from day 0 to 180
        w = kx[:, i + 1] - kx[:, i]
        b = (logs[:, i + 1] - logs[:, i]) / w
        with np.errstate(divide="ignore", invalid="ignore"):
            part = np.where(np.abs(b) < 1e-12, w, np.expm1(b * w) / b)
        total += np.exp(logs[:, i]) * part
    return total


def summarise(h: np.ndarray, age: np.ndarray, due: pd.Series | np.ndarray,
              today: pd.Timestamp, terms: np.ndarray | None = None,
              coverage: float = 0.8) -> pd.DataFrame:
    """Every answer consumers read, for invoices unpaid at ``age`` on ``today``.

    p_late / p_severe / expected_days_late are those of the invoice as a whole (conditional on
    being unpaid today: an invoice 40 days late has p_late 1 and p_severe 1); p_unpaid_30 /
    p_unpaid_90 are conditional on unpaid today, from today; the pay date quantiles too.
    """
    age = np.asarray(age, dtype=float)
    log_now = log_survival(h, age, terms)
    p_late = np.exp(log_survival(h, np.maximum(age, 0.0), terms) - log_now)
    p_severe = np.exp(log_survival(h, np.maximum(age, float(SEVERE_DAYS)), terms) - log_now)
    due = pd.to_datetime(pd.Series(np.asarray(due)))
    lo_q, hi_q = (1 - coverage) / 2, 1 - (1 - coverage) / 2
    dates = {}
    for name, q in (("pay_date_low", lo_q), ("expected_pay_date", 0.5), ("pay_date_high", hi_q)):
        days = quantile_days(h, age, q, terms)
        # money still to come comes tomorrow at the earliest
        when = due + pd.to_timedelta(days, unit="D")
        when = when.where(when > today, today + pd.Timedelta(days=1))
        values = when.dt.date.to_numpy(dtype=object)
        values[np.isnan(days)] = None
        dates[name] = values
    fresh = restricted_mean_late(h, terms)
    overdue = age >= 0  # unpaid at the end of the due day: late already
    cond_mean = np.where(overdue, age + _mean_remaining(h, age, terms), fresh)
    return pd.DataFrame({
        "p_late": p_late, "p_severe": np.minimum(p_severe, p_late),
        "expected_days_late": cond_mean,
        "p_unpaid_30": unpaid_after(h, age, 30.0, terms),
        "p_unpaid_90": unpaid_after(h, age, 90.0, terms),
        **dates,
    })


def _mean_remaining(h: np.ndarray, age: np.ndarray, terms: np.ndarray | None) -> np.ndarray:
    """E[min(T, age + 180) − age | T > age] on a weekly grid (good to a few days)."""
    steps = np.arange(0.0, HORIZON_DAYS + 1, 7.0)
    surv = np.exp(log_survival(h, age[:, None] + steps[None, :], terms)
                  - log_survival(h, age, terms)[:, None])
    return np.trapezoid(surv, steps, axis=1) if hasattr(np, "trapezoid") else np.trapz(
        surv, steps, axis=1)


def weekly_mass(h: np.ndarray, age: np.ndarray, weeks: int,
                terms: np.ndarray | None = None) -> np.ndarray:
    """(n, weeks + 1): P(paid in week w from today | unpaid today), last column: later or never."""
    ends = np.arange(0, weeks + 1, dtype=float) * 7.0
    surv = np.exp(log_survival(h, np.asarray(age, float)[:, None] + ends[None, :], terms)
                  - log_survival(h, age, terms)[:, None])
    return np.column_stack([surv[:, :-1] - surv[:, 1:], surv[:, -1]])


# ----------------------------------------------------------------------------------- rules


def rules_hazards(invoices: pd.DataFrame, customer_ids: np.ndarray,
                  as_of: pd.Timestamp) -> np.ndarray:
    """Hazards from each payer's own invoices known at ``as_of`` (no model): the ledger's one
    rules fallback, :func:`ledger.var.own_hazards` (a Kaplan–Meier shrunk towards the payer's
    own pooled rate, so its answer never depends on who else is scored; the worklist calls it
    too), fed with the invoices issued before ``as_of`` — settled before it (an event), or open
    then (censored at their age, days late at the end of the day before)."""
    as_of = pd.Timestamp(as_of)
    frame = invoices
    if "kind" in frame:
        frame = frame[frame["kind"].fillna("invoice") == "invoice"]
    frame = frame[frame["issue_date"] < as_of]
    settled = (frame["settled_date"].notna() & (frame["settled_date"] < as_of)).to_numpy()
    late = np.where(settled, (frame["settled_date"] - frame["due_date"]).dt.days,
                    (as_of - pd.Timedelta(days=1) - frame["due_date"]).dt.days).astype(float)
    codes, uniques = pd.factorize(frame["customer_id"])
    at_risk, events = delay_counts(codes, len(uniques), late, settled)
    n_settled = np.bincount(codes, weights=settled.astype(float), minlength=len(uniques))
    index = pd.Index(uniques).get_indexer(pd.Index(customer_ids))
    known = index >= 0
    out = own_hazards(np.zeros((len(index), N_BINS)), np.zeros((len(index), N_BINS)),
                      np.zeros(len(index)))
    if known.any():
        out[known] = own_hazards(at_risk, events, n_settled)[index[known]]
    return out
