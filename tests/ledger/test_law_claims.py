"""The law by kind of debtor, the coverage of the rate tables, itemised and paid-late claims.

Every figure below is worked out by hand from the shipped tables (ECB rate in force on 1 January
2024: 4.50 %; legal interest rate 2026 S1: 2.62 % "autres cas", 6.67 % for private creditors).
"""
from datetime import date
from decimal import Decimal
from types import SimpleNamespace

import pytest

from ledger.law import (
    LawError,
    claim_for,
    coverage_warnings,
    default_rates,
    indemnity_for,
    itemise,
    late_payment_claim,
    load_rates,
    public_interest,
)


def test_legal_rates_cover_every_semester_from_2012_to_2026_s1_with_both_rates():
    rates = default_rates()
    for year in range(2012, 2027):
        for half in (1, 2):
            if (year, half) == (2026, 2):
                continue
            assert (year, half) in rates.legal, (year, half)
            assert (year, half) in rates.consumer_legal, (year, half)
    assert rates.legal[(2026, 1)] == Decimal("2.62")
    assert rates.consumer_legal[(2026, 1)] == Decimal("6.67")
    assert rates.legal[(2025, 2)] == Decimal("2.76")
    assert rates.consumer_legal[(2025, 2)] == Decimal("6.65")
    # before 2015 one rate served every creditor
    assert rates.consumer_legal[(2014, 1)] == rates.legal[(2014, 1)] == Decimal("0.04")


def test_tables_that_cover_today_give_no_warning():
    # 2026 S1 is in the legal table; ECB decisions were checked up to 5 February 2026
    assert coverage_warnings(date(2026, 3, 2)) == []


def test_a_semester_beyond_the_tables_is_warned_in_both_languages():
    warnings = {w.code: w for w in coverage_warnings(date(2026, 11, 27))}
    assert set(warnings) == {"legal_rate_missing", "ecb_rate_unchecked"}
    assert "2026" in warnings["legal_rate_missing"].fr and "2,62" not in warnings["legal_rate_missing"].fr
    assert "2026 S2" in warnings["legal_rate_missing"].en
    assert "2026-02-05" in warnings["ecb_rate_unchecked"].en
    assert warnings["ecb_rate_unchecked"].message("fr").startswith("Les décisions")


def test_a_custom_ecb_table_is_checked_through_its_last_row(tmp_path):
    ecb = tmp_path / "ecb.csv"
    ecb.write_text("effective_date,rate_percent\n2020-01-01,0.00\n2026-07-01,2.15\n")
    legal = tmp_path / "legal.csv"
    legal.write_text("year,half,rate_percent\n2026,2,2.50\n")
    assert coverage_warnings(date(2026, 11, 27), load_rates(ecb, legal_path=legal)) == []


def test_public_buyer_pays_ecb_plus_8_fixed_at_the_start_of_the_delay():
    """10,000 € due 2024-06-15, as of 2024-07-20: interest started on 16 June 2024 (S1), so the
    ECB rate of 1 January 2024 (4.50 %) + 8 = 12.50 % for all 35 days, even after 1 July:
    10000 × 0.125 × 35 / 365 = 119.863… → 119.86 €."""
    result = public_interest(amount=Decimal("10000"), due_date=date(2024, 6, 15),
                             as_of=date(2024, 7, 20))
    assert result.amount == Decimal("119.86")
    assert [p.rate_percent for p in result.periods] == [Decimal("12.50")]
    claim = claim_for(customer_type="public_sector", amount=Decimal("10000"),
                      due_date=date(2024, 6, 15), as_of=date(2024, 7, 20))
    assert claim.indemnity is not None and claim.indemnity.eur == Decimal("40.00")
    assert claim.total == Decimal("159.86")


def test_a_consumer_owes_no_professional_penalties():
    claim = claim_for(customer_type="consumer", amount=Decimal("10000"),
                      due_date=date(2024, 3, 31), as_of=date(2024, 5, 15))
    assert claim.interest.amount == Decimal("0.00")
    assert claim.indemnity is None
    assert claim.total == Decimal("0.00")


