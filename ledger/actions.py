"""Dunning actions and their state machine, and the bulk writes of a run.

States (`ledger.tables.ActionState`): planned → sent (e-mail, SMS, call logged) | failed |
cancelled; a letter planned → rendered → posted → delivered; a formal notice or legal hand-off
pending_approval → planned (approved by a person) | cancelled (rejected). `ALLOWED` lists every
move; each change writes an audit row. Planned actions are written idempotently
(`INSERT … ON CONFLICT DO NOTHING` on UNIQUE(invoice_id, step), through `ledger.bulk`).
`cancel_pending_for_invoices` is what ingestion's side effects (`ledger.effects`) and the daily
run call when a payment or a dispute arrives after planning.
"""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import bindparam, select, text, union
from sqlmodel import Session

from ledger.bulk import (
    bound_params,
    chunks,
    driver_tuples,
    driver_value,
    on_conflict,
    python_defaults,
    write_rows,
)
from ledger.errors import (
    FieldError,
    IllegalTransitionError,
    LedgerError,
    LedgerValidationError,
    NotFoundError,
)
from ledger.pauses import disputed_invoice_queries
from ledger.tables import (
    ActionState,
    AuditLog,
    DunningAction,
    Event,
    Invoice,
    Reminder,
    record_event,
    utcnow,
)

PENDING = ActionState.PLANNED


STATES = tuple(ActionState)


# not yet out of the door: a payment or a dispute cancels these
OPEN_STATES = (ActionState.PLANNED, ActionState.PENDING_APPROVAL, ActionState.RENDERED)


# the customer was contacted: an earlier reminder a later text may cite
CONTACT_STATES = (ActionState.SENT, ActionState.POSTED, ActionState.DELIVERED)


ALLOWED: dict[str, frozenset[str]] = {
    ActionState.PLANNED: frozenset({ActionState.PLANNED, ActionState.SENT, ActionState.RENDERED,
                                    ActionState.FAILED, ActionState.CANCELLED}),
    ActionState.PENDING_APPROVAL: frozenset({ActionState.PLANNED, ActionState.CANCELLED}),
    ActionState.RENDERED: frozenset({ActionState.POSTED, ActionState.CANCELLED}),
    ActionState.POSTED: frozenset({ActionState.DELIVERED, ActionState.FAILED}),
    ActionState.SENT: frozenset(), ActionState.DELIVERED: frozenset(),
    ActionState.FAILED: frozenset(), ActionState.CANCELLED: frozenset(),
}


def insert_actions(session: Session, rows: list[dict[str, Any]]) -> list[tuple[int, str, str, str]]:
    """Insert planned actions; rows whose (invoice_id, step) exists already are skipped by the
    database itself. Returns (id, invoice_id, step, reminder_id) of the rows actually inserted."""
    return _insert(session, DunningAction.__table__, rows,  # type: ignore[attr-defined]
                   conflict=on_conflict(("invoice_id", "step")),
                   returning=("id", "invoice_id", "step", "reminder_id"))


# the columns of a run's planned actions, in the order `insert_action_values` takes them
ACTION_COLUMNS = ("customer_id", "invoice_id", "reminder_id", "run_date", "scenario", "step",
                  "action", "channel", "tone", "template", "send_on", "state", "attempts",
                  "created_by", "reasons", "created_at", "updated_at", "propensity", "policy_id")


def insert_action_values(session: Session, values: list[tuple[Any, ...]]) -> list[tuple[int, str, str]]:
    """`insert_actions` for a run's hundreds of thousands of rows: plain tuples in
    `ACTION_COLUMNS` order (dates and datetimes as Python values, `reasons` already JSON text as
    the column's own serialiser writes it), sent to the driver without a per-value bind step.
    The unique key still decides in the database which rows are new. Returns (id, invoice_id,
    step) of the rows inserted, in the given order."""
    connection = session.connection()
    params = driver_tuples(values, sqlite=connection.dialect.name == "sqlite")
    return write_rows(connection, "dunningaction", ACTION_COLUMNS, params,
                      conflict=on_conflict(("invoice_id", "step")), returning=("id", "invoice_id", "step"))


def insert_event_values(session: Session, values: list[tuple[str, str, str]]) -> None:
    """Events given as (type, entity_id, payload as JSON text), stamped now: a run's bulk
    `record_event` without building and binding one dict per event."""
    if not values:
        return
    connection = session.connection()
    now = driver_value(utcnow(), connection.dialect.name == "sqlite")
    write_rows(connection, "event", ("type", "entity_id", "payload", "created_at"),
               [(*value, now) for value in values])


