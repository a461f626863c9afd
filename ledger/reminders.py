"""Consolidated reminders: posting and delivery of letters and formal notices, and the reads of
actions and reminders the API, the outbox and the renderer need.
"""
from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlmodel import Session

from ledger.actions import (
    CONTACT_STATES,
    PENDING,
    transition,
)
from ledger.bulk import chunks
from ledger.errors import (
    FieldError,
    IllegalTransitionError,
    LedgerValidationError,
    NotFoundError,
)
from ledger.portfolio import in_portfolio
from ledger.tables import (
    ActionState,
    Customer,
    DunningAction,
    Invoice,
    Reminder,
    record_event,
    utcnow,
)

# a formal notice whose receipt is not recorded is presumed received this many days after
# posting (La Poste's usual delay for a recommandé; the notice's deadline runs from receipt)
PRESUMED_DELIVERY_DAYS = 3


REGISTERED_NUMBER = re.compile(r"[A-Za-z0-9 \-]{4,64}")


def mark_posted(session: Session, *, reminder_id: str, posted_on: dt.date,
                registered_number: str | None, actor: str) -> Reminder:
    """A rendered letter or formal notice was posted (a formal notice: by registered letter with
    acknowledgement of receipt, whose number is required)."""
    if registered_number is not None and not REGISTERED_NUMBER.fullmatch(registered_number):
        raise LedgerValidationError([FieldError(
            "registered_number", "4 to 64 letters, digits, spaces or hyphens (the number on the "
                                 "registered-letter slip)")])
    reminder = _locked_reminder(session, reminder_id)
    if reminder.channel not in ("letter", "formal_notice", "legal"):
        raise IllegalTransitionError(f"reminder {reminder_id} is {reminder.channel}: only letters, "
                                     "formal notices and legal hand-off files (handed over) are "
                                     "posted")
    if reminder.channel == "formal_notice" and not registered_number:
        raise LedgerValidationError([FieldError(
            "registered_number", "a formal notice goes by registered letter with acknowledgement "
                                 "of receipt: give the registered-letter number")])
    actions = _reminder_actions_in(session, reminder_id, (ActionState.RENDERED,))
    if not actions:
        raise IllegalTransitionError(f"reminder {reminder_id} has no rendered letter waiting to "
                                     "be posted (render it with the outbox first)")
    if posted_on < reminder.run_date:
        raise LedgerValidationError([FieldError(
            "posted_on", f"{posted_on.isoformat()} is before the reminder was planned "
                         f"({reminder.run_date.isoformat()})")])
    reminder.posted_on, reminder.registered_number = posted_on, registered_number
    session.add(reminder)
    # a formal notice's delay runs from its receipt: presumed until the receipt is recorded
    closed = (posted_on + dt.timedelta(days=PRESUMED_DELIVERY_DAYS)
              if reminder.channel == "formal_notice" else posted_on)
    for action in actions:
        transition(session, action=action, state=ActionState.POSTED, actor=actor, on=closed,
                   note=f"posted on {posted_on.isoformat()}"
                        + (f", registered letter {registered_number}" if registered_number else ""))
        record_event(session, type="action.posted", entity_id=str(action.id), payload={
            "invoice_id": action.invoice_id, "reminder_id": reminder_id,
            "posted_on": posted_on.isoformat(), "registered_number": registered_number})
    return reminder


def mark_delivered(session: Session, *, reminder_id: str, delivered_on: dt.date,
                   actor: str) -> Reminder:
    """A posted letter was received (the date on the acknowledgement of receipt)."""
    reminder = _locked_reminder(session, reminder_id)
    actions = _reminder_actions_in(session, reminder_id, (ActionState.POSTED,))
    if not actions or reminder.posted_on is None:
        raise IllegalTransitionError(f"reminder {reminder_id} has no posted letter to mark delivered")
    if delivered_on < reminder.posted_on:
        raise LedgerValidationError([FieldError(
            "delivered_on", f"{delivered_on.isoformat()} is before the letter was posted "
                            f"({reminder.posted_on.isoformat()})")])
    reminder.delivered_on = delivered_on
    session.add(reminder)
    for action in actions:
        closed = delivered_on if reminder.channel == "formal_notice" else action.closed_on
        transition(session, action=action, state=ActionState.DELIVERED, actor=actor, on=closed,
                   note=f"delivered on {delivered_on.isoformat()}")
        record_event(session, type="action.delivered", entity_id=str(action.id), payload={
            "invoice_id": action.invoice_id, "reminder_id": reminder_id,
            "delivered_on": delivered_on.isoformat()})
    return reminder


def notice_deadline(reminder: Reminder, deadline_days: int) -> dt.date | None:
    """The day a formal notice's deadline ends: `deadline_days` after its receipt, or after its
    presumed receipt (posting + PRESUMED_DELIVERY_DAYS) while none is recorded; None before it
    is posted."""
    if reminder.delivered_on is not None:
        return reminder.delivered_on + dt.timedelta(days=deadline_days)
    if reminder.posted_on is not None:
        return reminder.posted_on + dt.timedelta(days=PRESUMED_DELIVERY_DAYS + deadline_days)
    return None


