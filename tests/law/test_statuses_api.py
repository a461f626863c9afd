"""Customer statuses end to end: ingestion, PATCH (roles and portfolio), the run, next-action,
the customer page's sentences, /health, and penalty invoices — on a hand-built ledger.

Today is pinned to 2025-06-30 (a Monday). Customer A's invoice A3 (1,000 €, due 2025-04-15) is 76
days late; A1 and A2 (100 € each) were paid 20 and 17 days late.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from tests.collections.conftest import (  # noqa: F401  (the `ledger` fixture)
    API,
    LEDGER,
    TODAY,
    ledger,  # noqa: F401
)


def _run(client, keys, day: dt.date) -> set[str]:
    response = client.post(f"{API}/dunning/runs", json={"date": day.isoformat(), "dry_run": True},
                           headers=keys["analyst"])
    assert response.status_code == 200, response.text
    return {a["customer_id"] for a in response.json()["actions"]}


def _patch(client, keys, role, customer_id, body):
    return client.patch(f"{API}/customers/{customer_id}", json=body, headers=keys[role])


def test_ingestion_stores_statuses_and_refuses_bad_ones(client, keys, ledger):
    batch = {"customers": [{"customer_id": "E", "name": "Mairie", "customer_type": "public_sector",
                            "on_hold_until": "2025-07-10", "on_hold_reason": "audit"}]}
    assert client.post(f"{API}/ingest", json=batch, headers=keys["billing"]).status_code == 200
    customer = client.get(f"{API}/customers/E", headers=keys["analyst"]).json()
    # a hold date sent without on_hold means on hold
    assert customer["customer_type"] == "public_sector" and customer["on_hold"] is True
    assert customer["on_hold_until"] == "2025-07-10"
    codes = [s["code"] for s in customer["statuses"]]
    assert codes == ["type_public_sector", "on_hold"]
    assert "10/07/2025 inclus (audit)" in customer["statuses"][1]["fr"]
    # a later batch naming the customer without statuses leaves them alone
    client.post(f"{API}/ingest", json={"customers": [{"customer_id": "E", "name": "Mairie de X"}]},
                headers=keys["billing"])
    assert client.get(f"{API}/customers/E", headers=keys["analyst"]).json()["on_hold"] is True
    bad = client.post(f"{API}/ingest", json={"customers": [
        {"customer_id": "F", "customer_type": "alien"},
        {"customer_id": "G", "on_hold": False, "on_hold_until": "2025-07-10"}]}, headers=keys["billing"])
    assert bad.status_code == 422
    fields = {e["field"] for e in bad.json()["errors"]}
    assert "customers[0].customer_type" in fields and any(f.startswith("customers[1]") for f in fields)


def test_patch_roles_and_portfolio(client, keys, ledger):
    assert _patch(client, keys, "billing", "A", {"on_hold": True}).status_code == 403
    # A in another agent's portfolio: for this agent it does not exist
    moved = client.post(f"{API}/worklist/assignments", json={"agent": "bob", "customer_ids": ["A", "B"]},
                        headers=keys["analyst"])
    assert moved.status_code == 200, moved.text
    assert _patch(client, keys, "agent", "A", {"on_hold": True}).status_code == 404
    assigned = client.post(f"{API}/worklist/assignments", json={"agent": "test-agent", "customer_ids": ["A"]},
                           headers=keys["analyst"])
    assert assigned.status_code == 200, assigned.text
    held = _patch(client, keys, "agent", "A", {"on_hold": True, "on_hold_reason": "litige commercial"})
    assert held.status_code == 200 and held.json()["on_hold"] is True
    assert _patch(client, keys, "agent", "B", {"on_hold": True}).status_code == 404
    released = _patch(client, keys, "analyst", "A", {"on_hold": False})
    assert released.json()["on_hold"] is False and released.json()["on_hold_reason"] is None
    for body, field in (({"customer_type": "martian"}, "customer_type"),
                        ({"insolvency_date": "2025-07-15"}, "insolvency_date"),
                        ({"on_hold_until": "2025-06-01"}, "on_hold_until"),
                        ({"colour": "red"}, "colour")):
        response = _patch(client, keys, "analyst", "A", body)
        assert response.status_code == 422, (body, response.text)
        assert any(field in e["field"] for e in response.json()["errors"]), response.json()
    audit = client.get(f"{API}/audit", params={"entity": "customer", "entity_id": "A"},
                       headers=keys["admin"]).json()
    assert [row["action"] for row in audit].count("customer.status") == 2


def test_the_run_honours_hold_until_a_date_and_insolvency(client, keys, ledger):
    assert "A" in _run(client, keys, TODAY)
    _patch(client, keys, "analyst", "A", {"on_hold_until": "2025-07-01"})
    assert "A" not in _run(client, keys, TODAY)
    assert "A" not in _run(client, keys, dt.date(2025, 7, 1))  # the last day of the hold
    assert "A" in _run(client, keys, dt.date(2025, 7, 2))  # over: dunning resumes
    nxt = client.get(f"{API}/invoices/A3/next-action", headers=keys["analyst"]).json()
    assert nxt["action"] == "wait" and nxt["reasons"][0]["code"] == "on_hold"
    assert nxt["send_on"] == "2025-07-02"
    insolvent = _patch(client, keys, "analyst", "A", {"insolvency_date": "2025-06-20"}).json()
    deadline = [s for s in insolvent["statuses"] if s["code"] == "insolvency"][0]
    # two months from the judgment: the earliest the BODACC-based deadline can fall
    assert deadline["claim_filing_deadline"] == "2025-08-20" and "20/08/2025" in deadline["fr"]
    assert "A" not in _run(client, keys, dt.date(2025, 7, 2))
    nxt = client.get(f"{API}/invoices/A3/next-action", headers=keys["analyst"]).json()
    assert nxt["action"] == "wait" and nxt["reasons"][0]["code"] == "insolvency"


def test_next_action_penalties_follow_the_kind_of_debtor(client, keys, ledger):
    def penalties():
        return client.get(f"{API}/invoices/A3/next-action", headers=keys["analyst"]).json()["penalties"]

    # business, 76 days in 2025 S1 at 3.15 + 10 = 13.15 %: 1000 × 0.1315 × 76 / 365 = 27.38
    assert (Decimal(penalties()["interest"]), Decimal(penalties()["indemnity"])) == (Decimal("27.38"), Decimal("40.00"))
    _patch(client, keys, "analyst", "A", {"customer_type": "public_sector"})
    # public buyer: ECB of 1 January 2025 (3.15) + 8 = 11.15 %: 1000 × 0.1115 × 76 / 365 = 23.2164
    assert Decimal(penalties()["interest"]) == Decimal("23.22") and Decimal(penalties()["total"]) == Decimal("63.22")
    _patch(client, keys, "analyst", "A", {"customer_type": "consumer"})
    assert Decimal(penalties()["total"]) == Decimal("0.00")


def test_health_warns_when_the_law_tables_do_not_cover_today(client, app):
    app.state.today = dt.date(2026, 3, 2)
    assert client.get("/health").json() == {"status": "ok", "warnings": []}
    app.state.today = dt.date(2026, 11, 27)
    codes = {w["code"] for w in client.get("/health").json()["warnings"]}
    assert codes == {"legal_rate_missing", "ecb_rate_unchecked"}


def test_penalty_invoice_for_invoices_paid_late_is_created_once(client, keys, ledger):
    assert client.post(f"{API}/penalty-invoices", json={"customer_id": "A"},
                       headers=keys["agent"]).status_code == 403
    first = client.post(f"{API}/penalty-invoices", json={"customer_id": "A"}, headers=keys["analyst"])
    assert first.status_code == 201, first.text
    [penalty] = first.json()["created"]
    # A1: 100 × 0.1315 × 20 / 365 = 0.7205 → 0.72; A2: 100 × 0.1315 × 17 / 365 = 0.6125 → 0.61
    assert penalty["kind"] == "penalty"
    assert [(line["invoice_id"], line["days_late"], line["interest"]) for line in penalty["lines"]] == [
        ("A1", 20, "0.72"), ("A2", 17, "0.61")]
    assert (penalty["interest"], penalty["indemnity_eur"], penalty["total"]) == ("1.33", "80.00", "81.33")
    again = client.post(f"{API}/penalty-invoices", json={"customer_id": "A"}, headers=keys["analyst"]).json()
    assert again["created"] == [] and set(again["already_invoiced"]) == {"A1", "A2"}
    on_time = client.post(f"{API}/penalty-invoices", json={"customer_id": "B", "invoice_ids": ["B1"]},
                          headers=keys["analyst"])
    assert on_time.status_code == 422 and on_time.json()["errors"][0]["field"] == "invoice_ids[0]"
    _patch(client, keys, "analyst", "B", {"customer_type": "consumer"})
    consumer = client.post(f"{API}/penalty-invoices", json={"customer_id": "B"}, headers=keys["analyst"])
    assert consumer.status_code == 422
    listed = client.get(f"{API}/penalty-invoices", params={"customer_id": "A"}, headers=keys["analyst"]).json()
    assert [p["penalty_invoice_id"] for p in listed] == [penalty["penalty_invoice_id"]]


def test_cli_sets_statuses_and_exits_2_on_bad_input(monkeypatch, tmp_path):
    from ledger.config import get_settings
    from ledger.db import get_engine, session_scope
    from ledger.tables import Customer
    from tests.ledger.test_cli import cli

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    get_settings.cache_clear(), get_engine.cache_clear()
    with session_scope(get_engine()) as session:
        session.add(Customer(customer_id="K1", name="Kappa"))
    get_settings.cache_clear(), get_engine.cache_clear()
    held = cli(monkeypatch, tmp_path, "customers", "hold", "K1", "--reason", "négociation", "--until", "2100-01-31")
    assert held.exit_code == 0, held.output
    assert "31/01/2100" in held.output
    assert cli(monkeypatch, tmp_path, "customers", "set-type", "K1", "martian").exit_code == 2
    assert cli(monkeypatch, tmp_path, "customers", "insolvency", "K1").exit_code == 2
    assert cli(monkeypatch, tmp_path, "customers", "hold", "NOPE").exit_code == 2
    released = cli(monkeypatch, tmp_path, "customers", "release", "K1")
    assert released.exit_code == 0 and "suspendues" not in released.output
    penalties = cli(monkeypatch, tmp_path, "penalties", "invoice", "K1")
    assert penalties.exit_code == 0 and "Aucune" in penalties.output


def test_the_indemnity_is_converted_at_a_dated_rate_and_says_so(session):
    """40 € at 0.9500 CHF per euro (rate of 2025-06-27, the Friday before) = 38.00 CHF."""
    from ledger.fx import RateIn, store_rates
    from ledger.law import claim_for, indemnity_for

    assert indemnity_for("CHF", dt.date(2025, 6, 30), session).amount is None  # no rate yet
    store_rates(session=session, rates=[RateIn("CHF", dt.date(2025, 6, 27), Decimal("0.9500"))])
    session.flush()
    indemnity = indemnity_for("CHF", dt.date(2025, 6, 30), session)
    assert (indemnity.eur, indemnity.amount, indemnity.rate_date) == (
        Decimal("40.00"), Decimal("38.00"), dt.date(2025, 6, 27))
    claim = claim_for(customer_type="business", amount=Decimal("1000"), currency="CHF",
                      due_date=dt.date(2025, 4, 15), as_of=dt.date(2025, 6, 30), session=session)
    assert claim.total == Decimal("27.38") + Decimal("38.00")
    assert any("40 EUR" in n and "38.00 CHF" in n and "2025-06-27" in n for n in claim.notes)


def test_a_hold_sent_by_ingestion_cancels_the_planned_reminders(client, keys, ledger, app):
    app.state.today = dt.date.today()
    run = client.post(f"{API}/dunning/runs", json={"date": TODAY.isoformat()}, headers=keys["analyst"])
    assert any(a["customer_id"] == "A" for a in run.json()["actions"])
    client.post(f"{API}/ingest", json={"customers": [{"customer_id": "A", "on_hold": True,
                                                      "on_hold_reason": "accord en cours"}]},
                headers=keys["billing"])
    planned = client.get(f"{API}/dunning/actions", params={"customer_id": "A", "state": "planned"},
                         headers=keys["analyst"]).json()
    assert planned["total"] == 0
    cancelled = client.get(f"{API}/dunning/actions", params={"customer_id": "A", "state": "cancelled"},
                           headers=keys["analyst"]).json()
    assert cancelled["total"] >= 1


def test_an_indemnity_in_another_currency_without_a_rate_is_40_euros_never_0(client, keys, ledger):
    """A CHF invoice 76 days late (2025-04-15 → 2025-06-30) and no EUR/CHF rate stored: the
    indemnity owed is 40 € (indemnity_eur), not convertible (indemnity null), and the notes say
    no rate is known; the same for a penalty invoice on a CHF invoice paid late."""
    batch = {"customers": [{"customer_id": "S", "name": "Suisse SA", "currency": "CHF"}],
             "invoices": [{"invoice_id": "S1", "customer_id": "S", "issue_date": "2025-03-16",
                           "due_date": "2025-04-15", "amount": "1000.00", "currency": "CHF"},
                          {"invoice_id": "S2", "customer_id": "S", "issue_date": "2025-03-01",
                           "due_date": "2025-03-31", "amount": "500.00", "currency": "CHF"}],
             "payments": [{"payment_id": "PS2", "customer_id": "S", "invoice_id": "S2",
                           "paid_on": "2025-05-10", "amount": "500.00", "currency": "CHF"}]}
    assert client.post(f"{API}/ingest", json=batch, headers=keys["billing"]).status_code == 200
    penalties = client.get(f"{API}/invoices/S1/next-action", headers=keys["analyst"]).json()["penalties"]
    assert penalties["indemnity"] is None and Decimal(penalties["indemnity_eur"]) == Decimal("40")
    assert Decimal(penalties["total"]) == Decimal(penalties["interest"])  # CHF only, no euros added
    assert any("40 EUR" in n and "no dated EUR/CHF rate" in n for n in penalties["notes"])
    created = client.post(f"{API}/penalty-invoices", json={"customer_id": "S"}, headers=keys["analyst"])
    assert created.status_code == 201, created.text
    [penalty] = created.json()["created"]
    [line] = penalty["lines"]
    assert line["invoice_id"] == "S2" and line["indemnity"] is None
    assert Decimal(line["indemnity_eur"]) == Decimal("40")
    assert Decimal(penalty["indemnity_eur_unconverted"]) == Decimal("40")
    assert Decimal(penalty["total"]) == Decimal(penalty["interest"])
