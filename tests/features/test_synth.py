"""The synthetic ledger: deterministic, honest about its truth, behaviours that differ."""
from __future__ import annotations

import numpy as np
import pandas as pd

from features.synth import BEHAVIOURS, REMINDER_STEPS, generate, months_ending
from ledger.frames import SCHEMAS, LedgerFrames


def _frames_equal(a: LedgerFrames, b: LedgerFrames) -> None:
    for name in SCHEMAS:
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name))
    assert a.as_of == b.as_of


def test_same_seed_same_ledger_other_seed_other_ledger() -> None:
    _frames_equal(generate(customers=80, months=6, seed=5), generate(customers=80, months=6, seed=5))
    other = generate(customers=80, months=6, seed=6)
    assert not generate(customers=80, months=6, seed=5).invoices["amount"].equals(
        other.invoices["amount"])


def test_frames_follow_the_contract(synthetic: LedgerFrames) -> None:
    for name, columns in SCHEMAS.items():
        assert set(columns) <= set(getattr(synthetic, name).columns), name
    assert set(synthetic.customers["behaviour"]) == set(BEHAVIOURS)
    assert synthetic.as_of == pd.Timestamp("2025-06-30")
    assert {"FR", "BE"} <= set(synthetic.customers["country"]) and \
        synthetic.customers["country"].nunique() > 3
    assert set(synthetic.customers["payment_terms_days"]) == {30, 45, 60}


def _late_truth(frames: LedgerFrames) -> pd.DataFrame:
    """Invoices old enough that every one that will ever be paid has been, with their truth."""
    invoices = frames.invoices[(frames.invoices["kind"] == "invoice")
                               & (frames.invoices["due_date"] < frames.as_of - pd.Timedelta(days=200))]
    late = invoices["settled_date"].isna() | (invoices["settled_date"] > invoices["due_date"])
    return invoices.assign(late=late).merge(frames.customers[["customer_id", "behaviour"]])


def test_true_p_late_is_the_real_probability(synthetic: LedgerFrames) -> None:
    truth = _late_truth(synthetic)
    assert truth["true_p_late"].between(0, 1).all()
    assert abs(truth["late"].mean() - truth["true_p_late"].mean()) < 0.02
    # and it ranks: the top half of true_p_late is late far more often
    high = truth["true_p_late"] > truth["true_p_late"].median()
    assert truth.loc[high, "late"].mean() > truth.loc[~high, "late"].mean() + 0.3


def test_behaviours_actually_differ(synthetic: LedgerFrames) -> None:
    by = _late_truth(synthetic).groupby("behaviour")["late"].mean()
    assert by["on_time"] < 0.1
    assert by["late_habit"] > by["on_time"] + 0.5
    assert by["large_slow"] > by["on_time"] + 0.4
    disputes = synthetic.disputes.merge(synthetic.invoices[["invoice_id", "customer_id"]]).merge(
        synthetic.customers[["customer_id", "behaviour"]])
    share = disputes["behaviour"].value_counts(normalize=True)
    assert share["disputes_often"] > 0.4


def test_reminders_move_when_reminder_payers_pay(synthetic: LedgerFrames) -> None:
    truth = _late_truth(synthetic)
    waiting = truth[(truth["behaviour"] == "after_first_reminder") & truth["late"]
                    & truth["settled_date"].notna()]
    first_reminder = waiting["due_date"] + pd.Timedelta(days=REMINDER_STEPS[0][0])
    after = (waiting["settled_date"] - first_reminder).dt.days
    assert len(waiting) > 50 and after.between(1, 5).mean() > 0.8
    reminded = synthetic.reminders.merge(synthetic.invoices[["invoice_id", "due_date",
                                                             "settled_date"]])
    assert (reminded["sent_on"] > reminded["due_date"]).all()
    assert (reminded["settled_date"].isna() | (reminded["sent_on"] < reminded["settled_date"])).all()


def test_credit_notes_partial_and_unallocated_payments(synthetic: LedgerFrames) -> None:
    invoices, payments = synthetic.invoices, synthetic.payments
    credit_notes = invoices[invoices["kind"] == "credit_note"]
    assert len(credit_notes) > 0 and (credit_notes["amount"] > 0).all()
    assert credit_notes["applies_to"].isin(invoices["invoice_id"]).all()
    assert payments["invoice_id"].isna().any()
    assert payments["invoice_id"].dropna().duplicated().any()  # instalments
    # a settled invoice is covered exactly by its payments and credit notes
    paid = payments.groupby("invoice_id")["amount"].sum()
    credited = credit_notes.groupby("applies_to")["amount"].sum()
    settled = invoices[(invoices["kind"] == "invoice") & invoices["settled_date"].notna()]
    covered = paid.reindex(settled["invoice_id"]).fillna(0).to_numpy() + credited.reindex(
        settled["invoice_id"]).fillna(0).to_numpy()
    np.testing.assert_allclose(covered, settled["amount"].to_numpy(), atol=0.011)


def test_months_ending_counts_calendar_months() -> None:
    from datetime import date

    assert months_ending(date(2026, 11, 27), 24) == date(2024, 12, 1)
    assert months_ending(date(2026, 1, 31), 1) == date(2026, 1, 1)
    assert months_ending(date(2026, 3, 1), 3) == date(2026, 1, 1)
    assert months_ending(date(2026, 12, 31), 12) == date(2026, 1, 1)
    assert months_ending(date(2026, 1, 15), 13) == date(2025, 1, 1)


def test_a_history_ending_today_fills_the_current_month() -> None:
    from datetime import date

    today = date(2026, 11, 27)
    frames = generate(customers=60, months=24, seed=3, start=months_ending(today, 24).isoformat(),
                      as_of=today.isoformat())
    issued = pd.to_datetime(frames.invoices["issue_date"])
    # every one of the 24 months has invoices, the last being November up to the 27th
    months = issued.dt.to_period("M")
    assert months.min() == pd.Period("2024-12", "M") and months.max() == pd.Period("2026-11", "M")
    assert months.nunique() == 24
    assert issued.max() <= pd.Timestamp(today)
