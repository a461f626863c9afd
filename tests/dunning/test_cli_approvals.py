"""`relance dunning pending | approve | reject | posted | delivered` on a real SQLite file."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from sqlmodel import Session
from typer.testing import CliRunner

from ledger.tables import AuditLog, DunningAction
from serving.cli import app
from tests.dunning.ledger_fixture import RUN_DATE, build_ledger


@pytest.fixture
def cli(monkeypatch, tmp_path):
    from ledger.config import get_settings
    from ledger.db import get_engine
    from serving.dunning import run_dunning

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("RELANCE_LANG", "fr")
    get_settings.cache_clear(), get_engine.cache_clear()
    engine = get_engine()
    with Session(engine) as session:
        build_ledger(session)
        for step, channel, day in (("first_reminder", "email", 10), ("call", "call", 20),
                                   ("firm_letter", "letter", 28)):
            session.add(DunningAction(
                customer_id="C2", invoice_id="I4", step=step, action=channel, channel=channel,
                send_on=dt.date(2024, 5, day), closed_on=dt.date(2024, 5, day),
                state="posted" if channel == "letter" else "sent"))
        session.commit()
        run_dunning(session=session, run_date=RUN_DATE, dry_run=False, actor="test", today=RUN_DATE)
        session.commit()
    yield lambda *args: CliRunner().invoke(app, list(args)), engine
    get_settings.cache_clear(), get_engine.cache_clear()


def _notice(engine) -> DunningAction:
    with Session(engine) as session:
        return session.execute(select(DunningAction).where(
            DunningAction.invoice_id == "I4", DunningAction.channel == "formal_notice")).scalar_one()


def test_pending_then_approve_then_post_and_deliver(cli):
    run, engine = cli
    notice = _notice(engine)
    listed = run("dunning", "pending")
    assert listed.exit_code == 0 and f"│ {notice.id} " in listed.output and "I4" in listed.output
    approved = run("dunning", "approve", str(notice.id), "--comment", "vu avec la direction")
    assert approved.exit_code == 0, approved.output
    assert _notice(engine).state == "planned"
    again = run("dunning", "approve", str(notice.id))
    assert again.exit_code == 2 and "pending_approval" not in _notice(engine).state
    # not rendered yet: posting is refused with a message, exit code 2
    early = run("dunning", "posted", notice.reminder_id, "--on", "2024-06-13",
                "--registered-number", "1A 123")
    assert early.exit_code == 2 and "rendered" in early.output
    with Session(engine) as session:
        from ledger import actions as dunning_actions

        action = session.get(DunningAction, notice.id)
        dunning_actions.transition(session, action=action, state="rendered", actor="test", on=RUN_DATE)
        session.commit()
    missing = run("dunning", "posted", notice.reminder_id, "--on", "2024-06-13")
    assert missing.exit_code == 2 and "registered_number" in missing.output
    posted = run("dunning", "posted", notice.reminder_id, "--on", "2024-06-13",
                 "--registered-number", "1A 123 456 7890 1")
    assert posted.exit_code == 0, posted.output
    delivered = run("dunning", "delivered", notice.reminder_id, "--on", "2024-06-15")
    assert delivered.exit_code == 0 and _notice(engine).state == "delivered"
    with Session(engine) as session:
        notes = [a.after.get("note") for a in session.execute(select(AuditLog).where(
            AuditLog.entity_id == str(notice.id)).order_by(AuditLog.id)).scalars()]
        assert "approved: vu avec la direction" in notes


def test_reject_needs_a_comment_and_cancels(cli):
    run, engine = cli
    notice = _notice(engine)
    assert run("dunning", "reject", str(notice.id)).exit_code == 2  # --comment is required
    rejected = run("dunning", "reject", str(notice.id), "--comment", "litige commercial en cours")
    assert rejected.exit_code == 0 and _notice(engine).state == "cancelled"
    assert run("dunning", "approve", "999999").exit_code == 2
