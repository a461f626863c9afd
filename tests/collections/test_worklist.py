"""The worklist on a hand-built ledger: ranking by value at risk, filters, next action, last
contact, the model provider; role restrictions; notes, calls, assignments and the audit log."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import pytest
from sqlmodel import Session

from ledger.tables import DunningAction
from ledger.var import value_at_risk
from ledger.worklist import worklist
from ledger.worklist_rows import bucket_of
from serving.policy import Risk
from tests.collections.conftest import API, TODAY


def ids(response):
    assert response.status_code == 200, response.text
    return [row["customer_id"] for row in response.json()]


def test_ranking_by_value_at_risk_with_the_ledger_rules(client, keys, ledger, db):
    """Without a provider, P(unpaid within h | unpaid at the end of today, age a days late) from
    the payer's shrunk Kaplan–Meier hazards (`ledger.var`, the risk service's rules too).

    Five settled invoices: too few to pool, so the prior is the generic profile g = 0.60, 0.35,
    0.30, 0.30, 0.30, 0.25, 0.20, 0.20, 0.20, 0.15, … (bins ≤0, 0–7, 7–14, 14–21, 21–30, 30–45,
    45–60, 60–75, 75–90, 90–120, …). A payer's hazard is (events + 3 g) / (at risk + 3); within
    a bin log S is linear, and bin 0's payments spread over the 7 days before the due date.
      A: A1, A2 paid 20 and 17 days late (bin 3); A3 open 76 days late (at risk in bins 0–7):
         bins 8+ keep g. A3 within 30 days: 75–90 for 14/15, 90–120 for 16/30.
      B: B1, B2 paid early (bin 0), B3 open 10 days (at risk in bins 0–1): h0 = (2 + 1.8) / 6,
         h1 = (0 + 1.05) / 4; B4 due in 30 days.
      C: no history: g. C1 due in 15 days.
    """
    from serving.worklist_text import worded

    with Session(db) as session:
        rows = worded(worklist(session=session, today=TODAY), "fr")
        english = worded(worklist(session=session, today=TODAY, limit=1), "en")
    assert [r.customer_id for r in rows] == ["B", "A", "C"]  # D owes nothing
    b, a, c = rows
    b0, b1 = 1 - 3.8 / 6, 1 - 1.05 / 4  # B's survival through bins 0 and 1
    p = {  # (within 30, within 90) days
        "A3": (0.8 ** (14 / 15) * 0.85 ** (16 / 30),
               0.8 ** (14 / 15) * 0.85 * 0.85 * 0.85 ** (16 / 30)),
        "B3": (0.7 ** (4 / 7) * 0.7 * 0.7 * 0.75 ** (10 / 15),
               0.7 ** (4 / 7) * 0.7 * 0.7 * 0.75 * 0.8 ** 3 * 0.85 ** (10 / 30)),
        "B4": (b0, b0 * b1 * 0.7 ** 3 * 0.75 * 0.8),
        "C1": (0.4 * 0.65 * 0.7 * 0.7 ** (1 / 7), 0.4 * 0.65 * 0.7 ** 3 * 0.75 * 0.8 * 0.8),
    }
    amounts = {"A3": "1000", "B3": "5000", "B4": "1000", "C1": "3000"}

    def var(invoices, h):
        return value_at_risk([(Decimal(amounts[i]), p[i][h]) for i in invoices])

    expected = [(var(["B3", "B4"], 0), var(["B3", "B4"], 1)), (var(["A3"], 0), var(["A3"], 1)),
                (var(["C1"], 0), var(["C1"], 1))]
    assert [(r.value_at_risk_30, r.value_at_risk_90) for r in rows] == expected
    assert expected[0] == (Decimal("2016.19"), Decimal("782.52"))  # the sums, worked out once
    assert (a.p_unpaid_90, c.p_unpaid_90) == (round(p["A3"][1], 4), round(p["C1"][1], 4))
    assert b.value_at_risk_90_reporting == Decimal("782.52") and b.reporting_currency == "EUR"
    assert b.p_unpaid_90 == round(782.52 / 6000, 4)  # its value at risk over its open amount
    # no model, no published score: no grade rather than a second grade scale
    assert {r.grade for r in rows} == {None} and {r.risk_source for r in rows} == {"rules"}
    assert a.days_overdue == 76 and a.bucket == "61-90" and a.broken_promises == 0
    assert b.open_amount == Decimal("6000.00") and b.overdue_amount == Decimal("5000.00") and b.currency == "EUR"
    assert (b.open_invoices, b.overdue_invoices) == (2, 1)
    assert c.bucket == "not_due" and c.next_action is None and c.last_contact is None
    assert [r.rank for r in rows] == [1, 2, 3]
    assert a.reasons[0].code == "overdue" and "76 jours" in a.reasons[0].text
    assert "1\u202f000,00\xa0€" in a.reasons[0].text
    var = next(r for r in b.reasons if r.code == "value_at_risk")
    assert "782,52\xa0€ sous 90 jours" in var.text
    assert "2 fois sur 2" in next(r for r in a.reasons if r.code == "history").text
    assert len(english) == 1 and english[0].customer_id == "B"
    assert "€782.52 within 90 days" in next(r for r in english[0].reasons if r.code == "value_at_risk").text


def test_the_worklists_rules_are_the_risk_services_rules(client, keys, ledger, app, db):
    """One rules fallback: the worklist with no provider at all (ledger only) and the risk
    service with no model give each invoice the same P(unpaid within 30 / 90 days)."""
    with Session(db) as session:
        alone = {r.customer_id: r for r in worklist(session=session, today=TODAY)}
        risks = app.state.risk.risk_for(session, ["A3", "B3", "B4", "C1"], TODAY)
    opens = {"A": [("A3", "1000")], "B": [("B3", "5000"), ("B4", "1000")], "C": [("C1", "3000")]}
    for customer, pairs in opens.items():
        for h in (30, 90):
            served = value_at_risk([(Decimal(a), getattr(risks[i], f"p_unpaid_{h}")) for i, a in pairs])
            assert getattr(alone[customer], f"value_at_risk_{h}") == served, (customer, h)


def test_the_api_ranks_on_the_risk_services_answers(client, keys, ledger, app, db):
    """With no model served, /worklist takes the risk service's rules (and its grades): the
    amounts are Σ open × its p_unpaid, to the cent."""

    rows = client.get(f"{API}/worklist", headers=keys["analyst"]).json()
    assert {r["customer_id"] for r in rows} == {"A", "B", "C"}
    with Session(db) as session:
        risks = app.state.risk.risk_for(session, ["A3", "B3", "B4", "C1"], TODAY)
    opens = {"A": [("A3", "1000")], "B": [("B3", "5000"), ("B4", "1000")], "C": [("C1", "3000")]}
    for row in rows:
        pairs = opens[row["customer_id"]]
        for h in (30, 90):
            expected = value_at_risk([(Decimal(a), getattr(risks[i], f"p_unpaid_{h}")) for i, a in pairs])
            assert Decimal(row[f"value_at_risk_{h}"]) == expected
        worst = max((risks[i].grade for i, _ in pairs), key="ABCDE".index)
        assert row["grade"] == worst and row["risk_source"] == "rules"
    keys_ = [Decimal(r["value_at_risk_90_reporting"]) for r in rows]
    assert keys_ == sorted(keys_, reverse=True)
    # the grade filter keeps exactly the rows of that grade
    for grade in {r["grade"] for r in rows}:
        assert ids(client.get(f"{API}/worklist?grade={grade}", headers=keys["analyst"])) == [
            r["customer_id"] for r in rows if r["grade"] == grade]


FILTERS = [
    ("segment=pme", {"A", "C"}), ("bucket=61-90", {"A"}), ("bucket=1-30", {"B"}),
    ("bucket=not_due", {"C"}), ("bucket=90%2B", set()), ("segment=ge", {"B"}),
]


def test_filters(client, keys, ledger):
    found = {query: set(ids(client.get(f"{API}/worklist?{query}", headers=keys["analyst"]))) for query, _ in FILTERS}
    assert found == dict(FILTERS)
    everyone = ids(client.get(f"{API}/worklist", headers=keys["analyst"]))
    assert ids(client.get(f"{API}/worklist?limit=2", headers=keys["analyst"])) == everyone[:2]


def test_bad_filters_are_422(client, keys, ledger):
    assert client.get(f"{API}/worklist?grade=Z", headers=keys["analyst"]).status_code == 422
    assert client.get(f"{API}/worklist?bucket=old", headers=keys["analyst"]).status_code == 422
    assert client.get(f"{API}/worklist?limit=0", headers=keys["analyst"]).status_code == 422


def test_bucket_thresholds():
    assert [bucket_of(d) for d in (-3, 0, 1, 30, 31, 60, 61, 90, 91)] == [
        "not_due", "not_due", "1-30", "1-30", "31-60", "31-60", "61-90", "61-90", "90+"]


@dataclass(frozen=True)
class Odds:
    p_unpaid_30: float
    p_unpaid_90: float
    grade: str
    source: str = "model"


def test_model_risk_reranks_and_grades(client, keys, ledger, app):
    given = {"A3": Odds(0.2, 0.1, "B"), "B3": Odds(0.5, 0.3, "D"), "B4": Odds(0.1, 0.05, "A"),
             "C1": Odds(0.9, 0.8, "E")}

    def risk_for(session, invoice_ids, today):
        assert today == TODAY
        return {i: given[i] for i in invoice_ids if i in given}

    app.state.risk_for = risk_for
    rows = client.get(f"{API}/worklist", headers=keys["analyst"]).json()
    # 90 days: C 3000 × 0.8 = 2400; B 5000 × 0.3 + 1000 × 0.05 = 1550; A 1000 × 0.1 = 100
    assert [(r["customer_id"], r["value_at_risk_90"], r["value_at_risk_30"]) for r in rows] == [
        ("C", "2400.00", "2700.00"), ("B", "1550.00", "2600.00"), ("A", "100.00", "200.00")]
    # the model's grade scale: the worst grade of the customer's open invoices
    assert [r["grade"] for r in rows] == ["E", "D", "B"] and {r["risk_source"] for r in rows} == {"model"}
    assert ids(client.get(f"{API}/worklist?grade=D", headers=keys["analyst"])) == ["B"]


def test_a_policy_risk_carries_its_unpaid_odds(client, keys, ledger, app):
    app.state.risk_for = lambda session, invoice_ids, today: {
        i: Risk(p_late=0.9, p_severe=0.5, expected_days_late=3, grade="E", p_unpaid_30=0.6, p_unpaid_90=0.4)
        for i in invoice_ids}
    rows = client.get(f"{API}/worklist", headers=keys["analyst"]).json()
    # 90 days: B 6000 × 0.4 = 2400; C 3000 × 0.4 = 1200; A 1000 × 0.4 = 400
    assert [(r["customer_id"], r["value_at_risk_90"], r["value_at_risk_30"]) for r in rows] == [
        ("B", "2400.00", "3600.00"), ("C", "1200.00", "1800.00"), ("A", "400.00", "600.00")]
    assert {r["risk_source"] for r in rows} == {"model"} and {r["grade"] for r in rows} == {"E"}


def test_a_provider_without_unpaid_odds_lends_p_late_and_p_severe(client, keys, ledger, app):
    # serving.policy.Risk: an older provider's p_late stands for 30 days, p_severe for 90 days
    app.state.risk_for = lambda session, invoice_ids, today: {
        i: Risk(p_late=0.9, p_severe=0.5, expected_days_late=3, grade="E") for i in invoice_ids}
    rows = client.get(f"{API}/worklist", headers=keys["analyst"]).json()
    # 90 days: B 6000 × 0.5 = 3000; C 3000 × 0.5 = 1500; A 1000 × 0.5 = 500
    assert [(r["customer_id"], r["value_at_risk_90"], r["value_at_risk_30"]) for r in rows] == [
        ("B", "3000.00", "5400.00"), ("C", "1500.00", "2700.00"), ("A", "500.00", "900.00")]
    assert {r["risk_source"] for r in rows} == {"model"}


def test_broken_promises_show_as_urgency_not_in_the_ranking(client, keys, ledger, db):
    from ledger.tables import Promise

    before = ids(client.get(f"{API}/worklist", headers=keys["analyst"]))
    with Session(db) as session:
        session.add(Promise(promise_id="PR1", customer_id="C", amount=Decimal("100"),
                            promised_date=dt.date(2025, 6, 1), status="broken", created_on=dt.date(2025, 5, 20)))
        session.commit()
    rows = {r["customer_id"]: r for r in client.get(f"{API}/worklist", headers=keys["analyst"]).json()}
    assert rows["C"]["broken_promises"] == 1
    assert sorted(rows, key=lambda c: rows[c]["rank"]) == before  # the ranking did not move
    assert any(r["code"] == "broken_promise" for r in rows["C"]["reasons"])


def test_next_action_and_last_contact(client, keys, ledger, db):
    with Session(db) as session:
        session.add(DunningAction(customer_id="A", invoice_id="A3", run_date=dt.date(2025, 6, 1), step="s1",
                                  action="email", channel="email", tone="neutral", send_on=dt.date(2025, 6, 1),
                                  state="sent", sent_at=dt.datetime(2025, 6, 1, 9, tzinfo=dt.UTC)))
        session.add(DunningAction(customer_id="A", invoice_id="A3", run_date=TODAY, step="s2", action="letter",
                                  channel="letter", tone="firm", send_on=dt.date(2025, 7, 2), state="planned"))
        session.commit()
    a = client.get(f"{API}/worklist?bucket=61-90&limit=1", headers=keys["analyst"]).json()[0]
    assert a["next_action"] == {"action": "letter", "channel": "letter", "tone": "firm", "send_on": "2025-07-02",
                                "invoice_id": "A3", "step": "s2", "reminder_id": None,
                                "state": "planned", "invoices": ["A3"]}
    assert a["last_contact"]["kind"] == "reminder" and a["last_contact"]["on"] == "2025-06-01"
    call = client.post(f"{API}/calls", json={"customer_id": "A", "invoice_id": "A3", "outcome": "reached_promised",
                                             "note": "Paiement promis vendredi"}, headers=keys["agent"])
    assert call.status_code == 201 and call.json()["created_by"] == "agent:test-agent"
    a = client.get(f"{API}/worklist?bucket=61-90&limit=1", headers=keys["analyst"]).json()[0]
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
    assert set(ids(client.get(f"{API}/worklist", headers=agent_key))) == {"A", "C"}
    assert set(ids(client.get(f"{API}/worklist?agent=bob", headers=agent_key))) == {"A", "C"}
    # test-agent had every customer (the fixture): B is left to them (D owes nothing)
    assert ids(client.get(f"{API}/worklist", headers=keys["agent"])) == ["B"]
    assert client.get(f"{API}/worklist?agent=test-agent", headers=agent_key).status_code == 403
    assert set(ids(client.get(f"{API}/worklist?agent=bob", headers=keys["admin"]))) == {"A", "C"}
    assert set(ids(client.get(f"{API}/worklist", headers=keys["admin"]))) == {"A", "B", "C"}
    rows = client.get(f"{API}/worklist", headers=agent_key).json()
    assert {r["assigned_agent"] for r in rows} == {"bob"}


ROLE_CASES = [
    ("get", "/worklist", None, "billing", 403),
    ("post", "/worklist/assignments", {"agent": "bob", "customer_ids": ["A"]}, "agent", 403),
    ("post", "/worklist/assignments", {"agent": "bob", "customer_ids": ["A"]}, "admin", 200),
    ("post", "/disputes", {"invoices": [{"invoice_id": "A3"}], "reason": "other"}, "analyst", 403),
    ("post", "/disputes", {"invoices": [{"invoice_id": "A3"}], "reason": "other"}, "billing", 403),
    # A went to bob just above: outside test-agent's portfolio, as if it did not exist
    ("post", "/disputes", {"invoices": [{"invoice_id": "A3"}], "reason": "other"}, "agent", 404),
    ("post", "/disputes", {"invoices": [{"invoice_id": "B3"}], "reason": "other"}, "agent", 201),
    ("post", "/promises", {"customer_id": "A", "amount": "5", "promised_date": "2025-07-05"}, "agent", 404),
    ("post", "/promises", {"customer_id": "B", "amount": "5", "promised_date": "2025-07-05"}, "agent", 201),
    ("post", "/customers/A/notes", {"body": "Rappeler lundi"}, "agent", 404),
    ("post", "/customers/B/notes", {"body": "Rappeler lundi"}, "agent", 201),
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
    client.post(f"{API}/disputes", json={"dispute_id": "D-9", "invoices": [{"invoice_id": "B3"}], "reason": "other"},
                headers=keys["agent"])
    client.patch(f"{API}/disputes/D-9", json={"status": "withdrawn"}, headers=keys["agent"])
    client.post(f"{API}/customers/B/notes", json={"body": "Rappeler lundi"}, headers=keys["agent"])

    customer = client.get(f"{API}/audit?entity=customer&entity_id=A", headers=keys["admin"]).json()
    assert [(r["actor"], r["before"], r["after"]) for r in customer] == [
        ("admin:test-admin", {"assigned_agent": "bob"}, {"assigned_agent": "eve"}),
        ("analyst:test-analyst", {"assigned_agent": "test-agent"}, {"assigned_agent": "bob"})]
    dispute = client.get(f"{API}/audit?entity=dispute&entity_id=D-9", headers=keys["admin"]).json()
    assert [r["action"] for r in dispute] == ["update", "open"]
    assert dispute[0]["before"]["status"] == "open" and dispute[0]["after"]["status"] == "withdrawn"
    assert dispute[1]["after"]["invoices"] == {"B3": "5000.00"}
    notes = client.get(f"{API}/audit?entity=customer_note", headers=keys["admin"]).json()
    assert notes[0]["actor"] == "agent:test-agent" and notes[0]["after"]["body"] == "Rappeler lundi"


def test_notes_need_a_known_customer_and_a_body(client, keys, ledger):
    assert client.post(f"{API}/customers/NOPE/notes", json={"body": "x"}, headers=keys["agent"]).status_code == 404
    assert client.post(f"{API}/customers/A/notes", json={"body": "  "}, headers=keys["agent"]).status_code == 422
    assert client.get(f"{API}/customers/NOPE/notes", headers=keys["agent"]).status_code == 404


def test_value_at_risk_is_exact_money_and_never_above_the_open_amount(client, keys, ledger):
    rows = client.get(f"{API}/worklist", headers=keys["analyst"]).json()
    for r in rows:
        for key in ("value_at_risk_30", "value_at_risk_90"):
            assert Decimal(r[key]).as_tuple().exponent == -2
            assert Decimal(r[key]) <= Decimal(r["open_amount"])