def insert_reminders(session: Session, rows: list[dict[str, Any]]) -> None:
    _insert(session, Reminder.__table__, rows, conflict=on_conflict(("reminder_id",)))  # type: ignore[attr-defined]


def insert_planned_events(session: Session, action_ids: list[int]) -> None:
    """An `action.planned` event for each action of `action_ids`, written by the database from
    the action rows themselves (one `INSERT … SELECT`): a run plans hundreds of
    thousands, and building and binding each payload in Python cost more than the actions."""
    if not action_ids:
        return
    postgres = session.get_bind().dialect.name == "postgresql"
    build, send_on = ("json_build_object", "to_char(send_on, 'YYYY-MM-DD')") if postgres \
        else ("json_object", "send_on")
    payload = (f"{build}('invoice_id', invoice_id, 'customer_id', customer_id, 'step', step, "
               f"'channel', channel, 'tone', tone, 'send_on', {send_on}, 'reminder_id', reminder_id)")
    now = bindparam("now", utcnow(), type_=Event.__table__.c.created_at.type)  # type: ignore[attr-defined]
    # ordered by the action's id as a number (a bare `id` would name the text column selected)
    insert = ("INSERT INTO event (type, entity_id, payload, created_at) "
              f"SELECT 'action.planned', CAST(id AS VARCHAR(200)), {payload}, :now FROM dunningaction ")
    if postgres:  # one statement, the ids as one array
        session.execute(text(insert + "WHERE id = ANY(:ids) ORDER BY dunningaction.id").bindparams(now), {"ids": sorted(action_ids)})
        return
    # SQLite: one statement too, the ids as one JSON array read by `json_each` (binding 5,000
    # named parameters a statement cost more than the inserts)
    session.execute(text(insert + "WHERE id IN (SELECT value FROM json_each(:ids)) "
                         "ORDER BY dunningaction.id").bindparams(now),
                    {"ids": json.dumps(sorted(action_ids))})


def _insert(session: Session, table, rows: list[dict[str, Any]], *, conflict: str | None = None,
            returning: tuple[str, ...] = ()) -> list[tuple]:
    """A run's rows through `ledger.bulk`, bound as SQLAlchemy binds their column types (JSON
    reasons, dates), with the Python-side defaults (state, attempts, created_at…) filled in."""
    if not rows:
        return []
    columns = list(rows[0])
    defaults = python_defaults(table, tuple(columns))
    columns += list(defaults)
    connection = session.connection()
    params = bound_params(table, rows, columns, connection.dialect, defaults)
    return write_rows(connection, table.name, columns, params, conflict=conflict, returning=returning)


def _snapshot(action: DunningAction) -> dict[str, Any]:
    return {"state": action.state, "attempts": action.attempts, "last_error": action.last_error}


def transition(session: Session, *, action: DunningAction, state: str, actor: str,
               error: str | None = None, attempted: bool = False, note: str | None = None,
               on: dt.date | None = None) -> None:
    """Move one action to `state` (or record a failed attempt), with an audit row.

    `on`: the day the step closed (sent, posted, delivered, failed, cancelled), default today;
    the next step's delay runs from it."""
    if state not in STATES:
        raise LedgerError(f"unknown action state {state!r}; expected one of {', '.join(STATES)}")
    if state != action.state and state not in ALLOWED[action.state]:
        raise IllegalTransitionError(
            f"action {action.id} is {action.state}: it cannot become {state}")
    before = _snapshot(action)
    action.state = state
    if attempted:
        action.attempts += 1
    if error is not None:
        action.last_error = error[:1000]
    if state == ActionState.SENT:
        action.sent_at = utcnow()
    if state in (ActionState.SENT, ActionState.POSTED, ActionState.DELIVERED,
                 ActionState.FAILED, ActionState.CANCELLED):
        action.closed_on = on or utcnow().date()
    action.updated_at = utcnow()
    session.add(action)
    after = _snapshot(action) | ({"note": note} if note else {})
    session.add(AuditLog(actor=actor, action=f"action.{state}" if before["state"] != state
                         else "action.attempt", entity="dunning_action", entity_id=str(action.id),
                         before=before, after=after))


