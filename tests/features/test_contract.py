"""Data contract of the synthetic frames, the feature frame and the labels (Made-With-ML style)."""
from __future__ import annotations

import pandas as pd

from features.labels import build_labels
from features.pipeline import build_features
from ledger.frames import LedgerFrames

IDS = {"customers": "customer_id", "invoices": "invoice_id", "payments": "payment_id",
       "disputes": "dispute_id", "reminders": "reminder_id", "promises": "promise_id"}


def test_no_duplicate_ids(synthetic: LedgerFrames) -> None:
    for name, column in IDS.items():
        assert getattr(synthetic, name)[column].is_unique, name


def test_dates_are_in_order_and_not_after_as_of(synthetic: LedgerFrames) -> None:
    invoices = synthetic.invoices
    assert (invoices["due_date"] >= invoices["issue_date"]).all()
    settled = invoices["settled_date"].dropna()
    assert (settled >= invoices.loc[settled.index, "issue_date"]).all()
    assert (settled <= synthetic.as_of).all()
    assert (synthetic.payments["paid_on"] <= synthetic.as_of).all()
    assert (synthetic.reminders["sent_on"] <= synthetic.as_of).all()
    opened = synthetic.disputes.merge(invoices[["invoice_id", "issue_date"]])
    assert (opened["opened_on"] > opened["issue_date"]).all()


def test_every_reference_points_at_a_known_row(synthetic: LedgerFrames) -> None:
    customers = set(synthetic.customers["customer_id"])
    invoice_ids = set(synthetic.invoices["invoice_id"])
    assert set(synthetic.invoices["customer_id"]) <= customers
    assert set(synthetic.payments["invoice_id"].dropna()) <= invoice_ids
    for name in ("disputes", "reminders", "promises"):
        assert set(getattr(synthetic, name)["invoice_id"]) <= invoice_ids, name


def test_feature_rows_are_never_scored_after_their_own_issue(synthetic: LedgerFrames) -> None:
    features = build_features(synthetic)
    invoices = synthetic.invoices[synthetic.invoices["kind"] == "invoice"]
    assert len(features) == len(invoices) and features["invoice_id"].is_unique
    merged = features.merge(invoices[["invoice_id", "issue_date"]])
    assert (merged["scored_at"] == merged["issue_date"]).all()


def test_label_rate_in_bounds(synthetic: LedgerFrames) -> None:
    labels = build_labels(synthetic)
    assert labels["invoice_id"].is_unique
    assert 0.2 < labels["late"].mean() < 0.7
    assert 0.01 < labels["severe"].mean() < 0.3
    assert labels["censored"].mean() < 0.1
