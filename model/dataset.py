"""Ledger frames → training and test rows (features at issue date, censored labels).

Every row is an invoice scored **as of its issue date** (point-in-time features from
:func:`features.pipeline.build_features`), labelled by :func:`features.labels.build_labels` at a
cut-off: what was known then, nothing later (an invoice settled after the cut-off is open at it).

Rows are kept only when their due date is before the cut-off. The due date is known at issue,
so this selection cannot leak; it removes the rows whose label could still only be "early
payer" (an invoice not yet due is either settled early, a negative, or open and dropped by the
censoring rule, which would leave a sample biased towards early payers).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.labels import build_labels
from features.pipeline import build_features
from features.registry import FEATURE_COLUMNS
from ledger.frames import LedgerFrames
from model.errors import ModelError

ROW_COLUMNS = ["invoice_id", "customer_id", "issue_date", "due_date", "amount", "segment",
               "late", "severe", "days_late", "censored", "true_p_late"]


@dataclass
class Dataset:
    """Features ``X`` (columns ``FEATURE_COLUMNS``) and, aligned row by row, ``rows``."""

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
    def has_oracle(self) -> bool:
        return bool(self.rows["true_p_late"].notna().all()) and len(self) > 0


def features_at_issue(frames: LedgerFrames) -> pd.DataFrame:
    """Point-in-time features of every ledger invoice, each scored at its issue date.

    Computed once per ledger and shared by the training and test rows of a backtest.
    """
    return build_features(frames)


def labelled_rows(frames: LedgerFrames, *, cutoff: pd.Timestamp | str | None = None,
                  issued_from: pd.Timestamp | str | None = None,
                  issued_before: pd.Timestamp | str | None = None,
                  features: pd.DataFrame | None = None) -> Dataset:
    """Invoices issued in ``[issued_from, issued_before)`` and due before ``cutoff``, with labels
    censored at ``cutoff`` (default: the ledger's ``as_of``)."""
    cutoff = pd.Timestamp(frames.as_of if cutoff is None else cutoff)
    labels = build_labels(frames, cutoff=cutoff)
    keep = labels["due_date"] < cutoff
    if issued_from is not None:
        keep &= labels["issue_date"] >= pd.Timestamp(issued_from)
    if issued_before is not None:
        keep &= labels["issue_date"] < pd.Timestamp(issued_before)
    labels = labels[keep]
    if features is None:
        invoices = frames.invoices[frames.invoices["invoice_id"].isin(labels["invoice_id"])]
        features = build_features(frames, invoices=invoices)
    rows = labels.merge(features[["invoice_id", *FEATURE_COLUMNS]], on="invoice_id", how="inner")
    rows = rows.merge(_invoice_extras(frames), on="invoice_id", how="left")
    rows["segment"] = rows["customer_id"].map(_segments(frames)).fillna("unknown")
    # the regression target of a still-open late invoice is a lower bound: days overdue so far
    overdue = (cutoff - rows["due_date"]).dt.days.astype(float)
    rows["days_late"] = rows["days_late"].where(~rows["censored"], overdue)
    rows = rows.sort_values(["issue_date", "invoice_id"], kind="stable", ignore_index=True)
    return Dataset(X=rows[FEATURE_COLUMNS].astype(float), rows=rows[ROW_COLUMNS])


def temporal_split(frames: LedgerFrames, *, split_date: pd.Timestamp | str,
                   features: pd.DataFrame | None = None) -> tuple[Dataset, Dataset]:
    """(train, test) for a backtest at ``split_date``.

    Train: invoices issued before D, labels censored at D. Test: invoices issued on/after D,
    labelled with everything the ledger knows (censored at its ``as_of``).
    """
    split = pd.Timestamp(split_date)
    if not frames.invoices["issue_date"].min() < split <= frames.as_of:
        raise ModelError(f"split date {split.date()} is outside the ledger "
                         f"({frames.invoices['issue_date'].min().date()} – {frames.as_of.date()})")
    features = features_at_issue(frames) if features is None else features
    train = labelled_rows(frames, cutoff=split, issued_before=split, features=features)
    test = labelled_rows(frames, issued_from=split, features=features)
    for name, part in (("training", train), ("test", test)):
        if len(part) == 0 or part.rows["late"].nunique() < 2:
            raise ModelError(f"the {name} window at split date {split.date()} has "
                             f"{len(part)} labelled invoices and not both classes")
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


def _segments(frames: LedgerFrames) -> pd.Series:
    customers = frames.customers
    if "segment" not in customers:
        return pd.Series(dtype=object)
    segment = customers["segment"].replace("", np.nan)
    return pd.Series(segment.to_numpy(), index=customers["customer_id"].to_numpy())


def _invoice_extras(frames: LedgerFrames) -> pd.DataFrame:
    invoices = frames.invoices
    extras = invoices[["invoice_id"]].copy()
    extras["true_p_late"] = (invoices["true_p_late"].astype(float) if "true_p_late" in invoices
                             else np.nan)
    return extras
