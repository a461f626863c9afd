"""Item 9 of issue 13: nothing a client sends gets a 5xx. Huge ids and offsets, dates outside
what pandas holds, NUL bytes (PostgreSQL refuses them in text), the same id posted by several
clients at once, a settled invoice to predict; and the 422 body is the one the document says."""
from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlmodel import Session

from ledger.ingest import ingest
from ledger.schemas import IngestBatch
from tests.server import running

API = "/api/v1"
HUGE = 2**63
TODAY = dt.date.today()


@pytest.fixture
def ledger(db):
    """C1 with an open overdue invoice I1 and a settled one I2."""
    batch = IngestBatch.model_validate({
        "customers": [{"customer_id": "C1", "email": "c1@example.org"}],
        "invoices": [{"invoice_id": "I1", "customer_id": "C1", "issue_date": "2026-01-01",
                      "due_date": "2026-01-31", "amount": "100.00"},
                     {"invoice_id": "I2", "customer_id": "C1", "issue_date": "2026-01-01",
                      "due_date": "2026-01-31", "amount": "50.00"}],
        "payments": [{"payment_id": "P1", "customer_id": "C1", "paid_on": "2026-02-02",
                      "amount": "50.00", "invoice_id": "I2"}]})
    with Session(db) as session:
        ingest(session=session, batch=batch, actor="test")
        session.commit()
    return db


def _is_422_with_field(response, field_part: str) -> None:
    assert response.status_code == 422, response.text
    body = response.json()
    assert isinstance(body["detail"], str) and body["detail"]
    assert any(field_part in e["field"] for e in body["errors"]), body


@pytest.mark.parametrize("method,route", [
    ("get", f"/invoices?offset={HUGE}"), ("get", f"/disputes?offset={HUGE}"),
    ("get", f"/promises?offset={HUGE}"), ("get", f"/dunning/actions?offset={HUGE}"),
    ("get", f"/audit?offset={HUGE}"), ("get", f"/webhooks/deliveries?offset={HUGE}"),
    ("get", f"/webhooks/deliveries?subscriber_id={HUGE}"), ("delete", f"/webhooks/{HUGE}"),
    ("post", f"/dunning/actions/{HUGE}/cancel"), ("get", f"/invoices?offset={10**30}")])
def test_ids_and_offsets_beyond_64_bits_are_422(client, keys, ledger, method, route):
    response = client.request(method, API + route, headers=keys["admin"])
    _is_422_with_field(response, "offset" if "offset" in route else "id")


@pytest.mark.parametrize("route", ["/webhooks/{}", "/dunning/actions/{}/cancel"])
def test_row_ids_are_32_bit_like_their_columns(client, keys, ledger, route):
    method = "delete" if "webhooks" in route else "post"
    largest = client.request(method, API + route.format(2**31 - 1), headers=keys["admin"])
    assert largest.status_code == 404
    _is_422_with_field(client.request(method, API + route.format(2**31), headers=keys["admin"]), "id")


@pytest.mark.parametrize("route", ["/reports/kpis", "/reports/aging", "/reports/dso",
                                   "/reports/dunning-effectiveness", "/reports/disputes",
                                   "/reports/cash-forecast", "/dunning/actions"])
@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31", "1677-09-20", "2262-04-12"])
def test_dates_outside_the_bounds_are_422(client, keys, ledger, route, day):
    key = "date" if route == "/dunning/actions" else "as_of"
    _is_422_with_field(client.get(f"{API}{route}?{key}={day}", headers=keys["admin"]), key)


@pytest.mark.parametrize("route", ["/dunning/runs", "/dunning/outbox"])
def test_run_dates_outside_the_bounds_are_422(client, keys, ledger, route):
    response = client.post(API + route, json={"date": "9999-12-31"}, headers=keys["admin"])
    _is_422_with_field(response, "date")


NUL = "\x00"


