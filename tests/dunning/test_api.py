"""Dunning API: scenarios and templates per role and validation, runs, actions, reminders."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlmodel import Session

from ledger.tables import DunningAction
from tests.conftest import give_portfolio
from tests.dunning.ledger_fixture import RUN_DATE, build_ledger

TODAY = dt.date.today()


@pytest.fixture
def ledger(db):
    with Session(db) as session:
        build_ledger(session)
    give_portfolio(db)  # keys["agent"] reads its own customers' actions


@pytest.mark.parametrize("role, status", [("analyst", 200), ("admin", 200), ("agent", 403),
                                          ("billing", 403)])
def test_scenarios_are_for_analysts(client, keys, role, status):
    response = client.get("/api/v1/dunning/scenarios", headers=keys[role])
    assert response.status_code == status
    if status == 200:
        assert {s["name"] for s in response.json()} >= {"standard", "gentle", "strict"}


def _standard(client, keys) -> dict:
    return client.get("/api/v1/dunning/scenarios/standard", headers=keys["analyst"]).json()["scenario"]


def test_put_scenario_is_stored_and_validated(client, keys):
    body = _standard(client, keys)
    body["min_amount"] = "25.00"
    assert client.put("/api/v1/dunning/scenarios/standard", json=body,
                      headers=keys["agent"]).status_code == 403
    response = client.put("/api/v1/dunning/scenarios/standard", json=body, headers=keys["analyst"])
    assert response.status_code == 200
    stored = client.get("/api/v1/dunning/scenarios/standard", headers=keys["analyst"]).json()
    assert stored["source"] == "edited" and stored["scenario"]["min_amount"] == "25.00"

    out_of_order = {**body, "steps": list(reversed(body["steps"]))}
    response = client.put("/api/v1/dunning/scenarios/standard", json=out_of_order, headers=keys["analyst"])
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "steps"
    assert "ordered" in response.json()["errors"][0]["message"]

    bad_channel = {**body, "steps": [{**body["steps"][0], "channel": "pigeon"}, *body["steps"][1:]]}
    response = client.put("/api/v1/dunning/scenarios/standard", json=bad_channel, headers=keys["analyst"])
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "steps[0].channel"

    bad_template = {**body, "steps": [{**body["steps"][0], "template": "nope"}, *body["steps"][1:]]}
    response = client.put("/api/v1/dunning/scenarios/standard", json=bad_template, headers=keys["analyst"])
    assert response.status_code == 422 and "template" in response.text

    renamed = {**body, "name": "other"}
    response = client.put("/api/v1/dunning/scenarios/standard", json=renamed, headers=keys["analyst"])
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "name"


def test_an_edited_scenario_drives_the_run(client, keys, ledger):
    body = _standard(client, keys)
    for step in body["steps"]:
        if step["name"] == "first_reminder":
            step["offset_days"] = 8  # I2 is 5 days late: not yet
    assert client.put("/api/v1/dunning/scenarios/standard", json=body,
                      headers=keys["analyst"]).status_code == 200
    plan = client.post("/api/v1/dunning/runs", json={"date": str(RUN_DATE), "dry_run": True},
                       headers=keys["analyst"]).json()
    planned = {a["invoice_id"] for a in plan["actions"]}
    assert "I2" not in planned and "I1" in planned


def test_runs_dry_then_real_and_far_future(client, keys, db):
    with Session(db) as session:
        build_ledger(session)
    give_portfolio(db)  # keys["agent"] reads its own customers' actions
    # the fixture ledger is dated RUN_DATE (2024): a run on that date is in the past, allowed
    dry = client.post("/api/v1/dunning/runs", json={"date": str(RUN_DATE), "dry_run": True},
                      headers=keys["analyst"])
    assert dry.status_code == 200 and dry.json()["created"] == 0 and dry.json()["planned"] == 4
    real = client.post("/api/v1/dunning/runs", json={"date": str(RUN_DATE)}, headers=keys["analyst"])
    assert real.json()["created"] == 4
    assert ({(a["invoice_id"], a["step"]) for a in dry.json()["actions"]}
            == {(a["invoice_id"], a["step"]) for a in real.json()["actions"]})
    far = client.post("/api/v1/dunning/runs", json={"date": str(TODAY + dt.timedelta(days=60))},
                      headers=keys["analyst"])
    assert far.status_code == 422 and far.json()["errors"][0]["field"] == "date"
    assert client.post("/api/v1/dunning/runs", json={}, headers=keys["billing"]).status_code == 403
    assert client.post("/api/v1/dunning/runs", json={}, headers=keys["agent"]).status_code == 403


def test_actions_list_cancel_and_reminder(client, keys, ledger):
    client.post("/api/v1/dunning/runs", json={"date": str(RUN_DATE)}, headers=keys["analyst"])
    page = client.get("/api/v1/dunning/actions", params={"state": "planned", "channel": "email"},
                      headers=keys["agent"]).json()
    assert page["total"] == 3
    c1 = client.get("/api/v1/dunning/actions", params={"customer_id": "C1", "date": str(RUN_DATE)},
                    headers=keys["agent"]).json()["items"]
    assert {a["invoice_id"] for a in c1} == {"I1", "I2"}
    assert client.get("/api/v1/dunning/actions", headers=keys["billing"]).status_code == 403

    reminder = client.get(f"/api/v1/reminders/{c1[0]['reminder_id']}", headers=keys["agent"]).json()
    assert "I1" in reminder["body_text"] and "I2" in reminder["body_text"]
    assert reminder["pdf"] is None
    assert client.get(f"/api/v1/reminders/{c1[0]['reminder_id']}?format=pdf",
                      headers=keys["agent"]).status_code == 422
    assert client.get("/api/v1/reminders/nope", headers=keys["agent"]).status_code == 404

    action_id = c1[0]["id"]
    cancelled = client.post(f"/api/v1/dunning/actions/{action_id}/cancel", json={"reason": "paid by phone"},
                            headers=keys["agent"])
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    again = client.post(f"/api/v1/dunning/actions/{action_id}/cancel", headers=keys["agent"])
    assert again.status_code == 409
    assert client.post("/api/v1/dunning/actions/999999/cancel", headers=keys["agent"]).status_code == 404


def test_letter_reminder_has_a_pdf(client, keys, db):
    with Session(db) as session:
        build_ledger(session)
        # I4 (42 days late): first reminder and call done → the firm letter is next
        for step, channel, day in (("first_reminder", "email", 10), ("call", "call", 20)):
            session.add(DunningAction(customer_id="C2", invoice_id="I4", step=step, action=channel,
                                      channel=channel, send_on=dt.date(2024, 5, day), state="sent"))
        session.commit()
    give_portfolio(db)  # keys["agent"] reads its own customers' actions
    run = client.post("/api/v1/dunning/runs", json={"date": str(RUN_DATE)}, headers=keys["analyst"]).json()
    letter = next(a for a in run["actions"] if a["invoice_id"] == "I4")
    assert letter["channel"] == "letter"
    pdf = client.get(f"/api/v1/reminders/{letter['reminder_id']}", headers={
        **keys["agent"], "Accept": "application/pdf"})
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")


def test_templates_edit_is_validated_and_used(client, keys, ledger):
    listing = client.get("/api/v1/dunning/templates", headers=keys["analyst"]).json()
    assert any(t["name"] == "email_neutral.fr.j2" for t in listing)
    assert client.get("/api/v1/dunning/templates", headers=keys["agent"]).status_code == 403
    broken = client.put("/api/v1/dunning/templates/email_neutral.fr.j2",
                        json={"source": "{% block subject %}oops"}, headers=keys["analyst"])
    assert broken.status_code == 422 and broken.json()["errors"][0]["field"] == "source"
    source = client.get("/api/v1/dunning/templates/email_neutral.fr.j2",
                        headers=keys["analyst"]).json()["source"]
    edited = source.replace("Sauf erreur de notre part", "MARQUEUR-ANALYSTE Sauf erreur de notre part")
    assert client.put("/api/v1/dunning/templates/email_neutral.fr.j2", json={"source": edited},
                      headers=keys["analyst"]).status_code == 200
    client.post("/api/v1/dunning/runs", json={"date": str(RUN_DATE)}, headers=keys["analyst"])
    c2 = client.get("/api/v1/dunning/actions", params={"customer_id": "C1"},
                    headers=keys["agent"]).json()["items"][0]
    reminder = client.get(f"/api/v1/reminders/{c2['reminder_id']}", headers=keys["agent"]).json()
    assert "MARQUEUR-ANALYSTE" in reminder["body_text"]


def test_the_run_date_bound_follows_the_requests_today_not_the_clock(client, keys, db):
    """A pinned date (demos, replays) is today for every route: a run 5 days after it is fine,
    20 days after it is too far ahead, although both dates are years before the real clock."""
    with Session(db) as session:
        build_ledger(session)
    client.app.state.today = RUN_DATE
    try:
        near = client.post("/api/v1/dunning/runs", headers=keys["analyst"],
                           json={"date": str(RUN_DATE + dt.timedelta(days=5)), "dry_run": True})
        far = client.post("/api/v1/dunning/runs", headers=keys["analyst"],
                          json={"date": str(RUN_DATE + dt.timedelta(days=20)), "dry_run": True})
    finally:
        client.app.state.today = None
    assert near.status_code == 200
    assert far.status_code == 422 and far.json()["errors"][0]["field"] == "date"
    assert str(RUN_DATE) in far.json()["errors"][0]["message"]
