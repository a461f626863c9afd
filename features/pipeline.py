"""Point-in-time payer-history features, one row per scored invoice.

A row is scored at a time t (its issue date for training, ``as_of`` for serving) and sees only
events of its own customer dated **strictly before t** (``date < t``): an event on day t itself
is not known yet. Within a day the order of events is unknown (an invoice issued in the morning,
a payment booked in the afternoon), so the same-day rule has to pick one side; "not yet known"
is the side that cannot leak the scored invoice's own settlement on its issue day. Serving uses
the same rule, so ``as_of=D`` means "at the start of day D" (pass D + 1 day to include day D).

What "known" means for each event:
- a past invoice's lateness is known once it has settled (``settled_date < t``); an invoice still
  open at t counts in the exposure (open, overdue when ``due_date < t``), never with its eventual
  days late;
- payments (``paid_on``), disputes (``opened_on``), reminders (``sent_on``), promises
  (``closed_on``, kept or broken) count from their own date.

The scored invoice never counts in its own exposure (in training it is issued at t, so would not
anyway; in serving it is excluded so both agree). Scoring an invoice that had already settled
before t is refused: its own lateness would be in its history.

Everything is vectorised: each kind of event becomes a "timeline" sorted by (customer, day) with
cumulative sums; a row's aggregates are two ``searchsorted`` look-ups (where its customer starts,
where t falls) and a difference of cumulative sums. No Python loop runs per invoice or customer.
Values are always finite: anything undefined takes the ``fill`` of :mod:`features.registry`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.labels import EDGES
from features.registry import FEATURE_COLUMNS, FEATURES
from ledger.frames import LedgerFrames

__all__ = ["FEATURE_COLUMNS", "FeaturesError", "build_features"]

_DAY_BITS = 22
_DAY_OFFSET = 1 << 20  # days before 1970 stay positive inside the key
_WINDOW = 12
_RECENT = 6
SEVERE_DAYS = 30


class FeaturesError(ValueError):
    """The frames cannot be turned into features (bad targets, missing columns)."""


def build_features(
    frames: LedgerFrames,
    *,
    invoices: pd.DataFrame | None = None,
    as_of: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Features of each invoice, point in time.

    - no ``as_of``: each invoice (``invoices`` or else the ledger's invoices of kind invoice) is
      scored at its own issue date (training rows);
    - ``as_of``: each invoice of ``invoices`` (which may be new, not yet in the ledger) or else
      each ledger invoice issued by ``as_of`` and not settled before it, is scored at ``as_of``;
    - ``invoices`` with a ``scored_at`` column: each row is scored at its own time (the
      time-to-payment rows: one invoice at several ages, see :mod:`features.labels`).

    Returns one row per scored invoice in input order: ``invoice_id``, ``customer_id``,
    ``scored_at`` and the columns of ``FEATURE_COLUMNS`` (all finite floats).
    """
    history = _ledger_invoices(frames.invoices)
    targets = _targets(history, invoices, as_of)
    customers = pd.Index(pd.unique(np.concatenate([
        history["customer_id"].to_numpy(object), targets["customer_id"].to_numpy(object)])))
    h_code = customers.get_indexer(history["customer_id"])
    t_code = customers.get_indexer(targets["customer_id"])
    t_day = _days(targets["scored_at"])
    h = _HistoryArrays.of(history, h_code)
    own = _own_rows(targets, h, t_day)

    # rows sorted by (customer, t) make every searchsorted below walk the timelines in order,
    # which is several times faster than random look-ups; the input order is restored after
    order = np.lexsort((t_day, t_code))
    code, day = t_code[order], t_day[order]
    computed = _history_features(frames, customers, history, h, code, day)
    computed |= _exposure_features(h, own[order], code, day,
                                   targets["amount"].to_numpy(float)[order])
    computed |= _known_outcomes(h, own[order], code, day)
    computed |= _behaviour_features(frames, customers, history, h, code, day)
    computed |= _payer_habits(frames, customers, history, h, code, day,
                              _days(targets["due_date"])[order])
    inverse = np.argsort(order)
    computed = {name: values[inverse] for name, values in computed.items()}
    computed |= _invoice_features(targets)
    computed |= _invoice_state(frames, targets, t_day)

    matrix = np.column_stack([np.asarray(computed[name], dtype=float) for name in FEATURE_COLUMNS])
    fills = np.broadcast_to(np.array([FEATURES[name].fill for name in FEATURE_COLUMNS]),
                            matrix.shape)
    undefined = ~np.isfinite(matrix)
    matrix[undefined] = fills[undefined]
    result = pd.DataFrame(matrix + 0.0, columns=FEATURE_COLUMNS)  # + 0.0 turns -0.0 into 0.0
    for position, column in enumerate(["invoice_id", "customer_id", "scored_at"]):
        result.insert(position, column, targets[column].to_numpy())
    return result