@pytest.mark.parametrize("method,route,body", [
    ("get", "/customers/C1%00", None),
    ("get", "/invoices?customer_id=C%001", None),
    ("get", "/disputes?assignee=a%00", None),
    ("get", "/reports/kpis?segment=s%00", None),
    ("post", "/ingest", {"customers": [{"customer_id": f"C{NUL}2"}]}),
    ("post", "/ingest", {"customers": [{"customer_id": "C3", "name": f"Dupont{NUL}"}]}),
    ("post", "/customers/C1/notes", {"body": f"a note{NUL}"}),
    ("post", "/disputes", {"invoices": [{"invoice_id": "I1"}], "reason": "price", "comment": f"x{NUL}"}),
    ("post", "/promises", {"customer_id": "C1", "amount": "1", "promised_date": str(TODAY),
                           "note": f"n{NUL}"}),
    ("post", "/calls", {"customer_id": "C1", "outcome": "no_answer", "note": f"{NUL}"}),
    ("post", "/worklist/assignments", {"agent": f"a{NUL}", "customer_ids": ["C1"]}),
    ("post", "/predictions", {"invoice_ids": [f"I1{NUL}"]}),
    ("put", "/dunning/templates/email_firm.fr.j2", {"source": f"Bonjour{NUL}"}),
    ("post", "/dunning/actions/1/cancel", {"reason": f"r{NUL}"}),
    ("post", "/webhooks", {"url": f"http://93.184.215.14/{NUL}", "events": ["invoice.late"]}),
])
def test_a_nul_byte_anywhere_is_422(client, keys, ledger, method, route, body):
    """On PostgreSQL a NUL reaching the driver was a 500; on both backends it is a 422 now."""
    response = client.request(method, API + route, json=body, headers=keys["admin"])
    assert response.status_code == 422, response.text
    assert "U+0000" in response.text


def test_a_settled_invoice_or_a_credit_note_cannot_be_predicted(client, keys, ledger):
    response = client.post(f"{API}/predictions", json={"invoice_ids": ["I1", "I2"]},
                           headers=keys["billing"])
    _is_422_with_field(response, "invoice_ids[1]")
    assert "settled" in response.json()["errors"][0]["message"]
    assert client.post(f"{API}/predictions", json={"invoice_ids": ["I1"]},
                       headers=keys["billing"]).status_code == 200


def test_a_duplicate_dispute_or_promise_id_is_409(client, keys, ledger):
    dispute = {"dispute_id": "D1", "invoices": [{"invoice_id": "I1"}], "reason": "price"}
    assert client.post(f"{API}/disputes", json=dispute, headers=keys["admin"]).status_code == 201
    again = client.post(f"{API}/disputes", json=dispute, headers=keys["admin"])
    assert again.status_code == 409 and "D1" in again.json()["detail"]
    promise = {"promise_id": "PR1", "customer_id": "C1", "amount": "10", "promised_date": str(TODAY)}
    assert client.post(f"{API}/promises", json=promise, headers=keys["admin"]).status_code == 201
    assert client.post(f"{API}/promises", json=promise, headers=keys["admin"]).status_code == 409


@pytest.mark.parametrize("kind", ["dispute", "promise"])
def test_the_same_id_posted_by_eight_clients_at_once(app, keys, ledger, kind):
    """Real concurrent clients on a real server: one 201, the others 409, never a 500."""
    if kind == "dispute":
        route, body = "/disputes", {"dispute_id": "D-RACE", "invoices": [{"invoice_id": "I1"}],
                                    "reason": "price"}
    else:
        route, body = "/promises", {"promise_id": "P-RACE", "customer_id": "C1", "amount": "10",
                                    "promised_date": str(TODAY)}
    start = threading.Barrier(8)
    with running(app) as url:
        def send(_):
            with httpx.Client(base_url=url, headers=keys["admin"], timeout=60) as http:
                start.wait()
                return http.post(API + route, json=body).status_code

        with ThreadPoolExecutor(8) as pool:
            codes = sorted(pool.map(send, range(8)))
    assert codes.count(201) == 1 and set(codes) <= {201, 409}, codes


def test_the_documented_422_is_the_one_sent(client, keys, ledger):
    from jsonschema import validate

    document = client.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas
    answer = document["paths"]["/api/v1/invoices"]["get"]["responses"]["422"]
    ref = answer["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    resolved = {**schemas[ref], "components": document["components"]}
    sent = client.get(f"{API}/invoices?limit=0", headers=keys["admin"])
    assert sent.status_code == 422
    validate(sent.json(), resolved)
    assert sent.json()["errors"] == [{"field": "limit", "message": sent.json()["errors"][0]["message"]}]
    # the error answers of an operation are documented with the body they carry
    assert document["paths"]["/api/v1/invoices/{invoice_id}"]["get"]["responses"]["404"]["content"]
