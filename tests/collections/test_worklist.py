"""The worklist on a hand-built ledger: ranking by value at risk, filters, next action, last
contact, the model provider; role restrictions; notes, calls, assignments and the audit log."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlmodel import Session

from ledger.collections import bucket_of, grade_of
from ledger.models import DunningAction
from serving.policy import Risk
from tests.collections.conftest import API, TODAY


def ids(response):
    assert response.status_code == 200, response.text
    return [row["customer_id"] for row in response.json()]


def test_ranking_by_value_at_risk(client, keys, ledger):
    rows = client.get(f"{API}/worklist", headers=keys["analyst"]).json()
    assert [r["customer_id"] for r in rows] == ["A", "B", "C"]  # D owes nothing
    a, b, c = rows
    assert (a["value_at_risk"], b["value_at_risk"], c["value_at_risk"]) == ("1800.00", "1100.00", "500.00")
    assert (a["p_late"], b["p_late"], c["p_late"]) == (0.6, 0.2, 0.3333)
    assert (a["grade"], b["grade"], c["grade"]) == ("D", "B", "C")
    assert a["days_overdue"] == 76 and a["bucket"] == "61-90" and a["risk_source"] == "rules"
    assert b["open_amount"] == "6000.00" and b["overdue_amount"] == "5000.00"
    assert (b["open_invoices"], b["overdue_invoices"]) == (2, 1)
    assert c["bucket"] == "not_due" and c["next_action"] is None and c["last_contact"] is None
    assert [r["rank"] for r in rows] == [1, 2, 3]
    assert a["reasons"][0]["code"] == "overdue" and "76 jours" in a["reasons"][0]["text"]
    assert "2 fois sur 2" in a["reasons"][1]["text"]
    english = client.get(f"{API}/worklist?lang=en&limit=1", headers=keys["analyst"]).json()
    assert len(english) == 1 and "Paid late 2 time(s) out of 2" in english[0]["reasons"][1]["text"]


FILTERS = [
    ("segment=pme", ["A", "C"]), ("grade=B", ["B"]), ("grade=E", []), ("bucket=61-90", ["A"]),
    ("bucket=1-30", ["B"]), ("bucket=not_due", ["C"]), ("bucket=90%2B", []), ("limit=2", ["A", "B"]),
    ("segment=pme&grade=C", ["C"]),
]


def test_filters(client, keys, ledger):
    found = {query: ids(client.get(f"{API}/worklist?{query}", headers=keys["analyst"])) for query, _ in FILTERS}
    assert found == dict(FILTERS)


def test_bad_filters_are_422(client, keys, ledger):
    assert client.get(f"{API}/worklist?grade=Z", headers=keys["analyst"]).status_code == 422
    assert client.get(f"{API}/worklist?bucket=old", headers=keys["analyst"]).status_code == 422
    assert client.get(f"{API}/worklist?limit=0", headers=keys["analyst"]).status_code == 422


def test_grade_and_bucket_thresholds():
    assert [grade_of(p) for p in (0.0, 0.149, 0.15, 0.3, 0.5, 0.69, 0.7, 1.0)] == list("AABCDDEE")
    assert [bucket_of(d) for d in (-3, 0, 1, 30, 31, 60, 61, 90, 91)] == [
        "not_due", "not_due", "1-30", "1-30", "31-60", "31-60", "61-90", "61-90", "90+"]


def test_model_risk_reranks(client, keys, ledger, app):
    given = {"A3": 0.1, "B3": 0.2, "B4": 0.2, "C1": 0.99}

    def risk_for(session, invoice_ids, today):
        assert today == TODAY
        return {i: Risk(p_late=given[i], p_severe=given[i] / 2, expected_days_late=0, grade="C")
                for i in invoice_ids if i in given}

    app.state.risk_for = risk_for
    rows = client.get(f"{API}/worklist", headers=keys["analyst"]).json()
    # C: 3000·0.99·0.5 = 1485, B: 5000·0.2 + 1000·0.2·0.5 = 1100, A: 1000·0.1·3 = 300
    assert [(r["customer_id"], r["value_at_risk"]) for r in rows] == [("C", "1485.00"), ("B", "1100.00"), ("A", "300.00")]
    assert {r["risk_source"] for r in rows} == {"model"} and rows[0]["grade"] == "E"
    assert ids(client.get(f"{API}/worklist?grade=A", headers=keys["analyst"])) == ["A"]


def test_next_action_and_last_contact(client, keys, ledger, db):
    with Session(db) as session:
        session.add(DunningAction(customer_id="A", invoice_id="A3", run_date=dt.date(2025, 6, 1), step="s1",
                                  action="email", channel="email", tone="neutral", send_on=dt.date(2025, 6, 1),
                                  state="sent", sent_at=dt.datetime(2025, 6, 1, 9, tzinfo=dt.UTC)))
        session.add(DunningAction(customer_id="A", invoice_id="A3", run_date=TODAY, step="s2", action="letter",
                                  channel="letter", tone="firm", send_on=dt.date(2025, 7, 2), state="planned"))
        session.commit()
    a = client.get(f"{API}/worklist?limit=1", headers=keys["analyst"]).json()[0]
    assert a["next_action"] == {"action": "letter", "channel": "letter", "tone": "firm", "send_on": "2025-07-02",
                                "invoice_id": "A3", "step": "s2", "reminder_id": None,
                                "state": "planned", "invoices": ["A3"]}
    assert a["last_contact"]["kind"] == "reminder" and a["last_contact"]["on"] == "2025-06-01"
    call = client.post(f"{API}/calls", json={"customer_id": "A", "invoice_id": "A3", "outcome": "reached_promised",
                                             "note": "Paiement promis vendredi"}, headers=keys["agent"])
    assert call.status_code == 201 and call.json()["created_by"] == "agent:test-agent"
    a = client.get(f"{API}/worklist?limit=1", headers=keys["analyst"]).json()[0]
    assert a["last_contact"]["kind"] in ("call", "note")  # the call and its note share the moment
    notes = client.get(f"{API}/customers/A/notes", headers=keys["analyst"]).json()
    assert [n["body"] for n in notes] == ["Paiement promis vendredi"]
    bad = client.post(f"{API}/calls", json={"customer_id": "A", "outcome": "asleep"}, headers=keys["agent"])
    assert bad.status_code == 422


def test_disputes_and_promises_show_on_the_worklist(client, keys, ledger):
    client.post(f"{API}/disputes", json={"invoices": [{"invoice_id": "B3"}], "reason": "quality"}, headers=keys["agent"])
    client.post(f"{API}/promises", json={"customer_id": "A", "amount": "1000", "promised_date": "2025-07-10"},
                headers=keys["agent"])
    rows = {r["customer_id"]: r for r in client.get(f"{API}/worklist", headers=keys["analyst"]).json()}
    assert rows["B"]["open_disputes"] == 1 and rows["A"]["open_promises"] == 1
    assert "dispute" in [r["code"] for r in rows["B"]["reasons"]]
    assert "10/07/2025" in [r for r in rows["A"]["reasons"] if r["code"] == "promise"][0]["text"]


# --- roles, portfolios, audit ------------------------------------------------------------------

def test_agents_see_their_own_portfolio(client, keys, ledger, agent_key):
    assign = client.post(f"{API}/worklist/assignments", json={"agent": "bob", "customer_ids": ["A", "C"]},
                         headers=keys["analyst"])
    assert assign.json() == {"agent": "bob", "customers": 2, "changed": 2}
    assert ids(client.get(f"{API}/worklist", headers=agent_key)) == ["A", "C"]
    assert ids(client.get(f"{API}/worklist?agent=bob", headers=agent_key)) == ["A", "C"]
    assert ids(client.get(f"{API}/worklist", headers=keys["agent"])) == []  # test-agent has nobody
    assert client.get(f"{API}/worklist?agent=test-agent", headers=agent_key).status_code == 403
    assert ids(client.get(f"{API}/worklist?agent=bob", headers=keys["admin"])) == ["A", "C"]
    assert ids(client.get(f"{API}/worklist", headers=keys["admin"])) == ["A", "B", "C"]
    rows = client.get(f"{API}/worklist", headers=agent_key).json()
    assert {r["assigned_agent"] for r in rows} == {"bob"}


ROLE_CASES = [
    ("get", "/worklist", None, "billing", 403),
    ("post", "/worklist/assignments", {"agent": "bob", "customer_ids": ["A"]}, "agent", 403),
    ("post", "/worklist/assignments", {"agent": "bob", "customer_ids": ["A"]}, "admin", 200),
    ("post", "/disputes", {"invoices": [{"invoice_id": "A3"}], "reason": "other"}, "analyst", 403),
    ("post", "/disputes", {"invoices": [{"invoice_id": "A3"}], "reason": "other"}, "billing", 403),
    ("post", "/disputes", {"invoices": [{"invoice_id": "A3"}], "reason": "other"}, "agent", 201),
    ("post", "/promises", {"customer_id": "A", "amount": "5", "promised_date": "2025-07-05"}, "agent", 201),
    ("post", "/customers/A/notes", {"body": "Rappeler lundi"}, "agent", 201),
    ("post", "/customers/A/notes", {"body": "Rappeler lundi"}, "billing", 403),
    ("get", "/audit", None, "analyst", 403),
    ("get", "/audit", None, "agent", 403),
    ("get", "/audit", None, "admin", 200),
    ("get", "/disputes", None, "billing", 403),
]


def test_role_restrictions(client, keys, ledger):
    found, expected = [], []
    for method, path, body, role, status in ROLE_CASES:
        kwargs = {"json": body} if body is not None else {}
        response = getattr(client, method)(f"{API}{path}", headers=keys[role], **kwargs)
        found.append((method, path, role, response.status_code))
        expected.append((method, path, role, status))
    assert found == expected


def test_every_change_is_in_the_audit_log(client, keys, ledger):
    client.post(f"{API}/worklist/assignments", json={"agent": "bob", "customer_ids": ["A"]}, headers=keys["analyst"])
    client.post(f"{API}/worklist/assignments", json={"agent": "eve", "customer_ids": ["A"]}, headers=keys["admin"])
    client.post(f"{API}/disputes", json={"dispute_id": "D-9", "invoices": [{"invoice_id": "A3"}], "reason": "other"},
                headers=keys["agent"])
    client.patch(f"{API}/disputes/D-9", json={"status": "withdrawn"}, headers=keys["agent"])
    client.post(f"{API}/customers/A/notes", json={"body": "Rappeler lundi"}, headers=keys["agent"])

    customer = client.get(f"{API}/audit?entity=customer&entity_id=A", headers=keys["admin"]).json()
    assert [(r["actor"], r["before"], r["after"]) for r in customer] == [
        ("admin:test-admin", {"assigned_agent": "bob"}, {"assigned_agent": "eve"}),
        ("analyst:test-analyst", {"assigned_agent": None}, {"assigned_agent": "bob"})]
    dispute = client.get(f"{API}/audit?entity=dispute&entity_id=D-9", headers=keys["admin"]).json()
    assert [r["action"] for r in dispute] == ["update", "open"]
    assert dispute[0]["before"]["status"] == "open" and dispute[0]["after"]["status"] == "withdrawn"
    assert dispute[1]["after"]["invoices"] == {"A3": "1000.00"}
    notes = client.get(f"{API}/audit?entity=customer_note", headers=keys["admin"]).json()
    assert notes[0]["actor"] == "agent:test-agent" and notes[0]["after"]["body"] == "Rappeler lundi"


def test_notes_need_a_known_customer_and_a_body(client, keys, ledger):
    assert client.post(f"{API}/customers/NOPE/notes", json={"body": "x"}, headers=keys["agent"]).status_code == 404
    assert client.post(f"{API}/customers/A/notes", json={"body": "  "}, headers=keys["agent"]).status_code == 422
    assert client.get(f"{API}/customers/NOPE/notes", headers=keys["agent"]).status_code == 404


def test_value_at_risk_is_exact_money(client, keys, ledger):
    rows = client.get(f"{API}/worklist", headers=keys["analyst"]).json()
    assert all(Decimal(r["value_at_risk"]).as_tuple().exponent == -2 for r in rows)
