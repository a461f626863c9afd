"""The demo's contact history: the past weeks of daily runs, each action completed the way its
channel really completes, so that today's run has reminders citing earlier contacts, calls,
letters and formal notices waiting for approval — as a ledger in use would.

Only `relance demo` calls this: a real ledger's history comes from its own runs.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy.engine import Engine
from sqlmodel import Session

from ledger import actions as dunning_actions
from ledger import reminders as dunning_reminders
from ledger.calendar import is_business_day
from ledger.tables import ActionState
from serving.dunning import RiskProvider, run_dunning

DEMO_ACTOR = "demo"
REGISTERED_NUMBER = "1A 000 000 0000 0"  # a placeholder slip number, demo only
QUEUE_DAYS = 10


def simulate_history(*, engine: Engine, first: dt.date, last: dt.date,
                     risk_for: RiskProvider | None = None) -> int:
    """Run every business day from `first` to `last` and complete what each run planned (the
    formal notices approved by "demo", but for the last week's, left waiting for a person).
    Returns the number of actions completed."""
    completed = 0
    day = first
    while day <= last:
        if is_business_day(day):
            with Session(engine, expire_on_commit=False) as session:
                run_dunning(session=session, run_date=day, dry_run=False, actor=DEMO_ACTOR,
                            risk_for=risk_for, today=day)
                session.commit()
                completed += _complete_day(session, day, last)
                session.commit()
        day += dt.timedelta(days=1)
    return completed


def _complete_day(session: Session, day: dt.date, last: dt.date) -> int:
    # the last week's formal notices stay in the approval queue, as a manager's backlog would
    if day <= last - dt.timedelta(days=QUEUE_DAYS):
        for _reminder, actions in dunning_reminders.pending_approvals(session, limit=10_000):
            dunning_actions.decide_approval(session, action_id=actions[0].id, approve=True,
                                  actor=DEMO_ACTOR, comment="démo")
    done = 0
    for reminder_id in dunning_reminders.due_reminder_ids(session, on=day, channels=(
            "email", "sms", "call", "letter", "formal_notice")):
        reminder = dunning_reminders.get_reminder(session, reminder_id)
        actions = dunning_reminders.lock_pending_actions(session, reminder_id)
        if reminder.channel == "call":
            done += dunning_actions.close_planned_calls(session, customer_id=reminder.customer_id, on=day,
                                              actor=DEMO_ACTOR)
        elif reminder.channel in ("letter", "formal_notice"):
            for action in actions:
                dunning_actions.transition(session, action=action, state=ActionState.RENDERED,
                                 actor=DEMO_ACTOR, on=day)
            session.flush()
            notice = reminder.channel == "formal_notice"
            dunning_reminders.mark_posted(session, reminder_id=reminder_id, posted_on=day, actor=DEMO_ACTOR,
                              registered_number=REGISTERED_NUMBER if notice else None)
            if notice:
                dunning_reminders.mark_delivered(session, reminder_id=reminder_id,
                                     delivered_on=min(day + dt.timedelta(days=2), last),
                                     actor=DEMO_ACTOR)
            done += len(actions)
        else:
            for action in actions:
                dunning_actions.transition(session, action=action, state=ActionState.SENT,
                                 actor=DEMO_ACTOR, on=day)
            done += len(actions)
    return done
