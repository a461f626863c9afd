"""Object-level authorization: an agent's key walks EVERY operation of the OpenAPI document
against a customer outside its portfolio, and learns nothing of it (404 or 403; lists filtered);
nothing of that customer is changed."""
from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from sqlmodel import Session, select

from ledger.tables import CustomerNote, Dispute, DisputeComment, DunningAction, Promise, Reminder
from tests.conftest import give_portfolio

API = "/api/v1"
TODAY = dt.date(2025, 6, 30)
OUT = "ZZOUT"  # every id of the other customer starts with it
SECRETS = ("Secret Corp", "4321.09", "secret@out.example", "Rappeler le DAF")
LEDGER = {
    "customers": [{"customer_id": "MINE", "name": "Mine SARL"},
                  {"customer_id": OUT, "name": "Secret Corp", "email": "secret@out.example"}],
    "invoices": [
        {"invoice_id": "MINE-1", "customer_id": "MINE", "issue_date": "2025-04-01",
         "due_date": "2025-05-01", "amount": "100.00"},
        {"invoice_id": f"{OUT}-I1", "customer_id": OUT, "issue_date": "2025-03-01",
         "due_date": "2025-04-01", "amount": "4321.09"},
        {"invoice_id": f"{OUT}-I2", "customer_id": OUT, "issue_date": "2025-03-02",
         "due_date": "2025-04-02", "amount": "50.00"},
    ],
    "payments": [{"payment_id": f"{OUT}-P1", "customer_id": OUT, "paid_on": "2025-04-15",
                  "amount": "10.00", "invoice_id": f"{OUT}-I2"}],
}


@pytest.fixture
def world(client, keys, app, db):
    """MINE belongs to test-agent, ZZOUT to someone else, with a dispute, a promise, a note, a
    call, a planned reminder: everything an agent could reach."""
    app.state.today = TODAY
    assert client.post(f"{API}/ingest", json=LEDGER, headers=keys["billing"]).status_code == 200
    give_portfolio(db, ["MINE"])
    give_portfolio(db, [OUT], agent="other-agent")
    admin = keys["admin"]
    assert client.post(f"{API}/disputes", json={"dispute_id": f"{OUT}-D1", "reason": "price",
                                                "invoices": [{"invoice_id": f"{OUT}-I1"}]},
                       headers=admin).status_code == 201
    assert client.post(f"{API}/promises", json={"promise_id": f"{OUT}-PR1", "customer_id": OUT,
                                                "amount": "50.00", "promised_date": "2025-07-10",
                                                "invoice_ids": [f"{OUT}-I2"]},
                       headers=admin).status_code == 201
    assert client.post(f"{API}/customers/{OUT}/notes", json={"body": "Rappeler le DAF"},
                       headers=admin).status_code == 201
    assert client.post(f"{API}/calls", json={"customer_id": OUT, "outcome": "no_answer"},
                       headers=admin).status_code == 201
    with Session(db) as session:
        session.add(Reminder(reminder_id=f"{OUT}-R1", customer_id=OUT, run_date=TODAY, send_on=TODAY,
                             channel="email", tone="neutral"))
        session.flush()
        action = DunningAction(customer_id=OUT, invoice_id=f"{OUT}-I2", reminder_id=f"{OUT}-R1",
                               run_date=TODAY, step="first_reminder", action="email", channel="email",
                               tone="neutral", send_on=TODAY, state="planned")
        session.add(action)
        session.commit()
        action_id = action.id
    return {"customer_id": OUT, "invoice_id": f"{OUT}-I1", "dispute_id": f"{OUT}-D1",
            "promise_id": f"{OUT}-PR1", "action_id": str(action_id), "reminder_id": f"{OUT}-R1",
            "name": "standard", "subscriber_id": "1", "prefix": "deadbeef", "evaluation_id": "1"}


BODIES = {
    ("post", "/api/v1/disputes"): {"invoices": [{"invoice_id": f"{OUT}-I1"}], "reason": "other"},
    ("post", "/api/v1/promises"): {"customer_id": OUT, "amount": "5.00", "promised_date": "2025-07-05",
                                   "invoice_ids": [f"{OUT}-I1"]},
    ("post", "/api/v1/calls"): {"customer_id": OUT, "invoice_id": f"{OUT}-I1", "outcome": "no_answer"},
    ("post", "/api/v1/predictions"): {"invoice_ids": [f"{OUT}-I1"]},
    ("post", "/api/v1/customers/{customer_id}/notes"): {"body": "intrusion"},
    ("post", "/api/v1/disputes/{dispute_id}/comments"): {"body": "intrusion"},
    ("patch", "/api/v1/disputes/{dispute_id}"): {"status": "withdrawn"},
    ("patch", "/api/v1/promises/{promise_id}"): {"status": "cancelled"},
    ("post", "/api/v1/worklist/assignments"): {"agent": "test-agent", "customer_ids": [OUT]},
}