def cancel_pending_for_invoices(session: Session, invoice_ids: Iterable[str], reason: str,
                                actor: str) -> int:
    """Cancel the actions of these invoices not yet out of the door (planned, awaiting approval,
    rendered but not posted): a payment or a dispute arrived after planning. Sent, posted,
    failed and cancelled ones are history and stay. Returns how many."""
    ids = sorted(set(invoice_ids))
    cancelled = 0
    for chunk in chunks(ids):
        actions = session.execute(
            select(DunningAction).where(DunningAction.invoice_id.in_(chunk),
                                        DunningAction.state.in_(OPEN_STATES))
            .with_for_update()
        ).scalars().all()
        for action in actions:
            transition(session, action=action, state="cancelled", actor=actor, note=reason)
            record_event(session, type="action.cancelled", entity_id=str(action.id),
                         payload={"invoice_id": action.invoice_id, "step": action.step,
                                  "reason": reason})
            cancelled += 1
    return cancelled


def invoices_no_longer_chased(session: Session) -> list[str]:
    """Invoices with open actions that are now settled or under an open dispute."""
    settled = select(DunningAction.invoice_id).join(
        Invoice, Invoice.invoice_id == DunningAction.invoice_id
    ).where(DunningAction.state.in_(OPEN_STATES), Invoice.settled_on.is_not(None))
    direct, linked = disputed_invoice_queries()
    disputed = select(DunningAction.invoice_id).where(
        DunningAction.state.in_(OPEN_STATES),
        DunningAction.invoice_id.in_(union(direct, linked).scalar_subquery()))
    return sorted(set(session.execute(settled.union(disputed)).scalars()))


def _locked_action(session: Session, action_id: int) -> DunningAction:
    action = session.execute(
        select(DunningAction).where(DunningAction.id == action_id).with_for_update()
    ).scalar_one_or_none()
    if action is None:
        raise NotFoundError("action", str(action_id))
    return action


def cancel_action(session: Session, *, action_id: int, actor: str, reason: str) -> DunningAction:
    action = _locked_action(session, action_id)
    if action.state not in OPEN_STATES:
        raise IllegalTransitionError(
            f"action {action_id} is {action.state}: only a planned, pending or rendered (not yet "
            "posted) action can be cancelled")
    transition(session, action=action, state="cancelled", actor=actor, note=reason)
    record_event(session, type="action.cancelled", entity_id=str(action.id),
                 payload={"invoice_id": action.invoice_id, "step": action.step, "reason": reason})
    return action


def decide_approval(session: Session, *, action_id: int, approve: bool, actor: str,
                    comment: str | None) -> list[DunningAction]:
    """Approve (→ planned, the outbox sends it) or reject (→ cancelled) a formal notice or legal
    hand-off awaiting approval, with every other action of the same reminder: a person decides
    on the letter as a whole. Audited with the comment."""
    if comment is not None and len(comment) > 1000:
        raise LedgerValidationError([FieldError("comment", "at most 1000 characters")])
    action = _locked_action(session, action_id)
    if action.state != ActionState.PENDING_APPROVAL:
        raise IllegalTransitionError(
            f"action {action_id} is {action.state}: only an action pending approval can be "
            f"{'approved' if approve else 'rejected'}")
    group = [action]
    if action.reminder_id is not None:
        group = list(session.execute(
            select(DunningAction).where(DunningAction.reminder_id == action.reminder_id,
                                        DunningAction.state == ActionState.PENDING_APPROVAL)
            .order_by(DunningAction.id).with_for_update()).scalars())
    target = ActionState.PLANNED if approve else ActionState.CANCELLED
    note = f"{'approved' if approve else 'rejected'}" + (f": {comment}" if comment else "")
    for member in group:
        transition(session, action=member, state=target, actor=actor, note=note)
        if approve:
            member.approved_by, member.approved_at = actor, utcnow()
        record_event(session, type="action.approved" if approve else "action.rejected",
                     entity_id=str(member.id), payload={
                         "invoice_id": member.invoice_id, "reminder_id": member.reminder_id,
                         "channel": member.channel, "comment": comment})
    return group


def close_planned_calls(session: Session, *, customer_id: str, on: dt.date, actor: str) -> int:
    """An agent logged a call with this customer: the call tasks due by then are done (the
    consolidated call lists every invoice, so one call closes them all). Returns how many."""
    actions = session.execute(
        select(DunningAction).where(DunningAction.customer_id == customer_id,
                                    DunningAction.channel == "call",
                                    DunningAction.state == ActionState.PLANNED,
                                    DunningAction.send_on <= on)
        .order_by(DunningAction.id).with_for_update()
    ).scalars().all()
    for action in actions:
        transition(session, action=action, state=ActionState.SENT, actor=actor, on=on,
                   note="call logged", attempted=True)
        record_event(session, type="action.sent", entity_id=str(action.id), payload={
            "invoice_id": action.invoice_id, "customer_id": customer_id,
            "reminder_id": action.reminder_id, "channel": "call", "step": action.step})
    return len(actions)

