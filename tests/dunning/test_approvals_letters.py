"""Formal notices wait for a person's approval; letters are rendered, posted, then delivered.

Ledger: tests/dunning/ledger_fixture.py. I4 (customer C2, 5 000 €, due 42 days before RUN_DATE)
has had its first reminder e-mailed (10 May), a call logged (20 May) and the firm letter posted
(28 May 2024): the formal notice (D+30) is next, 10 days after the letter (7 June) ≤ RUN_DATE.
"""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, update
from sqlmodel import Session

from ledger.tables import AuditLog, Customer, DunningAction
from tests.dunning.ledger_fixture import RUN_DATE, build_ledger

API = "/api/v1"


@pytest.fixture
def notice_ledger(db):
    with Session(db) as session:
        build_ledger(session)
        for step, channel, day in (("first_reminder", "email", 10), ("call", "call", 20),
                                   ("firm_letter", "letter", 28)):
            session.add(DunningAction(
                customer_id="C2", invoice_id="I4", step=step, action=channel, channel=channel,
                send_on=dt.date(2024, 5, day), closed_on=dt.date(2024, 5, day),
                state="posted" if channel == "letter" else "sent"))
        session.execute(update(Customer).values(assigned_agent="test-agent"))
        session.commit()


def _notice(client, keys) -> dict:
    run = client.post(f"{API}/dunning/runs", json={"date": str(RUN_DATE)}, headers=keys["analyst"])
    assert run.status_code == 200
    return next(a for a in run.json()["actions"] if a["invoice_id"] == "I4")


def test_a_formal_notice_waits_for_approval_then_is_rendered_posted_and_delivered(
        client, keys, notice_ledger, db):
    notice = _notice(client, keys)
    assert (notice["channel"], notice["state"]) == ("formal_notice", "pending_approval")
    queue = client.get(f"{API}/dunning/approvals", headers=keys["analyst"]).json()
    assert [(r["reminder_id"], [i["invoice_id"] for i in r["invoices"]]) for r in queue] == [
        (notice["reminder_id"], ["I4"])]
    assert client.get(f"{API}/dunning/approvals", headers=keys["agent"]).status_code == 403

    # the outbox leaves it alone until a person approved it
    client.post(f"{API}/dunning/outbox", json={"date": str(RUN_DATE)}, headers=keys["analyst"])
    with Session(db) as session:
        action = session.execute(select(DunningAction).where(
            DunningAction.reminder_id == notice["reminder_id"])).scalar_one()
        assert action.state == "pending_approval"
    action_id = action.id
    assert client.post(f"{API}/dunning/actions/{action_id}/approve",
                       headers=keys["agent"]).status_code == 403
    approved = client.post(f"{API}/dunning/actions/{action_id}/approve",
                           json={"comment": "montant vérifié avec le commercial"},
                           headers=keys["analyst"])
    assert approved.status_code == 200
    assert approved.json()[0]["state"] == "planned" and approved.json()[0]["approved_by"] == "analyst:test-analyst"
    again = client.post(f"{API}/dunning/actions/{action_id}/approve", headers=keys["analyst"])
    assert again.status_code == 409

    # approved → the outbox renders it for printing; it is not "sent"
    sent = client.post(f"{API}/dunning/outbox", json={"date": str(RUN_DATE)}, headers=keys["analyst"])
    assert sent.json()["rendered"] == 1
    listing = client.get(f"{API}/reminders", params={"channel": "formal_notice"},
                         headers=keys["agent"]).json()["items"]
    assert [r["state"] for r in listing] == ["rendered"]
    pdf = client.get(f"{API}/letters.pdf", params={"date": str(RUN_DATE)}, headers=keys["agent"])
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert client.get(f"{API}/letters.pdf", params={"date": "2024-06-13"},
                      headers=keys["agent"]).status_code == 404

    url = f"{API}/reminders/{notice['reminder_id']}"
    no_number = client.post(f"{url}/posted", json={"posted_on": "2024-06-13"}, headers=keys["agent"])
    assert no_number.status_code == 422
    assert no_number.json()["errors"][0]["field"] == "registered_number"
    future = client.post(f"{url}/posted", json={"posted_on": "2999-01-01", "registered_number": "1A 123"},
                         headers=keys["agent"])
    assert future.status_code == 422 and future.json()["errors"][0]["field"] == "posted_on"
    posted = client.post(f"{url}/posted", json={"posted_on": "2024-06-13",
                                                "registered_number": "1A 123 456 7890 1"},
                         headers=keys["agent"])
    assert posted.status_code == 200
    body = posted.json()
    assert body["state"] == "posted" and body["registered_number"] == "1A 123 456 7890 1"
    # receipt presumed 3 days after posting, then the 8 days of the notice
    assert body["notice_deadline"] == "2024-06-24"
    early = client.post(f"{url}/delivered", json={"delivered_on": "2024-06-12"}, headers=keys["agent"])
    assert early.status_code == 422 and early.json()["errors"][0]["field"] == "delivered_on"
    delivered = client.post(f"{url}/delivered", json={"delivered_on": "2024-06-17"},
                            headers=keys["agent"]).json()
    assert delivered["state"] == "delivered" and delivered["notice_deadline"] == "2024-06-25"
    with Session(db) as session:
        audit = [a.action for a in session.execute(select(AuditLog).where(
            AuditLog.entity_id == str(action_id)).order_by(AuditLog.id)).scalars()]
        assert audit == ["action.planned", "action.rendered", "action.posted", "action.delivered"]
        approval = session.execute(select(AuditLog).where(
            AuditLog.entity_id == str(action_id), AuditLog.action == "action.planned")).scalar_one()
        assert approval.after["note"] == "approved: montant vérifié avec le commercial"
        # the legal hand-off (D+45) counts its delay from the receipt of the notice
        assert session.get(DunningAction, action_id).closed_on == dt.date(2024, 6, 17)


