"""French late-payment law against worked examples computed by hand.

Shipped reference rates used below (ECB rate in force on 1 January / 1 July, + 10 points):
2017 S1 0.00 % → 10.00 %; 2024 S1 4.50 % → 14.50 %; 2024 S2 4.25 % → 14.25 %;
2025 S1 3.15 % → 13.15 %; 2025 S2 2.15 % → 12.15 %. Legal interest rate 2024 S1: 5.07 %.
"""
from datetime import date
from decimal import Decimal

import pytest

from ledger.law import (
    RECOVERY_INDEMNITY,
    LawError,
    RateUnknownError,
    default_rates,
    load_rates,
    penalties_due,
    penalty_interest,
    terms_warnings,
)


def test_shipped_reference_rates_follow_1_january_and_1_july():
    rates = default_rates()
    assert rates.reference_rate(2024, 1) == Decimal("4.50")
    assert rates.reference_rate(2024, 2) == Decimal("4.25")  # cut of 12 June 2024
    assert rates.reference_rate(2025, 1) == Decimal("3.15")
    assert rates.reference_rate(2025, 2) == Decimal("2.15")
    assert rates.ecb_rate_on(date(2012, 7, 1)) == Decimal("1.00")
    # the last decision stays in force going forward
    assert rates.reference_rate(2026, 2) == Decimal("2.15")


def test_reference_rate_for_2012_s2_is_the_rate_in_force_on_1_july():
    # 0.75 % took effect on 11 July 2012, after 1 July: S2 2012 keeps 1.00 %.
    assert default_rates().reference_rate(2012, 2) == Decimal("1.00")


def test_one_semester_worked_example():
    """10,000 € due 2024-03-31, paid 2024-05-15.

    Days 1 April → 15 May inclusive = 30 + 15 = 45, rate 4.50 + 10 = 14.50 %:
    10000 × 0.145 × 45 / 365 = 178.767… → 178.77 €.
    """
    result = penalty_interest(
        amount=Decimal("10000"), due_date=date(2024, 3, 31), as_of=date(2024, 5, 15)
    )
    assert result.amount == Decimal("178.77")
    assert result.days == 45
    assert len(result.periods) == 1
    period = result.periods[0]
    assert (period.start, period.end, period.days) == (date(2024, 4, 1), date(2024, 5, 15), 45)
    assert period.rate_percent == Decimal("14.50")


def test_crossing_1_july_uses_two_rates():
    """10,000 € due 2024-06-15, as of 2024-07-20.

    16–30 June: 15 days at 14.50 % → 10000 × 0.145 × 15 / 365 = 59.589041
    1–20 July:  20 days at 14.25 % → 10000 × 0.1425 × 20 / 365 = 78.082192
    total 137.671233 → 137.67 €, 35 days.
    """
    result = penalty_interest(
        amount=Decimal("10000"), due_date=date(2024, 6, 15), as_of=date(2024, 7, 20)
    )
    assert result.amount == Decimal("137.67")
    assert result.days == 35
    assert [(p.start, p.end, p.days, p.rate_percent) for p in result.periods] == [
        (date(2024, 6, 16), date(2024, 6, 30), 15, Decimal("14.50")),
        (date(2024, 7, 1), date(2024, 7, 20), 20, Decimal("14.25")),
    ]
    assert [p.interest for p in result.periods] == [Decimal("59.59"), Decimal("78.08")]


def test_crossing_new_year():
    """5,000 € due 2024-12-20, as of 2025-01-10.

    21–31 Dec: 11 days at 14.25 % → 5000 × 0.1425 × 11 / 365 = 21.472603
    1–10 Jan:  10 days at 13.15 % → 5000 × 0.1315 × 10 / 365 = 18.013699
    total 39.486301 → 39.49 €.
    """
    result = penalty_interest(
        amount=Decimal("5000"), due_date=date(2024, 12, 20), as_of=date(2025, 1, 10)
    )
    assert result.amount == Decimal("39.49")
    assert [p.rate_percent for p in result.periods] == [Decimal("14.25"), Decimal("13.15")]


def test_rounding_is_half_up():
    """3.65 € at 10 % (2017 S1: ECB 0 %) for 5 days = 3.65 × 0.10 × 5 / 365 = 0.005 → 0.01."""
    result = penalty_interest(
        amount=Decimal("3.65"), due_date=date(2017, 1, 10), as_of=date(2017, 1, 15)
    )
    assert result.amount == Decimal("0.01")


