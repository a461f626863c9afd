"""The run's `action.planned` events are written by the database from the inserted actions: one
per action, naming it, with the payload the webhooks document (invoice, customer, step, channel,
tone, send date, reminder), a timestamp, and none for actions a second run does not insert."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlmodel import Session

from ledger.tables import DunningAction, Event
from serving.dunning import run_dunning
from tests.dunning.ledger_fixture import RUN_DATE, build_ledger


def test_each_inserted_action_has_its_planned_event(session: Session):
    build_ledger(session)
    run_dunning(session=session, run_date=RUN_DATE, dry_run=False, actor="test", today=RUN_DATE)
    session.commit()
    actions = {str(a.id): a for a in session.execute(
        select(DunningAction).where(DunningAction.run_date == RUN_DATE)).scalars()}
    events = session.execute(select(Event).where(Event.type == "action.planned")).scalars().all()
    assert len(actions) == 4 and sorted(e.entity_id for e in events) == sorted(actions)
    for event in events:
        action = actions[event.entity_id]
        assert event.payload == {
            "invoice_id": action.invoice_id, "customer_id": action.customer_id, "step": action.step,
            "channel": action.channel, "tone": action.tone, "send_on": action.send_on.isoformat(),
            "reminder_id": action.reminder_id}
        assert isinstance(event.created_at, dt.datetime)
    # the same day again inserts no action, hence no event
    run_dunning(session=session, run_date=RUN_DATE, dry_run=False, actor="test", today=RUN_DATE)
    session.commit()
    assert len(session.execute(select(Event).where(Event.type == "action.planned")).all()) == 4
