"""The approval queue in a real browser: a formal notice waits, an analyst approves it."""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import pytest
from sqlalchemy import select
from sqlmodel import Session

pytestmark = pytest.mark.e2e
READY = "() => window.relance && window.relance.ready === true"


@dataclass(frozen=True)
class Queue:
    url: str
    key: str
    engine: object


@pytest.fixture(scope="module")
def queue(browser_executable, tmp_path_factory):
    """A hand-built ledger (tests/dunning/ledger_fixture.py) where I4's formal notice is due."""
    from ledger.db import make_engine, migrate
    from ledger.models import DunningAction
    from serving.app import create_app
    from serving.auth import create_key
    from serving.dunning import run_dunning
    from tests.dunning.ledger_fixture import RUN_DATE, build_ledger
    from tests.server import running

    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('approvals') / 'relance.db'}")
    migrate(engine)
    with Session(engine) as session:
        build_ledger(session)
        for step, channel, day in (("first_reminder", "email", 10), ("call", "call", 20),
                                   ("firm_letter", "letter", 28)):
            session.add(DunningAction(
                customer_id="C2", invoice_id="I4", step=step, action=channel, channel=channel,
                send_on=dt.date(2024, 5, day), closed_on=dt.date(2024, 5, day),
                state="posted" if channel == "letter" else "sent"))
        session.commit()
        run_dunning(session=session, run_date=RUN_DATE, dry_run=False, actor="e2e", today=RUN_DATE)
        key = create_key(session=session, role="analyst", name="e2e-approver")
        session.commit()
    app = create_app(engine=engine)
    app.state.today = RUN_DATE
    with running(app) as url:
        yield Queue(url=url, key=key, engine=engine)
    engine.dispose()


def test_an_analyst_approves_a_formal_notice_from_the_queue(page, console, queue, artifacts):
    from ledger.models import AuditLog, DunningAction

    page.goto(queue.url + "/approvals")
    page.wait_for_url(re.compile(r"/login\?"))
    page.fill("#api-key", queue.key)
    page.click("#login-submit")
    page.wait_for_url(lambda url: "/login" not in url)
    page.wait_for_function(READY)
    assert page.evaluate("window.relance.panels")["panel-approvals"] == "ok"
    rows = page.locator("#approvals tbody tr")
    assert rows.count() == 1
    assert "I4" in rows.first.inner_text() and "mise en demeure" in rows.first.inner_text()
    page.screenshot(path=str(artifacts / "approvals-fr.png"), full_page=True)
    rows.first.locator("input.comment").fill("montant confirmé")
    rows.first.locator("button.approve").click()
    page.wait_for_selector("#approvals td.decided")
    assert "Approuver" in page.inner_text("#approvals td.decided")
    assert console.errors == []
    with Session(queue.engine) as session:
        notice = session.execute(select(DunningAction).where(
            DunningAction.invoice_id == "I4", DunningAction.channel == "formal_notice")).scalar_one()
        assert notice.state == "planned" and notice.approved_by == "analyst:e2e-approver"
        audit = session.execute(select(AuditLog).where(
            AuditLog.entity_id == str(notice.id), AuditLog.action == "action.planned")).scalar_one()
        assert audit.after["note"] == "approved: montant confirmé"
