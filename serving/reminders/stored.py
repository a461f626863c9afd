"""Render a reminder stored by the run, from the ledger as of its send date.

The run decided the reminder's channel, tone and template (`serving.decisions.reminder_voice`);
this module gathers what the text needs — live invoices, earlier contacts, penalties by the law,
the creditor and the debtor — and renders exactly that template.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal

from sqlmodel import Session

from ledger import pauses, tables
from ledger import reminders as dunning_reminders
from ledger.config import Settings, get_settings
from ledger.law import Claim, PenaltyPeriod, claim_for, coverage_warnings
from ledger.tables import ActionState, Customer, Invoice
from serving.reminders.render import (
    Company,
    Contact,
    InvoiceLine,
    PenaltyClaim,
    ReminderContext,
    ReminderError,
    RenderedReminder,
    render_reminder,
)
from serving.reminders.render import Customer as ReminderCustomer
from serving.scenario_store import edited_templates


class NothingToSay(ReminderError):
    """Every invoice of the reminder is settled or under an open dispute: nothing to send."""


def company_from(settings: Settings) -> Company:
    """The creditor as letters name it, from the settings."""
    city = " ".join(p for p in (settings.creditor_postal_code, settings.creditor_city) if p)
    return Company(
        name=settings.creditor_legal_name or settings.company_name,
        address=tuple(line for line in (settings.creditor_address, city) if line),
        email=settings.creditor_email or settings.smtp_sender, phone=settings.creditor_phone,
        siren=settings.creditor_siren, siret=settings.creditor_siret,
        vat_number=settings.creditor_vat_number, iban=settings.creditor_iban,
        bic=settings.creditor_bic, signatory=settings.creditor_signatory,
        signatory_title=settings.creditor_signatory_title)


def payment_reference(customer_id: str, invoice_ids: list[str]) -> str:
    """What the customer quotes with the payment: their account and the invoices (bounded)."""
    shown = ", ".join(invoice_ids[:6]) + (f" (+{len(invoice_ids) - 6})" if len(invoice_ids) > 6 else "")
    return f"{customer_id} / {shown}"


def render_stored_reminder(session: Session, reminder: tables.Reminder, *,
                           settings: Settings | None = None) -> RenderedReminder:
    """Render a reminder from the ledger as of its send date: its live invoices (not settled,
    not under an open dispute, action not cancelled), the contacts actually made about them
    before, penalties per invoice from `ledger.law` when one of its steps claims them, and the
    template its scenario step names. Raises `NothingToSay` when no invoice is left."""
    settings = settings or get_settings()
    actions = dunning_reminders.reminder_actions(session, reminder.reminder_id)
    live = [a for a in actions if a.state != ActionState.CANCELLED]
    invoices = dunning_reminders.invoices_by_id(session, [a.invoice_id for a in live if a.invoice_id])
    disputed = pauses.disputed_among(session, list(invoices))
    kept = sorted((i for i in invoices.values()
                   if i.settled_on is None and i.open_amount > 0 and i.invoice_id not in disputed),
                  key=lambda i: (i.due_date, i.invoice_id))
    if not kept:
        raise NothingToSay(f"reminder {reminder.reminder_id}: every invoice is settled or disputed")
    as_of = max(reminder.send_on, reminder.run_date)
    customer = session.get(Customer, reminder.customer_id)
    # by kind of debtor (ledger.law.claim_for): nothing from a consumer, ECB + 8 from a public
    # buyer; the 40 € indemnity converted at a dated rate for another currency
    customer_type = customer.customer_type if customer is not None else "business"
    penalties = {i.invoice_id: claim_for(customer_type=customer_type, amount=i.open_amount,
                                         due_date=i.due_date, as_of=as_of, currency=i.currency,
                                         session=session)
                 for i in kept if i.due_date < as_of} if reminder.claim_penalties else {}
    lines = tuple(_line(i, as_of, penalties.get(i.invoice_id)) for i in kept)
    earlier = dunning_reminders.earlier_contacts(session, customer_id=reminder.customer_id,
                                     invoice_ids=[i.invoice_id for i in kept], before=as_of,
                                     exclude_reminder=reminder.reminder_id)
    context = ReminderContext(
        company=company_from(settings),
        customer=ReminderCustomer(
            name=(customer.name if customer else None) or reminder.customer_id,
            language=reminder.language, address=_postal_lines(customer),
            customer_type=customer_type),
        invoices=lines, today=as_of, currency=kept[0].currency,
        penalties=_claim(penalties.values()) if penalties else None,
        earlier_contacts=tuple(Contact(on=c.on, channel=c.channel) for c in earlier),
        payment_reference=payment_reference(reminder.customer_id, [i.invoice_id for i in kept]),
    )
    return render_reminder(channel=reminder.channel, tone=reminder.tone,
                           language=reminder.language, context=context,
                           templates=edited_templates(session), template=reminder.template)


def _line(invoice: Invoice, as_of: dt.date, due: Claim | None) -> InvoiceLine:
    # negative days late: days left before the due date (the texts say "due in N days")
    return InvoiceLine(
        invoice_id=invoice.invoice_id, issue_date=invoice.issue_date, due_date=invoice.due_date,
        amount=invoice.amount, open_amount=invoice.open_amount,
        days_late=(as_of - invoice.due_date).days,
        interest=due.interest.amount if due is not None else None,
        indemnity=_converted_indemnity(due),
        rate_percent=_single_rate(due.interest.periods) if due is not None else None,
        indemnity_eur=due.indemnity.eur if due is not None and due.indemnity is not None else None)


def _converted_indemnity(due: Claim | None) -> Decimal | None:
    """The indemnity in the invoice's currency; None when none is owed or no dated rate converts
    it (the text then gives the 40 € in euros and says no rate is known — never 0)."""
    return None if due is None or due.indemnity is None else due.indemnity.amount


def _single_rate(periods: Iterable[PenaltyPeriod]) -> Decimal | None:
    """The one rate of these periods, to print; None when several applied, or when a period
    falls where the law tables are not verified (a missing legal rate, ECB decisions unchecked):
    the interest is computed on the latest known rate, but no text claims that rate as the law's."""
    periods = list(periods)
    rates = {p.rate_percent for p in periods}
    if len(rates) != 1 or any(coverage_warnings(p.start) for p in periods):
        return None
    return next(iter(rates))


def _postal_lines(customer: Customer | None) -> tuple[str, ...]:
    if customer is None:
        return ()
    city = " ".join(p for p in (customer.postal_code, customer.city) if p)
    return tuple(line for line in (customer.address, city) if line)


def _claim(dues: Iterable[Claim]) -> PenaltyClaim | None:
    interest, indemnity, eur_only = Decimal("0"), Decimal("0"), Decimal("0")
    periods: list[PenaltyPeriod] = []
    for due in dues:
        interest += due.interest.amount
        if due.indemnity is not None and due.indemnity.amount is None:
            eur_only += due.indemnity.eur  # no dated rate: claimed in euros, said so
        else:
            indemnity += due.indemnity_in_currency
        periods.extend(due.interest.periods)
    if interest == 0 and indemnity == 0 and eur_only == 0:
        return None
    return PenaltyClaim(interest=interest, indemnity=indemnity, rate_percent=_single_rate(periods),
                        indemnity_eur_only=eur_only)


