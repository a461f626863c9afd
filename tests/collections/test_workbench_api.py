"""The workbench's own routes on the hand-built ledger of conftest.py: who am I, the worklist as
a French-Excel CSV, one customer's dry run, and agent activity worked out by hand."""
from __future__ import annotations

import datetime as dt

from sqlmodel import Session

from ledger.tables import CustomerNote, Payment
from tests.collections.conftest import API, TODAY


def test_worklist_export_is_french_excel_with_words_not_codes(client, keys, ledger):
    response = client.get(f"{API}/worklist/export", headers=keys["analyst"])
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff")
    lines = text[1:].splitlines()
    assert lines[0].split(";")[:6] == ["#", "Client", "id", "Segment", "Note du client", "Devise"]
    rows = client.get(f"{API}/worklist", headers=keys["analyst"]).json()
    assert [line.split(";")[2] for line in lines[1:]] == [r["customer_id"] for r in rows]  # same ranking
    a = next(line.split(";") for line in lines[1:] if line.split(";")[2] == "A")
    api_a = next(r for r in rows if r["customer_id"] == "A")
    # A: 1000.00 open, 76 days overdue (conftest.py); its values at risk as the API gives them
    assert a[1] == "Alpha SARL" and a[3] == "PME" and a[5] == "EUR"
    assert a[6] == api_a["value_at_risk_90"].replace(".", ",") and a[8] == "1000,00" and a[10] == "76"
    assert a[11] == "61 à 90 j" and "61-90" not in text and "not_due" not in text
    assert len(lines) == 4
    english = client.get(f"{API}/worklist/export?lang=en&dialect=excel-en&q=beta", headers=keys["analyst"])
    rows = english.content.decode("utf-8")[1:].splitlines()
    assert rows[0].startswith("#,Customer,id,Segment") and rows[1].split(",")[:3] == ["1", "Beta SA", "B"]


def test_worklist_export_of_an_agent_is_their_portfolio(client, keys, ledger):
    # the ledger fixture gives test-agent every customer: A and B go to someone else
    client.post(f"{API}/worklist/assignments", json={"agent": "someone", "customer_ids": ["A", "B"]},
                headers=keys["analyst"]).raise_for_status()
    lines = client.get(f"{API}/worklist/export", headers=keys["agent"]).content.decode()[1:].splitlines()
    assert [line.split(";")[2] for line in lines[1:]] == ["C"]
    assert client.get(f"{API}/worklist/export?agent=someone", headers=keys["agent"]).status_code == 403


def test_dunning_preview_is_a_dry_run_of_one_customer(client, keys, ledger):
    before = client.get(f"{API}/dunning/actions", headers=keys["analyst"]).json()["total"]
    preview = client.post(f"{API}/customers/A/dunning-preview", json={}, headers=keys["analyst"])
    assert preview.status_code == 200, preview.text
    body = preview.json()
    assert body["date"] == "2025-07-01"  # TODAY is Monday 30 June 2025: tomorrow is a business day
    assert body["actions"] and {a["customer_id"] for a in body["actions"]} == {"A"}
    assert client.get(f"{API}/dunning/actions", headers=keys["analyst"]).json()["total"] == before
    # an agent sees only their portfolio: once A is someone else's, it does not exist for them
    client.post(f"{API}/worklist/assignments", json={"agent": "someone", "customer_ids": ["A"]},
                headers=keys["analyst"]).raise_for_status()
    assert client.post(f"{API}/customers/A/dunning-preview", json={}, headers=keys["agent"]).status_code == 404
    assert client.post(f"{API}/customers/nobody/dunning-preview", json={}, headers=keys["analyst"]).status_code == 404
    bad = client.post(f"{API}/customers/A/dunning-preview", json={"date": "soon"}, headers=keys["analyst"])
    assert bad.status_code == 422


def test_agent_activity_worked_out_by_hand(client, keys, ledger, db):
    agent = keys["agent"]
    # a note on C on 20 June, a call and a promise on B today
    with Session(db) as session:
        session.add(CustomerNote(customer_id="C", author="agent:test-agent", body="rappeler",
                                 created_at=dt.datetime(2025, 6, 20, 10, tzinfo=dt.UTC)))
        session.add(CustomerNote(customer_id="A", author="analyst:boss", body="vu",
                                 created_at=dt.datetime(2025, 5, 1, 10, tzinfo=dt.UTC)))  # outside 30 days
        # C pays 100 six days after the note (counted), then 50 on 10 July (after as_of: not counted)
        session.add(Payment(payment_id="PC1", customer_id="C", paid_on=dt.date(2025, 6, 26), amount=100))
        session.add(Payment(payment_id="PC2", customer_id="C", paid_on=dt.date(2025, 7, 10), amount=50))
        session.commit()
    call = client.post(f"{API}/calls", json={"customer_id": "B", "outcome": "reached_promised"}, headers=agent)
    assert call.status_code == 201, call.text  # logged on TODAY: nothing paid after it yet
    promise = client.post(f"{API}/promises", json={"customer_id": "B", "amount": "10.00",
                                                  "promised_date": "2025-07-05"}, headers=agent)
    assert promise.status_code == 201, promise.text
    rows = client.get(f"{API}/agents/activity", headers=keys["analyst"]).json()
    assert rows == [{"actor": "agent:test-agent", "calls": 1, "notes": 1, "promises_obtained": 1,
                     "promises_kept": 0, "collected": [{"currency": "EUR", "amount": "100.00"}]}]
    assert client.get(f"{API}/agents/activity", headers=agent).status_code == 403
    assert client.get(f"{API}/agents/activity?days=0", headers=keys["analyst"]).status_code == 422
    # 1 May's note counts in a 61-day window (C paid nothing within 14 days of it: A did not either)
    wide = client.get(f"{API}/agents/activity?days=61", headers=keys["analyst"]).json()
    assert [r["actor"] for r in wide] == ["agent:test-agent", "analyst:boss"] and wide[1]["collected"] == []


def test_a_failed_write_of_refreshed_answers_never_fails_the_worklist(app, client, keys, ledger, caplog):
    """The worklist GET keeps the answers the risk service recomputes; when that write fails
    (here: a provider whose write breaks a constraint on its first call, as a concurrent refresh
    would), the page is still answered, and the write's savepoint leaves the session usable."""
    from sqlalchemy import text

    calls = {"n": 0}
    service = app.state.risk

    def flaky(session, invoice_ids, today):
        calls["n"] += 1
        if calls["n"] == 1:  # the same customer twice: the second insert breaks the primary key
            session.execute(text("INSERT INTO customer (customer_id, name, language, currency, "
                                 "credit_balance, on_hold, created_at, updated_at) VALUES "
                                 "('A', 'dup', 'fr', 'EUR', 0, false, '2025-01-01', '2025-01-01')"))
        return service.risk_for(session, invoice_ids, today)

    expected = client.get(f"{API}/worklist", headers=keys["analyst"]).json()
    app.state.risk_for = flaky
    try:
        response = client.get(f"{API}/worklist", headers=keys["analyst"])
    finally:
        app.state.risk_for = None
    assert response.status_code == 200, response.text
    assert calls["n"] >= 2
    assert [(r["customer_id"], r["value_at_risk_90"]) for r in response.json()] == \
        [(r["customer_id"], r["value_at_risk_90"]) for r in expected]
    # the failure is not swallowed silently: it is logged with its cause, and the retry said
    failed = [r for r in caplog.records if "worklist risk refresh failed" in r.getMessage()]
    assert failed and "asking again" in failed[0].getMessage() and failed[0].exc_info is not None
