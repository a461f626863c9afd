"""A customer's dunning scenario must exist: refused at ingestion and import, reported by a run."""
from __future__ import annotations

import datetime as dt

import pandas as pd
from sqlalchemy import update
from sqlmodel import Session
from typer.testing import CliRunner

from ledger.effects import ingest_and_apply
from ledger.schemas import IngestBatch
from ledger.tables import Customer
from serving.cli import app
from serving.dunning import run_dunning, scenario_names
from tests.dunning.ledger_fixture import RUN_DATE, build_ledger

API = "/api/v1"


def test_the_api_refuses_an_unknown_scenario_naming_the_field(client, keys):
    batch = {"customers": [{"customer_id": "OK", "dunning_scenario": "gentle"},
                           {"customer_id": "ALIAS", "dunning_scenario": "key_account"},
                           {"customer_id": "BAD", "dunning_scenario": "vip_typo"}]}
    response = client.post(f"{API}/ingest", json=batch, headers=keys["billing"])
    assert response.status_code == 422
    error = response.json()["errors"][0]
    assert error["field"] == "customers[2].dunning_scenario"
    assert "unknown dunning scenario 'vip_typo'" in error["message"] and "gentle" in error["message"]
    # all or nothing: the valid customers were not stored either
    assert client.get(f"{API}/customers/OK", headers=keys["analyst"]).status_code == 404
    batch["customers"].pop()
    assert client.post(f"{API}/ingest", json=batch, headers=keys["billing"]).status_code == 200


def test_an_edited_scenario_is_a_known_name(session):
    from ledger import saved_scenarios as saved
    from serving.scenarios import load_default_scenarios

    body = load_default_scenarios()["gentle"].model_dump(mode="json") | {"name": "vip"}
    saved.save_scenario(session, name="vip", body=body, actor="test")
    session.flush()
    assert "vip" in scenario_names(session)
    assert {"standard", "gentle", "strict", "key_account", "enterprise"} <= scenario_names(session)


def test_the_import_names_file_line_and_column(monkeypatch, tmp_path):
    from ledger.config import get_settings
    from ledger.db import get_engine

    folder = tmp_path / "ledger"
    folder.mkdir()
    pd.DataFrame([{"customer_id": "C1", "dunning_scenario": "standard"},
                  {"customer_id": "C2", "dunning_scenario": "key_acount"}]).to_csv(
        folder / "customers.csv", index=False)
    pd.DataFrame([{"invoice_id": "F1", "customer_id": "C1", "issue_date": "2024-01-01",
                   "due_date": "2024-01-31", "amount": "100"}]).to_csv(folder / "invoices.csv", index=False)
    pd.DataFrame(columns=["payment_id", "customer_id", "paid_on", "amount"]).to_csv(
        folder / "payments.csv", index=False)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    get_settings.cache_clear(), get_engine.cache_clear()
    try:
        result = CliRunner().invoke(app, ["import", str(folder)])
    finally:
        get_settings.cache_clear(), get_engine.cache_clear()
    assert result.exit_code == 2, result.output
    assert "customers.csv line 3, column dunning_scenario" in " ".join(result.output.split())


def test_a_run_reports_a_fallback_as_a_warning(session):
    build_ledger(session)
    # a name stored before the check (or a scenario since removed) falls back, loudly
    session.execute(update(Customer).where(Customer.customer_id == "C2")
                    .values(dunning_scenario="retired_scenario"))
    session.commit()
    report = run_dunning(session=session, run_date=RUN_DATE, dry_run=True, actor="test", today=RUN_DATE)
    # in French by default, in English too (serving.labels)
    assert report.warnings == ["1 client(s) nomment le scénario de relance inconnu « retired_scenario » "
                               "et ont été relancés selon un scénario de repli : C2"]
    assert [w.en for w in report.notices] == [
        "1 customer(s) name the unknown dunning scenario 'retired_scenario' and were dunned on a "
        "fallback scenario instead: C2"]
    assert report.summary()["warnings_detail"][0]["code"] == "scenario_fallback"
    assert {a.scenario for a in report.actions if a.customer_id == "C2"} == {"standard"}


