"""Customer score and grade; reasons in French and English."""
from __future__ import annotations

import numpy as np
import pandas as pd

from features.registry import FEATURES
from model.predict import Predictor
from model.score import GRADES, customer_scores, grade, risk_to_score, score_ledger


def test_score_and_grade_are_monotone_in_risk():
    risk = np.linspace(0, 1, 1001)
    score = risk_to_score(risk)
    grades = grade(score)
    assert score[0] == 1000 and score[-1] == 0
    assert (np.diff(score) <= 0).all()
    order = "ABCDE"
    assert all(order.index(a) <= order.index(b) for a, b in zip(grades, grades[1:]))
    assert [grade(floor).item() for _, floor in GRADES] == list("ABCDE")
    assert grade(849).item() == "B"


def test_customer_risk_is_amount_weighted_and_blends_severity():
    invoices = pd.DataFrame({
        "customer_id": ["a", "a", "b"], "amount": [900.0, 100.0, 50.0],
        "p_late": [0.1, 0.9, 0.5], "p_severe": [0.0, 0.5, 0.5], "p_unpaid_90": [0.0, 0.2, 0.5],
        "expected_days_late": [1.0, 20.0, 5.0], "expected": [False, True, False]})
    scores = customer_scores(invoices).set_index("customer_id")
    # 0.25 P(late) + 0.25 P(severe) + 0.5 P(unpaid 90 days), weighted 900 : 100
    a_risk = (0.9 * (0.25 * 0.1) + 0.1 * (0.25 * 0.9 + 0.25 * 0.5 + 0.5 * 0.2))
    assert np.isclose(scores.loc["a", "risk"], a_risk)
    assert scores.loc["a", "score"] == round(1000 * (1 - a_risk))
    assert scores.loc["a", "open_invoices"] == 1 and scores.loc["a", "open_amount"] == 900
    assert scores.loc["b", "score"] == 500 and scores.loc["b", "grade"] == "D"


def test_every_customer_gets_a_score_from_the_ledger(frames, bundle):
    invoices, customers = score_ledger(frames, Predictor(bundle))
    assert customers["customer_id"].is_unique
    assert set(customers["customer_id"]) == set(frames.invoices["customer_id"])
    assert customers["score"].between(0, 1000).all()
    assert not invoices["invoice_id"].str.startswith("expected-").any()
    open_ids = frames.invoices.loc[frames.invoices["settled_date"].isna()
                                   & (frames.invoices["kind"] == "invoice"), "invoice_id"]
    assert set(invoices["invoice_id"]) == set(open_ids)


def test_reasons_are_sentences_per_family_in_both_languages(bundle, split):
    X = split[1].X.head(5)
    predictor = Predictor(bundle)
    fr, en = predictor.explain(X, top=3), predictor.explain(X, top=3, language="en")
    assert len(fr) == 5 and all(len(row) == 3 for row in fr)
    for row_fr, row_en in zip(fr, en):
        assert len({r["family"] for r in row_fr}) == 3
        effects = [abs(r["effect"]) for r in row_fr]
        assert effects == sorted(effects, reverse=True)
        assert [r["feature"] for r in row_fr] == [r["feature"] for r in row_en]
        assert all(r["sentence"] and r["sentence"] != s["sentence"]
                   for r, s in zip(row_fr, row_en))


def test_reasons_of_a_late_payer_quote_the_history(bundle, split):
    X = split[1].X[split[1].X["hist_n_settled"] >= 12].head(1).assign(
        hist_share_late=1.0, hist_mean_days_late=25.0, hist_mean_days_late_last12=25.0,
        hist_median_days_late_last12=25.0, hist_mean_days_late_last3=25.0,
        # a payer 25 days late on every settled invoice missed every due date
        due_share_late=1.0, due_share_late_recent=1.0)
    (reasons,) = Predictor(bundle).explain(X, top=4)
    history = [r for r in reasons if r["family"] == "history"]
    assert history and history[0]["effect"] > 0
    feature = FEATURES[history[0]["feature"]]
    assert history[0]["sentence"] == feature.sentence(history[0]["value"], "fr")


def test_a_new_payer_is_told_it_has_no_history(bundle, split):
    X = split[1].X[split[1].X["hist_cold_start"] == 1].head(3)
    assert len(X) > 0
    for reasons in Predictor(bundle).explain(X, top=4, language="en"):
        history = [r for r in reasons if r["family"] == "history"]
        assert not history or history[0]["sentence"] == "No payment history for this customer"


def test_reason_sentences_never_show_a_negative_delay_or_a_calendar_month():
    from features.registry import FEATURE_COLUMNS
    from model.explain import _sentence

    assert "issue_month" not in FEATURE_COLUMNS
    for language in ("fr", "en"):
        early = _sentence("hist_mean_days_late", -2.0, language)
        assert "-" not in early and ("avance" in early or "before" in early)
        better = _sentence("hist_trend_days_late", -3.0, language)
        worse = _sentence("hist_trend_days_late", 4.0, language)
        assert "-" not in better and "3" in better and "4" in worse
        assert "-" not in _sentence("hist_season_excess_days", -5.0, language)
        # the trends of missed due dates read "up / down N points", never "up -20 %"
        down = _sentence("due_share_late_trend", -0.2, language)
        up = _sentence("due_share_severe_trend", 0.5, language)
        assert "-" not in down and "20" in down and ("baisse" in down or "down" in down)
        assert "50" in up and ("hausse" in up or "up" in up)
        assert "-" not in _sentence("due_days_late_trend", -6.0, language)
        assert "-" not in _sentence("due_days_late_recent", -1.0, language)


def test_a_dispute_is_never_given_as_lowering_the_risk():
    from model.explain import _row_reasons

    columns = ["invoice_disputed", "hist_share_late"]
    families = {"behaviour": [0], "history": [1]}
    # the dispute's effect lowers the risk here: it must not become a reason
    found = _row_reasons(np.array([1.0, 0.2]), np.array([-0.8, 0.3]), columns, families, 3, "en")
    assert [r["feature"] for r in found] == ["hist_share_late"]
    raised = _row_reasons(np.array([1.0, 0.2]), np.array([0.8, 0.3]), columns, families, 3, "en")
    assert raised[0]["feature"] == "invoice_disputed" and raised[0]["effect"] > 0