def test_a_business_owes_l441_10_interest_and_the_indemnity():
    # 10000 × 0.145 × 45 / 365 = 178.77 (tests/ledger/test_law.py) + 40
    claim = claim_for(customer_type="business", amount=Decimal("10000"),
                      due_date=date(2024, 3, 31), as_of=date(2024, 5, 15))
    assert claim.total == Decimal("218.77")


def test_unknown_customer_type_is_refused():
    with pytest.raises(LawError, match="customer_type"):
        claim_for(customer_type="alien", amount=Decimal("1"), due_date=date(2024, 1, 1),
                  as_of=date(2024, 2, 1))


def test_the_indemnity_stays_40_euros_in_another_currency():
    indemnity = indemnity_for("CHF", date(2024, 5, 15))
    assert indemnity.eur == Decimal("40.00")
    assert indemnity.currency == "CHF"
    if indemnity.amount is None:
        # no dated EUR/CHF rate known: never "40.00 CHF"
        assert not indemnity.converted
    else:
        assert indemnity.rate is not None and indemnity.rate_date is not None
        assert indemnity.amount == (Decimal("40") * indemnity.rate).quantize(Decimal("0.01"))
    claim = claim_for(customer_type="business", amount=Decimal("10000"), currency="CHF",
                      due_date=date(2024, 3, 31), as_of=date(2024, 5, 15))
    assert any("40 EUR" in note for note in claim.notes)
    assert claim.total == Decimal("178.77") + claim.indemnity_in_currency


def test_itemise_lists_interest_per_late_invoice_oldest_first():
    """As of 2024-05-15: A 1,000 € due 2024-03-31 → 45 days at 14.50 %: 17.876… → 17.88;
    B 2,000 € due 2024-04-30 → 15 days: 2000 × 0.145 × 15 / 365 = 11.917… → 11.92;
    C due 2024-06-30 is not late and is left out."""
    invoices = [
        SimpleNamespace(invoice_id="B", due_date=date(2024, 4, 30), open_amount=Decimal("2000"), currency="EUR"),
        SimpleNamespace(invoice_id="C", due_date=date(2024, 6, 30), open_amount=Decimal("500"), currency="EUR"),
        SimpleNamespace(invoice_id="A", due_date=date(2024, 3, 31), open_amount=Decimal("1000"), currency="EUR"),
    ]
    lines = itemise(invoices, as_of=date(2024, 5, 15))
    assert [(line.invoice_id, line.days, line.interest) for line in lines] == [
        ("A", 45, Decimal("17.88")), ("B", 15, Decimal("11.92"))]
    assert lines[0].rates_percent == (Decimal("14.50"),)
    assert all(line.indemnity is not None and line.indemnity.eur == Decimal("40.00") for line in lines)
    assert itemise(invoices, as_of=date(2024, 5, 15), customer_type="consumer")[0].interest == Decimal("0.00")


def test_an_invoice_paid_late_in_two_parts_owes_interest_on_each_part():
    """10,000 € due 2024-03-31: 6,000 paid 2024-04-30 (30 days), 4,000 paid 2024-05-15 (45 days).
    6000 × 0.145 × 30 / 365 = 71.5068 → 71.51; 4000 × 0.145 × 45 / 365 = 71.5068 → 71.51."""
    line = late_payment_claim(invoice_id="F1", due_date=date(2024, 3, 31), currency="EUR",
                              paid_parts=[(Decimal("6000"), date(2024, 4, 30)),
                                          (Decimal("4000"), date(2024, 5, 15))])
    assert line is not None
    assert line.interest == Decimal("143.02")
    assert line.days == 45 and line.until == date(2024, 5, 15)
    assert line.indemnity is not None and line.indemnity.amount == Decimal("40.00")


def test_an_invoice_paid_on_time_owes_nothing():
    assert late_payment_claim(invoice_id="F1", due_date=date(2024, 3, 31), currency="EUR",
                              paid_parts=[(Decimal("10000"), date(2024, 3, 31))]) is None
    assert late_payment_claim(invoice_id="F1", due_date=date(2024, 3, 31), currency="EUR",
                              customer_type="consumer",
                              paid_parts=[(Decimal("10000"), date(2024, 5, 31))]) is None
