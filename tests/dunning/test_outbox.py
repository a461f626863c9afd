"""The outbox against a real SMTP server on loopback (aiosmtpd), and its failure paths."""
from __future__ import annotations

import datetime as dt
import socket

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select
from sqlmodel import Session

from ledger import reminders as dunning_reminders
from ledger.config import Settings
from ledger.tables import AuditLog, DunningAction, Event
from serving.dunning import run_dunning
from serving.outbox import NO_EMAIL, NO_SMS_PROVIDER, send_outbox
from tests.dunning.ledger_fixture import RUN_DATE, build_ledger


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Inbox:
    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802  (aiosmtpd hook name)
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp():
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield inbox, Settings(smtp_host="127.0.0.1", smtp_port=controller.port)
    controller.stop()


def _plan(db, **ledger) -> None:
    with Session(db) as session:
        build_ledger(session, **ledger)
        run_dunning(session=session, run_date=RUN_DATE, dry_run=False, actor="test", today=RUN_DATE)
        session.commit()


def _states(db) -> dict[str, DunningAction]:
    with Session(db) as session:
        return {a.invoice_id: a for a in session.execute(
            select(DunningAction).where(DunningAction.run_date == RUN_DATE)).scalars()}


def test_emails_go_out_over_smtp_one_per_reminder(db, smtp):
    inbox, settings = smtp
    _plan(db)
    report = send_outbox(engine=db, on=RUN_DATE, settings=settings)
    assert report.sent == 3 and report.failed == 0  # I1+I2 (one message), I4
    assert sorted(m.rcpt_tos[0] for m in inbox.messages) == ["c2@example.com", "compta@c1.example"]
    c1 = next(m.content.decode() for m in inbox.messages if m.rcpt_tos == ["compta@c1.example"])
    assert "I1" in c1 and "I2" in c1
    states = _states(db)
    assert {k: a.state for k, a in states.items()} == {
        "I1": "sent", "I2": "sent", "I4": "sent", "I7": "planned"}  # the call waits for an agent
    with Session(db) as session:
        reminder = dunning_reminders.get_reminder(session, states["I1"].reminder_id)
        assert reminder.body_text and "I2" in reminder.body_text and reminder.rendered_at
        assert len(session.execute(select(Event).where(Event.type == "action.sent")).all()) == 3
        assert len(session.execute(select(AuditLog).where(AuditLog.action == "action.sent")).all()) == 3
    # a second pass has nothing left to send
    assert send_outbox(engine=db, on=RUN_DATE, settings=settings).sent == 0
    assert len(inbox.messages) == 2


def test_smtp_down_retries_then_fails(db):
    settings = Settings(smtp_host="127.0.0.1", smtp_port=_free_port())  # nothing listens there
    _plan(db)
    first = send_outbox(engine=db, on=RUN_DATE, settings=settings, timeout=2)
    assert first.retrying == 3 and first.failed == 0
    assert {a.state for a in _states(db).values() if a.channel == "email"} == {"planned"}
    send_outbox(engine=db, on=RUN_DATE, settings=settings, timeout=2)
    third = send_outbox(engine=db, on=RUN_DATE, settings=settings, timeout=2)
    assert third.failed == 3
    email = _states(db)["I4"]
    assert (email.state, email.attempts) == ("failed", 3)
    assert "SMTP" in email.last_error


def test_customer_without_email_fails_at_once(db, smtp):
    _inbox, settings = smtp
    _plan(db, email_c1=None)
    send_outbox(engine=db, on=RUN_DATE, settings=settings)
    states = _states(db)
    assert states["I1"].state == "failed" and states["I1"].last_error == NO_EMAIL
    assert states["I4"].state == "sent"


def test_sms_without_provider_fails_with_a_clear_reason(db, smtp):
    _inbox, settings = smtp
    with Session(db) as session:
        build_ledger(session)
        # C5 moves to the strict scenario: 12 days late, first reminder sent → SMS step (+5)
        from ledger.tables import Customer

        customer = session.get(Customer, "C5")
        customer.dunning_scenario = "strict"
        session.add(customer)
        session.commit()
        run_dunning(session=session, run_date=RUN_DATE, dry_run=False, actor="test", today=RUN_DATE)
        session.commit()
    assert _states(db)["I7"].channel == "sms"
    send_outbox(engine=db, on=RUN_DATE, settings=settings)
    sms = _states(db)["I7"]
    assert (sms.state, sms.last_error) == ("failed", NO_SMS_PROVIDER)


@pytest.mark.parametrize("stored", ["compta@c1.example\r\nBcc: everyone@example.org",
                                    "compta@c1.example, autre@c1.example", "pas une adresse"])
def test_a_bad_stored_address_fails_its_reminder_alone(db, smtp, stored):
    """An address stored before validation (CR/LF, two addresses): that reminder fails with a
    reason a person can read, and the next one is still sent."""
    inbox, settings = smtp
    _plan(db)
    from ledger.tables import Customer

    with Session(db) as session:  # as a database from before EmailStr may hold it
        session.get(Customer, "C1").email = stored
        session.commit()
    report = send_outbox(engine=db, on=RUN_DATE, settings=settings)
    states = _states(db)
    assert (states["I1"].state, states["I2"].state, states["I4"].state) == ("failed", "failed", "sent")
    assert "is not one valid address" in states["I1"].last_error
    assert "\r" not in states["I1"].last_error and "\n" not in states["I1"].last_error
    assert [m.rcpt_tos for m in inbox.messages] == [["c2@example.com"]]
    assert report.sent == 1 and report.failed == 2


def test_an_unexpected_error_fails_one_reminder_and_the_pass_goes_on(db, smtp, monkeypatch):
    inbox, settings = smtp
    _plan(db)
    import serving.outbox as outbox

    real = outbox.render_stored_reminder

    def broken_for_c1(session, reminder, **kwargs):
        if reminder.customer_id == "C1":
            raise KeyError("a bug in a template filter")
        return real(session, reminder, **kwargs)

    monkeypatch.setattr(outbox, "render_stored_reminder", broken_for_c1)
    report = send_outbox(engine=db, on=RUN_DATE, settings=settings)
    states = _states(db)
    assert (states["I1"].state, states["I4"].state) == ("failed", "sent")
    assert states["I1"].last_error.startswith("the reminder could not be sent (KeyError)")
    assert len(inbox.messages) == 1 and report.failed == 2 and report.sent == 1


def test_ingestion_refuses_what_the_outbox_could_not_send(client, keys):
    for address in ("a@example.org\r\nBcc: b@example.org", "a@example.org, b@example.org",
                    "a@example.org\nX: y", "pas une adresse"):
        body = {"customers": [{"customer_id": "CX", "email": address}]}
        response = client.post("/api/v1/ingest", json=body, headers=keys["billing"])
        assert response.status_code == 422, address
        assert response.json()["errors"][0]["field"] == "customers[0].email"
    ok = client.post("/api/v1/ingest", json={"customers": [{"customer_id": "CX", "email": "a@example.org"}]},
                     headers=keys["billing"])
    assert ok.status_code == 200
