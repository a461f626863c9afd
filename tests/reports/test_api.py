"""Report routes: JSON, CSV export, roles, unknown names and bad dates."""
from __future__ import annotations

import csv
import io

import pytest

from tests.reports.ledger_fixture import add_actions, build_ledger

REPORTS = ["kpis", "aging", "dso", "dunning-effectiveness", "disputes", "cash-forecast"]


@pytest.fixture
def ledger(session):
    build_ledger(session)
    add_actions(session)
    return session


@pytest.mark.parametrize("name", REPORTS)
def test_every_report_as_json_and_csv(client, keys, ledger, name):
    answer = client.get(f"/api/v1/reports/{name}?as_of=2026-06-30", headers=keys["analyst"])
    assert answer.status_code == 200, answer.text
    assert answer.json()["as_of"] == "2026-06-30"
    exported = client.get(f"/api/v1/reports/{name}?as_of=2026-06-30&format=csv", headers=keys["analyst"])
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    # French Excel by default: BOM, `;`, decimal comma
    assert exported.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(exported.text.lstrip("\ufeff")), delimiter=";"))
    assert len(rows) >= 2 and all(len(row) == len(rows[0]) for row in rows)
    assert rows[0][:2] == ["scope", "currency"] and rows[1][:2] == ["total", "EUR"]
    english = client.get(f"/api/v1/reports/{name}?as_of=2026-06-30&format=csv&dialect=excel-en",
                         headers=keys["analyst"])
    rows_en = list(csv.reader(io.StringIO(english.text.lstrip("\ufeff"))))
    assert len(rows_en) == len(rows) and all(len(row) == len(rows_en[0]) for row in rows_en)


def test_aging_json_and_csv_values(client, keys, ledger):
    body = client.get("/api/v1/reports/aging?as_of=2026-06-30&segment=pme", headers=keys["admin"]).json()
    # pme = C1 1500 + C3 1200; money as exact strings
    assert body["total"] == "2700.00" and body["segment"] == "pme"
    text = client.get("/api/v1/reports/aging?as_of=2026-06-30&format=csv", headers=keys["admin"]).text
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=";"))
    assert rows[0] == ["scope", "currency", "bucket", "count", "amount", "share"]
    assert rows[1][:5] == ["total", "EUR", "not_due", "2", "800,00"]
    assert rows[6][:5] == ["total", "EUR", "180+", "1", "400,00"]
    # the EUR-only ledger: the one currency's own rows follow, the same figures
    assert [r[1:] for r in rows[7:]] == [r[1:] for r in rows[1:7]] and rows[7][0] == "currency"


def test_kpis_json(client, keys, ledger):
    body = client.get("/api/v1/reports/kpis?as_of=2026-06-30&months=2", headers=keys["analyst"]).json()
    assert body["dso"]["dso"] == pytest.approx(152.069, abs=1e-3)
    assert body["cei"][-1]["cei"] == pytest.approx(6.8182, abs=1e-3)
    assert body["top_debtors"][0]["customer_id"] == "C2"


def test_dunning_json_shares(client, keys, ledger):
    body = client.get("/api/v1/reports/dunning-effectiveness?as_of=2026-07-31", headers=keys["analyst"]).json()
    first = next(r for r in body["rows"] if r["step"] == "reminder1")
    assert first["share"]["30"] == pytest.approx(2 / 3, abs=1e-4)


def test_roles_unknown_report_and_bad_date(client, keys, ledger):
    assert client.get("/api/v1/reports/aging", headers=keys["billing"]).status_code == 403
    assert client.get("/api/v1/reports/aging").status_code == 401
    missing = client.get("/api/v1/reports/profit", headers=keys["analyst"])
    assert missing.status_code == 404 and "profit" in missing.json()["detail"]
    bad = client.get("/api/v1/reports/dso?as_of=2026-13-45", headers=keys["analyst"])
    assert bad.status_code == 422
    assert [e["field"] for e in bad.json()["errors"]] == ["as_of"]
    bad_format = client.get("/api/v1/reports/dso?format=xml", headers=keys["analyst"])
    assert bad_format.status_code == 422 and bad_format.json()["errors"][0]["field"] == "format"
