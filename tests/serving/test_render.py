"""Reminder templates: every (channel, tone, language) renders, amounts and dates are formatted
for the language, fallbacks work, analysts' broken edits are caught, PDFs are real PDFs."""
import dataclasses
import re
import zlib
from datetime import date
from decimal import Decimal

import pytest

from serving.money import long_date, money, rate, short_date
from serving.reminders import (
    CHANNELS,
    LANGUAGES,
    TONES,
    Customer,
    InvoiceLine,
    ReminderError,
    available_templates,
    render_pdf,
    render_reminder,
    resolve_template,
    sample_context,
    validate_template,
)

TOTALS = {"fr": "10 234,56 €", "en": "€10,234.56"}


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("tone", TONES)
@pytest.mark.parametrize("channel", CHANNELS)
def test_every_channel_tone_language_lists_invoices_and_total(channel, tone, language):
    rendered = render_reminder(
        channel=channel, tone=tone, language=language, context=sample_context(language)
    )
    assert rendered.template.endswith(f".{language}.j2")
    assert rendered.subject
    for invoice_id in ("F-2024-0101", "F-2024-0150"):
        assert invoice_id in rendered.body_text
    assert TOTALS[language] in rendered.body_text
    assert "{{" not in rendered.body_text and "{%" not in rendered.body_text
    assert (rendered.body_html is not None) is (channel == "email")


def test_total_is_the_sum_of_open_amounts():
    context = sample_context()
    assert context.total == Decimal("10234.56")  # 10 000,00 + 234,56 (not the 1 234,56 billed)
    assert context.total_due == Decimal("10493.33")  # + 178,77 interest + 2 × 40 € indemnity


def test_french_formatting():
    # reminders use Babel (serving.money) with plain spaces (SMS and PDF fonts)
    assert money(Decimal("1234.56"), "EUR", plain=True) == "1 234,56 €"
    assert money(Decimal("1234567.005"), "EUR", plain=True) == "1 234 567,01 €"  # half up
    assert money(Decimal("-5"), "USD", plain=True) == "-5,00 $US"  # never a bare "$"
    assert short_date(date(2026, 11, 22)) == "22/11/2026"
    assert long_date(date(2026, 11, 1)) == "1er novembre 2026"
    assert long_date(date(2026, 11, 22)) == "22 novembre 2026"
    assert rate(Decimal("14.5"), plain=True) == "14,50 %"
    rendered = render_reminder(channel="email", tone="neutral", language="fr",
                               context=sample_context("fr"))
    assert "échéance 31/03/2024 : 10 000,00 €" in rendered.body_text


def test_english_formatting():
    assert money(Decimal("1234.56"), "EUR", "en", plain=True) == "€1,234.56"
    assert money(Decimal("10"), "CHF", "en", plain=True) == "CHF 10.00"
    assert short_date(date(2026, 11, 22), "en") == "22 Nov 2026"
    assert long_date(date(2026, 11, 1), "en") == "1 November 2026"
    assert rate(Decimal("14.5"), "en") == "14.50%"


def test_formal_notice_states_legal_basis_indemnity_interest_and_deadline():
    body = render_reminder(channel="formal_notice", tone="formal", language="fr",
                           context=sample_context("fr")).body_text
    assert "MISE EN DEMEURE" in body
    assert "article L441-10 du Code de commerce" in body
    assert "40 € par facture" in body
    assert "178,77 €" in body and "14,50 %" in body  # the penalty interest claimed
    # the deadline runs from receipt, unknown when the notice is written: no date is invented
    assert "8 jours à compter de la réception de la présente." in body
    assert "23 mai 2024" not in body
    assert "10 493,33 €" in body  # amount demanded includes the penalties


def test_formal_notice_without_claimed_penalties_still_cites_the_law():
    context = dataclasses.replace(sample_context("en"), penalties=None)
    body = render_reminder(channel="formal_notice", tone="formal", language="en",
                           context=context).body_text
    assert "L441-10" in body and "€40 per invoice" in body
    assert "€178.77" not in body
    assert "€10,234.56 within 8 days" in body


def test_penalties_absent_from_reminders_when_not_claimed():
    context = dataclasses.replace(sample_context("fr"), penalties=None)
    body = render_reminder(channel="email", tone="firm", language="fr", context=context).body_text
    assert "L441-10" not in body and "pénalités" not in body


def test_fallback_rules():
    assert resolve_template(channel="formal_notice", tone="courteous", language="fr") == (
        "formal_notice_formal.fr.j2"
    )
    assert resolve_template(channel="sms", tone="formal", language="en") == "sms_firm.en.j2"
    assert resolve_template(channel="call", tone="formal", language="fr") == "call_firm.fr.j2"