def test_key_accounts_are_dunned_on_the_gentle_scenario(session):
    batch = IngestBatch.model_validate({
        "customers": [{"customer_id": "K1", "segment": "enterprise", "dunning_scenario": "gentle"},
                      {"customer_id": "K2", "segment": "enterprise"},
                      {"customer_id": "K3", "dunning_scenario": "key_account"}],
        "invoices": [{"invoice_id": f"F{n}", "customer_id": f"K{n}", "issue_date": "2024-04-01",
                      "due_date": str(RUN_DATE - dt.timedelta(days=8)), "amount": "1000"}
                     for n in (1, 2, 3)]})
    ingest_and_apply(today=dt.date.today(), session=session, batch=batch, actor="test", scenario_names=scenario_names(session))
    session.commit()
    report = run_dunning(session=session, run_date=RUN_DATE, dry_run=True, actor="test", today=RUN_DATE)
    # gentle: first reminder at D+7, courteous; no warning
    assert {(a.customer_id, a.scenario, a.step, a.tone) for a in report.actions} == {
        (f"K{n}", "gentle", "first_reminder", "courteous") for n in (1, 2, 3)}
    assert report.warnings == []


def test_the_synthetic_ledger_names_scenarios_that_exist():
    from features.synth import generate
    from serving.scenarios import accepted_names, load_default_scenarios, load_default_segment_map

    customers = generate(customers=200, months=3, seed=3).customers
    names = accepted_names(load_default_scenarios(), load_default_segment_map())
    assert set(customers["dunning_scenario"]) <= names
    enterprise = customers[customers["segment"] == "enterprise"]
    assert len(enterprise) > 0 and set(enterprise["dunning_scenario"]) == {"gentle"}
    assert customers[["address", "postal_code", "city"]].notna().all().all()


def test_one_call_task_per_customer_and_day_lists_its_invoices(client, keys, db):
    """The 23-calls-for-one-customer bug: a customer's invoices due for a call on a day make one
    task in the reminders listing and in the worklist's next action."""
    with Session(db) as session:
        invoices = [{"invoice_id": f"CALL-{n}", "customer_id": "BIG", "issue_date": "2024-04-01",
                     "due_date": str(RUN_DATE - dt.timedelta(days=10 + n)), "amount": "800"}
                    for n in range(5)]
        ingest_and_apply(today=dt.date.today(), session=session, batch=IngestBatch.model_validate(
            {"customers": [{"customer_id": "BIG", "name": "Gros Client"}], "invoices": invoices}),
            actor="test")
        from ledger.tables import DunningAction

        for n in range(5):  # first reminders e-mailed 10 days ago: the call step is next
            session.add(DunningAction(customer_id="BIG", invoice_id=f"CALL-{n}", step="first_reminder",
                                      action="email", channel="email", state="sent",
                                      send_on=RUN_DATE - dt.timedelta(days=10),
                                      closed_on=RUN_DATE - dt.timedelta(days=10)))
        session.execute(update(Customer).values(assigned_agent="test-agent"))
        session.commit()
    run = client.post(f"{API}/dunning/runs", json={"date": str(RUN_DATE)}, headers=keys["analyst"]).json()
    assert run["by_channel"] == {"call": 5} and run["reminders"] == 1
    calls = client.get(f"{API}/reminders", params={"customer_id": "BIG", "channel": "call",
                                                   "state": "planned"}, headers=keys["agent"]).json()
    assert calls["total"] == 1
    task = calls["items"][0]
    assert sorted(i["invoice_id"] for i in task["invoices"]) == [f"CALL-{n}" for n in range(5)]
    assert task["total_open"] == "4000.00" and task["customer_name"] == "Gros Client"
    worklist = client.get(f"{API}/worklist", headers=keys["analyst"]).json()
    nxt = next(r for r in worklist if r["customer_id"] == "BIG")["next_action"]
    assert nxt["channel"] == "call" and sorted(nxt["invoices"]) == [f"CALL-{n}" for n in range(5)]
    # one logged call closes the task for every invoice
    logged = client.post(f"{API}/calls", json={"customer_id": "BIG", "outcome": "reached_promised"},
                         headers=keys["agent"])
    assert logged.status_code == 201
    after = client.get(f"{API}/reminders", params={"customer_id": "BIG", "channel": "call"},
                       headers=keys["agent"]).json()["items"][0]
    assert after["state"] == "sent"
