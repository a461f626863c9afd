"""Texts cite the law that applies to the debtor, and never write an indemnity of 0.

- A business: L441-10 / D441-5 Code de commerce, penalties and the 40 € indemnity.
- A public buyer: the Code de la commande publique (L2192-13, R2192-31, D2192-35), default
  interest at ECB + 8 — never L441-10.
- A consumer: no L441-10, no 40 € indemnity; a formal notice says the sums bear interest at the
  legal rate from the notice (Code civil 1231-6) and claims no amount of interest.
- An invoice in CHF without a dated EUR/CHF rate: the indemnity is 40 € in euros, "no exchange
  rate known", beside the CHF total — never "0,00 CHF" nor "40,00 CHF".
"""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from serving.reminders import Company, Customer, InvoiceLine, PenaltyClaim, ReminderContext, render_reminder

TODAY = date(2024, 5, 15)
COMPANY = Company(name="Atelier Dupont SAS", address=("12 rue des Lilas", "69003 Lyon"),
                  siren="123 456 789", iban="FR76 3000 6000 0112 3456 7890 189")


def _render(channel: str, tone: str, language: str, customer_type: str, *, currency="EUR",
            line_indemnity=Decimal("40.00"), penalties=True):
    claimed = penalties and customer_type != "consumer"
    line = InvoiceLine("F-1", date(2024, 3, 1), date(2024, 4, 1), Decimal("1000.00"),
                       Decimal("1000.00"), 44,
                       interest=Decimal("14.94") if claimed else None,
                       indemnity=line_indemnity if claimed else None,
                       rate_percent=Decimal("12.40") if claimed else None,
                       indemnity_eur=Decimal("40") if claimed else None)
    claim = None
    if claimed:
        converted = line_indemnity is not None
        claim = PenaltyClaim(interest=Decimal("14.94"),
                             indemnity=line_indemnity if converted else Decimal("0"),
                             rate_percent=Decimal("12.40"),
                             indemnity_eur_only=Decimal("0") if converted else Decimal("40"))
    context = ReminderContext(
        company=COMPANY, customer=Customer(name="Client", language=language,
                                           customer_type=customer_type),
        invoices=(line,), today=TODAY, currency=currency, penalties=claim)
    rendered = render_reminder(channel=channel, tone=tone, language=language, context=context)
    return rendered.subject + "\n" + rendered.body_text


@pytest.mark.parametrize("language", ["fr", "en"])
def test_a_formal_notice_to_a_consumer_cites_the_civil_code_only(language):
    text = _render("formal_notice", "formal", language, "consumer")
    assert "L441-10" not in text and "D441-5" not in text and "40" not in text.replace("1 000", "")
    assert "1231-6" in text and "1344" in text
    assert ("taux légal" if language == "fr" else "legal rate") in text


@pytest.mark.parametrize("language", ["fr", "en"])
def test_a_formal_notice_to_a_public_buyer_cites_public_procurement(language):
    text = _render("formal_notice", "formal", language, "public_sector")
    assert "L441-10" not in text and "D441-5" not in text
    assert "R2192-31" in text and "D2192-35" in text
    assert ("huit points" if language == "fr" else "plus eight points") in text
    assert ("intérêts moratoires" if language == "fr" else "default interest") in text
    # the invoice lines too: a public buyer owes default interest, never "late-payment penalties"
    assert ("pénalités de retard" if language == "fr" else "late-payment interest") not in text


@pytest.mark.parametrize("language", ["fr", "en"])
def test_a_formal_notice_to_a_business_cites_the_commercial_code(language):
    text = _render("formal_notice", "formal", language, "business")
    assert "L441-10" in text and "D441-5" in text and "R2192" not in text and "1231-6" not in text


@pytest.mark.parametrize("channel, tone", [("email", "firm"), ("letter", "firm"), ("call", "firm")])
@pytest.mark.parametrize("language", ["fr", "en"])
def test_claims_in_other_channels_follow_the_debtor(channel, tone, language):
    assert "L441-10" in _render(channel, tone, language, "business")
    public = _render(channel, tone, language, "public_sector")
    assert "L441-10" not in public and "R2192-31" in public
    consumer = _render(channel, tone, language, "consumer")
    assert "L441-10" not in consumer and "indemnit" not in consumer


@pytest.mark.parametrize("channel, tone", [("formal_notice", "formal"), ("letter", "firm")])
def test_an_unconverted_indemnity_is_40_euros_with_no_rate_said(channel, tone):
    fr = _render(channel, tone, "fr", "business", currency="CHF", line_indemnity=None)
    assert "40,00 €" in fr and "aucun taux de change EUR/CHF daté n'est connu" in fr
    assert " 0,00 CHF" not in fr and "40,00 CHF" not in fr
    en = _render(channel, tone, "en", "business", currency="CHF", line_indemnity=None)
    assert "€40.00" in en and "no dated EUR/CHF exchange rate is known" in en
    assert "CHF 0.00" not in en and "CHF0.00" not in en and "CHF 40.00" not in en
    # converted at a dated rate: the CHF amount, and no "no rate" sentence
    converted = _render(channel, tone, "fr", "business", currency="CHF", line_indemnity=Decimal("37.60"))
    assert "37,60" in converted and "aucun taux" not in converted


def test_no_rate_is_printed_for_a_period_the_tables_do_not_cover():
    """Interest running into 2026 S2 (no legal rate, ECB decisions checked to 5 February 2026)
    is computed on the latest known rate, but the letter prints no rate for it."""
    from ledger.law import penalty_interest
    from serving.reminders.stored import _single_rate

    covered = penalty_interest(amount=Decimal("1000"), due_date=date(2025, 9, 1), as_of=date(2025, 10, 1))
    assert _single_rate(covered.periods) == Decimal("12.15")  # ECB 2.15 of 1 July 2025 + 10
    uncovered = penalty_interest(amount=Decimal("1000"), due_date=date(2026, 7, 10), as_of=date(2026, 8, 10))
    assert uncovered.amount > 0 and _single_rate(uncovered.periods) is None
