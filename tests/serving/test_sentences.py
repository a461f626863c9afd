"""Every sentence of every shipped template is true of the state it is rendered for.

Each (channel, tone) a scenario step or the policy can produce, in French and English, is rendered
against four hand-built states; the claims each state allows were worked out by hand:
- `upcoming`: one invoice due in 4 days, never contacted → nothing is "unpaid", "overdue",
  "late", no "earlier reminders";
- `first`: one invoice 12 days late, never contacted → it is unpaid, but no "despite our
  reminders", no "unanswered";
- `earlier`: the same invoice, an e-mail on 3 April and a call on 10 April 2024 → the texts that
  speak of earlier reminders cite both dates;
- `mixed`: one invoice 12 days late and one due in 4 days → the late one is unpaid, the other
  "falls due" on its date.
"""
from __future__ import annotations

import dataclasses
import re
from datetime import date
from decimal import Decimal

import pytest

from serving.reminders import Company, Contact, Customer, InvoiceLine, ReminderContext, render_reminder
from serving.scenarios import TONES, load_default_scenarios

TODAY = date(2024, 5, 15)
LATE = InvoiceLine("F-LATE", date(2024, 3, 4), date(2024, 5, 3), Decimal("900.00"),
                   Decimal("900.00"), 12)
SOON = InvoiceLine("F-SOON", date(2024, 4, 19), date(2024, 5, 19), Decimal("300.00"),
                   Decimal("300.00"), -4)
EARLIER = (Contact(date(2024, 4, 3), "email"), Contact(date(2024, 4, 10), "call"))
STATES = {
    "upcoming": ((SOON,), ()),
    "first": ((LATE,), ()),
    "earlier": ((LATE,), EARLIER),
    "mixed": ((LATE, SOON), ()),
}
# a formal notice always speaks of overdue invoices (its steps come 15 days or more after due)
OVERDUE_ONLY = {"formal_notice"}


def _pairs() -> list[tuple[str, str]]:
    """Every (channel, tone) the shipped scenarios name, plus every tone the policy may move a
    soft channel to (courteous … firm), for the channels that have templates."""
    pairs = {(s.channel, s.tone) for sc in load_default_scenarios().values() for s in sc.steps
             if s.channel != "legal"}
    for channel in ("email", "letter", "sms", "call"):
        pairs |= {(channel, tone) for tone in TONES[:3]}
    pairs |= {("email", "formal"), ("letter", "formal")}
    return sorted(pairs)


def _render(channel: str, tone: str, language: str, state: str):
    invoices, earlier = STATES[state]
    context = ReminderContext(
        company=Company(name="Atelier Dupont SAS", address=("12 rue des Lilas", "69003 Lyon"),
                        phone="04 72 00 00 00", siren="123 456 789",
                        iban="FR76 3000 6000 0112 3456 7890 189", bic="AGRIFRPP"),
        customer=Customer(name="Boulangerie Martin", language=language,
                          address=("3 place du Marché", "38000 Grenoble")),
        invoices=invoices, today=TODAY, earlier_contacts=earlier,
        payment_reference="C-1 / " + ", ".join(i.invoice_id for i in invoices))
    return render_reminder(channel=channel, tone=tone, language=language, context=context)


def _text(rendered) -> str:
    return (rendered.subject + "\n" + rendered.body_text).lower()


UNPAID = {"fr": ("impayé", "échue", "retard", "pas encore reçu", "en attente de règlement"),
          "en": ("unpaid", "overdue", "not yet received", "late", "awaiting payment")}
EARLIER_CLAIMS = {"fr": ("malgré", "précédents rappels", "nos relances", "notre relance",
                         "sans effet", "suite à", "contacts précédents :"),
                  "en": ("despite", "our reminder", "unanswered", "following our",
                         "earlier contacts:")}
CITED = {"fr": (("3 avril 2024", "03/04/2024"), ("10 avril 2024", "10/04/2024")),
         "en": (("3 april 2024", "3 apr 2024"), ("10 april 2024", "10 apr 2024"))}


def _says(text: str, words) -> list[str]:
    return [w for w in words if re.search(rf"(?<!\w){re.escape(w)}(?!\w)", text)]