def _locked_reminder(session: Session, reminder_id: str) -> Reminder:
    reminder = session.get(Reminder, reminder_id, with_for_update=True)
    if reminder is None:
        raise NotFoundError("reminder", reminder_id)
    return reminder


def _reminder_actions_in(session: Session, reminder_id: str,
                         states: Sequence[str]) -> list[DunningAction]:
    return list(session.execute(
        select(DunningAction).where(DunningAction.reminder_id == reminder_id,
                                    DunningAction.state.in_(states))
        .order_by(DunningAction.id).with_for_update()).scalars())


def list_actions(session: Session, *, state: str | None = None, customer_id: str | None = None,
                 channel: str | None = None, on: dt.date | None = None, limit: int = 100,
                 offset: int = 0, agent: str | None = None) -> tuple[list[DunningAction], int]:
    """Actions filtered by state, customer, channel and send date (and `agent`'s portfolio);
    newest first."""
    conditions = []
    if agent is not None:
        conditions.append(in_portfolio(DunningAction.customer_id, agent))
    if state is not None:
        conditions.append(DunningAction.state == state)
    if customer_id is not None:
        conditions.append(DunningAction.customer_id == customer_id)
    if channel is not None:
        conditions.append(DunningAction.channel == channel)
    if on is not None:
        conditions.append(DunningAction.send_on == on)
    total = session.execute(select(func.count()).select_from(DunningAction).where(*conditions)).scalar_one()
    rows = session.execute(
        select(DunningAction).where(*conditions)
        .order_by(DunningAction.send_on.desc(), DunningAction.id.desc()).limit(limit).offset(offset)
    ).scalars().all()
    return list(rows), int(total)


def list_reminders(session: Session, *, customer_id: str | None = None,
                   agent: str | None = None, channel: str | None = None,
                   state: str | None = None, on: dt.date | None = None, limit: int = 100,
                   offset: int = 0) -> tuple[list[tuple[Reminder, list[DunningAction]]], int]:
    """Consolidated reminders (one per customer, day and channel) with their actions, newest
    first; `state`: reminders having an action in that state. `agent`: only that agent's
    portfolio (None: everyone's)."""
    conditions = []
    if customer_id is not None:
        conditions.append(Reminder.customer_id == customer_id)
    if agent is not None:
        conditions.append(Reminder.customer_id.in_(
            select(Customer.customer_id).where(Customer.assigned_agent == agent).scalar_subquery()))
    if channel is not None:
        conditions.append(Reminder.channel == channel)
    if on is not None:
        conditions.append(Reminder.send_on == on)
    if state is not None:
        conditions.append(Reminder.reminder_id.in_(
            select(DunningAction.reminder_id).where(DunningAction.state == state).scalar_subquery()))
    total = session.execute(select(func.count()).select_from(Reminder).where(*conditions)).scalar_one()
    reminders = list(session.execute(
        select(Reminder).where(*conditions)
        .order_by(Reminder.send_on.desc(), Reminder.customer_id, Reminder.channel)
        .limit(limit).offset(offset)).scalars())
    actions = group_by(session.execute(
        select(DunningAction).where(DunningAction.reminder_id.in_([r.reminder_id for r in reminders]))
        .order_by(DunningAction.invoice_id, DunningAction.id)).scalars(), lambda a: a.reminder_id)
    return [(r, actions.get(r.reminder_id, [])) for r in reminders], int(total)


def reminder_state(actions: Sequence[DunningAction]) -> str:
    """A reminder's state: that of its actions, the least advanced live one when they differ."""
    order = [ActionState.PENDING_APPROVAL, ActionState.PLANNED, ActionState.RENDERED,
             ActionState.POSTED, ActionState.SENT, ActionState.DELIVERED, ActionState.FAILED,
             ActionState.CANCELLED]
    states = {a.state for a in actions}
    return next((state for state in order if state in states), ActionState.CANCELLED)


@dataclass(frozen=True, slots=True)
class EarlierContact:
    """A contact actually made about some invoices: the day and the channel."""

    on: dt.date
    channel: str


