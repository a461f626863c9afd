"""The worklist's page filters (search, currency, dispute, promise) and pages, on the hand-built
ledger of conftest.py (A, B and C owe something; D owes nothing). A filter keeps the ranking's
order: expectations follow the unfiltered ranking (tested in test_worklist.py)."""
from __future__ import annotations

from tests.collections.conftest import API


def ids(response):
    assert response.status_code == 200, response.text
    return [row["customer_id"] for row in response.json()]


def ranking(client, keys) -> list[str]:
    return ids(client.get(f"{API}/worklist", headers=keys["analyst"]))


def test_search_by_id_or_name_any_case_and_literal(client, keys, ledger):
    get = lambda q: ids(client.get(f"{API}/worklist", params={"q": q}, headers=keys["analyst"]))  # noqa: E731
    assert get("alpha") == ["A"]
    assert get("BETA SA") == ["B"]
    assert get("c") == ["C"]          # the id C; no name contains a c
    assert get("%") == [] and get("_") == []  # wildcards are literal characters
    assert get("sa") == ranking(client, keys)  # SARL, SA, SAS: everyone, in rank order


def test_pages_keep_the_ranks(client, keys, ledger):
    order = ranking(client, keys)
    assert sorted(order) == ["A", "B", "C"]
    second = client.get(f"{API}/worklist?limit=1&offset=1", headers=keys["analyst"]).json()
    assert [(r["customer_id"], r["rank"]) for r in second] == [(order[1], 2)]
    assert ids(client.get(f"{API}/worklist?limit=2&offset=2", headers=keys["analyst"])) == [order[2]]
    assert ids(client.get(f"{API}/worklist?offset=3", headers=keys["analyst"])) == []
    assert client.get(f"{API}/worklist?offset=-1", headers=keys["analyst"]).status_code == 422


def test_currency_keeps_that_currency_and_says_it(client, keys, ledger):
    rows = client.get(f"{API}/worklist?currency=eur", headers=keys["analyst"]).json()
    assert [r["customer_id"] for r in rows] == ranking(client, keys) and {r["currency"] for r in rows} == {"EUR"}
    assert ids(client.get(f"{API}/worklist?currency=USD", headers=keys["analyst"])) == []
    assert client.get(f"{API}/worklist?currency=EURO", headers=keys["analyst"]).status_code == 422


def test_dispute_and_promise_filters(client, keys, ledger):
    opened = client.post(f"{API}/disputes", json={"invoices": [{"invoice_id": "A3"}], "reason": "quality"},
                         headers=keys["admin"])
    assert opened.status_code == 201, opened.text
    promised = client.post(f"{API}/promises", json={"customer_id": "B", "amount": "100.00",
                                                   "promised_date": "2025-07-10"}, headers=keys["admin"])
    assert promised.status_code == 201, promised.text
    get = lambda query: ids(client.get(f"{API}/worklist?{query}", headers=keys["analyst"]))  # noqa: E731
    assert get("dispute=true") == ["A"]
    assert get("dispute=false") == [c for c in ranking(client, keys) if c != "A"]
    assert get("promise=true") == ["B"]
    assert get("promise=false&dispute=false") == ["C"]


def test_an_agent_without_customers_gets_an_empty_worklist(client, keys, ledger, db):
    from sqlmodel import Session

    from serving.auth import create_key

    with Session(db) as session:
        key = create_key(session=session, role="agent", name="nobody-yet")
        session.commit()
    headers = {"Authorization": f"Bearer {key}"}
    response = client.get(f"{API}/worklist", params={"limit": 26, "lang": "fr"}, headers=headers)
    assert response.status_code == 200 and response.json() == []
    assert client.get(f"{API}/me", headers=headers).json()["portfolio_customers"] == 0
