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
from ledger.var import DELAY_EDGES

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


# ------------------------------------------------------------------ time to payment (hazards)

# the time-to-payment bins of days late (ledger.var.DELAY_EDGES, where the rules read them too)
EDGES = DELAY_EDGES
INTERVAL_COLUMNS = ["invoice_id", "customer_id", "issue_date", "due_date", "amount", "bin",
                    "scored_at", "bin_end", "paid"]


def interval_rows(frames: LedgerFrames, *, cutoff: pd.Timestamp | None = None,
                  issued_before: pd.Timestamp | None = None) -> pd.DataFrame:
    """One row per invoice and time-to-payment bin it was at risk in, observed by ``cutoff``.

    ``cutoff`` is exclusive: what happened on days before it is known (default: the day after
    the ledger's ``as_of``). For bin k of an invoice due on day ``due``:

    - the row exists when the invoice was still unpaid when the bin started (bin 0: at issue;
      bin k >= 1: unpaid at the end of day ``due + EDGES[k-1]``) — an invoice paid earlier is
      not at risk any more;
    - and the whole bin is over before the cut-off (``due + EDGES[k] < cutoff``): a bin still
      running at the cut-off is censored and contributes nothing, neither paid nor unpaid;
    - ``paid`` is 1 when the invoice settled within the bin (on or before ``due + EDGES[k]``).

    ``scored_at`` is when the row's features are computed: the issue date for bin 0, the day
    after the bin starts for the others (the invoice is known unpaid at the end of the day
    before), so a row sees exactly what an open invoice of that age sees in serving.
    """
    cutoff = pd.Timestamp(frames.as_of + pd.Timedelta(days=1) if cutoff is None else cutoff)
    invoices = frames.invoices
    if "kind" in invoices:
        invoices = invoices[invoices["kind"].fillna("invoice") == "invoice"]
    if issued_before is not None:
        invoices = invoices[invoices["issue_date"] < pd.Timestamp(issued_before)]
    invoices = invoices[invoices["issue_date"] < cutoff]
    day = np.timedelta64(1, "D")
    issue = invoices["issue_date"].to_numpy("datetime64[D]")
    due = invoices["due_date"].to_numpy("datetime64[D]")
    settled = invoices["settled_date"].to_numpy("datetime64[D]")
    cut = np.datetime64(cutoff.date(), "D")
    known = ~np.isnat(settled) & (settled < cut)
    # days late as known at the cut-off; an invoice open then is later than anything seen
    late = np.where(known, (settled - due) / day, np.inf)
    parts = []
    for k in range(len(EDGES)):
        start = -np.inf if k == 0 else EDGES[k - 1]
        end_day = due + EDGES[k] * day
        at_risk = (late > start) & (end_day < cut)
        if k == 0:
            scored = issue
        else:
            scored = np.maximum(due + (EDGES[k - 1] + 1) * day, issue)
        idx = np.flatnonzero(at_risk)
        parts.append(pd.DataFrame({
            "row": idx, "bin": k, "scored_at": scored[idx].astype("datetime64[ns]"),
            "bin_end": end_day[idx].astype("datetime64[ns]"),
            "paid": (late[idx] <= EDGES[k]).astype(np.int8)}))
    rows = pd.concat(parts, ignore_index=True)
    base = invoices[["invoice_id", "customer_id", "issue_date", "due_date", "amount"]].to_numpy()
    out = pd.DataFrame(base[rows["row"].to_numpy()],
                       columns=["invoice_id", "customer_id", "issue_date", "due_date", "amount"])
    for column in ("issue_date", "due_date"):
        out[column] = pd.to_datetime(out[column])
    out["amount"] = out["amount"].astype(float)
    out = pd.concat([out, rows.drop(columns="row")], axis=1)
    return out.sort_values(["scored_at", "invoice_id", "bin"], kind="stable",
                           ignore_index=True)[INTERVAL_COLUMNS]