@pytest.mark.parametrize("language", ["fr", "en"])
@pytest.mark.parametrize("channel, tone", _pairs())
def test_not_yet_due_is_never_called_unpaid(channel, tone, language):
    if channel in OVERDUE_ONLY:
        pytest.skip("a formal notice is never sent before the due date")
    text = _text(_render(channel, tone, language, "upcoming"))
    assert not _says(text, UNPAID[language]), text
    assert not _says(text, EARLIER_CLAIMS[language]), text
    assert "f-soon" in text
    assert ("19 mai 2024" in text or "19/05/2024" in text) if language == "fr" else (
        "19 may 2024" in text)


@pytest.mark.parametrize("language", ["fr", "en"])
@pytest.mark.parametrize("channel, tone", _pairs())
def test_a_first_contact_cites_no_earlier_reminder(channel, tone, language):
    text = _text(_render(channel, tone, language, "first"))
    assert not _says(text, EARLIER_CLAIMS[language]), text
    assert _says(text, UNPAID[language]), text  # and it does say it is late


@pytest.mark.parametrize("language", ["fr", "en"])
@pytest.mark.parametrize("channel, tone", _pairs())
def test_earlier_reminders_are_cited_with_their_dates(channel, tone, language):
    rendered = _render(channel, tone, language, "earlier")
    text = _text(rendered)
    claims = _says(text, EARLIER_CLAIMS[language])
    if channel == "sms":
        # 160-character messages name no dates; a firm one may say "despite our reminders"
        return
    if channel in ("email", "letter", "formal_notice", "call") and tone != "courteous" or claims:
        assert all(any(form in text for form in day) for day in CITED[language]), text


@pytest.mark.parametrize("language", ["fr", "en"])
@pytest.mark.parametrize("channel, tone", _pairs())
def test_a_mixed_reminder_tells_late_from_upcoming(channel, tone, language):
    if channel in OVERDUE_ONLY or channel == "sms":
        pytest.skip("a formal notice lists overdue invoices; an SMS names the late ones only")
    text = _text(_render(channel, tone, language, "mixed"))
    if language == "fr":
        assert "f-late" in text and "f-soon" in text
        assert "12 jours de retard" in text and "échéance dans 4 jours" in text
        if channel in ("email", "letter"):
            assert "la facture échue ci-dessous" in text or "de la facture échue" in text
            assert "la facture f-soon arrive à échéance le 19 mai 2024" in text
    else:
        assert "12 days overdue" in text and "due in 4 days" in text
        if channel in ("email", "letter"):
            assert "invoice f-soon falls due on 19 may 2024" in text


@pytest.mark.parametrize("language", ["fr", "en"])
def test_the_formal_notice_deadline_runs_from_receipt(language):
    text = _text(_render("formal_notice", "formal", language, "earlier"))
    assert ("à compter de la réception de la présente" in text if language == "fr"
            else "days of receipt of this letter" in text)
    # no date is computed from the day it is written: 15 May + 8 days would be 23 May
    assert "23 mai 2024" not in text and "23 may 2024" not in text


def test_every_reminder_carries_the_payment_instructions():
    for channel, tone in _pairs():
        if channel in ("sms", "call"):
            continue
        text = _render(channel, tone, "fr", "first").body_text
        assert "IBAN FR76 3000 6000 0112 3456 7890 189" in text, (channel, tone)
        assert "Référence à rappeler avec votre règlement : C-1 / F-LATE" in text, (channel, tone)


def test_a_step_template_is_rendered_when_named():
    invoices, earlier = STATES["first"]
    context = dataclasses.replace(
        ReminderContext(company=Company(name="X"), customer=Customer(name="Y"), invoices=invoices,
                        today=TODAY), earlier_contacts=earlier)
    named = render_reminder(channel="letter", tone="firm", language="fr", context=context,
                            template="letter_formal")
    assert named.template == "letter_formal.fr.j2"
    assert named.subject == "Dernière relance avant mise en demeure"
    fallback = render_reminder(channel="letter", tone="firm", language="fr", context=context,
                               template="letter_nonexistent_firm")
    assert fallback.template == "letter_firm.fr.j2"
