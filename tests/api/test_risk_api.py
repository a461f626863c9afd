"""Risk, predictions, next action and the served model, through the real app and database."""
import datetime as dt

import pytest
from sqlmodel import Session

from features.synth import generate
from ledger.frames import write_ledger_dir
from ledger.importers import import_ledger_dir
from model.dataset import labelled_rows
from model.train import TrainConfig, fit_bundle
from serving.risk import RiskService
from tests.conftest import give_portfolio

API = "/api/v1"


@pytest.fixture(scope="module")
def ledger_dir(tmp_path_factory):
    today = dt.date.today()
    start = (today - dt.timedelta(days=365)).replace(day=1)
    frames = generate(customers=60, months=12, seed=5, start=start.isoformat())
    path = tmp_path_factory.mktemp("ledger")
    write_ledger_dir(frames, path)
    return path, frames


@pytest.fixture(scope="module")
def bundle_dir(ledger_dir, tmp_path_factory):
    _, frames = ledger_dir
    bundle = fit_bundle(labelled_rows(frames), config=TrainConfig(num_boost_round=60, early_stopping_rounds=20))
    return bundle.save(tmp_path_factory.mktemp("bundle") / "bundle")


@pytest.fixture
def loaded(app, db, ledger_dir):
    with Session(db) as session:
        import_ledger_dir(session=session, directory=ledger_dir[0], actor="test", today=dt.date.today())
        session.commit()
    give_portfolio(db)  # the agent's key reads risks of its own customers
    return app


def serve_model(app, path):
    app.state.risk = RiskService(str(path))
    app.state.risk.reload()


def open_invoice_ids(client, keys, n=5):
    page = client.get(f"{API}/invoices?status=overdue&limit={n}", headers=keys["agent"]).json()
    return [i["invoice_id"] for i in page["items"]]


def test_customer_risk_without_model_says_rules(loaded, client, keys, ledger_dir):
    customer = ledger_dir[1].customers["customer_id"].iloc[0]
    body = client.get(f"{API}/customers/{customer}/risk", headers=keys["agent"]).json()
    assert body["basis"] == "rules" and body["model_version"] is None
    assert 0 <= body["score"] <= 1000 and body["grade"] in "ABCDE"
    assert body["reasons"] and body["reasons"][0]["sentence"]


def test_customer_risk_with_the_model(loaded, client, keys, ledger_dir, bundle_dir):
    serve_model(loaded, bundle_dir)
    customers = ledger_dir[1].customers
    scores = {}
    for customer in customers["customer_id"].iloc[:12]:
        body = client.get(f"{API}/customers/{customer}/risk?lang=fr", headers=keys["analyst"]).json()
        assert body["basis"] == "model" and body["model_version"].startswith("local-")
        assert len(body["reasons"]) >= 1 and all(r["sentence"] for r in body["reasons"])
        scores[customer] = (body["score"], body["grade"], body["p_late"])
    # the grade reads the score: a better score never has a worse grade
    ranked = sorted(scores.values())
    assert [g for _, g, _ in ranked] == sorted([g for _, g, _ in ranked], reverse=True)
    english = client.get(f"{API}/customers/{customers['customer_id'].iloc[0]}/risk?lang=en",
                         headers=keys["agent"]).json()
    assert english["reasons"][0]["sentence"] != "" and english["score"] == scores[customers["customer_id"].iloc[0]][0]
    assert client.get(f"{API}/customers/NOPE/risk", headers=keys["agent"]).status_code == 404
    assert client.get(f"{API}/customers/{customers['customer_id'].iloc[0]}/risk", headers=keys["billing"]).status_code == 403


