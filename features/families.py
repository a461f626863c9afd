"""The feature families of `features.pipeline` (history, exposure, known outcomes, behaviour, the
invoice itself, payer habits): each returns named columns, one value per scored row, computed from
the timelines of `features.timelines` — only events strictly before the row's scoring time."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.labels import EDGES
from features.timelines import (
    _RECENT,
    _WINDOW,
    SEVERE_DAYS,
    _customer_codes,
    _day_at,
    _days,
    _days_since_last_payment,
    _HistoryArrays,
    _reminders_before_settlement,
    _Timeline,
    _window_median,
)
from ledger.frames import LedgerFrames

_DELAY_CAP = 60  # days: beyond it an invoice is simply very late

# ---------------------------------------------------------------------------- the families


def _history_features(frames: LedgerFrames, customers: pd.Index, history: pd.DataFrame,
                      h: _HistoryArrays, t_code: np.ndarray,
                      t_day: np.ndarray) -> dict[str, np.ndarray]:
    settled = h.is_settled
    days_late = np.where(settled, h.settled - h.due, 0).astype(float)
    late = (days_late > 0) & settled
    reminders = _reminders_before_settlement(frames.reminders, history, h)
    tl = _Timeline.of(np.where(settled, h.code, -1), h.settled, h.rank,
                      n=np.ones(len(h.code)), late=late.astype(float),
                      amount=h.amount, late_amount=h.amount * late, days_late=days_late,
                      reminders=reminders, reminded=(reminders > 0).astype(float))
    start, pos = tl.bounds(t_code, t_day)
    n = (pos - start).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        last3 = np.maximum(pos - 3, start)
        last12 = np.maximum(pos - _WINDOW, start)
        older = tl.total("days_late", last12, last3) / (last3 - last12)
        recent = tl.total("days_late", last3, pos) / (pos - last3)
        sorted_days = days_late[tl.order]
        running_max = pd.Series(sorted_days).groupby(h.code[tl.order]).cummax().to_numpy()
        features = {
            "hist_n_settled": n,
            "hist_cold_start": (n == 0).astype(float),
            "hist_share_late": tl.total("late", start, pos) / n,
            # amounts are not exact in float: a difference of running sums carries the rounding of
            # whatever precedes it (other customers, another partition on Dask); 9 digits do not
            "hist_share_late_amount": np.round(tl.total("late_amount", start, pos)
                                               / tl.total("amount", start, pos), 9),
            "hist_mean_days_late": tl.total("days_late", start, pos) / n,
            "hist_median_days_late_last12": _window_median(sorted_days, start, pos),
            "hist_max_days_late": np.where(n > 0, running_max[np.maximum(pos - 1, 0)], np.nan)
            if len(running_max) else np.full(len(n), np.nan),
            "hist_mean_days_late_last3": recent,
            "hist_mean_days_late_last12": tl.total("days_late", last12, pos) / (pos - last12),
            "hist_trend_days_late": np.where(n >= 4, recent - older, 0.0),
            "hist_mean_reminders": tl.total("reminders", start, pos) / n,
            "hist_share_paid_after_reminder": tl.total("reminded", start, pos) / n,
        }
    first_issue = _Timeline.of(h.code, h.issue)
    i_start, i_pos = first_issue.bounds(t_code, t_day)
    first_day = _day_at(first_issue, i_start, i_pos > i_start)
    tenure = np.where(i_pos > i_start, t_day - first_day, 0).astype(float)
    features["tenure_days"] = tenure
    features["days_since_last_payment"] = _days_since_last_payment(
        frames.payments, customers, t_code, t_day, tenure)
    return features


def _exposure_features(h: _HistoryArrays, own: np.ndarray, t_code: np.ndarray,
                       t_day: np.ndarray, amount: np.ndarray) -> dict[str, np.ndarray]:
    ones = np.ones(len(h.code))
    issued = _Timeline.of(h.code, h.issue, h.rank, n=ones, amount=h.amount)
    settled = _Timeline.of(np.where(h.is_settled, h.code, -1), h.settled, n=ones, amount=h.amount)
    due = _Timeline.of(h.code, h.due, n=ones, amount=h.amount)
    # an invoice stops being overdue when it settles, if it ever was: at max(due, settled)
    cleared = _Timeline.of(np.where(h.is_settled, h.code, -1), np.maximum(h.due, h.settled),
                           n=ones, amount=h.amount)

    def count(tl: _Timeline, name: str) -> np.ndarray:
        start, pos = tl.bounds(t_code, t_day)
        return tl.total(name, start, pos)

    # the scored invoice itself is never part of its own exposure (serving: it is in the ledger)
    known = own >= 0
    if len(h.code):
        mine = np.where(known, own, 0)
        self_open = known & (h.issue[mine] < t_day)  # settled-before-t targets were refused earlier
        self_overdue = known & (h.due[mine] < t_day)
        self_amount = h.amount[mine]
    else:  # a ledger with no invoice yet: only new invoices are scored, none is its own history
        self_open = self_overdue = np.zeros(len(t_code), dtype=bool)
        self_amount = np.zeros(len(t_code))
    usual = _window_median(h.amount[issued.order], *issued.bounds(t_code, t_day))
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "open_count": count(issued, "n") - count(settled, "n") - self_open,
            # cents: cumulative sums of floats leave dust such as -1e-9
            "open_amount": np.round(count(issued, "amount") - count(settled, "amount")
                                    - self_open * self_amount, 2),
            "overdue_count": count(due, "n") - count(cleared, "n") - self_overdue,
            "overdue_amount": np.round(count(due, "amount") - count(cleared, "amount")
                                       - self_overdue * self_amount, 2),
            "amount_vs_usual": np.where(usual > 0, amount / usual, np.nan),
        }


def _known_outcomes(h: _HistoryArrays, own: np.ndarray, t_code: np.ndarray,
                    t_day: np.ndarray) -> dict[str, np.ndarray]:
    """Late and severe shares over the payer's invoices whose window has **passed** by t,
    settled or not: an invoice due before t is known late once it was unpaid at the end of its
    due day (paid since, or still open), severe once unpaid 30 days later. Shares over settled
    invoices only (``hist_share_late``) never see an invoice that is never paid, so a payer who
    stops paying looks better and better; these see it from its due date on. Overall and over
    the last ``_RECENT`` invoices whose window passed (a payer sliding shows there first). The
    scored invoice is left out of its own shares, as of its exposure."""
    out: dict[str, np.ndarray] = {}
    known = own >= 0
    mine = np.where(known, own, 0)
    for name, days in (("late", 0), ("severe", SEVERE_DAYS)):
        end = h.due + days  # the window closes at the end of this day
        bad = (~h.is_settled | (h.settled > end)).astype(float)
        tl = _Timeline.of(h.code, end, h.rank, n=np.ones(len(h.code)), bad=bad)
        start, pos = tl.bounds(t_code, t_day)
        place = np.full(len(h.code), -1, dtype=np.int64)
        place[tl.order] = np.arange(len(tl.order))  # each invoice's position in the timeline
        counted = np.where(known, place[mine], -1) if len(h.code) else np.full(len(t_code), -1)
        self_in = (counted >= start) & (counted < pos)
        self_bad = np.where(self_in, bad[mine] if len(h.code) else 0.0, 0.0)
        n = pos - start - self_in
        # the last _RECENT others: one further back when the scored invoice is among them
        recent = np.maximum(pos - _RECENT, start)
        mine_recent = self_in & (counted >= recent)
        recent = np.maximum(recent - mine_recent, start)
        n_recent = pos - recent - mine_recent
        self_bad_recent = np.where(mine_recent, self_bad, 0.0)
        # the _RECENT others before those: the trend is the recent share minus theirs
        prior = np.maximum(recent - _RECENT, start)
        mine_prior = self_in & (counted >= prior) & (counted < recent)
        prior = np.maximum(prior - mine_prior, start)
        n_prior = recent - prior - mine_prior
        self_bad_prior = np.where(mine_prior, self_bad, 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[f"due_share_{name}"] = (tl.total("bad", start, pos) - self_bad) / n
            out[f"due_share_{name}_recent"] = (tl.total("bad", recent, pos)
                                               - self_bad_recent) / n_recent
            prior_share = (tl.total("bad", prior, recent) - self_bad_prior) / n_prior
            out[f"due_share_{name}_trend"] = np.where(
                (n_prior > 0) & (n_recent > 0), out[f"due_share_{name}_recent"] - prior_share,
                np.nan)
        if name == "severe":
            out["due_still_open_recent"] = _still_open_share(h, tl, recent, pos, counted, t_day,
                                                             n_recent)
            out |= _matured_delays(h, tl, start, pos, counted, t_day)
    return out


def _matured_delays(h: _HistoryArrays, tl: _Timeline, start: np.ndarray, pos: np.ndarray,
                    counted: np.ndarray, t_day: np.ndarray) -> dict[str, np.ndarray]:
    """Days late as known at t, capped at ``_DELAY_CAP`` (paid early or on time: 0; still open:
    the days overdue so far, at least 30 here) over the payer's last ``_RECENT`` invoices whose
    30-day window closed before t (the scored one left out), and that mean minus the mean over
    the ``_RECENT`` before them: a payer sliding pays each invoice later than the one before, which
    a share of a 0/1 outcome over six invoices shows only faintly. Every invoice counted has its
    30-day window closed, so a recent invoice is not read as "paid fast" for being young."""
    totals = np.zeros((2, len(pos)))
    counts = np.zeros((2, len(pos)))
    seen = np.zeros(len(pos))
    for back in range(2 * _RECENT + 1):
        at = pos - 1 - back
        inside = (at >= start) & (at != counted) & (seen < 2 * _RECENT)
        if not len(tl.order) or not inside.any():
            break
        which = tl.order[np.where(inside, at, 0)]
        settled = h.settled[which]
        paid = (settled != np.iinfo(np.int64).min) & (settled < t_day)
        late = np.where(paid, settled, t_day - 1) - h.due[which]
        value = np.clip(late, 0, _DELAY_CAP).astype(float)
        half = (seen >= _RECENT).astype(int)
        rows = np.arange(len(pos))  # one entry per row and pass: += is safe
        totals[half, rows] += np.where(inside, value, 0.0)
        counts[half, rows] += inside
        seen += inside
    with np.errstate(divide="ignore", invalid="ignore"):
        recent, before = totals / counts
    return {"due_days_late_recent": recent,
            "due_days_late_trend": np.where(counts[1] > 0, recent - before, np.nan)}


def _still_open_share(h: _HistoryArrays, tl: _Timeline, recent: np.ndarray, pos: np.ndarray,
                      counted: np.ndarray, t_day: np.ndarray, n_recent: np.ndarray) -> np.ndarray:
    """Share of the same last ``_RECENT`` invoices (severe window closed by t, the scored one
    left out) that are **still open at t**: never paid, as opposed to paid more than 30 days
    late. Read at t, so an invoice paid since its window closed no longer counts."""
    still_open = np.zeros(len(pos))
    for back in range(_RECENT + 1):  # the window holds at most _RECENT others and the scored one
        at = pos - 1 - back
        inside = (at >= recent) & (at != counted)
        if not inside.any() or not len(tl.order):
            continue
        settled = h.settled[tl.order[np.where(inside, at, 0)]]
        still_open += inside & ((settled == np.iinfo(np.int64).min) | (settled >= t_day))
    with np.errstate(divide="ignore", invalid="ignore"):
        return still_open / n_recent


def _behaviour_features(frames: LedgerFrames, customers: pd.Index, history: pd.DataFrame,
                        h: _HistoryArrays, t_code: np.ndarray,
                        t_day: np.ndarray) -> dict[str, np.ndarray]:
    reminders = frames.reminders
    r_code = _customer_codes(reminders, customers, history, h)
    r_tl = _Timeline.of(r_code, _days(reminders["sent_on"]))
    _, r_pos = r_tl.bounds(t_code, t_day)
    _, r_pos90 = r_tl.bounds(t_code, t_day - 90)

    disputes = frames.disputes
    d_code = _customer_codes(disputes, customers, history, h)
    d_tl = _Timeline.of(d_code, _days(disputes["opened_on"]))
    d_start, d_pos = d_tl.bounds(t_code, t_day)
    issued = _Timeline.of(h.code, h.issue)
    i_start, i_pos = issued.bounds(t_code, t_day)

    promises = frames.promises
    p_code = _customer_codes(promises, customers, history, h)
    status = promises["status"].astype(str).str.lower().to_numpy() if len(promises) else \
        np.array([], dtype=str)
    closed = np.isin(status, ["kept", "broken"])
    p_tl = _Timeline.of(np.where(closed, p_code, -1), _days(promises["closed_on"]),
                        kept=(status == "kept").astype(float))
    p_start, p_pos = p_tl.bounds(t_code, t_day)
    n_disputes = (d_pos - d_start).astype(float)
    n_promises = (p_pos - p_start).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "reminders_last_90d": (r_pos - r_pos90).astype(float),
            "disputes_count": n_disputes,
            "disputes_share": n_disputes / (i_pos - i_start),
            "promises_count": n_promises,
            "promises_kept_share": p_tl.total("kept", p_start, p_pos) / n_promises,
        }


def _invoice_features(targets: pd.DataFrame) -> dict[str, np.ndarray]:
    amount = targets["amount"].to_numpy(float)
    issue, due = targets["issue_date"], targets["due_date"]
    # unpaid at the end of the day before t: how late it is then (negative: not yet due)
    overdue = ((targets["scored_at"] - due).dt.days - 1).to_numpy(float)
    return {
        "amount": amount,
        "log_amount": np.log1p(np.clip(amount, 0, None)),
        "terms_days": (due - issue).dt.days.to_numpy(float),
        "terms_end_of_month": due.dt.is_month_end.to_numpy(float),
        "issue_dayofweek": issue.dt.dayofweek.to_numpy(float),
        "due_dayofmonth": due.dt.day.to_numpy(float),
        "days_overdue": overdue,
        # the bin it is in then (0 until the end of its due day), as model.dataset._current_bin
        "age_bin": np.minimum(np.searchsorted(EDGES, overdue, side="right"),
                              len(EDGES) - 1).astype(float),
    }


def _invoice_state(frames: LedgerFrames, targets: pd.DataFrame,
                   t_day: np.ndarray) -> dict[str, np.ndarray]:
    """This invoice's own state at t: a dispute opened before t and not resolved before t."""
    disputes = frames.disputes
    disputed = np.zeros(len(targets))
    if len(disputes):
        opened = _days(disputes["opened_on"])
        resolved = _days(disputes["resolved_on"])
        resolved = np.where(resolved == np.iinfo(np.int64).min, np.iinfo(np.int64).max, resolved)
        # an invoice may be scored at several times: join on the id, then compare the times
        lookup = pd.DataFrame({"invoice_id": disputes["invoice_id"].to_numpy(),
                               "opened": opened, "resolved": resolved})
        rows = pd.DataFrame({"invoice_id": targets["invoice_id"].to_numpy(),
                             "t": t_day, "row": np.arange(len(targets))})
        joined = rows.merge(lookup, on="invoice_id")
        live = joined[(joined["opened"] < joined["t"]) & (joined["resolved"] >= joined["t"])]
        disputed[live["row"].to_numpy()] = 1.0
    return {"invoice_disputed": disputed}