def test_analyst_template_dir_overrides_and_falls_back(tmp_path):
    (tmp_path / "email_firm.fr.j2").write_text(
        '{% extends "_email.fr.j2" %}{% block subject %}Dernier rappel{% endblock %}'
        "{% block opening %}Texte de l'analyste.{% endblock %}"
    )
    rendered = render_reminder(channel="email", tone="firm", language="fr",
                               context=sample_context(), template_dir=tmp_path)
    assert rendered.subject == "Dernier rappel"
    assert "Texte de l'analyste." in rendered.body_text
    other = render_reminder(channel="email", tone="neutral", language="fr",
                            context=sample_context(), template_dir=tmp_path)
    assert "restent impayées" in other.body_text


def test_html_is_escaped_but_text_is_not():
    context = dataclasses.replace(
        sample_context(), customer=Customer(name="A & B", contact_name="<b>Léa</b>")
    )
    rendered = render_reminder(channel="email", tone="neutral", language="fr", context=context)
    assert "&lt;b&gt;Léa&lt;/b&gt;" in rendered.body_html
    assert "<b>Léa</b>" not in rendered.body_html
    assert "Bonjour <b>Léa</b>," in rendered.body_text


def test_context_from_plain_mapping():
    context = {
        "company": {"name": "ACME"},
        "customer": {"name": "Client", "language": "en"},
        "invoices": [{"invoice_id": "I-1", "issue_date": date(2025, 1, 1),
                      "due_date": date(2025, 1, 31), "amount": Decimal("50"),
                      "open_amount": Decimal("50"), "days_late": 3}],
        "today": date(2025, 2, 3),
    }
    rendered = render_reminder(channel="sms", tone="neutral", language="en", context=context)
    assert "I-1" in rendered.body_text and "€50.00" in rendered.body_text
    with pytest.raises(ReminderError, match="unknown context"):
        render_reminder(channel="sms", tone="neutral", language="en",
                        context={**context, "totl": 1})


def test_unknown_choices_are_clear_errors():
    with pytest.raises(ReminderError, match="unknown channel 'fax'"):
        render_reminder(channel="fax", tone="firm", language="fr", context=sample_context())
    with pytest.raises(ReminderError, match="unknown language 'de'"):
        render_reminder(channel="email", tone="firm", language="de", context=sample_context())


def test_available_templates_lists_every_shipped_combination():
    found = {(t.channel, t.tone, t.language) for t in available_templates()}
    assert ("formal_notice", "formal", "fr") in found
    assert ("formal_notice", "courteous", "fr") not in found
    assert all(not t.name.startswith("_") for t in available_templates())
    assert ("legal", "formal", "fr") in found  # the hand-off file
    assert len(found) == 2 * (4 + 3 + 4 + 1 + 3 + 1)  # email, sms, letter, formal_notice, call, legal


def test_validate_template_accepts_shipped_templates():
    for info in available_templates():
        assert validate_template(info.path.read_text(encoding="utf-8")) == [], info.name


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{% if total %}unclosed", "line 1"),
        ("{{ total|nosuchfilter }}", "nosuchfilter"),
        ("{{ custmer.name }}", "unknown variable 'custmer'"),
        ("{{ customer.nmae }}", "rendering"),
        ('{% extends "_missing.j2" %}', "rendering"),
    ],
)
def test_validate_template_reports_broken_edits(source, expected):
    problems = validate_template(source)
    assert problems and any(expected in p for p in problems), problems


def _pdf_text(pdf: bytes) -> bytes:
    streams = re.findall(rb"stream\r?\n(.*?)\r?\nendstream", pdf, flags=re.S)
    return b"".join(zlib.decompress(s) for s in streams if s[:1] == b"x")


@pytest.mark.parametrize("language", LANGUAGES)
def test_formal_notice_pdf(language):
    rendered = render_reminder(channel="formal_notice", tone="formal", language=language,
                               context=sample_context(language))
    pdf = render_pdf(rendered, title=rendered.subject)
    assert pdf.startswith(b"%PDF")
    assert b"/Type /Page" in pdf
    text = _pdf_text(pdf)
    assert b"L441-10" in text
    # € and accents survive as cp1252 bytes (0x80 is the euro sign)
    assert "€".encode("cp1252") in text
    if language == "fr":
        assert "échéance".encode("cp1252") in text


def test_pdf_survives_characters_outside_latin():
    rendered = render_reminder(
        channel="letter", tone="neutral", language="fr",
        context=dataclasses.replace(sample_context(), customer=Customer(name="Łódź 株式会社")),
    )
    assert render_pdf(rendered, title="Relance").startswith(b"%PDF")


def test_pre_due_courteous_reminder_speaks_of_upcoming_due_date():
    line = InvoiceLine("F-9", date(2025, 5, 1), date(2025, 5, 31), Decimal("10"), Decimal("10"), -5)
    context = dataclasses.replace(sample_context(), invoices=(line,), penalties=None)
    body = render_reminder(channel="email", tone="courteous", language="fr",
                           context=context).body_text
    assert "la facture F-9 arrive à échéance le 31 mai 2025" in body
    assert "retard" not in body and "impayée" not in body