def _operations(app):
    for path, methods in app.openapi()["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


def _call(client, headers, path, method, operation, ids):
    url = re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], path)
    query = {p["name"]: ids[p["name"]] for p in operation.get("parameters", [])
             if p["in"] == "query" and p["name"] in ("customer_id", "invoice_id")}
    body = BODIES.get((method, path), {} if method in ("post", "put", "patch") else None)
    kwargs = {"params": query, "headers": headers}
    if body is not None:
        kwargs["json"] = body
    response = client.request(method.upper(), url, **kwargs)
    sent = url + json.dumps(query) + json.dumps(body)
    return response, sent


def test_an_agent_learns_nothing_outside_its_portfolio(app, client, keys, world, db):
    walked = []
    for path, method, operation in _operations(app):
        response, sent = _call(client, keys["agent"], path, method, operation, world)
        walked.append((method, path))
        text = response.text
        assert response.status_code < 500, (method, path, text)
        # no value of the other customer that the request did not itself carry
        echoed = set(re.findall(rf"{OUT}[\w-]*", text)) - set(re.findall(rf"{OUT}[\w-]*", sent))
        assert not echoed, (method, path, response.status_code, echoed)
        assert not [s for s in SECRETS if s in text], (method, path, text[:300])
        if OUT in sent:
            # any operation naming the other customer's records: as if they did not exist
            assert response.status_code in (403, 404), (method, path, response.status_code, text[:300])
    assert len(walked) == sum(1 for _ in _operations(app)) > 40
    with Session(db) as session:  # and nothing of theirs changed
        assert session.get(Dispute, f"{OUT}-D1").status == "open"
        assert session.get(Promise, f"{OUT}-PR1").status == "open"
        assert session.exec(select(DunningAction.state).where(DunningAction.reminder_id == f"{OUT}-R1")).all() == ["planned"]
        assert [n.body for n in session.exec(select(CustomerNote)).all()] == ["Rappeler le DAF"]
        assert session.exec(select(DisputeComment)).all() == []
        assert len(session.exec(select(Dispute)).all()) == 1
        assert len(session.exec(select(Promise)).all()) == 1


def test_lists_are_filtered_to_the_portfolio(client, keys, world):
    agent = keys["agent"]
    invoices = client.get(f"{API}/invoices", headers=agent).json()
    assert [i["invoice_id"] for i in invoices["items"]] == ["MINE-1"] and invoices["total"] == 1
    for path in ("/disputes", "/promises", "/dunning/actions"):
        response = client.get(f"{API}{path}", headers=agent)
        assert response.status_code == 200 and OUT not in response.text, path
    # the same lists for an analyst do show the other customer: the walk would have seen a leak
    assert OUT in client.get(f"{API}/disputes", headers=keys["analyst"]).text
    assert client.get(f"{API}/invoices", headers=keys["analyst"]).json()["total"] == 3


def test_the_owner_agent_reaches_what_the_other_cannot(client, keys, world, db):
    from serving.auth import create_key

    with Session(db) as session:
        key = create_key(session=session, role="agent", name="other-agent")
        session.commit()
    owner = {"Authorization": f"Bearer {key}"}
    customer = client.get(f"{API}/customers/{OUT}", headers=owner)
    assert customer.status_code == 200 and customer.json()["name"] == "Secret Corp"
    assert client.get(f"{API}/reminders/{OUT}-R1", headers=owner).status_code == 200
    assert client.get(f"{API}/customers/{OUT}", headers=keys["agent"]).status_code == 404
    me = client.get(f"{API}/me", headers=owner).json()
    assert me == {"key": key.split("_")[1], "name": "other-agent", "role": "agent",
                  "portfolio": "assigned", "portfolio_customers": 1, "expires_at": None}
    analyst = client.get(f"{API}/me", headers=keys["analyst"]).json()
    assert analyst["portfolio"] == "all" and analyst["portfolio_customers"] is None


@pytest.mark.parametrize("report", ["kpis", "aging", "dso", "dunning-effectiveness", "disputes",
                                    "cash-forecast"])
def test_reports_are_for_analysts_and_admins(client, keys, world, report):
    for role, status in (("agent", 403), ("billing", 403), ("analyst", 200), ("admin", 200)):
        assert client.get(f"{API}/reports/{report}", headers=keys[role]).status_code == status, role