def test_a_rejected_notice_is_cancelled_and_never_rendered(client, keys, notice_ledger, db):
    notice = _notice(client, keys)
    with Session(db) as session:
        action_id = session.execute(select(DunningAction.id).where(
            DunningAction.reminder_id == notice["reminder_id"])).scalar_one()
    too_long = client.post(f"{API}/dunning/actions/{action_id}/reject", json={"comment": "x" * 1001},
                           headers=keys["analyst"])
    assert too_long.status_code == 422
    rejected = client.post(f"{API}/dunning/actions/{action_id}/reject",
                           json={"comment": "client en négociation"}, headers=keys["admin"])
    assert rejected.status_code == 200 and rejected.json()[0]["state"] == "cancelled"
    sent = client.post(f"{API}/dunning/outbox", json={"date": str(RUN_DATE)}, headers=keys["analyst"]).json()
    assert sent["rendered"] == 0
    assert client.get(f"{API}/dunning/approvals", headers=keys["analyst"]).json() == []


def test_a_scenario_may_opt_out_of_approval(client, keys, notice_ledger):
    body = client.get(f"{API}/dunning/scenarios/standard", headers=keys["analyst"]).json()["scenario"]
    body["approval_required"] = False
    assert client.put(f"{API}/dunning/scenarios/standard", json=body,
                      headers=keys["analyst"]).status_code == 200
    assert _notice(client, keys)["state"] == "planned"


