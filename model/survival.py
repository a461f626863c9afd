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

from features.labels import EDGES as _EDGES

EDGES = _EDGES.astype(float)
N_BINS = len(EDGES)
HORIZON_DAYS = 180  # expected days late is capped here (restricted mean)
SEVERE_DAYS = 30
PRE_DUE_DAYS = 7.0
H_MIN, H_MAX = 1e-4, 1 - 1e-4
# rules: a payer's hazards are shrunk towards the pooled ones with this many pseudo-invoices
PRIOR_STRENGTH = 3.0
# pooled hazards when fewer than MIN_POOLED settled invoices are known (a documented generic
# B2B profile: 60 % paid by the due date, then about a third of the rest each week of the
# first month, slower after)
GENERIC_HAZARDS = np.array([0.60, 0.35, 0.30, 0.30, 0.30, 0.25, 0.20, 0.20, 0.20, 0.15, 0.15,
                            0.15, 0.15, 0.10])
MIN_POOLED = 200


def bin_of(days_late: np.ndarray) -> np.ndarray:
    """The bin of each days-late value (N_BINS for beyond the horizon)."""
    return np.searchsorted(EDGES, np.asarray(days_late, dtype=float), side="left")


def bin_start(k: np.ndarray) -> np.ndarray:
    """Days late at which bin k starts (bin 0: -inf, as -1e9)."""
    k = np.asarray(k)
    return np.where(k == 0, -1e9, EDGES[np.clip(k - 1, 0, N_BINS - 1)])


def _knots(h: np.ndarray, terms: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Knot abscissae x (n, N_BINS + 1), log S at them (n, N_BINS + 1), and the slope beyond."""
    h = np.clip(np.asarray(h, dtype=float), H_MIN, H_MAX)
    n = len(h)
    spread = np.full(n, PRE_DUE_DAYS) if terms is None else np.clip(
        np.asarray(terms, dtype=float), 1.0, PRE_DUE_DAYS)
    x = np.column_stack([-spread, np.broadcast_to(EDGES, (n, N_BINS))])
    log1m = np.log1p(-h)
    logs = np.column_stack([np.zeros(n), np.cumsum(log1m, axis=1)])
    slope = log1m[:, -1] / (EDGES[-1] - EDGES[-2])
    return x, logs, slope


def log_survival(h: np.ndarray, x: np.ndarray, terms: np.ndarray | None = None) -> np.ndarray:
    """log S at days late ``x``: ``x`` is (n,) or (n, m); returns the same shape."""
    kx, logs, slope = _knots(h, terms)
    x = np.asarray(x, dtype=float)
    flat = x.ndim == 1
    xs = x[:, None] if flat else x
    out = np.empty(xs.shape)
    for j in range(xs.shape[1]):
        xj = xs[:, j]
        # segment i spans knots i and i + 1 (i = 0 .. N_BINS - 1)
        i = np.clip((xj[:, None] > kx).sum(axis=1) - 1, 0, N_BINS - 1)
        rows = np.arange(len(xj))
        x0, x1 = kx[rows, i], kx[rows, i + 1]
        l0, l1 = logs[rows, i], logs[rows, i + 1]
        inside = l0 + (l1 - l0) * (xj - x0) / (x1 - x0)
        value = np.where(xj <= kx[:, 0], 0.0, inside)
        out[:, j] = np.where(xj > kx[:, -1], logs[:, -1] + slope * (xj - kx[:, -1]), value)
    return out[:, 0] if flat else out


def unpaid_after(h: np.ndarray, age: np.ndarray, days: float | np.ndarray,
                 terms: np.ndarray | None = None) -> np.ndarray:
    """P(still unpaid ``days`` after today | unpaid today at ``age`` days late)."""
    age = np.asarray(age, dtype=float)
    return np.exp(log_survival(h, age + days, terms) - log_survival(h, age, terms))


def quantile_days(h: np.ndarray, age: np.ndarray, q: float,
                  terms: np.ndarray | None = None, limit: float = 365.0) -> np.ndarray:
    """Days late by which payment has probability ``q`` given unpaid at ``age`` (NaN: not
    within ``limit`` days of today)."""
    kx, logs, slope = _knots(h, terms)
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
    kx, logs, _ = _knots(h, terms)
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
    """Hazards from each payer's own invoices known at ``as_of`` (no model).

    A Kaplan–Meier estimate per payer and bin: an invoice settled before ``as_of`` is an event
    in its bin and at risk in the bins before; one still open ``d`` days late is at risk (no
    event) only in the bins that ended by ``d`` (right-censored, never counted as paid or
    unpaid beyond what was seen). Each payer's hazards are shrunk towards the pooled ones with
    ``PRIOR_STRENGTH`` pseudo-invoices, so a short history moves them a little.
    """
    as_of = pd.Timestamp(as_of)
    frame = invoices
    if "kind" in frame:
        frame = frame[frame["kind"].fillna("invoice") == "invoice"]
    frame = frame[frame["issue_date"] < as_of]
    settled = frame["settled_date"].notna() & (frame["settled_date"] < as_of)
    late = np.where(settled, (frame["settled_date"] - frame["due_date"]).dt.days,
                    (as_of - pd.Timedelta(days=1) - frame["due_date"]).dt.days).astype(float)
    event_bin = np.where(settled, bin_of(late), -1)
    # bins fully at risk: before the event bin, or (open) those whose end is <= days late so far
    reached = np.where(settled, event_bin + 1, (late[:, None] >= EDGES[None, :]).sum(axis=1))
    reached = np.minimum(reached, N_BINS)
    codes, uniques = pd.factorize(frame["customer_id"])
    n_c = len(uniques)
    at_risk = np.zeros((n_c, N_BINS))
    events = np.zeros((n_c, N_BINS))
    for k in range(N_BINS):
        at_risk[:, k] = np.bincount(codes, weights=(reached > k).astype(float), minlength=n_c)
        events[:, k] = np.bincount(codes, weights=(event_bin == k).astype(float), minlength=n_c)
    pooled_n = at_risk.sum(axis=0)
    if settled.sum() >= MIN_POOLED and (pooled_n > 0).all():
        prior = np.clip(events.sum(axis=0) / pooled_n, 0.02, 0.98)
    else:
        prior = GENERIC_HAZARDS
    per_payer = (events + PRIOR_STRENGTH * prior) / (at_risk + PRIOR_STRENGTH)
    index = pd.Index(uniques).get_indexer(pd.Index(customer_ids))
    out = np.broadcast_to(prior, (len(index), N_BINS)).copy()
    out[index >= 0] = per_payer[index[index >= 0]]
    return np.clip(out, H_MIN, H_MAX)