def test_contract_rate_below_floor_is_raised_to_three_times_legal_rate():
    """Contract 12 % < 3 × 5.07 % = 15.21 % (2024 S1): the floor applies.

    10000 × 0.1521 × 45 / 365 = 187.520… → 187.52 €.
    """
    result = penalty_interest(
        amount=Decimal("10000"), due_date=date(2024, 3, 31), as_of=date(2024, 5, 15),
        contract_rate=Decimal("12"),
    )
    assert result.amount == Decimal("187.52")
    assert result.periods[0].rate_percent == Decimal("15.21")
    assert any("floor" in note for note in result.notes)


def test_contract_rate_above_floor_replaces_statutory_rate():
    """Contract 20 %: 10000 × 0.20 × 45 / 365 = 246.575… → 246.58 €, no note."""
    result = penalty_interest(
        amount=Decimal("10000"), due_date=date(2024, 3, 31), as_of=date(2024, 5, 15),
        contract_rate=Decimal("20"),
    )
    assert result.amount == Decimal("246.58")
    assert result.notes == ()


def test_unknown_future_legal_rate_uses_latest_known_with_a_note():
    result = penalty_interest(
        amount=Decimal("1000"), due_date=date(2026, 7, 31), as_of=date(2026, 8, 30),
        contract_rate=Decimal("20"),
    )
    assert result.days == 30
    assert any("2026 S2 unknown" in note for note in result.notes)


def test_not_late_owes_nothing():
    for as_of in (date(2024, 3, 1), date(2024, 3, 31)):
        penalties = penalties_due(
            amount=Decimal("10000"), due_date=date(2024, 3, 31), as_of=as_of
        )
        assert penalties.interest.amount == Decimal("0.00")
        assert penalties.indemnity == Decimal("0.00")
        assert penalties.total == Decimal("0.00")


def test_late_invoice_owes_interest_plus_40_euros():
    penalties = penalties_due(
        amount=Decimal("10000"), due_date=date(2024, 3, 31), as_of=date(2024, 5, 15)
    )
    assert penalties.indemnity == RECOVERY_INDEMNITY == Decimal("40.00")
    assert penalties.total == Decimal("218.77")


def test_one_day_late_counts_one_day():
    result = penalty_interest(
        amount=Decimal("36500"), due_date=date(2017, 1, 10), as_of=date(2017, 1, 11)
    )
    assert result.days == 1
    assert result.amount == Decimal("10.00")  # 36500 × 0.10 / 365


def test_date_before_the_table_is_an_error():
    with pytest.raises(RateUnknownError, match="no ECB rate"):
        penalty_interest(amount=Decimal("100"), due_date=date(2010, 1, 1), as_of=date(2010, 2, 1))


def test_bad_inputs_are_rejected():
    with pytest.raises(LawError, match="Decimal"):
        penalty_interest(amount=100.0, due_date=date(2024, 1, 1), as_of=date(2024, 2, 1))
    with pytest.raises(LawError, match="negative"):
        penalty_interest(amount=Decimal("-1"), due_date=date(2024, 1, 1), as_of=date(2024, 2, 1))
    with pytest.raises(LawError, match="percentage"):
        penalty_interest(
            amount=Decimal("1"), due_date=date(2024, 1, 1), as_of=date(2024, 2, 1),
            contract_rate=Decimal("150"),
        )


def test_user_supplied_rate_table_is_used(tmp_path):
    ecb = tmp_path / "ecb.csv"
    ecb.write_text("effective_date,rate_percent\n2020-01-01,0.00\n2026-06-20,5.00\n")
    legal = tmp_path / "legal.csv"
    legal.write_text("year,half,rate_percent\n2026,1,1.00\n2026,2,1.00\n")
    rates = load_rates(ecb, legal_path=legal)
    result = penalty_interest(
        amount=Decimal("36500"), due_date=date(2026, 7, 1), as_of=date(2026, 7, 2), rates=rates
    )
    assert result.periods[0].rate_percent == Decimal("15.00")
    assert result.amount == Decimal("15.00")


def test_malformed_rate_file_is_a_clear_error(tmp_path):
    ecb = tmp_path / "ecb.csv"
    ecb.write_text("effective_date,rate_percent\n2020-13-01,0.00\n")
    with pytest.raises(LawError, match="line 2"):
        load_rates(ecb)


@pytest.mark.parametrize(
    ("terms_days", "end_of_month", "code"),
    [
        (60, False, None),
        (61, False, "terms_above_60_days"),
        (45, True, None),
        (46, True, "terms_above_45_days_end_of_month"),
    ],
)
def test_terms_warnings(terms_days, end_of_month, code):
    warnings = terms_warnings(terms_days=terms_days, end_of_month=end_of_month)
    assert [w.code for w in warnings] == ([code] if code else [])
    for warning in warnings:
        assert "L441-10" in warning.fr and "L441-10" in warning.en
        assert str(terms_days) in warning.message("en")
