"""The outbox: deliver planned reminders, one reminder per transaction.

Planning (`serving.dunning.run_dunning`) and sending are separate steps. Each reminder is handled
in its own transaction: its planned actions are locked, the reminder is rendered and delivered,
and the actions are marked sent or failed together with the rendered text, the events and the
audit rows. A crash loses at most the reminder being sent; a rerun completes what is left.

By channel:
- email: sent over SMTP (settings `smtp_*`). A failure counts one attempt; the action stays
  `planned` for the next pass and becomes `failed` after `max_attempts` (3) attempts. A customer
  without an email address, or with one that is not a single valid address (stored before
  addresses were validated), fails at once with that reason.

One reminder's failure never stops the pass: whatever goes wrong with it (rendering, its
address, an unexpected error) marks its actions `failed` with a sentence saying why, and the
next reminder is sent.
- sms: no SMS provider is wired; the action becomes `failed` with "no SMS provider configured".
- letter, formal_notice: rendered and kept, marked `rendered` — not sent: a person prints them
  (`GET /api/v1/letters.pdf?date=D`, the day's letters in one PDF), posts them and records it
  (`POST /api/v1/reminders/{id}/posted`, then `/delivered`). A formal notice reaches the outbox
  only once approved (`pending_approval` → `planned`).
- legal: once approved, the hand-off file (`legal_formal` template: debtor, claims, interest,
  contact history) is rendered and kept (`rendered`), listed with the day's letters
  (`GET /api/v1/reminders?channel=legal`, the letters PDF); a person records the hand-over to
  the lawyer or agency with `…/posted` (`posted`), which closes the step.
- call: never sent here; a call stays `planned` in the agents' worklist until an agent logs the
  call (which closes the customer's call task).
- a reminder whose invoices were all settled or disputed since planning is cancelled, not sent.

Delivery is at least once: if the process dies between the SMTP server accepting a message and
the commit, the rerun sends it again (the Message-ID is the reminder id, so mail systems can
deduplicate it).
"""
from __future__ import annotations

import contextlib
import datetime as dt
import logging
import smtplib
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import make_msgid

from pydantic import TypeAdapter, ValidationError
from sqlalchemy.engine import Engine
from sqlmodel import Session

from ledger import actions as dunning_actions
from ledger import reminders as dunning_reminders
from ledger import tables
from ledger.config import Settings, get_settings
from ledger.schemas import Email
from ledger.tables import Customer, DunningAction, record_event
from serving.dunning import NothingToSay, render_stored_reminder
from serving.reminders import ReminderError, RenderedReminder

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 3
SENDABLE = ("email", "sms", "letter", "formal_notice", "legal")
# rendered and kept for a person: letters and notices to post, hand-off files to hand over
LETTER_CHANNELS = ("letter", "formal_notice", "legal")
NO_SMS_PROVIDER = "no SMS provider configured (aucun fournisseur SMS configuré)"
NO_EMAIL = "the customer has no email address (le client n'a pas d'adresse e-mail)"
BAD_EMAIL = ("the customer's email address {address} is not one valid address: {why}; correct it "
             "(l'adresse e-mail du client n'est pas une adresse valide : à corriger)")
UNEXPECTED = ("the reminder could not be sent ({kind}); details are in the server log "
              "(la relance n'a pas pu être envoyée ; détails dans le journal du serveur)")
_EMAIL = TypeAdapter(Email)


@dataclass
class OutboxReport:
    sent: int = 0
    rendered: int = 0  # letters ready to print and post
    failed: int = 0
    retrying: int = 0
    skipped: int = 0
    errors: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        return {"sent": self.sent, "rendered": self.rendered, "failed": self.failed, "retrying": self.retrying,
                "skipped": self.skipped, "errors": self.errors[:20]}


class Mailer:
    """One SMTP connection per outbox pass, reopened after a failure."""

    def __init__(self, settings: Settings, *, timeout: float = 10.0) -> None:
        self.settings, self.timeout = settings, timeout
        self._smtp: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=self.timeout)
        if s.smtp_starttls:
            smtp.starttls()
        if s.smtp_user:
            smtp.login(s.smtp_user, s.smtp_password or "")
        return smtp

    def send(self, message: EmailMessage) -> None:
        try:
            if self._smtp is None:
                self._smtp = self._connect()
            self._smtp.send_message(message)
        except Exception:
            self.close()
            raise

    def close(self) -> None:
        if self._smtp is not None:
            with contextlib.suppress(Exception):  # closing a broken connection may fail too
                self._smtp.quit()
            self._smtp = None


def email_message(rendered: RenderedReminder, *, reminder_id: str, sender: str,
                  recipient: str) -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, recipient, rendered.subject
    message["Message-ID"] = make_msgid(idstring=reminder_id, domain="relance")
    message["X-Relance-Reminder"] = reminder_id
    message.set_content(rendered.body_text)
    if rendered.body_html:
        message.add_alternative(rendered.body_html, subtype="html")
    return message


