"""The demo's collection history: two agents with a portfolio each, and what they did over the
last fortnight (calls and their outcomes, notes, promises, disputes) plus a past dunning run whose
reminders went through the outbox — so every panel of the workbench has something true to show.

Everything goes through the same functions the API calls (ledger.disputes, ledger.promises,
ledger.contacts, the dunning run, the outbox), dated in the past where the function takes a date.
"""
from __future__ import annotations

import datetime as dt
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal

from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlmodel import Session

from ledger import contacts as contact_log
from ledger import disputes as dispute_log
from ledger import portfolio as portfolios
from ledger import promises as promise_log
from ledger import worklist as ranking
from ledger.calendar import previous_business_day
from ledger.config import Settings, get_settings
from ledger.tables import CustomerNote, Invoice
from serving.dunning import run_and_commit
from serving.outbox import send_outbox

AGENTS = ("agent-claire", "agent-karim")
PORTFOLIO = 20  # customers per agent, taken alternately from the top of the worklist
PAST_RUN_DAYS = 12  # the past dunning run, this many days before today (a business day)


def seed(*, engine: Engine, today: dt.date, risk_for=None) -> list[str]:
    """Assign the portfolios, replay a past run and its outbox, then the agents' fortnight."""
    lines = []
    with Session(engine) as session:
        top = [row.customer_id for row in ranking.worklist(session=session, today=today, limit=PORTFOLIO * len(AGENTS))]
        for n, agent in enumerate(AGENTS):
            portfolios.assign_customers(session=session, agent=agent, customer_ids=top[n::len(AGENTS)], actor="demo")
        session.commit()
    past = previous_business_day(today - dt.timedelta(days=PAST_RUN_DAYS))
    run = run_and_commit(engine=engine, run_date=past, dry_run=False, risk_for=risk_for, actor="demo", today=today)
    with _mail_sink() as settings:
        # one attempt: without a mail server the e-mails fail (and say why) rather than linger
        out = send_outbox(engine=engine, on=past, actor="demo", settings=settings, max_attempts=1, timeout=2.0)
    lines.append(f"dunning {past} : {run.created} actions ; outbox : {out.sent} sent, {out.failed} failed")
    with Session(engine) as session:
        for n, agent in enumerate(AGENTS):
            _fortnight(session, agent=agent, customers=top[n::len(AGENTS)][:5], today=today)
        promise_log.evaluate_promises(session, top, today, actor="demo")
        session.commit()
    lines.append(f"portfolios : {', '.join(f'{a} ({len(top[n::len(AGENTS)])})' for n, a in enumerate(AGENTS))}")
    return lines


@contextmanager
def _mail_sink() -> Iterator[Settings]:
    """The demo's customers have example.com addresses: their e-mails go to a local SMTP server
    that accepts and discards them (aiosmtpd, installed with the dev extras `make demo` uses).
    Without it, the configured SMTP server is used as it is."""
    settings = get_settings()
    try:
        from aiosmtpd.controller import Controller
        from aiosmtpd.handlers import Sink
    except ImportError:
        yield settings
        return
    with socket.socket() as probe:  # a free port on loopback, never a fixed one
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Sink(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": port,
                                          "smtp_user": None, "smtp_starttls": False})
    finally:
        controller.stop()


def _fortnight(session: Session, *, agent: str, customers: list[str], today: dt.date) -> None:
    """Five customers, five stories: a promise after a call, a dispute after two calls, a note, a
    promise made three weeks ago (kept or broken: the payments decide), a wrong number."""
    actor = f"agent:{agent}"
    day = lambda n: today - dt.timedelta(days=n)  # noqa: E731
    stories = [_promise_after_call, _dispute_after_calls, _note_only, _old_promise, _wrong_number]
    for customer_id, story in zip(customers, stories, strict=False):
        open_invoices = session.execute(
            select(Invoice).where(Invoice.customer_id == customer_id, Invoice.kind == "invoice",
                                  Invoice.settled_on.is_(None)).order_by(Invoice.due_date)).scalars().all()
        if open_invoices:
            story(session, customer_id=customer_id, invoices=open_invoices, actor=actor, day=day, today=today)


def _call(session, customer_id: str, outcome: str, actor: str, on: dt.date, note: str | None = None) -> None:
    action = contact_log.log_call(session=session, data=contact_log.CallIn(customer_id=customer_id, outcome=outcome, note=note),
                          actor=actor, today=on)
    action.sent_at = dt.datetime.combine(on, dt.time(10), dt.UTC)  # made that day, not now
    session.add(action)
    if note:
        _backdate_notes(session, customer_id, on)


def _note(session, customer_id: str, body: str, actor: str, on: dt.date) -> None:
    contact_log.add_note(session=session, customer_id=customer_id, author=actor, body=body)
    _backdate_notes(session, customer_id, on)


def _backdate_notes(session, customer_id: str, on: dt.date) -> None:
    session.flush()
    session.execute(update(CustomerNote).where(CustomerNote.customer_id == customer_id,
                                               CustomerNote.created_at > dt.datetime.combine(on, dt.time(), dt.UTC))
                    .values(created_at=dt.datetime.combine(on, dt.time(10), dt.UTC)))


def _promise_after_call(session, *, customer_id, invoices, actor, day, today) -> None:
    _call(session, customer_id, "reached_promised", actor, day(4), "Virement promis pour la semaine prochaine.")
    amount = min(sum((i.open_amount for i in invoices), Decimal(0)), Decimal("5000.00"))
    promise_log.create_promise(session=session, data=promise_log.PromiseCreate(
        customer_id=customer_id, amount=amount, promised_date=today + dt.timedelta(days=6),
        note="Promesse obtenue au téléphone"), actor=actor, today=day(4))


def _dispute_after_calls(session, *, customer_id, invoices, actor, day, today) -> None:
    _call(session, customer_id, "no_answer", actor, day(9))
    _call(session, customer_id, "reached_disputed", actor, day(7), "Conteste le prix de la dernière facture.")
    dispute = dispute_log.open_dispute(session=session, data=dispute_log.DisputeCreate(
        invoices=[dispute_log.DisputedInvoiceIn(invoice_id=invoices[-1].invoice_id)], reason="price",
        opened_on=day(7), comment="Remise commerciale de 5 % non appliquée selon le client."), actor=actor, today=day(7))
    dispute_log.update_dispute(session=session, dispute_id=dispute.dispute_id, data=dispute_log.DisputeUpdate(
        status="in_review", comment="Transmis au service commercial pour vérification."), actor=actor, today=day(5))


def _note_only(session, *, customer_id, invoices, actor, day, today) -> None:
    _note(session, customer_id, "Comptable en congés jusqu'à lundi ; rappeler en début de semaine.", actor, day(3))


def _old_promise(session, *, customer_id, invoices, actor, day, today) -> None:
    _call(session, customer_id, "reached_promised", actor, day(13), "Règlement promis sous 8 jours.")
    promise_log.create_promise(session=session, data=promise_log.PromiseCreate(
        customer_id=customer_id, amount=invoices[0].open_amount, promised_date=day(5),
        invoice_ids=[invoices[0].invoice_id]), actor=actor, today=day(13))


def _wrong_number(session, *, customer_id, invoices, actor, day, today) -> None:
    _call(session, customer_id, "wrong_number", actor, day(2), "Numéro attribué à un autre abonné : demander le bon.")
