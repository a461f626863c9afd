"""Labels: days late, late (> 0 days) and severely late (> 30 days), with right-censoring.

At a training cut-off only what was known then counts: an invoice settled after the cut-off is
open at the cut-off. Following DESIGN.md, an invoice still open at the cut-off is a positive only
once it is already late past the horizon (``cutoff - due > horizon_days``) and is dropped
otherwise: never a negative, since it may still be paid late. An open invoice overdue by more
than 30 days (and past the horizon) is severely late for sure; one overdue by fewer is late but
its ``severe`` label is unknown (``<NA>``): the severe model drops those rows.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ledger.frames import LedgerFrames

SEVERE_DAYS = 30
LABEL_COLUMNS = ["invoice_id", "customer_id", "issue_date", "due_date", "days_late", "late",
                 "severe", "censored"]


def build_labels(
    frames: LedgerFrames,
    *,
    cutoff: pd.Timestamp | None = None,
    horizon_days: int = 0,
) -> pd.DataFrame:
    """One row per labelled invoice (kind invoice) issued on or before ``cutoff``.

    ``cutoff`` defaults to ``frames.as_of``. Columns: ``days_late`` (settled − due in days; NaN
    when censored), ``late`` and ``severe`` (nullable Int8), ``censored`` (open at the cut-off).
    """
    if horizon_days < 0:
        raise ValueError(f"horizon_days must be >= 0, got {horizon_days}")
    cutoff = pd.Timestamp(frames.as_of if cutoff is None else cutoff)
    invoices = frames.invoices
    if "kind" in invoices:
        invoices = invoices[invoices["kind"].fillna("invoice") == "invoice"]
    invoices = invoices[invoices["issue_date"] <= cutoff]

    settled = invoices["settled_date"].notna() & (invoices["settled_date"] <= cutoff)
    days_late = (invoices["settled_date"] - invoices["due_date"]).dt.days.where(settled)
    overdue = (cutoff - invoices["due_date"]).dt.days.to_numpy(float)
    open_late = ~settled.to_numpy() & (overdue > horizon_days)
    keep = settled.to_numpy() | open_late

    late = np.where(settled, days_late > 0, True)
    severe = pd.array(np.where(settled, days_late > SEVERE_DAYS, True).astype("int8"),
                      dtype="Int8")
    severe[open_late & (overdue <= SEVERE_DAYS)] = pd.NA
    labels = pd.DataFrame({
        "invoice_id": invoices["invoice_id"].to_numpy(),
        "customer_id": invoices["customer_id"].to_numpy(),
        "issue_date": invoices["issue_date"].to_numpy(),
        "due_date": invoices["due_date"].to_numpy(),
        "days_late": days_late.to_numpy(float),
        "late": pd.array(late.astype("int8"), dtype="Int8"),
        "severe": severe,
        "censored": ~settled.to_numpy(),
    })
    return labels[keep].reset_index(drop=True)
