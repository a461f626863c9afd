"""The ledger routes, through the real app: roles, 401/403, 422 naming the field, 413, idempotency."""
import copy
import json

import pytest

from tests.ledger.test_ingest import BATCH

API = "/api/v1"


def test_health_is_open(client):
    assert client.get("/health").json()["status"] == "ok"


def test_missing_or_wrong_key_is_401(client, keys):
    assert client.get(f"{API}/invoices").status_code == 401
    response = client.get(f"{API}/invoices", headers={"Authorization": "Bearer rl_dead_beef"})
    assert response.status_code == 401
    assert "unknown" in response.json()["detail"]


@pytest.mark.parametrize("role, status", [("billing", 200), ("admin", 200), ("agent", 403), ("analyst", 403)])
def test_only_billing_and_admin_ingest(client, keys, role, status):
    assert client.post(f"{API}/ingest", json=BATCH, headers=keys[role]).status_code == status


def test_ingest_then_read(client, keys):
    response = client.post(f"{API}/ingest", json=BATCH, headers=keys["billing"])
    assert response.status_code == 200, response.text
    assert response.json()["invoices"]["created"] == 4
    again = client.post(f"{API}/ingest", json=BATCH, headers=keys["billing"]).json()
    assert again["invoices"] == {"created": 0, "updated": 0, "unchanged": 4}

    invoice = client.get(f"{API}/invoices/F2", headers=keys["billing"]).json()
    assert invoice["open_amount"] == "20.10" and invoice["status"] == "overdue"
    assert invoice["settled_on"] is None and invoice["days_late"] > 0
    customer = client.get(f"{API}/customers/C1", headers=keys["analyst"]).json()
    assert customer["open_balance"] == "20.10" and customer["overdue_invoices"] == 1
    assert client.get(f"{API}/customers/C1", headers=keys["billing"]).status_code == 403
    assert client.get(f"{API}/customers/NOPE", headers=keys["analyst"]).status_code == 404
    assert client.get(f"{API}/invoices/NOPE", headers=keys["analyst"]).status_code == 404


def test_invoice_list_filters_and_pages(client, keys):
    client.post(f"{API}/ingest", json=BATCH, headers=keys["billing"])
    settled = client.get(f"{API}/invoices?status=settled", headers=keys["analyst"]).json()
    assert {i["invoice_id"] for i in settled["items"]} == {"F1", "F3"}
    page = client.get(f"{API}/invoices?limit=2&offset=2", headers=keys["analyst"]).json()
    assert page["total"] == 4 and len(page["items"]) == 2
    mine = client.get(f"{API}/invoices?customer_id=C2", headers=keys["analyst"]).json()
    assert [i["invoice_id"] for i in mine["items"]] == ["F3"]
    bad = client.get(f"{API}/invoices?status=paid", headers=keys["analyst"])
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "status"


@pytest.mark.parametrize("mutate, field", [
    (lambda b: b["invoices"][0].update(due_date="2023-12-01"), "invoices[0].due_date"),
    (lambda b: b["invoices"][1].update(amount="-5"), "invoices[1].amount"),
    (lambda b: b["invoices"][1].update(amount="douze"), "invoices[1].amount"),
    (lambda b: b["invoices"][2].update(currency="XYZ"), "invoices[2].currency"),
    (lambda b: b["invoices"][0].update(customer_id="NOPE"), "invoices[0].customer_id"),
    (lambda b: b["payments"][0].update(invoice_id="NOPE"), "payments[0].invoice_id"),
    (lambda b: b["payments"][0].update(paid_on="31/02/2024"), "payments[0].paid_on"),
    (lambda b: b["customers"][0].pop("customer_id"), "customers[0].customer_id"),
])
def test_bad_input_is_422_naming_the_field_and_stores_nothing(client, keys, mutate, field):
    body = copy.deepcopy(BATCH)
    mutate(body)
    response = client.post(f"{API}/ingest", json=body, headers=keys["billing"])
    assert response.status_code == 422, response.text
    payload = response.json()
    assert field in [e["field"] for e in payload["errors"]]
    assert all(e["message"] for e in payload["errors"]) and payload["detail"]
    listing = client.get(f"{API}/invoices", headers=keys["analyst"]).json()
    assert listing["total"] == 0


def test_a_20_mb_body_is_413(client, keys):
    big = {"customers": [{"customer_id": f"C{i}", "name": "x" * 150} for i in range(120_000)]}
    body = json.dumps(big).encode()
    assert len(body) > 20_000_000
    response = client.post(f"{API}/ingest", content=body, headers={**keys["billing"], "Content-Type": "application/json"})
    assert response.status_code == 413
    assert client.get(f"{API}/invoices", headers=keys["analyst"]).json()["total"] == 0


def test_malformed_json_is_422(client, keys):
    response = client.post(f"{API}/ingest", content=b"{not json", headers={**keys["billing"], "Content-Type": "application/json"})
    assert response.status_code == 422


def test_terms_beyond_the_legal_maximum_are_flagged_on_the_customer(client, keys):
    client.post(f"{API}/ingest", headers=keys["billing"], json={"customers": [
        {"customer_id": "LONG", "payment_terms_days": 90}, {"customer_id": "OK", "payment_terms_days": 30}]})
    long = client.get(f"{API}/customers/LONG", headers=keys["analyst"]).json()
    assert [w["code"] for w in long["warnings"]] and "60" in long["warnings"][0]["fr"]
    assert client.get(f"{API}/customers/OK", headers=keys["analyst"]).json()["warnings"] == []
