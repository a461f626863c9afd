"""The demo's whole run, day after day, and every sentence of every reminder checked against the
facts (`make demo` promises not one false sentence).

A small synthetic ledger (features.synth, as `relance demo` builds it) is frozen on AS_OF; the
daily run then plans every business day for six weeks with no payment arriving, so invoices climb
the whole ladder: pre-due e-mails, reminders, calls, letters, formal notices. Each day, every
reminder the outbox would send is rendered as it would be, checked, then "sent" the way each
channel really completes (e-mail sent, call logged, letter posted, notice approved, posted and
received). The test keeps its own log of the contacts it made and checks the texts against it:
- "despite our reminders of …" (malgré, suite à, sans effet, nos relances…) only when a contact
  about one of the listed invoices was made before, and every date it cites is such a contact;
- "unpaid", "overdue", "late" only when a listed invoice is past its due date;
- a disputed or settled invoice is never listed.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections import Counter, defaultdict

import pytest
from sqlalchemy import select
from sqlmodel import Session

from ledger import actions as dunning_actions
from ledger import reminders as dunning_reminders
from ledger.calendar import is_business_day
from ledger.effects import ingest_and_apply
from ledger.importers import batch_from_tables
from ledger.ledger_dir import ledger_tables
from ledger.tables import Dispute, DunningAction, Invoice
from serving.dunning import NothingToSay, render_stored_reminder, run_dunning, scenario_names
from serving.policy import Risk

AS_OF = dt.date(2025, 3, 3)
DAYS = 42
MONTHS_FR = ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre",
             "octobre", "novembre", "décembre"]
MONTHS_EN = ["January", "February", "March", "April", "May", "June", "July", "August",
             "September", "October", "November", "December"]
CLAIMS = {"fr": ("malgré", "suite à", "sans effet", "nos relances", "notre relance",
                 "précédents rappels", "contacts précédents :"),
          "en": ("despite", "following our", "unanswered", "our reminder", "earlier contacts:")}
LATE_WORDS = {"fr": ("impayé", "échue", "retard", "en attente de règlement", "pas encore reçu"),
              "en": ("unpaid", "overdue", "late", "awaiting payment", "not yet received")}


def _risk_for(session, invoice_ids, run_date):
    """A deterministic stand-in for the model: a spread of risks, so that every rule fires."""
    risks = {}
    for invoice_id in invoice_ids:
        p = int(hashlib.sha1(invoice_id.encode()).hexdigest()[:4], 16) / 0xFFFF
        risks[invoice_id] = Risk(p_late=p, p_severe=p / 2, expected_days_late=30 * p,
                                 grade="ABCDE"[min(int(p * 5), 4)], source="model")
    return risks


def _dates_cited(text: str) -> set[dt.date]:
    found = set()
    for day, month, year in re.findall(r"\b(1er|\d{1,2}) (" + "|".join(MONTHS_FR + MONTHS_EN)
                                       + r") (\d{4})\b", text):
        number = (MONTHS_FR.index(month) if month in MONTHS_FR else MONTHS_EN.index(month)) + 1
        found.add(dt.date(int(year), number, 1 if day == "1er" else int(day)))
    for day, month, year in re.findall(r"\b(\d{2})/(\d{2})/(\d{4})\b", text):
        found.add(dt.date(int(year), int(month), int(day)))
    return found


def _says(text: str, words) -> list[str]:
    return [w for w in words if re.search(rf"(?<!\w){re.escape(w)}(?!\w)", text)]


@pytest.fixture
def demo_ledger(session, tmp_path):
    from features.synth import generate
    from ledger.frames import write_ledger_dir

    frames = generate(customers=40, months=14, seed=7, start="2024-01-01", as_of=AS_OF.isoformat())
    write_ledger_dir(frames, tmp_path / "ledger")
    batch = batch_from_tables(ledger_tables(tmp_path / "ledger"))
    ingest_and_apply(today=dt.date.today(), session=session, batch=batch, actor="demo", scenario_names=scenario_names(session))
    session.commit()
    return session


@pytest.mark.slow
def test_no_false_sentence_in_the_demo_run(demo_ledger):
    session: Session = demo_ledger
    contacts: dict[str, list[tuple[dt.date, str]]] = defaultdict(list)  # the test's own log
    seen = Counter()
    day = AS_OF
    for _ in range(DAYS):
        day += dt.timedelta(days=1)
        if not is_business_day(day):
            continue
        report = run_dunning(session=session, run_date=day, dry_run=False, actor="demo",
                             risk_for=_risk_for, today=day)
        # the tests configure no creditor (its address, SIREN, IBAN): the run says so
        assert [w for w in report.notices if w.code != "creditor_missing"] == [], report.warnings
        session.commit()
        seen["scenario:" + ",".join(sorted({a.scenario for a in report.actions}))] += 0
        seen.update(f"scenario:{a.scenario}" for a in report.actions)
        _approve_notices(session, day)
        for reminder_id in dunning_reminders.due_reminder_ids(session, on=day, channels=(
                "email", "sms", "letter", "formal_notice", "call")):
            _check_and_send(session, reminder_id, day, contacts, seen)
        session.commit()
    # the run went through the whole ladder, in both languages, key accounts on gentle
    for wanted in ("channel:email", "channel:call", "channel:letter", "channel:formal_notice",
                   "cites_earlier", "first_contact", "not_yet_due", "lang:fr", "lang:en",
                   "scenario:gentle", "scenario:standard"):
        assert seen[wanted] > 0, (wanted, seen)


def _approve_notices(session: Session, day: dt.date) -> None:
    for _reminder, actions in dunning_reminders.pending_approvals(session):
        dunning_actions.decide_approval(session, action_id=actions[0].id, approve=True, actor="analyst:demo",
                              comment="vérifié")
    session.commit()


def _facts(session: Session, invoice_ids: list[str], day: dt.date):
    invoices = {i.invoice_id: i for i in session.execute(
        select(Invoice).where(Invoice.invoice_id.in_(invoice_ids))).scalars()}
    disputed = set(session.execute(select(Dispute.invoice_id).where(
        Dispute.invoice_id.in_(invoice_ids), Dispute.status.in_(("open", "in_review")))).scalars())
    return invoices, disputed


def _check_and_send(session: Session, reminder_id: str, day: dt.date, contacts, seen) -> None:
    reminder = dunning_reminders.get_reminder(session, reminder_id)
    actions = dunning_reminders.lock_pending_actions(session, reminder_id)
    ids = [a.invoice_id for a in actions if a.invoice_id]
    invoices, disputed = _facts(session, ids, day)
    try:
        rendered = render_stored_reminder(session, reminder)
    except NothingToSay:
        for action in actions:
            dunning_actions.transition(session, action=action, state="cancelled", actor="demo", on=day)
        return
    text = (rendered.subject + "\n" + rendered.body_text).lower()
    listed = [i for i in ids if i.lower() in text]
    language = reminder.language
    seen[f"channel:{reminder.channel}"] += 1
    seen[f"lang:{language}"] += 1
    # disputed and settled invoices are left out
    for invoice_id in ids:
        if invoice_id in disputed or invoices[invoice_id].settled_on is not None:
            assert invoice_id.lower() not in text, (invoice_id, rendered.body_text)
    live = [i for i in listed if i not in disputed]
    # earlier reminders: only real ones, and only their dates
    made = {on for i in live for on, _ in contacts[i] if on < day}
    claims = _says(text, CLAIMS[language])
    if claims:
        assert made, (claims, rendered.body_text)
        # other dates a text names: the invoices', today's and the payment deadline (8 days)
        cited = _dates_cited(text) - {invoices[i].issue_date for i in live} - {
            invoices[i].due_date for i in live} - {day, day + dt.timedelta(days=8)}
        assert cited <= made, (cited, made, rendered.body_text)
        seen["cites_earlier"] += 1
    else:
        seen["first_contact"] += 1
    # "unpaid" / "late" only once something is past its due date
    overdue = [i for i in live if invoices[i].due_date < day]
    if not overdue:
        words = [w for w in _says(text, LATE_WORDS[language])
                 if not (w == "late" and "late-payment" in text)]
        assert not words, (words, rendered.body_text)
        seen["not_yet_due"] += 1
    _send(session, reminder, actions, rendered, day)
    for invoice_id in live:
        contacts[invoice_id].append((day, reminder.channel))


def _send(session: Session, reminder, actions: list[DunningAction], rendered, day: dt.date) -> None:
    """Each channel completes the way it really does."""
    if reminder.channel in ("letter", "formal_notice"):
        dunning_reminders.mark_rendered(session, reminder, subject=rendered.subject,
                            body_text=rendered.body_text, body_html=None)
        for action in actions:
            dunning_actions.transition(session, action=action, state="rendered", actor="demo", on=day)
        session.flush()
        dunning_reminders.mark_posted(session, reminder_id=reminder.reminder_id, posted_on=day, actor="demo",
                          registered_number="1A 000 000 0000 0"
                          if reminder.channel == "formal_notice" else None)
        if reminder.channel == "formal_notice":
            dunning_reminders.mark_delivered(session, reminder_id=reminder.reminder_id, delivered_on=day,
                                 actor="demo")
    elif reminder.channel == "call":
        dunning_actions.close_planned_calls(session, customer_id=reminder.customer_id, on=day, actor="demo")
    else:
        for action in actions:
            dunning_actions.transition(session, action=action, state="sent", actor="demo", on=day)
