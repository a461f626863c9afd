"""Ledger frames → the rows the time-to-payment model learns from and is tested on.

- **Training rows** (:func:`labelled_rows`): one row per invoice and time-to-payment bin it was
  at risk in, observed by the cut-off (:func:`features.labels.interval_rows`: a bin still running
  at the cut-off is censored, never a negative). Each row's features are computed point in time
  at its own scoring time (issue date for bin 0, the day after the bin starts for the others),
  so a bin-3 row sees what an invoice 14 days overdue sees in serving.
- **Test rows at issue** (:func:`issue_rows`): invoices issued from the split date on, scored at
  issue; ``late`` is known once the due date has passed by the end of the ledger, ``severe``
  once due + 30 days has (rows whose window is still open are left out of that metric).
- **Overdue test rows** (:func:`overdue_rows`): invoices open and overdue at several scoring
  dates; label: not paid within 30 days of the scoring date (only windows closed by the end).

Nothing is ever split at random.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.labels import EDGES, build_labels, interval_rows
from features.pipeline import build_features
from features.registry import FEATURE_COLUMNS
from ledger.frames import LedgerFrames
from model.errors import ModelError

# days_overdue is the age the answers are conditional on, not an input: the booster reads the
# age as ``age_bin`` (the bin the invoice is in when scored, 0 before the due date), and ``bin``
# is the bin whose hazard a row asks for
MODEL_FEATURES = [name for name in FEATURE_COLUMNS if name != "days_overdue"] + ["bin"]
SEVERE_DAYS = 30
OVERDUE_HORIZON = 30


@dataclass
class Dataset:
    """Features ``X`` and, aligned row by row, ``rows`` (labels and ids)."""

    X: pd.DataFrame
    rows: pd.DataFrame

    def __len__(self) -> int:
        return len(self.rows)

    def take(self, mask: np.ndarray | pd.Series) -> Dataset:
        mask = np.asarray(mask)
        return Dataset(self.X[mask].reset_index(drop=True), self.rows[mask].reset_index(drop=True))

    @property
    def late(self) -> np.ndarray:
        return self.rows["late"].to_numpy(int)

    @property
    def paid(self) -> np.ndarray:
        return self.rows["paid"].to_numpy(int)

    @property
    def has_oracle(self) -> bool:
        return "true_p_late" in self.rows and bool(self.rows["true_p_late"].notna().all()) \
            and len(self) > 0


def features_at_issue(frames: LedgerFrames) -> pd.DataFrame:
    """Point-in-time features of every ledger invoice, each scored at its issue date."""
    return build_features(frames)


def labelled_rows(frames: LedgerFrames, *, cutoff: pd.Timestamp | str | None = None,
                  issued_before: pd.Timestamp | str | None = None,
                  features: pd.DataFrame | None = None) -> Dataset:
    """Training rows (invoice × scoring age × bin), censored at ``cutoff`` (exclusive; default:
    the day after the ledger's ``as_of``), sorted by scoring time.

    Every bin an invoice was at risk in and that was over by the cut-off is a **scoring age**
    (a landmark: at issue for bin 0, the day after the bin starts for the others) whose
    features are computed then; each landmark then has one row per bin from its own to the
    last observed one, all with the landmark's features (``landmark`` and the ``age_bin``
    feature: its bin). A hazard learnt
    this way is P(paid in bin k | unpaid when k starts, what was known at the scoring age): the
    disputes, reminders and exposure that come later are averaged over, as they must be for
    P(severe) of a new invoice or P(unpaid 30 days) of an overdue one. Rows of one landmark
    only (hazards with features at each bin's start) answer a different question, "if nothing
    changes", and under-predict late payment for every invoice scored before it happens.

    ``features``: features at issue already computed (landmark-0 rows reuse them)."""
    cutoff = None if cutoff is None else pd.Timestamp(cutoff)
    rows = interval_rows(frames, cutoff=cutoff,
                         issued_before=None if issued_before is None else pd.Timestamp(issued_before))
    at_issue = rows["bin"].to_numpy() == 0
    computed = np.empty((len(rows), len(FEATURE_COLUMNS)))
    later = rows[~at_issue]
    if len(later):
        computed[~at_issue] = build_features(frames, invoices=later)[FEATURE_COLUMNS].to_numpy(float)
    first = rows[at_issue]
    if len(first):
        if features is not None:
            known = features.set_index("invoice_id").reindex(first["invoice_id"])
            if known[FEATURE_COLUMNS[0]].isna().any():
                known = build_features(frames, invoices=first).set_index("invoice_id")
            computed[at_issue] = known[FEATURE_COLUMNS].to_numpy(float)
        else:
            computed[at_issue] = build_features(frames, invoices=first)[FEATURE_COLUMNS].to_numpy(
                float)
    landmark, target = _landmark_pairs(rows)
    X = pd.DataFrame(computed[landmark], columns=FEATURE_COLUMNS)
    X["bin"] = rows["bin"].to_numpy(float)[target]
    out = rows.iloc[target].reset_index(drop=True)
    out["scored_at"] = rows["scored_at"].to_numpy()[landmark]
    out["landmark"] = rows["bin"].to_numpy()[landmark]
    out["segment"] = out["customer_id"].map(_segments(frames)).fillna("unknown")
    order = np.lexsort((out["bin"].to_numpy(), out["landmark"].to_numpy(),
                        pd.factorize(out["invoice_id"], sort=True)[0],
                        out["scored_at"].to_numpy()))
    return Dataset(X=X[MODEL_FEATURES + ["days_overdue"]].iloc[order].reset_index(drop=True),
                   rows=out.iloc[order].reset_index(drop=True))


def _landmark_pairs(rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(landmark row, target row) positions: each invoice's row of bin j paired with its rows
    of bins j, j + 1, … up to its last observed bin (an invoice's bins are 0 … b − 1)."""
    codes = pd.factorize(rows["invoice_id"])[0]
    bins = rows["bin"].to_numpy(np.int64)
    if len(rows) == 0:
        return np.array([], dtype=np.int64), np.array([], dtype=np.int64)
    count = np.bincount(codes)
    by_invoice = np.lexsort((bins, codes))  # rows of invoice c: by_invoice[first[c] + k]
    first = np.concatenate([[0], np.cumsum(count)[:-1]])
    reps = count[codes] - bins
    landmark = np.repeat(np.arange(len(rows)), reps)
    step = np.arange(len(landmark)) - np.repeat(np.cumsum(reps) - reps, reps)
    target = by_invoice[first[codes[landmark]] + bins[landmark] + step]
    return landmark, target


def issue_rows(frames: LedgerFrames, *, issued_from: pd.Timestamp | str | None = None,
               features: pd.DataFrame | None = None) -> Dataset:
    """Invoices issued from ``issued_from`` whose due date has passed by the end of the ledger,
    scored at issue, with ``late``, ``severe`` (NaN while its 30-day window is open),
    ``days_late`` (NaN while open) and ``settled_date``."""
    cutoff = frames.as_of + pd.Timedelta(days=1)
    labels = build_labels(frames, cutoff=frames.as_of)
    invoices = frames.invoices.set_index("invoice_id")
    labels = labels[labels["due_date"] < cutoff]
    if issued_from is not None:
        labels = labels[labels["issue_date"] >= pd.Timestamp(issued_from)]
    # late is known for every row kept (the due date has passed); severe only once due + 30 has
    settled = invoices["settled_date"].reindex(labels["invoice_id"]).to_numpy()
    days = (pd.to_datetime(settled) - labels["due_date"].to_numpy()).days.to_numpy(float) \
        if len(labels) else np.array([])
    open_ = pd.isna(settled)
    severe_known = (labels["due_date"] + pd.Timedelta(days=SEVERE_DAYS) < cutoff).to_numpy()
    rows = labels[["invoice_id", "customer_id", "issue_date", "due_date"]].copy()
    rows["late"] = np.where(open_, 1, days > 0).astype(int)
    rows["severe"] = np.where(severe_known, np.where(open_, 1.0, (days > SEVERE_DAYS) * 1.0),
                              np.nan)
    rows["days_late"] = np.where(open_, np.nan, days)
    rows["settled_date"] = pd.to_datetime(settled)
    if features is None:
        subset = frames.invoices[frames.invoices["invoice_id"].isin(rows["invoice_id"])]
        features = build_features(frames, invoices=subset)
    rows = rows.merge(features[["invoice_id", *FEATURE_COLUMNS]], on="invoice_id", how="inner")
    rows["amount"] = rows["amount"].astype(float)
    rows["true_p_late"] = (invoices["true_p_late"].reindex(rows["invoice_id"]).to_numpy(float)
                           if "true_p_late" in invoices else np.nan)
    rows["segment"] = rows["customer_id"].map(_segments(frames)).fillna("unknown")
    rows = rows.sort_values(["issue_date", "invoice_id"], kind="stable", ignore_index=True)
    X = rows[FEATURE_COLUMNS].astype(float).assign(bin=0.0)
    meta = ["invoice_id", "customer_id", "issue_date", "due_date", "amount", "segment", "late",
            "severe", "days_late", "settled_date", "true_p_late"]
    return Dataset(X=X[MODEL_FEATURES + ["days_overdue"]], rows=rows[meta])


def overdue_rows(frames: LedgerFrames, *, dates: list[pd.Timestamp],
                 horizon: int = OVERDUE_HORIZON) -> Dataset:
    """Invoices open and overdue at each scoring date (unpaid at the end of the day before),
    whose ``horizon``-day window has closed by the end of the ledger; label ``unpaid``: not
    paid within ``horizon`` days of the scoring date."""
    cutoff = frames.as_of + pd.Timedelta(days=1)
    invoices = frames.invoices
    if "kind" in invoices:
        invoices = invoices[invoices["kind"].fillna("invoice") == "invoice"]
    parts = []
    for date in dates:
        date = pd.Timestamp(date)
        if date + pd.Timedelta(days=horizon) > cutoff:
            continue
        open_then = invoices["settled_date"].isna() | (invoices["settled_date"] >= date)
        chosen = invoices[(invoices["issue_date"] < date) & (invoices["due_date"] < date)
                          & open_then]
        end = date + pd.Timedelta(days=horizon)
        unpaid = chosen["settled_date"].isna() | (chosen["settled_date"] >= end)
        parts.append(chosen[["invoice_id", "customer_id", "issue_date", "due_date", "amount"]]
                     .assign(scored_at=date, unpaid=unpaid.astype(int).to_numpy()))
    if not parts:
        raise ModelError("no scoring date leaves a closed window for overdue invoices")
    rows = pd.concat(parts, ignore_index=True)
    features = build_features(frames, invoices=rows)
    X = features[FEATURE_COLUMNS].astype(float).assign(bin=0.0)
    X["bin"] = _current_bin(X["days_overdue"].to_numpy())
    rows["segment"] = rows["customer_id"].map(_segments(frames)).fillna("unknown")
    return Dataset(X=X[MODEL_FEATURES + ["days_overdue"]], rows=rows)


def temporal_split(frames: LedgerFrames, *, split_date: pd.Timestamp | str,
                   features: pd.DataFrame | None = None) -> tuple[Dataset, Dataset]:
    """(train, test) for a backtest at ``split_date``.

    Train: time-to-payment rows of invoices issued before D, censored at D (only what was
    known on the eve of D). Test: invoices issued on/after D, scored at issue, labelled with
    everything the ledger knows.
    """
    split = pd.Timestamp(split_date)
    if not frames.invoices["issue_date"].min() < split <= frames.as_of:
        raise ModelError(f"split date {split.date()} is outside the ledger "
                         f"({frames.invoices['issue_date'].min().date()} – {frames.as_of.date()})")
    features = features_at_issue(frames) if features is None else features
    train = labelled_rows(frames, cutoff=split, issued_before=split, features=features)
    test = issue_rows(frames, issued_from=split, features=features)
    if len(train) == 0 or train.rows["paid"].nunique() < 2:
        raise ModelError(f"the training window before {split.date()} has {len(train)} "
                         "time-to-payment rows and not both outcomes")
    if len(test) == 0 or test.rows["late"].nunique() < 2:
        raise ModelError(f"the test window from {split.date()} has {len(test)} labelled "
                         "invoices and not both classes")
    return train, test


def recent_split_date(frames: LedgerFrames, *, fraction: float = 0.2) -> pd.Timestamp:
    """The issue date after which the last ``fraction`` of the labellable invoices fall."""
    if not 0 < fraction < 1:
        raise ModelError(f"fraction must be in (0, 1), got {fraction}")
    invoices = frames.invoices
    if "kind" in invoices:
        invoices = invoices[invoices["kind"].fillna("invoice") == "invoice"]
    issued = invoices.loc[invoices["due_date"] < frames.as_of, "issue_date"].sort_values()
    if len(issued) < 20:
        raise ModelError(f"only {len(issued)} invoices are due by {frames.as_of.date()}: "
                         "too few to train")
    return pd.Timestamp(issued.iloc[int(len(issued) * (1 - fraction))]).normalize()


def _current_bin(days_overdue: np.ndarray) -> np.ndarray:
    """The bin an invoice unpaid at ``days_overdue`` days late is in (the last one beyond)."""
    return np.minimum(np.searchsorted(EDGES, np.asarray(days_overdue, float), side="right"),
                      len(EDGES) - 1).astype(float)


def _segments(frames: LedgerFrames) -> pd.Series:
    customers = frames.customers
    if "segment" not in customers:
        return pd.Series(dtype=object)
    segment = customers["segment"].replace("", np.nan)
    return pd.Series(segment.to_numpy(), index=customers["customer_id"].to_numpy())
