"""The time-to-payment model on hand-built ledgers whose right answers are known.

Ledger "bimodal": 120 customers, one invoice each on the 1st of every month of 2024-2025, due 30
days later. Half of the customers (even numbers) always pay on the due date, the others always
exactly 60 days late. The ledger ends on 2025-12-31, so the invoices of the last two months are
still open, and for the late payers everything due since 2025-11-01 is open: a model that read
open invoices as "not late" (or dropped the paid ones and kept the open ones) would be wrong.

What is known, by construction:
- a new invoice of an on-time payer: P(late) ≈ 0; of a late payer: P(late) ≈ 1, P(severe) ≈ 1,
  P(paid within 90 days past due) ≈ 1;
- an invoice of a late payer already 10 days overdue will not be paid in the next 30 days
  (P(unpaid 30) ≈ 1) but will be within 90 (P(unpaid 90) ≈ 0), and its expected pay date is
  due + 60 — conditional answers, not those of a new invoice.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.pipeline import build_features
from ledger.frames import LedgerFrames
from model.dataset import labelled_rows
from model.predict import Predictor
from model.train import TrainConfig, fit_bundle

END = pd.Timestamp("2025-12-31")
CUSTOMERS = 120


def bimodal() -> LedgerFrames:
    rows, payments = [], []
    for c in range(CUSTOMERS):
        late = c % 2 == 1
        for month in pd.date_range("2024-01-01", "2025-12-01", freq="MS"):
            due = month + pd.Timedelta(days=30)
            paid = due + pd.Timedelta(days=60 if late else 0)
            invoice_id = f"F{c:03d}-{month:%Y%m}"
            rows.append({"invoice_id": invoice_id, "customer_id": f"C{c:03d}",
                         "issue_date": month, "due_date": due, "amount": 1000.0,
                         "currency": "EUR", "kind": "invoice",
                         "settled_date": paid if paid <= END else pd.NaT})
            if paid <= END:
                payments.append({"payment_id": f"P{invoice_id}", "customer_id": f"C{c:03d}",
                                 "paid_on": paid, "amount": 1000.0, "currency": "EUR",
                                 "invoice_id": invoice_id})
    customers = pd.DataFrame({"customer_id": [f"C{c:03d}" for c in range(CUSTOMERS)],
                              "name": "x", "segment": "sme"})
    return LedgerFrames(customers=customers, invoices=pd.DataFrame(rows),
                        payments=pd.DataFrame(payments), as_of=END)


@pytest.fixture(scope="module")
def ledger() -> LedgerFrames:
    return bimodal()


@pytest.fixture(scope="module")
def predictor(ledger) -> Predictor:
    config = TrainConfig(num_boost_round=300, early_stopping_rounds=30, learning_rate=0.1,
                         num_leaves=7, num_threads=1)
    return Predictor(fit_bundle(labelled_rows(ledger), config=config))


def test_censored_invoices_are_neither_paid_nor_unpaid_beyond_what_was_seen(ledger):
    everything = labelled_rows(ledger).rows
    rows = everything[everything["landmark"] == 0]  # the rows scored at issue
    # a late payer's invoice due 2025-12-01 (issued 11-01) is 30 days late at the end: bins up
    # to (21, 30] are over and unpaid; (30, 45] is still running: no row
    one = rows[rows["invoice_id"] == "F001-202511"].set_index("bin")["paid"]
    assert list(one.index) == [0, 1, 2, 3, 4] and (one == 0).all()
    # its twin from a year before was paid 60 days late: a row in every bin up to (45, 60]
    old = rows[rows["invoice_id"] == "F001-202411"].set_index("bin")["paid"]
    assert list(old.index) == [0, 1, 2, 3, 4, 5, 6] and old.tolist() == [0] * 6 + [1]
    # the December invoices fall due on the last day: bin 0 is over (paid / not paid by due)
    december = rows[rows["invoice_id"].isin(["F000-202512", "F001-202512"])]
    assert december[["invoice_id", "bin", "paid"]].values.tolist() == [
        ["F000-202512", 0, 1], ["F001-202512", 0, 0]]
    # each bin's start is a scoring age too, with one row for every observed bin from its own:
    # 7 + 6 + … + 1 rows for the 60-days-late twin, the bin-5 age scored the day after 30 days
    twin = everything[everything["invoice_id"] == "F001-202411"]
    assert len(twin) == 7 * 8 // 2
    assert (twin["bin"] >= twin["landmark"]).all()
    at_30 = twin[twin["landmark"] == 5]
    assert at_30["bin"].tolist() == [5, 6] and at_30["paid"].tolist() == [0, 1]
    assert (at_30["scored_at"] == at_30["due_date"] + pd.Timedelta(days=31)).all()


def _score(ledger, customer: str, issue: str, today: pd.Timestamp) -> pd.DataFrame:
    issue = pd.Timestamp(issue)
    target = pd.DataFrame({"invoice_id": ["T"], "customer_id": [customer], "issue_date": [issue],
                           "due_date": [issue + pd.Timedelta(days=30)], "amount": [1000.0]})
    return build_features(ledger, invoices=target, as_of=today + pd.Timedelta(days=1))


def test_new_invoices_get_their_payers_answers(ledger, predictor):
    today = END
    on_time = predictor.predict(_score(ledger, "C000", "2025-12-31", today)).iloc[0]
    late = predictor.predict(_score(ledger, "C001", "2025-12-31", today)).iloc[0]
    assert on_time["p_late"] < 0.1
    assert late["p_late"] > 0.9 and late["p_severe"] > 0.85
    assert late["p_unpaid_90"] < 0.15 + (1 - late["p_late"])  # paid 60 days after due
    # as likely as not paid in the bin (45, 60] days late that holds the truth, 60 (inside a
    # bin the daily hazard is constant, so the median sits early in it)
    due = pd.Timestamp("2026-01-30")
    assert 45 < (pd.Timestamp(late["expected_pay_date"]) - due).days <= 60


def test_overdue_invoices_are_scored_conditionally(ledger, predictor):
    # the late payer's November invoice: due 2025-12-01, 10 days overdue on 2025-12-11
    today = pd.Timestamp("2025-12-11")
    frames = LedgerFrames(customers=ledger.customers,
                          invoices=ledger.invoices.assign(settled_date=ledger.invoices[
                              "settled_date"].where(ledger.invoices["settled_date"] <= today)),
                          payments=ledger.payments[ledger.payments["paid_on"] <= today],
                          as_of=today)
    features = build_features(frames, invoices=frames.invoices[
        frames.invoices["invoice_id"] == "F001-202511"], as_of=today + pd.Timedelta(days=1))
    assert features["days_overdue"].iloc[0] == 10
    answer = predictor.predict(features).iloc[0]
    assert answer["p_late"] == 1.0  # it is late already
    assert answer["p_unpaid_30"] > 0.8  # nobody pays between 10 and 40 days late here
    assert answer["p_unpaid_90"] < 0.2  # everybody pays by 60
    assert 20 <= (pd.Timestamp(answer["expected_pay_date"]) - today).days <= 60
    # the same invoice scored as if new would be "P(late) 0.9+", not a statement about today
    reasons = predictor.explain(features, top=3, language="en")[0]
    assert reasons and all("-" not in r["sentence"] for r in reasons)


def test_hazards_are_probabilities_and_answers_consistent(ledger, predictor):
    features = build_features(ledger, as_of=END + pd.Timedelta(days=1))
    answers = predictor.predict(features)
    assert np.all((answers[["p_late", "p_severe", "p_unpaid_30", "p_unpaid_90"]] >= 0)
                  & (answers[["p_late", "p_severe", "p_unpaid_30", "p_unpaid_90"]] <= 1))
    assert (answers["p_unpaid_90"] <= answers["p_unpaid_30"] + 1e-12).all()
    assert (answers["p_severe"] <= answers["p_late"] + 1e-12).all()