def earlier_contacts(session: Session, *, customer_id: str, invoice_ids: Sequence[str],
                     before: dt.date, exclude_reminder: str | None = None) -> list[EarlierContact]:
    """Contacts actually made before `before` about these invoices (e-mails and SMS sent, calls
    logged, letters posted), plus calls logged about the customer as a whole after the oldest of
    their due dates: what a reminder may cite as "our earlier reminders". Planned, failed and
    cancelled ones are not contacts."""
    if not invoice_ids:
        return []
    oldest_due = session.execute(select(func.min(Invoice.due_date))
                                 .where(Invoice.invoice_id.in_(invoice_ids))).scalar_one()
    about_invoices = DunningAction.invoice_id.in_(invoice_ids)
    about_customer = and_(DunningAction.customer_id == customer_id,
                          DunningAction.invoice_id.is_(None), DunningAction.channel == "call",
                          DunningAction.send_on >= oldest_due) if oldest_due else about_invoices
    when = func.coalesce(DunningAction.closed_on, DunningAction.send_on)
    rows = session.execute(
        select(when, DunningAction.channel, DunningAction.reminder_id, DunningAction.state,
               Reminder.posted_on)
        .outerjoin(Reminder, Reminder.reminder_id == DunningAction.reminder_id)
        .where(or_(about_invoices, about_customer), DunningAction.state.in_(CONTACT_STATES))
    ).all()
    found: set[EarlierContact] = set()
    for closed, channel, reminder_id, _state, posted_on in rows:
        if exclude_reminder is not None and reminder_id == exclude_reminder:
            continue
        # a letter is cited by the day it was posted (a notice's closing day is its receipt)
        day = posted_on or closed
        if day is not None and day < before:
            found.add(EarlierContact(on=day, channel=channel))
    return sorted(found, key=lambda c: (c.on, c.channel))


def pending_approvals(session: Session, *, limit: int = 200) -> list[tuple[Reminder, list[DunningAction]]]:
    """Formal notices and legal hand-offs waiting for a person, oldest first."""
    ids = list(session.execute(
        select(DunningAction.reminder_id).where(DunningAction.state == ActionState.PENDING_APPROVAL,
                                                DunningAction.reminder_id.is_not(None))
        .group_by(DunningAction.reminder_id).order_by(func.min(DunningAction.send_on),
                                                      DunningAction.reminder_id).limit(limit)
    ).scalars())
    reminders = {r.reminder_id: r for r in session.execute(
        select(Reminder).where(Reminder.reminder_id.in_(ids))).scalars()}
    actions = group_by(session.execute(
        select(DunningAction).where(DunningAction.reminder_id.in_(ids),
                                    DunningAction.state == ActionState.PENDING_APPROVAL)
        .order_by(DunningAction.invoice_id)).scalars(), lambda a: a.reminder_id)
    return [(reminders[i], actions[i]) for i in ids if i in reminders]


def get_action(session: Session, action_id: int) -> DunningAction:
    action = session.get(DunningAction, action_id)
    if action is None:
        raise NotFoundError("action", str(action_id))
    return action


def get_reminder(session: Session, reminder_id: str) -> Reminder:
    reminder = session.get(Reminder, reminder_id)
    if reminder is None:
        raise NotFoundError("reminder", reminder_id)
    return reminder


def reminder_actions(session: Session, reminder_id: str) -> list[DunningAction]:
    return list(session.execute(
        select(DunningAction).where(DunningAction.reminder_id == reminder_id)
        .order_by(DunningAction.invoice_id)
    ).scalars())


def due_reminder_ids(session: Session, *, on: dt.date, channels: Sequence[str]) -> list[str]:
    """Reminders with planned actions on these channels whose send date has come."""
    return list(session.execute(
        select(DunningAction.reminder_id)
        .where(DunningAction.state == PENDING, DunningAction.send_on <= on,
               DunningAction.channel.in_(channels), DunningAction.reminder_id.is_not(None))
        .distinct().order_by(DunningAction.reminder_id)
    ).scalars())


def lock_pending_actions(session: Session, reminder_id: str) -> list[DunningAction]:
    """The planned actions of a reminder, locked for this transaction; on PostgreSQL another
    sender working on the same reminder skips it instead of sending it twice."""
    statement = select(DunningAction).where(
        DunningAction.reminder_id == reminder_id, DunningAction.state == PENDING
    ).order_by(DunningAction.id)
    if session.get_bind().dialect.name == "postgresql":
        statement = statement.with_for_update(skip_locked=True)
    return list(session.execute(statement).scalars())


def mark_rendered(session: Session, reminder: Reminder, *, subject: str, body_text: str,
                  body_html: str | None) -> None:
    reminder.subject, reminder.body_text, reminder.body_html = subject, body_text, body_html
    reminder.rendered_at = utcnow()
    session.add(reminder)


def invoices_by_id(session: Session, invoice_ids: Sequence[str]) -> dict[str, Invoice]:
    found: dict[str, Invoice] = {}
    for chunk in chunks(sorted(set(invoice_ids))):
        found.update((i.invoice_id, i) for i in session.execute(
            select(Invoice).where(Invoice.invoice_id.in_(chunk))).scalars())
    return found


def group_by(items: Iterable[Any], key) -> dict[Any, list[Any]]:
    groups: dict[Any, list[Any]] = defaultdict(list)
    for item in items:
        groups[key(item)].append(item)
    return groups

