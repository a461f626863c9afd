"""The building blocks of the point-in-time features (`features.pipeline`): each kind of event as
a timeline sorted by (customer, day) with cumulative sums, the targets and history arrays they are
read against, and the look-up helpers the feature families share."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

_DAY_BITS = 22
_DAY_OFFSET = 1 << 20  # days before 1970 stay positive inside the key
_WINDOW = 12
_RECENT = 6
SEVERE_DAYS = 30


class FeaturesError(ValueError):
    """The frames cannot be turned into features (bad targets, missing columns)."""


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