def _payer_habits(frames: LedgerFrames, customers: pd.Index, history: pd.DataFrame,
                  h: _HistoryArrays, t_code: np.ndarray, t_day: np.ndarray,
                  t_due: np.ndarray) -> dict[str, np.ndarray]:
    """What AR teams know of a payer: payment runs (usual weekday, usual day of month and how
    far the due date is from the next one), partial payments, seasonality of delays."""
    payments = frames.payments
    out: dict[str, np.ndarray] = {}
    p_code = customers.get_indexer(payments["customer_id"]) if len(payments) else \
        np.array([], dtype=np.int64)
    p_day = _days(payments["paid_on"]) if len(payments) else np.array([], dtype=np.int64)
    weekday = (p_day + 3) % 7  # 1970-01-01 was a Thursday: 0 = Monday
    dom = pd.to_datetime(p_day.astype("datetime64[D]")).day.to_numpy() if len(p_day) else \
        np.array([], dtype=np.int64)
    tl = _Timeline.of(p_code, p_day, np.arange(len(p_code)), n=np.ones(len(p_code)),
                      **{f"w{w}": (weekday == w).astype(float) for w in range(7)})
    start, pos = tl.bounds(t_code, t_day)
    count = (pos - start).astype(float)
    weekday_counts = np.column_stack([tl.total(f"w{w}", start, pos) for w in range(7)])
    # a payment on the same day of the month as the payer's previous one: a payment run
    ordered_dom = dom[tl.order] if len(tl.order) else dom
    same = np.zeros(len(tl.order))
    if len(tl.order):
        codes_sorted = p_code[tl.order]
        same[1:] = (ordered_dom[1:] == ordered_dom[:-1]) & (codes_sorted[1:] == codes_sorted[:-1])
    cum_same = np.concatenate([[0.0], np.cumsum(same)])
    has = pos > start
    last_dom = np.where(has, ordered_dom[np.clip(pos - 1, 0, max(len(ordered_dom) - 1, 0))]
                        if len(ordered_dom) else 0, 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["pay_weekday_share"] = np.where(count > 0, weekday_counts.max(axis=1) / count, np.nan)
        # repeats after the customer's first payment (the first cannot repeat anything)
        repeats = cum_same[pos] - cum_same[np.minimum(start + 1, pos)]
        out["pay_day_regularity"] = np.where(count > 1, repeats / (count - 1), np.nan)
    out["days_due_to_pay_run"] = np.where(has, _days_to_day_of_month(t_due, last_dom), np.nan)

    # partial payments: settled invoices that received two or more payments
    parts = np.zeros(len(h.code))
    if len(payments):
        position = h.position(payments["invoice_id"].fillna(""))
        ok = position >= 0
        parts = np.bincount(position[ok], minlength=len(h.code)).astype(float)
    settled = h.is_settled
    s_tl = _Timeline.of(np.where(settled, h.code, -1), h.settled, h.rank,
                        n=np.ones(len(h.code)), partial=(parts > 1).astype(float))
    s_start, s_pos = s_tl.bounds(t_code, t_day)
    s_n = (s_pos - s_start).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["hist_partial_share"] = s_tl.total("partial", s_start, s_pos) / s_n

    # seasonality: days late on invoices due in the same calendar month (any year) minus that
    # on all, shrunk by one pseudo-invoice at the payer's mean: a payer invoiced monthly has one
    # invoice a year in a given month, and one invoice moves it half way
    month = (h.due.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64) % 12)
    t_month = (t_due.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64) % 12)
    late = np.where(settled, np.maximum(h.settled - h.due, 0), 0).astype(float)
    m_tl = _Timeline.of(np.where(settled, h.code * 12 + month, -1), h.settled, h.rank,
                        n=np.ones(len(h.code)), late=late)
    m_start, m_pos = m_tl.bounds(t_code * 12 + t_month, t_day)
    m_n = (m_pos - m_start).astype(float)
    m_late = m_tl.total("late", m_start, m_pos)
    a_tl = _Timeline.of(np.where(settled, h.code, -1), h.settled, h.rank, late=late)
    a_start, a_pos = a_tl.bounds(t_code, t_day)
    with np.errstate(divide="ignore", invalid="ignore"):
        all_late = a_tl.total("late", a_start, a_pos) / (a_pos - a_start)
        out["hist_season_excess_days"] = np.where(
            m_n >= 1, (m_late - m_n * all_late) / (m_n + 1), np.nan)
    return out


def _days_to_day_of_month(days: np.ndarray, day_of_month: np.ndarray) -> np.ndarray:
    """Days from each day to the next date (on or after it) whose day of month is the given one
    (clipped to 28, so every month has it)."""
    dom = np.clip(day_of_month, 1, 28)
    months = days.astype("datetime64[D]").astype("datetime64[M]")
    first = months.astype("datetime64[D]").astype(np.int64)
    candidate = first + dom - 1
    later = (months + 1).astype("datetime64[D]").astype(np.int64) + dom - 1
    return np.where(candidate >= days, candidate - days, later - days).astype(float)