def test_predictions_for_stored_and_inline_invoices(loaded, client, keys, ledger_dir, bundle_dir):
    serve_model(loaded, bundle_dir)
    ids = open_invoice_ids(client, keys)
    customer = ledger_dir[1].customers["customer_id"].iloc[0]
    today = dt.date.today()
    body = {"invoice_ids": ids, "explain": 2, "lang": "en",
            "invoices": [{"invoice_id": "NEW-1", "customer_id": customer, "issue_date": today.isoformat(),
                          "due_date": (today + dt.timedelta(days=30)).isoformat(), "amount": "1200.00"}]}
    response = client.post(f"{API}/predictions", json=body, headers=keys["billing"])
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["basis"] == "model"
    got = [p["invoice_id"] for p in result["predictions"]]
    assert got == ids + ["NEW-1"]
    for p in result["predictions"]:
        assert 0 <= p["p_severe"] <= p["p_late"] <= 1 and 0 <= p["score"] <= 1000
        assert 1 <= len(p["reasons"]) <= 2
    # without reasons asked, none computed
    plain = client.post(f"{API}/predictions", json={"invoice_ids": ids}, headers=keys["agent"]).json()
    assert all(p["reasons"] == [] for p in plain["predictions"])
    assert [round(p["p_late"], 6) for p in plain["predictions"]] == \
        [round(p["p_late"], 6) for p in result["predictions"][:len(ids)]]


@pytest.mark.parametrize("body, field", [
    ({"invoice_ids": ["NOPE"]}, "invoice_ids[0]"),
    ({"invoices": [{"invoice_id": "X", "customer_id": "NOPE", "issue_date": "2026-01-01",
                    "due_date": "2026-02-01", "amount": "10"}]}, "invoices[0].customer_id"),
    ({"invoices": [{"invoice_id": "X", "customer_id": "C", "issue_date": "2026-01-01",
                    "due_date": "2026-02-01", "amount": "-10"}]}, "invoices[0].amount"),
    ({"invoices": [{"invoice_id": "X", "issue_date": "2026-01-01", "due_date": "2026-02-01",
                    "amount": "10"}]}, "invoices[0].customer_id"),
    ({"invoice_ids": [f"I{i}" for i in range(10_001)]}, "body"),
    ({}, "body"),
])
def test_bad_prediction_requests_are_422(loaded, client, keys, body, field):
    response = client.post(f"{API}/predictions", json=body, headers=keys["billing"])
    assert response.status_code == 422
    assert field in [e["field"] for e in response.json()["errors"]]


def test_next_action_of_settled_overdue_and_disputed_invoices(loaded, client, keys, db):
    settled = client.get(f"{API}/invoices?status=settled&limit=1", headers=keys["agent"]).json()["items"][0]
    body = client.get(f"{API}/invoices/{settled['invoice_id']}/next-action", headers=keys["agent"]).json()
    assert body["action"] == "wait" and body["send_on"] is None and body["reasons"]
    assert body["basis"] == "rules"

    overdue_id = open_invoice_ids(client, keys, 1)[0]
    body = client.get(f"{API}/invoices/{overdue_id}/next-action?lang=fr", headers=keys["agent"]).json()
    assert body["penalties"]["indemnity"] == "40.00" and float(body["penalties"]["interest"]) > 0
    assert body["scenario"] and body["reasons"]
    if body["action"] != "wait":
        assert dt.date.fromisoformat(body["send_on"]).weekday() < 5

    client.post(f"{API}/ingest", headers=keys["billing"], json={"disputes": [
        {"dispute_id": "D-T", "invoice_id": overdue_id, "opened_on": dt.date.today().isoformat()}]})
    body = client.get(f"{API}/invoices/{overdue_id}/next-action", headers=keys["agent"]).json()
    assert body["action"] == "wait"
    assert any("dispute" in r["code"] for r in body["reasons"])
    assert client.get(f"{API}/invoices/{overdue_id}/next-action", headers=keys["billing"]).status_code == 403


def test_roles_on_scenarios_and_predictions(loaded, client, keys):
    scenario = client.get(f"{API}/dunning/scenarios/standard", headers=keys["analyst"]).json()
    assert client.put(f"{API}/dunning/scenarios/standard", json=scenario, headers=keys["billing"]).status_code == 403
    assert client.post(f"{API}/predictions", json={"invoice_ids": open_invoice_ids(client, keys, 1)},
                       headers=keys["billing"]).status_code == 200