# ------------------------------------------------------------------------------- timelines


@dataclass
class _Timeline:
    """Events sorted by (customer, day), with cumulative sums of their values."""

    keys: np.ndarray
    order: np.ndarray  # positions of the events (in the caller's arrays) in timeline order
    cums: dict[str, np.ndarray]  # each of length n + 1, starting at 0

    @classmethod
    def of(cls, codes: np.ndarray, days: np.ndarray, tiebreak: np.ndarray | None = None,
           **values: np.ndarray) -> _Timeline:
        ok = (codes >= 0) & (days > np.iinfo(np.int64).min)
        idx = np.flatnonzero(ok)
        keys = _key(codes[idx], days[idx])
        # a stable tie-break keeps "last k" windows independent of the input row order
        sort = np.lexsort((tiebreak[idx], keys)) if tiebreak is not None else np.argsort(
            keys, kind="stable")
        order = idx[sort]
        cums = {name: np.concatenate([[0.0], np.cumsum(v[order], dtype=float)])
                for name, v in values.items()}
        return cls(keys=keys[sort], order=order, cums=cums)

    def bounds(self, codes: np.ndarray, days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(first position of the customer, first position on or after ``days``)."""
        start = np.searchsorted(self.keys, _key(codes, np.full(len(codes), -_DAY_OFFSET)))
        return start, np.searchsorted(self.keys, _key(codes, days))

    def total(self, name: str, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        return self.cums[name][hi] - self.cums[name][lo]


def _key(codes: np.ndarray, days: np.ndarray) -> np.ndarray:
    return (codes.astype(np.int64) << _DAY_BITS) | (days + _DAY_OFFSET)


def _days(values: pd.Series | np.ndarray) -> np.ndarray:
    """Day numbers since 1970 (int64); NaT becomes the int64 minimum."""
    array = np.asarray(values, dtype="datetime64[ns]")
    days = array.astype("datetime64[D]").astype(np.int64)
    return np.where(np.isnat(array), np.iinfo(np.int64).min, days)


# ---------------------------------------------------------------------------------- inputs


@dataclass
class _HistoryArrays:
    code: np.ndarray
    issue: np.ndarray
    due: np.ndarray
    settled: np.ndarray  # int64 min when open
    amount: np.ndarray
    rank: np.ndarray  # invoice id rank: a tie-break that does not depend on row order
    ids: pd.Index

    @classmethod
    def of(cls, history: pd.DataFrame, codes: np.ndarray) -> _HistoryArrays:
        ids = pd.Index(history["invoice_id"])
        if not ids.is_unique:
            raise FeaturesError("invoice_id is not unique in the ledger's invoices")
        return cls(code=codes, issue=_days(history["issue_date"]), due=_days(history["due_date"]),
                   settled=_days(history["settled_date"]),
                   amount=history["amount"].to_numpy(float),
                   rank=pd.factorize(ids, sort=True)[0], ids=ids)

    def position(self, invoice_ids: pd.Series) -> np.ndarray:
        """Position of each id in the history (-1 when unknown)."""
        return self.ids.get_indexer(invoice_ids)

    @property
    def is_settled(self) -> np.ndarray:
        return self.settled > np.iinfo(np.int64).min


def _ledger_invoices(invoices: pd.DataFrame) -> pd.DataFrame:
    missing = {"invoice_id", "customer_id", "issue_date", "due_date", "amount"} - set(invoices)
    if missing:
        raise FeaturesError(f"invoices lack the columns {sorted(missing)}")
    frame = invoices
    if "kind" in frame:
        frame = frame[frame["kind"].fillna("invoice") == "invoice"]
    if "settled_date" not in frame:
        frame = frame.assign(settled_date=pd.NaT)
    return frame.reset_index(drop=True)


def _targets(history: pd.DataFrame, invoices: pd.DataFrame | None,
             as_of: pd.Timestamp | None) -> pd.DataFrame:
    if invoices is None:
        frame = history
        if as_of is not None:
            as_of = pd.Timestamp(as_of)
            open_then = history["settled_date"].isna() | (history["settled_date"] >= as_of)
            frame = history[(history["issue_date"] <= as_of) & open_then]
    else:
        frame = _ledger_invoices(invoices)
    own_times = invoices is not None and "scored_at" in invoices
    columns = ["invoice_id", "customer_id", "issue_date", "due_date", "amount"]
    frame = frame[columns + (["scored_at"] if own_times else [])].copy()
    for column in ("issue_date", "due_date"):
        frame[column] = pd.to_datetime(frame[column])
    if own_times:
        frame["scored_at"] = pd.to_datetime(frame["scored_at"])
    else:
        frame["scored_at"] = frame["issue_date"] if as_of is None else pd.Timestamp(as_of)
    return frame.reset_index(drop=True)


def _own_rows(targets: pd.DataFrame, h: _HistoryArrays, t_day: np.ndarray) -> np.ndarray:
    """Position of each target in the history (-1 when new); refuses targets settled before t."""
    own = h.position(targets["invoice_id"])
    known = own >= 0
    settled_before = np.zeros(len(own), dtype=bool)
    settled_before[known] = h.is_settled[own[known]] & (h.settled[own[known]] < t_day[known])
    if settled_before.any():
        ids = targets["invoice_id"].to_numpy()[settled_before][:5].tolist()
        raise FeaturesError(f"invoices {ids} were settled before they are scored: score them as "
                            "of their issue date")
    return own


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
        with np.errstate(divide="ignore", invalid="ignore"):
            out[f"due_share_{name}"] = (tl.total("bad", start, pos) - self_bad) / n
            out[f"due_share_{name}_recent"] = (tl.total("bad", recent, pos)
                                               - self_bad_recent) / n_recent
    return out


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


# --------------------------------------------------------------------------------- helpers


def _reminders_before_settlement(reminders: pd.DataFrame, history: pd.DataFrame,
                                 h: _HistoryArrays) -> np.ndarray:
    """Per history invoice, reminders sent strictly before it settled (0 when open)."""
    counts = np.zeros(len(h.code))
    if len(reminders) == 0:
        return counts
    position = h.position(reminders["invoice_id"])
    sent = _days(reminders["sent_on"])
    ok = position >= 0
    ok[ok] &= h.is_settled[position[ok]] & (sent[ok] < h.settled[position[ok]])
    return np.bincount(position[ok], minlength=len(h.code)).astype(float)


def _customer_codes(events: pd.DataFrame, customers: pd.Index, history: pd.DataFrame,
                    h: _HistoryArrays) -> np.ndarray:
    """Customer code of each event: its customer_id, else the customer of its invoice."""
    if len(events) == 0:
        return np.array([], dtype=np.int64)
    if "customer_id" in events and events["customer_id"].notna().all():
        return customers.get_indexer(events["customer_id"])
    position = h.position(events["invoice_id"])
    return np.where(position >= 0, h.code[position], -1)


def _days_since_last_payment(payments: pd.DataFrame, customers: pd.Index, t_code: np.ndarray,
                             t_day: np.ndarray, tenure: np.ndarray) -> np.ndarray:
    """Days since the customer's last payment before t; the tenure when none yet."""
    if len(payments) == 0:
        return tenure
    tl = _Timeline.of(customers.get_indexer(payments["customer_id"]), _days(payments["paid_on"]))
    start, pos = tl.bounds(t_code, t_day)
    has = pos > start
    last = _day_at(tl, np.maximum(pos - 1, 0), has)
    return np.where(has, t_day - last, tenure).astype(float)


def _day_at(tl: _Timeline, positions: np.ndarray, valid: np.ndarray) -> np.ndarray:
    if len(tl.keys) == 0:
        return np.zeros(len(positions), dtype=np.int64)
    keys = tl.keys[np.clip(positions, 0, len(tl.keys) - 1)]
    return np.where(valid, (keys & ((1 << _DAY_BITS) - 1)) - _DAY_OFFSET, 0)


def _window_median(values: np.ndarray, start: np.ndarray, pos: np.ndarray,
                   window: int = _WINDOW) -> np.ndarray:
    """Median of ``values[max(pos - window, start):pos]`` per row (NaN when empty)."""
    if len(values) == 0:
        return np.full(len(pos), np.nan)
    idx = pos[:, None] - np.arange(window, 0, -1)[None, :]
    inside = idx >= start[:, None]
    block = np.where(inside, values[np.clip(idx, 0, None)], np.inf)
    block.sort(axis=1)
    n = inside.sum(axis=1)
    rows = np.arange(len(pos))
    lo = block[rows, np.clip((n - 1) // 2, 0, None)]
    hi = block[rows, np.clip(n // 2, 0, None)]
    return np.where(n > 0, (lo + hi) / 2, np.nan)
