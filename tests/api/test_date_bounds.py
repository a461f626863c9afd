"""Item 5 of issue 13: business dates are bounded (schemas and database), and one odd row stored
before the bounds existed never takes a shared endpoint down for everyone."""
from __future__ import annotations

import datetime as dt
import os
import uuid

import pytest
from alembic import command
from alembic.config import Config
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from features.synth import generate
from ledger.calendar import previous_business_day
from ledger.db import MIGRATIONS, make_engine, migrate
from ledger.frames import write_ledger_dir
from ledger.importers import import_ledger_dir
from model.dataset import labelled_rows
from model.train import TrainConfig, fit_bundle
from serving.app import create_app
from serving.auth import create_key
from serving.risk import RiskService
from tests.conftest import BACKENDS, _drop_pg_schema, _pg_engine

API = "/api/v1"
# a business day: on a weekend or a holiday the dunning run rightly plans nothing to send
TODAY = previous_business_day(dt.date.today())
BAD = "ODD"  # the customer whose rows predate the bounds


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def _before_bounds() -> str:
    """The revision just before the date bounds (0011), wherever the history chains it."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config()).get_revision("0011").down_revision


def _upgrade(engine, revision: str) -> None:
    config = _config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


@pytest.fixture(scope="module")
def ledger(tmp_path_factory):
    start = (TODAY - dt.timedelta(days=365)).replace(day=1)
    frames = generate(customers=30, months=12, seed=11, start=start.isoformat(), as_of=TODAY)
    # customers as an older billing system sends them: no postal address
    frames.customers = frames.customers.drop(columns=["address", "postal_code", "city"])
    path = tmp_path_factory.mktemp("ledger")
    write_ledger_dir(frames, path)
    bundle = fit_bundle(labelled_rows(frames), config=TrainConfig(num_boost_round=40,
                                                                   early_stopping_rounds=10))
    return path, frames, bundle.save(tmp_path_factory.mktemp("bundle") / "bundle")


@pytest.fixture(scope="module", params=BACKENDS)
def legacy(request, ledger, tmp_path_factory):
    """A database filled just before revision 0011 (no bounds yet) with one customer's odd rows, then
    migrated to head: the bounds apply to new rows, the old rows are still there."""
    schema = None
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('legacy')}/legacy.db")
    else:
        schema = f"relance_legacy_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{uuid.uuid4().hex[:6]}"
        engine = _pg_engine(schema)
    _upgrade(engine, _before_bounds())
    with Session(engine) as session:
        import_ledger_dir(session=session, directory=ledger[0], actor="test", today=TODAY)
        session.commit()
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO customer (customer_id, name, language, currency, credit_balance, on_hold, "
            "created_at, updated_at) VALUES (:c, 'Odd SARL', 'fr', 'EUR', 0, false, :now, :now)"),
            {"c": BAD, "now": dt.datetime.now(dt.UTC)})
        for invoice_id, issue, due in (("ODD-1", "0001-01-01", "0001-01-31"),
                                       ("ODD-2", "2026-01-01", "9999-12-31"),
                                       ("ODD-3", str(TODAY - dt.timedelta(days=60)),
                                        str(TODAY - dt.timedelta(days=30)))):
            connection.execute(text(
                "INSERT INTO invoice (invoice_id, customer_id, issue_date, due_date, amount, "
                "currency, kind, open_amount, created_at, updated_at) VALUES "
                "(:i, :c, :issue, :due, 100, 'EUR', 'invoice', 100, :now, :now)"),
                {"i": invoice_id, "c": BAD, "issue": dt.date.fromisoformat(issue),
                 "due": dt.date.fromisoformat(due), "now": dt.datetime.now(dt.UTC)})
        connection.execute(text(
            "INSERT INTO promise (promise_id, customer_id, amount, promised_date, status, created_on, "
            "created_at, updated_at) VALUES ('PRM-ODD', :c, 50, :d, 'open', :t, :now, :now)"),
            {"c": BAD, "d": dt.date(9999, 12, 31), "t": TODAY, "now": dt.datetime.now(dt.UTC)})
        connection.execute(text("INSERT INTO promiseinvoice (promise_id, invoice_id) VALUES "
                                "('PRM-ODD', 'ODD-3')"))
    migrate(engine)
    yield engine
    engine.dispose()
    if schema:
        _drop_pg_schema(schema)


@pytest.fixture(scope="module")
def served(legacy, ledger):
    risk = RiskService(str(ledger[2]))
    risk.reload()
    app = create_app(engine=legacy, risk=risk)
    with TestClient(app) as client:
        with Session(legacy) as session:
            keys = {role: {"Authorization": f"Bearer {create_key(session=session, role=role, name=f'k-{role}')}"}
                    for role in ("admin", "billing")}
            session.commit()
        yield client, keys, app


def _good_invoice(legacy) -> str:
    with legacy.connect() as connection:
        return connection.execute(text(
            "SELECT invoice_id FROM invoice WHERE customer_id <> :c AND settled_on IS NULL "
            "AND kind = 'invoice' AND due_date < :t ORDER BY invoice_id"),
            {"c": BAD, "t": TODAY}).scalars().first()


def test_the_model_is_served(served):
    client, keys, _ = served
    assert client.get(f"{API}/model", headers=keys["admin"]).json()["basis"] == "model"


@pytest.mark.parametrize("route", ["/worklist?limit=100", "/reports/cash-forecast", "/model/drift",
                                   "/promises", f"/promises?customer_id={BAD}", "/reports/kpis",
                                   "/reports/aging", "/reports/dso", "/invoices?limit=1000",
                                   f"/customers/{BAD}", f"/customers/{BAD}/risk"])
def test_shared_readers_survive_rows_from_before_the_bounds(served, route):
    client, keys, _ = served
    response = client.get(API + route, headers=keys["admin"])
    assert response.status_code == 200, response.text


def test_the_worklist_still_ranks_with_the_model_for_everyone_else(served):
    client, keys, _ = served
    rows = client.get(f"{API}/worklist?limit=100", headers=keys["admin"]).json()
    others = [row for row in rows if row["customer_id"] != BAD]
    assert others and all(row["risk_source"] == "model" for row in others)


def test_next_action_and_predictions_of_good_and_odd_invoices(served, legacy):
    client, keys, _ = served
    good = _good_invoice(legacy)
    for invoice_id in (good, "ODD-3"):
        response = client.get(f"{API}/invoices/{invoice_id}/next-action", headers=keys["admin"])
        assert response.status_code == 200, (invoice_id, response.text)
    for invoice_id in ("ODD-1", "ODD-2"):  # the odd row itself says what is wrong with it
        response = client.get(f"{API}/invoices/{invoice_id}/next-action", headers=keys["admin"])
        assert response.status_code == 409 and "send it again" in response.json()["detail"]
    answer = client.post(f"{API}/predictions", json={"invoice_ids": [good, "ODD-3"]},
                         headers=keys["billing"])
    assert answer.status_code == 200, answer.text
    assert answer.json()["basis"] == "model"
    odd = client.post(f"{API}/predictions", json={"invoice_ids": ["ODD-1"]}, headers=keys["billing"])
    assert odd.status_code == 422 and odd.json()["errors"][0]["field"] == "invoice_ids[0]"
    assert "outside 1900-01-01" in odd.json()["errors"][0]["message"]


def test_the_dunning_run_keeps_the_model_for_everyone_else(served):
    client, keys, _ = served
    report = client.post(f"{API}/dunning/runs", json={"date": str(TODAY), "dry_run": True},
                         headers=keys["admin"])
    assert report.status_code == 200, report.text
    actions = report.json()["actions"]
    assert actions
    assert [a for a in actions if a["customer_id"] != BAD]
    # the model answered for everyone: no fall-back to rules for the whole run
    assert "risk_failed" not in {w["code"] for w in report.json()["warnings_detail"]}


def test_ingesting_a_payment_for_the_odd_customer_still_works(served):
    client, keys, _ = served
    body = {"payments": [{"payment_id": "PAY-ODD", "customer_id": BAD, "paid_on": str(TODAY),
                          "amount": "10.00"}]}
    response = client.post(f"{API}/ingest", json=body, headers=keys["billing"])
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("column,value", [("issue_date", "0001-01-01"), ("due_date", "9999-12-31"),
                                          ("issue_date", "1899-12-31"), ("due_date", "2200-01-01")])
def test_the_api_refuses_dates_outside_the_bounds(served, column, value):
    client, keys, _ = served
    invoice = {"invoice_id": "NEW-1", "customer_id": BAD, "issue_date": "2026-01-01",
               "due_date": "2026-02-01", "amount": "10.00", column: value}
    response = client.post(f"{API}/ingest", json={"invoices": [invoice]}, headers=keys["billing"])
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == f"invoices[0].{column}"
    assert "1900-01-01" in response.json()["errors"][0]["message"]


def test_a_promise_more_than_a_year_ahead_is_refused_and_not_stored(served):
    client, keys, _ = served
    body = {"promise_id": "PRM-FAR", "customer_id": BAD, "amount": "10.00",
            "promised_date": str(TODAY + dt.timedelta(days=400))}
    response = client.post(f"{API}/promises", json=body, headers=keys["admin"])
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "promised_date"
    assert client.get(f"{API}/promises/PRM-FAR", headers=keys["admin"]).status_code == 404
    far = {**body, "promised_date": "9999-12-31"}
    assert client.post(f"{API}/promises", json=far, headers=keys["admin"]).status_code == 422


@pytest.mark.parametrize("table,sql", [
    ("invoice", "UPDATE invoice SET due_date = :d WHERE invoice_id = 'ODD-3'"),
    ("promise", "UPDATE promise SET promised_date = :d WHERE promise_id = 'PRM-ODD'"),
    ("payment", "INSERT INTO payment (payment_id, customer_id, paid_on, amount, currency, "
                "unallocated_amount, created_at) VALUES ('P-ODD', 'ODD', :d, 1, 'EUR', 0, '2026-01-01')"),
])
def test_the_database_refuses_dates_outside_the_bounds(legacy, table, sql):
    with pytest.raises(IntegrityError, match=f"ck_{table}_"), legacy.begin() as connection:
        connection.execute(text(sql), {"d": dt.date(9999, 12, 31)})
