"""The feature pipeline: hand-computed values, point in time, order and customer independence."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.pipeline import FEATURE_COLUMNS, FeaturesError, build_features
from features.registry import FEATURES
from ledger.frames import LedgerFrames

D = pd.Timestamp


def _row(features: pd.DataFrame, invoice_id: str) -> pd.Series:
    return features.set_index("invoice_id").loc[invoice_id]


def test_hand_computed_features_of_an_invoice_with_history(tiny: LedgerFrames) -> None:
    row = _row(build_features(tiny), "I4")  # scored at its issue date, 2024-03-10
    expected = {
        # I1 (+10 days, 100) and I2 (-4 days, 300) settled on 02-10; I3 is still open
        "hist_n_settled": 2, "hist_cold_start": 0, "hist_share_late": 0.5,
        "hist_share_late_amount": 0.25, "hist_mean_days_late": 3.0,
        "hist_median_days_late_last12": 3.0, "hist_max_days_late": 10.0,
        "hist_mean_days_late_last3": 3.0, "hist_mean_days_late_last12": 3.0,
        "hist_trend_days_late": 0.0,  # fewer than 4 settled invoices
        "hist_mean_reminders": 0.5, "hist_share_paid_after_reminder": 0.5,
        "tenure_days": 69, "days_since_last_payment": 29,  # 2024 is a leap year
        # I3 (200, due 03-02) is open and overdue; I4 itself is not in its exposure
        "open_count": 1, "open_amount": 200.0, "overdue_count": 1, "overdue_amount": 200.0,
        "amount_vs_usual": 50 / 200,  # median of 100, 300, 200
        "reminders_last_90d": 2, "disputes_count": 1, "disputes_share": 1 / 3,
        # the promise on I3 closes on 03-21, after t: unknown, so the fill
        "promises_count": 0, "promises_kept_share": 1.0,
        "amount": 50.0, "log_amount": np.log1p(50.0), "terms_days": 30,
        "terms_end_of_month": 0, "issue_dayofweek": 6, "due_dayofmonth": 9,
        "days_overdue": -31,  # (03-10 − 04-09) − 1: unpaid at the end of the day before t
        "invoice_disputed": 0,
        # P1 and P2 both on Saturday 02-10: one weekday, the second on the same day of month
        "pay_weekday_share": 1.0, "pay_day_regularity": 1.0,
        "days_due_to_pay_run": 1,  # the next 10th after the due date 04-09
        "hist_partial_share": 0.0,  # I1 and I2 were each paid at once
        "hist_season_excess_days": 0.0,  # no settled invoice due in April
        # due before 03-10: I1 (paid 10 days late), I2 (early), I3 (open): two of three missed
        "due_share_late": 2 / 3, "due_share_late_recent": 2 / 3,
        # due + 30 before 03-10: I1 only (03-01), paid by then; I2's window ends 03-15
        "due_share_severe": 0.0, "due_share_severe_recent": 0.0,
        # no invoice before the recent ones: no trend; I1 (10 days late) alone is matured
        "due_share_late_trend": 0.0, "due_share_severe_trend": 0.0,
        "due_still_open_recent": 0.0, "due_days_late_recent": 10.0, "due_days_late_trend": 0.0,
        "age_bin": 0,  # not yet due
    }
    assert set(expected) == set(FEATURE_COLUMNS)
    for name, value in expected.items():
        assert row[name] == pytest.approx(value), name


def test_same_day_events_are_not_yet_known(tiny: LedgerFrames) -> None:
    # I3 is issued on 02-01, the day the dispute on I1 is opened: not counted yet
    row = _row(build_features(tiny), "I3")
    assert row["disputes_count"] == 0
    assert row["hist_cold_start"] == 1 and row["hist_share_late"] == 0
    assert row["days_since_last_payment"] == row["tenure_days"] == 31
    assert (row["open_count"], row["open_amount"]) == (2, 400.0)
    assert (row["overdue_count"], row["overdue_amount"]) == (1, 100.0)  # I1 was due 01-31


def test_cold_start_customer_gets_finite_documented_fills(tiny: LedgerFrames) -> None:
    new = pd.DataFrame({"invoice_id": ["NEW"], "customer_id": ["Z"], "issue_date": [D("2024-04-01")],
                        "due_date": [D("2024-05-31")], "amount": [500.0]})
    row = _row(build_features(tiny, invoices=new, as_of=D("2024-04-01")), "NEW")
    for name in FEATURE_COLUMNS:
        if FEATURES[name].family != "invoice" and name != "hist_cold_start":
            assert row[name] == FEATURES[name].fill, name
    assert row["hist_cold_start"] == 1
    assert row["terms_end_of_month"] == 1


def test_every_value_is_finite(synthetic: LedgerFrames) -> None:
    features = build_features(synthetic)
    assert np.isfinite(features[FEATURE_COLUMNS].to_numpy(float)).all()
    assert list(features.columns) == ["invoice_id", "customer_id", "scored_at", *FEATURE_COLUMNS]


def test_serving_scores_open_invoices_without_themselves(tiny: LedgerFrames) -> None:
    features = build_features(tiny, as_of=D("2024-03-25"))
    assert sorted(features["invoice_id"]) == ["I3", "I4"]  # I4 settles on 04-09, after as_of
    row = _row(features, "I3")
    assert (row["open_count"], row["open_amount"]) == (1, 50.0)  # I4 only, not I3 itself
    assert row["overdue_count"] == 0  # I4 is due 04-09
    assert (row["promises_count"], row["promises_kept_share"]) == (1, 0.0)
    assert (features["scored_at"] == D("2024-03-25")).all()


def test_known_outcomes_count_open_invoices_and_leave_the_scored_one_out(
        tiny: LedgerFrames) -> None:
    # at 04-05, I3 (due 03-02, still open) is 33 days late: severe though never settled
    row = _row(build_features(tiny, as_of=D("2024-04-05")), "I4")
    assert row["due_share_late"] == pytest.approx(2 / 3)  # I1 and I3 of I1, I2, I3
    # windows closed by 04-05: I1 (03-01), I2 (03-15), I3 (04-01): I3 only was still unpaid
    assert row["due_share_severe"] == pytest.approx(1 / 3)
    assert row["hist_share_late"] == pytest.approx(1 / 2)  # settled only: I3 is invisible
    # I3 scored itself at 04-05: 33 days late → bin (30, 45], its own miss is not counted
    own = _row(build_features(tiny, as_of=D("2024-04-05")), "I3")
    assert own["days_overdue"] == 33 and own["age_bin"] == 5
    assert own["due_share_late"] == pytest.approx(1 / 2)  # I1 and I2
    assert own["due_share_severe"] == pytest.approx(0.0) and own["due_share_severe_recent"] == 0
    # matured (due + 30 before 04-05): I1 (10 days), I2 (early: 0), I3 open, 33 days so far
    assert row["due_still_open_recent"] == pytest.approx(1 / 3)
    assert row["due_days_late_recent"] == pytest.approx((10 + 0 + 33) / 3)
    assert own["due_still_open_recent"] == 0 and own["due_days_late_recent"] == pytest.approx(5)


def _sliding_payer() -> LedgerFrames:
    """One payer, an invoice a month in 2023 on 30-day terms: the first six paid on the due date,
    the next five 40 days late, the twelfth (due 2023-12-31) paid on 2024-03-15."""
    issue = [D("2023-01-01") + pd.DateOffset(months=k) for k in range(12)]
    due = [d + pd.Timedelta(days=30) for d in issue]
    settled = due[:6] + [d + pd.Timedelta(days=40) for d in due[6:11]] + [D("2024-03-15")]
    invoices = pd.DataFrame({
        "invoice_id": [f"J{k:02d}" for k in range(1, 13)], "customer_id": "S",
        "issue_date": issue, "due_date": due, "amount": 100.0, "currency": "EUR",
        "kind": "invoice", "settled_date": settled})
    payments = pd.DataFrame({"payment_id": [f"Q{k}" for k in range(12)], "customer_id": "S",
                             "paid_on": settled, "amount": 100.0, "currency": "EUR",
                             "invoice_id": invoices["invoice_id"]})
    return LedgerFrames(customers=pd.DataFrame({"customer_id": ["S"], "name": ["Slide"]}),
                        invoices=invoices, payments=payments, as_of=D("2024-04-01"))


def test_trend_features_of_a_payer_sliding_read_point_in_time() -> None:
    frames = _sliding_payer()
    new = pd.DataFrame({"invoice_id": ["N"], "customer_id": ["S"], "issue_date": [D("2024-03-01")],
                        "due_date": [D("2024-03-31")], "amount": [100.0]})
    row = _row(build_features(frames, invoices=new, as_of=D("2024-03-01")), "N")
    # every window has closed by 03-01; the last six (J07–J12) all missed, the six before none
    assert row["due_share_late_recent"] == 1.0 and row["due_share_late_trend"] == 1.0
    assert row["due_share_severe_recent"] == 1.0 and row["due_share_severe_trend"] == 1.0
    # J12 is paid on 03-15, after t: still open at t, 60 days overdue (02-29 − 12-31), capped 60
    assert row["due_still_open_recent"] == pytest.approx(1 / 6)
    assert row["due_days_late_recent"] == pytest.approx((5 * 40 + 60) / 6)
    assert row["due_days_late_trend"] == pytest.approx((5 * 40 + 60) / 6 - 0.0)
    # on 01-20 J12's 30-day window is open and J11's (due 12-01, paid 01-10) closed on 12-31:
    # the last six matured are J06–J11, the ones before J01–J05
    early = _row(build_features(frames, invoices=new.assign(issue_date=D("2024-01-20")),
                                as_of=D("2024-01-20")), "N")
    assert early["due_share_severe_recent"] == pytest.approx(5 / 6)
    assert early["due_share_severe_trend"] == pytest.approx(5 / 6)
    assert early["due_still_open_recent"] == 0.0
    assert early["due_days_late_recent"] == pytest.approx(5 * 40 / 6)
    assert early["due_days_late_trend"] == pytest.approx(5 * 40 / 6)


def test_scoring_an_invoice_settled_before_as_of_is_refused(tiny: LedgerFrames) -> None:
    with pytest.raises(FeaturesError, match="I1"):
        build_features(tiny, invoices=tiny.invoices, as_of=D("2024-03-01"))


def _known_at(frames: LedgerFrames, cutoff: pd.Timestamp) -> LedgerFrames:
    """The ledger as it stood at ``cutoff``: every later event removed or still open."""
    invoices = frames.invoices[frames.invoices["issue_date"] <= cutoff].copy()
    invoices.loc[invoices["settled_date"] > cutoff, "settled_date"] = pd.NaT
    disputes = frames.disputes[frames.disputes["opened_on"] <= cutoff].copy()
    disputes.loc[disputes["resolved_on"] > cutoff, ["resolved_on", "status"]] = [pd.NaT, "open"]
    promises = frames.promises[frames.promises["created_on"] <= cutoff].copy()
    promises.loc[promises["closed_on"] > cutoff, ["closed_on", "status"]] = [pd.NaT, "open"]
    return LedgerFrames(
        customers=frames.customers, invoices=invoices, as_of=cutoff,
        payments=frames.payments[frames.payments["paid_on"] <= cutoff],
        disputes=disputes, promises=promises,
        reminders=frames.reminders[frames.reminders["sent_on"] <= cutoff])


def _sorted(features: pd.DataFrame) -> pd.DataFrame:
    return features.sort_values("invoice_id", ignore_index=True)


@pytest.mark.parametrize("cutoff", ["2024-05-15", "2025-01-31"])
def test_events_after_t_change_no_feature(synthetic: LedgerFrames, cutoff: str) -> None:
    cutoff = D(cutoff)
    past = _known_at(synthetic, cutoff)
    scored = past.invoices[past.invoices["kind"] == "invoice"]
    with_future = _sorted(build_features(synthetic, invoices=scored))
    without = _sorted(build_features(past))
    pd.testing.assert_frame_equal(with_future, without)
    # serving at the cut-off sees the same as serving on the truncated ledger; at the start of
    # the cut-off day, an invoice settled that day is still open
    still_open = scored["settled_date"].isna() | (scored["settled_date"] >= cutoff)
    served = _sorted(build_features(synthetic, invoices=scored[still_open], as_of=cutoff))
    pd.testing.assert_frame_equal(served, _sorted(build_features(past, as_of=cutoff)))


def test_shuffling_rows_changes_nothing(synthetic: LedgerFrames) -> None:
    rng = np.random.default_rng(3)

    def shuffle(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.iloc[rng.permutation(len(frame))].reset_index(drop=True)

    shuffled = LedgerFrames(
        customers=shuffle(synthetic.customers), invoices=shuffle(synthetic.invoices),
        payments=shuffle(synthetic.payments), as_of=synthetic.as_of,
        disputes=shuffle(synthetic.disputes), reminders=shuffle(synthetic.reminders),
        promises=shuffle(synthetic.promises))
    pd.testing.assert_frame_equal(_sorted(build_features(synthetic)),
                                  _sorted(build_features(shuffled)))


def test_a_customer_never_sees_another_customers_rows(synthetic: LedgerFrames) -> None:
    keep = set(synthetic.customers["customer_id"].iloc[::7])

    def only(frame: pd.DataFrame) -> pd.DataFrame:
        if "customer_id" in frame:
            return frame[frame["customer_id"].isin(keep)]
        kept_invoices = synthetic.invoices.loc[synthetic.invoices["customer_id"].isin(keep),
                                               "invoice_id"]
        return frame[frame["invoice_id"].isin(kept_invoices)]

    alone = LedgerFrames(
        customers=only(synthetic.customers), invoices=only(synthetic.invoices),
        payments=only(synthetic.payments), as_of=synthetic.as_of,
        disputes=only(synthetic.disputes), reminders=only(synthetic.reminders),
        promises=only(synthetic.promises))
    everyone = build_features(synthetic)
    expected = _sorted(everyone[everyone["customer_id"].isin(keep)])
    pd.testing.assert_frame_equal(expected, _sorted(build_features(alone)))


def test_lateness_of_a_still_open_invoice_is_never_used(tiny: LedgerFrames) -> None:
    # I3 settles very late, after I4 is issued: I4 must not see it as settled
    later = tiny.invoices.copy()
    later.loc[later["invoice_id"] == "I3", "settled_date"] = D("2024-06-30")
    moved = LedgerFrames(customers=tiny.customers, invoices=later, payments=tiny.payments,
                         as_of=tiny.as_of, disputes=tiny.disputes, reminders=tiny.reminders,
                         promises=tiny.promises)
    pd.testing.assert_series_equal(_row(build_features(tiny), "I4"),
                                   _row(build_features(moved), "I4"))


def test_missing_columns_raise_a_features_error(tiny: LedgerFrames) -> None:
    broken = LedgerFrames(customers=tiny.customers, invoices=tiny.invoices.drop(columns="due_date"),
                          payments=tiny.payments, as_of=tiny.as_of)
    with pytest.raises(FeaturesError, match="due_date"):
        build_features(broken)


def test_registry_sentences_render_in_both_languages() -> None:
    for feature in FEATURES.values():
        assert feature.family in {"history", "exposure", "behaviour", "invoice"}
        assert feature.sentence(0.5, "fr") and feature.sentence(0.5, "en")
    assert FEATURES["hist_mean_days_late_last12"].sentence(12.4, "fr") == (
        "Paie en moyenne 12 jours après l'échéance sur ses 12 dernières factures")


def test_a_new_invoice_of_a_customer_with_no_history_is_scored():
    """A customer with nothing in the ledger yet: cold-start values, no crash."""
    import pandas as pd

    from features.pipeline import FEATURE_COLUMNS, build_features
    from ledger.frames import LedgerFrames, empty_frame

    frames = LedgerFrames(customers=pd.DataFrame({"customer_id": ["NEW"]}), invoices=empty_frame("invoices"),
                          payments=empty_frame("payments"), as_of=pd.Timestamp("2026-01-10"))
    new = pd.DataFrame({"invoice_id": ["N1"], "customer_id": ["NEW"], "issue_date": [pd.Timestamp("2026-01-10")],
                        "due_date": [pd.Timestamp("2026-02-09")], "amount": [1200.0]})
    features = build_features(frames, invoices=new, as_of=pd.Timestamp("2026-01-11"))
    assert len(features) == 1 and features[FEATURE_COLUMNS].notna().all(axis=None)
    assert features["open_count"].iloc[0] == 0 and features["amount"].iloc[0] == 1200.0
