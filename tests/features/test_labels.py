"""Labels: days late, late, severe, and right-censoring at the cut-off."""
from __future__ import annotations

import pandas as pd
import pytest

from features.labels import build_labels
from ledger.frames import LedgerFrames

D = pd.Timestamp


def _labels(frames: LedgerFrames, **kwargs) -> pd.DataFrame:
    return build_labels(frames, **kwargs).set_index("invoice_id")


def test_settled_invoices_are_labelled_from_days_late(tiny: LedgerFrames) -> None:
    labels = _labels(tiny)  # cut-off 2024-04-30: I3 open, due 03-02, 59 days overdue
    assert labels.loc["I1", ["days_late", "late", "severe"]].tolist() == [10, 1, 0]
    assert labels.loc["I2", ["days_late", "late", "severe"]].tolist() == [-4, 0, 0]
    assert labels.loc["I4", ["days_late", "late"]].tolist() == [0, 0]  # paid on the due date
    assert labels.loc["I5", ["days_late", "late", "severe"]].tolist() == [31, 1, 1]
    assert labels.loc["I3", "censored"] and labels.loc["I3", "late"] == 1
    assert labels.loc["I3", "severe"] == 1 and pd.isna(labels.loc["I3", "days_late"])


def test_open_invoice_not_yet_late_past_the_horizon_is_dropped_never_negative(
        tiny: LedgerFrames) -> None:
    # at 03-10 I3 (due 03-02) is 8 days overdue and open
    assert _labels(tiny, cutoff=D("2024-03-10")).loc["I3", "late"] == 1
    assert "I3" not in _labels(tiny, cutoff=D("2024-03-10"), horizon_days=8).index
    assert "I3" not in _labels(tiny, cutoff=D("2024-03-01")).index  # not yet due
    # late for sure, but whether beyond 30 days is unknown yet
    assert pd.isna(_labels(tiny, cutoff=D("2024-03-10")).loc["I3", "severe"])


def test_settlement_after_the_cutoff_is_not_used(tiny: LedgerFrames) -> None:
    # at 02-05 I1 (due 01-31) is unpaid: it settles only on 02-10
    labels = _labels(tiny, cutoff=D("2024-02-05"))
    assert labels.loc["I1", "censored"] and labels.loc["I1", "late"] == 1
    assert pd.isna(labels.loc["I1", "days_late"])
    assert "I2" not in labels.index  # due 02-14, open at the cut-off: dropped
    assert "I4" not in labels.index  # issued after the cut-off


def test_negative_horizon_is_rejected(tiny: LedgerFrames) -> None:
    with pytest.raises(ValueError, match="-1"):
        build_labels(tiny, horizon_days=-1)


def test_interval_rows_keep_only_what_was_observed(tiny: LedgerFrames) -> None:
    """Time-to-payment rows of the tiny ledger, worked out by hand (as_of 2024-04-30)."""
    from features.labels import interval_rows

    rows = interval_rows(tiny)
    got = {(r.invoice_id, r.bin): r.paid for r in rows.itertuples()}
    assert got == {
        ("I1", 0): 0, ("I1", 1): 0, ("I1", 2): 1,  # 10 days late: paid in (7, 14]
        ("I2", 0): 1,  # 4 days early
        # open, due 03-02: bins up to (30, 45] (ends 04-16) are over; (45, 60] ends 05-01,
        # the cut-off: still running, so censored (no row at all)
        ("I3", 0): 0, ("I3", 1): 0, ("I3", 2): 0, ("I3", 3): 0, ("I3", 4): 0, ("I3", 5): 0,
        ("I4", 0): 1,  # paid on its due date
        # 31 days late: paid in (30, 45]
        ("I5", 0): 0, ("I5", 1): 0, ("I5", 2): 0, ("I5", 3): 0, ("I5", 4): 0, ("I5", 5): 1,
    }
    i5 = rows[rows["invoice_id"] == "I5"].set_index("bin")["scored_at"]
    # bin 0 at issue; bin k the day after the invoice is known unpaid at due + EDGES[k-1]
    assert list(i5) == [D("2024-01-05"), D("2024-02-05"), D("2024-02-12"), D("2024-02-19"),
                        D("2024-02-26"), D("2024-03-06")]


def test_interval_rows_censor_at_an_earlier_cutoff(tiny: LedgerFrames) -> None:
    from features.labels import interval_rows

    # at 2024-02-10 (exclusive) I1 is 9 days late and unpaid: bins 0 and 1 are over, bin 2 is
    # not; I1's settlement on 02-10 is not known yet, so nothing says "paid"
    rows = interval_rows(tiny, cutoff=D("2024-02-10"))
    got = {(r.invoice_id, r.bin): r.paid for r in rows.itertuples()}
    assert got == {("I1", 0): 0, ("I1", 1): 0, ("I5", 0): 0}
