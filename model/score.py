"""Customer score 0–1000 and grade A–E, from the time-to-payment answers of its invoices.

One scale everywhere (API, worklist, dunning, dashboard, CLI). Per invoice, from the
time-to-payment model (or the rules when no model is served), conditional on unpaid today:

    risk = 0.25 × P(late) + 0.25 × P(more than 30 days late) + 0.5 × P(not paid within 90 days)

so a payer who is reliably a few days late (high P(late), nothing left unpaid for months) ranks
safer than one whose invoices start to stay unpaid. Per customer, the risk is the amount-weighted
mean over its open invoices and one expected invoice (its next one: the median of its last 12
amounts, its usual terms, issued today), which gives every customer a score, including one with
nothing open. Then

    score = round(1000 × (1 − risk))       (1000: no risk at all)

and the grade reads the score: A ≥ 850, B ≥ 700, C ≥ 550, D ≥ 400, E below. Both are monotone:
more risk never gives a higher score or a better grade.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from features.pipeline import build_features
from ledger.frames import LedgerFrames
from model.errors import ModelError
from model.predict import Predictor

RISK_WEIGHTS = {"p_late": 0.25, "p_severe": 0.25, "p_unpaid_90": 0.5}
GRADES = [("A", 850), ("B", 700), ("C", 550), ("D", 400), ("E", 0)]
SCORE_COLUMNS = ["customer_id", "score", "grade", "risk", "p_late", "p_severe",
                 "expected_days_late", "open_invoices", "open_amount"]


def risk_to_score(risk: np.ndarray | float) -> np.ndarray:
    """0–1000, higher is safer."""
    risk = np.clip(np.asarray(risk, dtype=float), 0.0, 1.0)
    return np.rint(1000 * (1 - risk)).astype(int)


def grade(score: np.ndarray | int) -> np.ndarray:
    """A–E from the score (thresholds in ``GRADES``)."""
    score = np.asarray(score)
    letters = np.array([g for g, _ in GRADES])
    floors = np.array([f for _, f in GRADES])
    return letters[np.argmax(score[..., None] >= floors, axis=-1)]


def invoice_risk(scored: pd.DataFrame) -> np.ndarray:
    """The risk of each scored invoice on the one scale (see the module docstring)."""
    return sum(weight * scored[column].to_numpy(float) for column, weight in RISK_WEIGHTS.items())



def customer_scores(invoices: pd.DataFrame) -> pd.DataFrame:
    """One row per customer from scored invoices.

    ``invoices``: customer_id, amount, p_late, p_severe, expected_days_late and ``expected``
    (True for the expected next invoice, which counts in the risk but not in the open balance).
    """
    needed = {"customer_id", "amount", "p_late", "p_severe", "expected_days_late", "p_unpaid_90"}
    if missing := needed - set(invoices):
        raise ModelError(f"scored invoices lack {sorted(missing)}")
    frame = invoices.assign(
        weight=np.clip(invoices["amount"].astype(float), 1.0, None),
        expected=invoices.get("expected", False))
    frame["risk"] = invoice_risk(frame)
    columns = ["risk", "p_late", "p_severe", "expected_days_late", "p_unpaid_30", "p_unpaid_90"]
    columns = [c for c in columns if c in frame]
    for column in columns:
        frame[f"w_{column}"] = frame[column] * frame["weight"]
    # the balance still owed when given (partial payments deducted), else the invoice amount
    owed = frame["open_amount"] if "open_amount" in frame else frame["amount"]
    frame["open_amount"] = np.where(frame["expected"], 0.0, owed.astype(float))
    frame["open_invoices"] = (~frame["expected"].astype(bool)).astype(int)
    grouped = frame.groupby("customer_id", sort=True)
    weight = grouped["weight"].sum()
    out = pd.DataFrame({
        column: grouped[f"w_{column}"].sum() / weight for column in columns})
    out["open_invoices"] = grouped["open_invoices"].sum()
    out["open_amount"] = grouped["open_amount"].sum().round(2)
    out["score"] = risk_to_score(out["risk"].to_numpy())
    out["grade"] = grade(out["score"].to_numpy())
    return out.reset_index()[[c for c in [*SCORE_COLUMNS, "p_unpaid_30", "p_unpaid_90"]
                              if c in out.reset_index()]]


def expected_invoices(frames: LedgerFrames, *, as_of: pd.Timestamp) -> pd.DataFrame:
    """Each customer's next invoice as it would look if issued at ``as_of``."""
    invoices = frames.invoices
    if "kind" in invoices:
        invoices = invoices[invoices["kind"].fillna("invoice") == "invoice"]
    past = invoices[invoices["issue_date"] < as_of].sort_values("issue_date").groupby(
        "customer_id").tail(12)
    terms = (past["due_date"] - past["issue_date"]).dt.days
    usual = past.assign(terms=terms).groupby("customer_id").agg(
        amount=("amount", "median"), terms=("terms", "median"))
    return pd.DataFrame({
        "invoice_id": "expected-" + usual.index.astype(str),
        "customer_id": usual.index.to_numpy(),
        "issue_date": as_of,
        "due_date": as_of + pd.to_timedelta(usual["terms"].round().to_numpy(), unit="D"),
        "amount": usual["amount"].to_numpy(float),
    })


def score_ledger(frames: LedgerFrames, predictor: Predictor, *,
                 as_of: pd.Timestamp | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(scored open invoices, customer scores) at ``as_of`` (default: the day after the ledger's
    ``as_of``, so events of that day count)."""
    as_of = pd.Timestamp(as_of) if as_of is not None else frames.as_of + pd.Timedelta(days=1)
    open_features = build_features(frames, as_of=as_of)
    expected = expected_invoices(frames, as_of=as_of)
    expected_features = build_features(frames, invoices=expected, as_of=as_of)
    features = pd.concat([open_features.assign(expected=False),
                          expected_features.assign(expected=True)], ignore_index=True)
    predicted = pd.concat([features[["invoice_id", "customer_id", "amount", "expected"]],
                           predictor.predict(features)], axis=1)
    return predicted[~predicted["expected"]].drop(columns="expected").reset_index(drop=True), \
        customer_scores(predicted)