def test_model_endpoints_and_a_broken_model_never_takes_the_api_down(loaded, client, keys, bundle_dir, tmp_path):
    info = client.get(f"{API}/model", headers=keys["analyst"]).json()
    assert info["status"] == "no_model" and info["basis"] == "rules"
    serve_model(loaded, bundle_dir)
    info = client.get(f"{API}/model", headers=keys["analyst"]).json()
    assert info["status"] == "loaded" and info["meta"]["n_train"] > 0
    drift = client.get(f"{API}/model/drift", headers=keys["analyst"])
    assert drift.status_code == 200, drift.text
    summary = drift.json()
    assert 0 <= summary["share_of_drifted_features"] <= 1 and "hazard" in summary["columns"]
    # trained on everything up to today: nothing has come in since, so nothing to recommend
    assert summary["retrain_recommended"] is False
    assert summary["calibration"]["n"] < 100 and summary["recommendation"]["fr"]

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "meta.json").write_text("{not json")
    serve_model(loaded, broken)
    info = client.get(f"{API}/model", headers=keys["analyst"]).json()
    assert info["status"] == "broken" and info["detail"]
    customer = client.get(f"{API}/invoices?limit=1", headers=keys["agent"]).json()["items"][0]["customer_id"]
    risk = client.get(f"{API}/customers/{customer}/risk", headers=keys["agent"])
    assert risk.status_code == 200 and risk.json()["basis"] == "rules"
    reload = client.post(f"{API}/model/reload", headers=keys["admin"])
    assert reload.status_code == 200 and reload.json()["status"] == "broken"
    assert client.post(f"{API}/model/reload", headers=keys["agent"]).status_code == 403


def test_the_cash_forecast_uses_the_served_model(loaded, client, keys, bundle_dir):
    rules = client.get(f"{API}/reports/cash-forecast", headers=keys["analyst"]).json()
    serve_model(loaded, bundle_dir)
    model = client.get(f"{API}/reports/cash-forecast", headers=keys["analyst"]).json()
    assert rules != model
    assert str(model).count("week") >= 13


def test_a_customer_with_no_invoice_yet_gets_a_cold_start_risk(loaded, client, keys, bundle_dir):
    serve_model(loaded, bundle_dir)
    client.post(f"{API}/ingest", json={"customers": [{"customer_id": "BRAND-NEW"}]}, headers=keys["billing"])
    give_portfolio(loaded.state.engine, ["BRAND-NEW"])
    body = client.get(f"{API}/customers/BRAND-NEW/risk", headers=keys["agent"])
    assert body.status_code == 200, body.text
    assert body.json()["basis"] == "model" and body.json()["open_invoices"] == 0
    today = dt.date.today()
    new = {"invoices": [{"invoice_id": "N-1", "customer_id": "BRAND-NEW", "issue_date": today.isoformat(),
                         "due_date": (today + dt.timedelta(days=30)).isoformat(), "amount": "99.00"}]}
    response = client.post(f"{API}/predictions", json=new, headers=keys["billing"])
    assert response.status_code == 200 and response.json()["predictions"][0]["invoice_id"] == "N-1"


def test_the_risk_cache_never_serves_a_stale_answer(loaded, client, keys, bundle_dir):
    serve_model(loaded, bundle_dir)
    customer = client.get(f"{API}/invoices?status=overdue&limit=1", headers=keys["agent"]).json()["items"][0]["customer_id"]
    first = client.get(f"{API}/customers/{customer}/risk", headers=keys["agent"]).json()
    assert client.get(f"{API}/customers/{customer}/risk", headers=keys["agent"]).json() == first
    today = dt.date.today()
    client.post(f"{API}/ingest", headers=keys["billing"], json={"invoices": [
        {"invoice_id": "CACHE-1", "customer_id": customer, "issue_date": today.isoformat(),
         "due_date": (today + dt.timedelta(days=30)).isoformat(), "amount": "5000.00"}]})
    after = client.get(f"{API}/customers/{customer}/risk", headers=keys["agent"]).json()
    assert after["open_invoices"] == first["open_invoices"] + 1
    # a reload serves the model afresh: the answer is computed again, and equal
    client.post(f"{API}/model/reload", headers=keys["admin"])
    assert client.get(f"{API}/customers/{customer}/risk", headers=keys["agent"]).json()["open_invoices"] == after["open_invoices"]
