"""The IBM accounts-receivable sample: no feature of an invoice comes from its own settlement.

The file's ``DaysLate`` and ``DaysToSettle`` are ``SettledDate`` in disguise, so moving the scored
invoice's ``SettledDate`` (and every column derived from it) must leave its features unchanged.
Disputed=Yes becomes a dispute opened halfway between issue and settlement: that is after the
issue date, so never known when the invoice is scored (DESIGN: post-issue information).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.pipeline import FEATURE_COLUMNS, build_features
from ledger.frames import LedgerFrames

IBM = Path(__file__).parents[1] / "data" / "ibm_ar" / "WA_Fn-UseC_-Accounts-Receivable.csv"


@pytest.fixture(scope="module")
def raw() -> pd.DataFrame:
    frame = pd.read_csv(IBM, dtype={"invoiceNumber": str, "countryCode": str})
    for column in ("InvoiceDate", "DueDate", "SettledDate"):
        frame[column] = pd.to_datetime(frame[column], format="%m/%d/%Y")
    return frame


def ibm_frames(raw: pd.DataFrame) -> LedgerFrames:
    invoices = pd.DataFrame({
        "invoice_id": raw["invoiceNumber"], "customer_id": raw["customerID"],
        "issue_date": raw["InvoiceDate"], "due_date": raw["DueDate"],
        "amount": raw["InvoiceAmount"].astype(float), "currency": "USD", "kind": "invoice",
        "settled_date": raw["SettledDate"],
    })
    payments = pd.DataFrame({
        "payment_id": "P" + raw["invoiceNumber"], "customer_id": raw["customerID"],
        "paid_on": raw["SettledDate"], "amount": raw["InvoiceAmount"].astype(float),
        "currency": "USD", "invoice_id": raw["invoiceNumber"],
    })
    disputed = raw[raw["Disputed"] == "Yes"]
    disputes = pd.DataFrame({
        "dispute_id": "D" + disputed["invoiceNumber"], "invoice_id": disputed["invoiceNumber"],
        "opened_on": disputed["InvoiceDate"]
        + (disputed["SettledDate"] - disputed["InvoiceDate"]) / 2,
        "reason": "unknown", "status": "resolved_rejected", "resolved_on": disputed["SettledDate"],
    })
    disputes["opened_on"] = disputes["opened_on"].dt.floor("D")
    customers = raw.drop_duplicates("customerID").rename(
        columns={"customerID": "customer_id", "countryCode": "country"})[
        ["customer_id", "country"]]
    return LedgerFrames(customers=customers, invoices=invoices, payments=payments,
                        as_of=raw["SettledDate"].max(), disputes=disputes)


def test_ibm_features_are_finite_and_use_history(raw: pd.DataFrame) -> None:
    features = build_features(ibm_frames(raw))
    assert len(features) == len(raw)
    assert np.isfinite(features[FEATURE_COLUMNS].to_numpy(float)).all()
    # 92 % of the invoices have an earlier invoice of the same customer (PROVENANCE.md);
    # fewer have one already settled
    assert (features["tenure_days"] > 0).mean() > 0.85
    assert (features["hist_n_settled"] > 0).mean() > 0.8
    assert not {"DaysLate", "DaysToSettle", "SettledDate"} & set(features.columns)


def test_moving_an_invoices_own_settlement_never_moves_its_features(raw: pd.DataFrame) -> None:
    base = build_features(ibm_frames(raw)).set_index("invoice_id")
    rng = np.random.default_rng(0)
    for position in rng.choice(len(raw), size=12, replace=False):
        for shift in (-40, 90):
            moved = raw.copy()
            settled = max(moved.at[position, "SettledDate"] + pd.Timedelta(days=shift),
                          moved.at[position, "InvoiceDate"])
            moved.loc[position, "SettledDate"] = settled
            moved.loc[position, "DaysToSettle"] = (settled - moved.at[position, "InvoiceDate"]).days
            moved.loc[position, "DaysLate"] = max((settled - moved.at[position, "DueDate"]).days, 0)
            invoice_id = raw.at[position, "invoiceNumber"]
            after = build_features(ibm_frames(moved)).set_index("invoice_id").loc[invoice_id]
            pd.testing.assert_series_equal(base.loc[invoice_id], after, check_names=False)


def test_a_settlement_moved_before_t_does_move_later_features(raw: pd.DataFrame) -> None:
    # the check above is not vacuous: an earlier invoice's settlement is visible to later ones
    customer = raw["customerID"].iloc[0]
    rows = raw[raw["customerID"] == customer].sort_values("InvoiceDate")
    first, later = rows.index[0], rows.index[-1]
    moved = raw.copy()
    moved.loc[first, "SettledDate"] = moved.at[first, "DueDate"] + pd.Timedelta(days=60)
    before = build_features(ibm_frames(raw)).set_index("invoice_id")
    after = build_features(ibm_frames(moved)).set_index("invoice_id")
    invoice_id = raw.at[later, "invoiceNumber"]
    assert after.loc[invoice_id, "hist_max_days_late"] >= 60
    assert after.loc[invoice_id, "hist_max_days_late"] != before.loc[invoice_id,
                                                                     "hist_max_days_late"]