def send_outbox(*, engine: Engine, on: dt.date, actor: str = "outbox",
                settings: Settings | None = None, max_attempts: int = MAX_ATTEMPTS,
                timeout: float = 10.0) -> OutboxReport:
    """Deliver every reminder with planned email/sms/letter actions due on or before `on`."""
    settings = settings or get_settings()
    report = OutboxReport()
    with Session(engine) as session:
        reminder_ids = dunning_reminders.due_reminder_ids(session, on=on, channels=SENDABLE)
    mailer = Mailer(settings, timeout=timeout)
    try:
        for reminder_id in reminder_ids:
            try:
                _deliver(engine, reminder_id, mailer=mailer, settings=settings, actor=actor,
                         max_attempts=max_attempts, report=report, on=on)
            except Exception as exc:  # noqa: BLE001  (one reminder never stops the others)
                log.exception("outbox: reminder %s failed", reminder_id)
                _fail_alone(engine, reminder_id, UNEXPECTED.format(kind=type(exc).__name__),
                            actor=actor, report=report)
    finally:
        mailer.close()
    return report


def _deliver(engine: Engine, reminder_id: str, *, mailer: Mailer, settings: Settings, actor: str,
             max_attempts: int, report: OutboxReport, on: dt.date) -> None:
    # `on`: the day of this outbox pass (today in production): what is sent closes on it
    with Session(engine, expire_on_commit=False) as session:
        actions = dunning_reminders.lock_pending_actions(session, reminder_id)
        if not actions:
            report.skipped += 1  # sent meanwhile by another sender, or cancelled
            return
        reminder = dunning_reminders.get_reminder(session, reminder_id)
        try:
            rendered = render_stored_reminder(session, reminder, settings=settings)
        except NothingToSay as exc:
            _finish(session, actions, state="cancelled", actor=actor, on=on, error=str(exc))
            report.skipped += 1
            session.commit()
            return
        except ReminderError as exc:
            _finish(session, actions, state="failed", actor=actor, on=on, error=f"rendering: {exc}")
            report.failed += len(actions)
            report.errors.append(f"{reminder_id}: {exc}")
            session.commit()
            return
        dunning_reminders.mark_rendered(session, reminder, subject=rendered.subject,
                            body_text=rendered.body_text, body_html=rendered.body_html)
        if reminder.channel in LETTER_CHANNELS:
            # kept for printing: it goes out when a person posts it, not now
            _finish(session, actions, state="rendered", actor=actor, on=on)
            report.rendered += len(actions)
            session.commit()
            return
        error = _send(session, reminder, rendered, mailer=mailer, settings=settings)
        if error is None:
            _finish(session, actions, state="sent", actor=actor, on=on)
            report.sent += len(actions)
        elif error.final or actions[0].attempts + 1 >= max_attempts:
            _finish(session, actions, state="failed", actor=actor, on=on, error=error.message)
            report.failed += len(actions)
            report.errors.append(f"{reminder_id}: {error.message}")
        else:
            _finish(session, actions, state="planned", actor=actor, error=error.message)
            report.retrying += len(actions)
        session.commit()


def _fail_alone(engine: Engine, reminder_id: str, reason: str, *, actor: str,
               report: OutboxReport) -> None:
    """Mark a reminder's pending actions failed in a transaction of their own."""
    try:
        with Session(engine, expire_on_commit=False) as session:
            actions = dunning_reminders.lock_pending_actions(session, reminder_id)
            _finish(session, actions, state="failed", actor=actor, error=reason)
            session.commit()
    except Exception:  # noqa: BLE001  (the database itself failing: logged, the pass goes on)
        log.exception("outbox: could not mark reminder %s failed", reminder_id)
        actions = []
    report.failed += len(actions)
    report.errors.append(f"{reminder_id}: {reason}")


@dataclass(frozen=True)
class _Failure:
    message: str
    final: bool  # no point trying again (no address, no provider)


def _send(session: Session, reminder: tables.Reminder, rendered: RenderedReminder, *,
          mailer: Mailer, settings: Settings) -> _Failure | None:
    if reminder.channel == "sms":
        return _Failure(NO_SMS_PROVIDER, final=True)
    customer = session.get(Customer, reminder.customer_id)
    if customer is None or not customer.email:
        return _Failure(NO_EMAIL, final=True)
    try:
        # the rule ingestion applies: one address, no CR/LF (it becomes the To: header)
        recipient = _EMAIL.validate_python(customer.email)
    except ValidationError as exc:
        why = exc.errors()[0]["msg"].removeprefix("value is not a valid email address: ")
        return _Failure(BAD_EMAIL.format(address=ascii(customer.email), why=why), final=True)
    message = email_message(rendered, reminder_id=reminder.reminder_id,
                            sender=settings.smtp_sender, recipient=recipient)
    try:
        mailer.send(message)
    except (smtplib.SMTPException, OSError) as exc:
        return _Failure(f"SMTP {settings.smtp_host}:{settings.smtp_port}: "
                        f"{type(exc).__name__}: {exc}", final=False)
    return None


def _finish(session: Session, actions: list[DunningAction], *, state: str, actor: str,
            error: str | None = None, on: dt.date | None = None) -> None:
    for action in actions:
        dunning_actions.transition(session, action=action, state=state, actor=actor, error=error,
                         attempted=True, on=on)
        if state in ("sent", "failed", "rendered", "cancelled"):
            record_event(session, type=f"action.{state}", entity_id=str(action.id), payload={
                "invoice_id": action.invoice_id, "customer_id": action.customer_id,
                "reminder_id": action.reminder_id, "channel": action.channel,
                "step": action.step, **({"error": error} if error else {})})