def test_letters_are_rendered_not_sent_and_an_agent_sees_only_their_portfolio(client, keys, db):
    with Session(db) as session:
        build_ledger(session)
        for step, channel, day in (("first_reminder", "email", 10), ("call", "call", 20)):
            session.add(DunningAction(customer_id="C2", invoice_id="I4", step=step, action=channel,
                                      channel=channel, send_on=dt.date(2024, 5, day), state="sent"))
        session.commit()
    run = client.post(f"{API}/dunning/runs", json={"date": str(RUN_DATE)}, headers=keys["analyst"]).json()
    letter = next(a for a in run["actions"] if a["invoice_id"] == "I4")
    assert letter["channel"] == "letter" and letter["state"] == "planned"
    # nobody's portfolio: an agent sees nothing of it
    assert client.get(f"{API}/reminders/{letter['reminder_id']}", headers=keys["agent"]).status_code == 404
    assert client.get(f"{API}/reminders", headers=keys["agent"]).json()["total"] == 0
    assert client.get(f"{API}/reminders", headers=keys["analyst"]).json()["total"] == 3
    client.post(f"{API}/dunning/outbox", json={"date": str(RUN_DATE)}, headers=keys["analyst"])
    shown = client.get(f"{API}/reminders/{letter['reminder_id']}", headers=keys["analyst"]).json()
    assert shown["state"] == "rendered" and shown["rendered_at"] is not None
    assert "IBAN" not in shown["body_text"]  # no creditor IBAN configured in the tests
    assert "Référence à rappeler" not in shown["body_text"]  # C2 writes in English
    assert "Reference to quote with your payment: C2 / I4" in shown["body_text"]
    posted = client.post(f"{API}/reminders/{letter['reminder_id']}/posted",
                         json={"posted_on": "2024-06-13"}, headers=keys["analyst"])
    assert posted.status_code == 200 and posted.json()["notice_deadline"] is None


def test_an_approved_legal_hand_off_is_rendered_listed_and_handed_over(client, keys, db):
    """I4 (5 000 €, due 1 May 2024) went through every step up to the formal notice, received
    on 25 May: the legal hand-off (D+45, 15 June, a Saturday) is planned on Monday 17 June
    awaiting approval; approved, the outbox renders its file (debtor, claim, contact history)
    and keeps it (`rendered`, in the letters PDF and the reminders listing) until a person
    records the hand-over (`posted`)."""
    with Session(db) as session:
        build_ledger(session)
        for step, channel, day in (("first_reminder", "email", 4), ("call", "call", 11),
                                   ("firm_letter", "letter", 21), ("formal_notice", "formal_notice", 25)):
            session.add(DunningAction(
                customer_id="C2", invoice_id="I4", step=step, action=channel, channel=channel,
                send_on=dt.date(2024, 5, day), closed_on=dt.date(2024, 5, day),
                state="delivered" if channel == "formal_notice" else "posted" if channel == "letter"
                else "sent"))
        session.execute(update(Customer).values(assigned_agent="test-agent"))
        session.commit()
    day = "2024-06-17"
    run = client.post(f"{API}/dunning/runs", json={"date": day}, headers=keys["analyst"]).json()
    handoff = next(a for a in run["actions"] if a["invoice_id"] == "I4")
    assert (handoff["channel"], handoff["step"], handoff["state"]) == ("legal", "legal_handoff",
                                                                        "pending_approval")
    with Session(db) as session:
        action_id = session.execute(select(DunningAction.id).where(
            DunningAction.reminder_id == handoff["reminder_id"])).scalar_one()
    assert client.post(f"{API}/dunning/actions/{action_id}/approve", json={"comment": "ok"},
                       headers=keys["analyst"]).status_code == 200
    outbox = client.post(f"{API}/dunning/outbox", json={"date": day}, headers=keys["analyst"]).json()
    assert outbox["rendered"] == 1 and outbox["failed"] == 0
    [listed] = client.get(f"{API}/reminders", params={"channel": "legal"}, headers=keys["agent"]).json()["items"]
    assert listed["state"] == "rendered" and listed["reminder_id"] == handoff["reminder_id"]
    shown = client.get(f"{API}/reminders/{handoff['reminder_id']}", headers=keys["agent"]).json()
    text = shown["body_text"]
    assert "Debt collection file for legal action" in shown["subject"]  # C2 speaks English
    assert "5,000.00" in text and "L441-10" in text
    assert "25 May 2024 (formal notice)" in text  # the contact history cites the notice
    pdf = client.get(f"{API}/letters.pdf", params={"date": day}, headers=keys["agent"])
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    handed = client.post(f"{API}/reminders/{handoff['reminder_id']}/posted",
                         json={"posted_on": day}, headers=keys["agent"])
    assert handed.status_code == 200 and handed.json()["state"] == "posted"
