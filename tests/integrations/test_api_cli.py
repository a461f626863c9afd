"""The integration routes and commands: FEC upload, webhook subscribers, delivery log, CLI."""
from __future__ import annotations

from typer.testing import CliRunner

from ledger.tables import record_event
from serving.cli import app as cli_app
from tests.integrations.conftest import fec
from tests.integrations.test_fec import BOOKS
from tests.integrations.test_webhooks import receiving

runner = CliRunner()


def upload(client, headers, text, **params):
    return client.post("/api/v1/import/fec", params=params, headers=headers,
                       files={"file": ("FEC.txt", text.encode("latin-1"), "text/plain")})


def test_fec_upload_imports_and_reports(client, keys):
    response = upload(client, keys["billing"], fec(*BOOKS), terms_days=45)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["invoices"] == 3 and body["result"]["invoices"]["created"] == 4
    assert body["due_dates"] == {"column": 0, "customer_terms": 0, "default": 3}
    assert body["unplaced"] == [{"line": 12, "customer_id": "C2", "record_id": "OD4", "amount": "400.00",
                                 "reason": "unallocated_credit"}]
    invoice = client.get("/api/v1/invoices/F001", headers=keys["billing"]).json()
    assert invoice["due_date"] == "2024-02-19" and invoice["settled_on"] == "2024-02-10"


def test_fec_upload_with_options_and_a_terms_file(client, keys):
    response = client.post(
        "/api/v1/import/fec", headers=keys["billing"],
        params={"default_terms": "fin de mois 45 jours", "unlettered": "oldest_first", "dry_run": "true"},
        files={"file": ("FEC.txt", fec(*BOOKS).encode(), "text/plain"),
               "terms": ("terms.csv", "customer_id;terms\nC1;à réception\n".encode(), "text/csv")})
    assert response.status_code == 200, response.text
    body = response.json()
    # C1's two invoices take its own terms, C2's one the default; a dry run writes nothing
    assert body["due_dates"] == {"column": 0, "customer_terms": 2, "default": 1} and body["result"] is None
    assert client.get("/api/v1/invoices/F001", headers=keys["billing"]).status_code == 404
    bad = client.post("/api/v1/import/fec", headers=keys["billing"], params={"default_terms": "bientôt"},
                      files={"file": ("FEC.txt", fec(*BOOKS).encode(), "text/plain")})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "default_terms"
    assert upload(client, keys["billing"], fec(*BOOKS), unlettered="never").status_code == 422


def test_fec_upload_with_bad_lines_is_422_with_every_line(client, keys):
    bad = [BOOKS[0].replace("1200,00|0,00", "12O0,00|0,00"), *BOOKS[1:]]
    response = upload(client, keys["admin"], fec(*bad))
    assert response.status_code == 422
    issues = response.json()["issues"]
    assert {(i["line"], i["column"]) for i in issues} == {(2, "Debit")}
    assert client.get("/api/v1/invoices/F002", headers=keys["admin"]).status_code == 404
    skipped = upload(client, keys["admin"], fec(*bad), skip_invalid="true")
    assert skipped.status_code == 200 and skipped.json()["invalid_entries"] == 1


def test_fec_upload_needs_billing_or_admin(client, keys):
    assert upload(client, keys["agent"], fec(*BOOKS)).status_code == 403
    assert client.post("/api/v1/import/fec", headers=keys["billing"]).status_code == 422


def test_webhook_routes_subscribe_deliver_and_log(client, keys, db, loopback_webhooks):
    admin = keys["admin"]
    bad = client.post("/api/v1/webhooks", headers=admin, json={"url": "http://127.0.0.1/x", "events": ["nope"]})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "events"
    assert client.get("/api/v1/webhooks", headers=keys["analyst"]).status_code == 403
    with receiving(failures=1) as receiver:
        created = client.post("/api/v1/webhooks", headers=admin,
                              json={"url": receiver.url, "events": ["dispute.opened"]})
        assert created.status_code == 201 and len(created.json()["secret"]) >= 16
        from sqlmodel import Session

        with Session(db) as session:
            record_event(session, type="dispute.opened", entity_id="D1", payload={"invoice_id": "F1"})
            session.commit()
        first = client.post("/api/v1/webhooks/deliver", headers=admin).json()
        assert (first["attempted"], first["retrying"]) == (1, 1)
    log = client.get("/api/v1/webhooks/deliveries", headers=admin).json()
    assert [(d["attempt"], d["status"]) for d in log] == [(2, "pending"), (1, "error")]
    listed = client.get("/api/v1/webhooks", headers=admin).json()
    assert "secret" not in listed[0]
    assert client.delete(f"/api/v1/webhooks/{listed[0]['id']}", headers=admin).status_code == 204
    assert client.delete("/api/v1/webhooks/999", headers=admin).status_code == 404
    assert client.get("/api/v1/webhooks/deliveries?status=cancelled", headers=admin).json()[0]["attempt"] == 2


def cli(monkeypatch, tmp_path, *args):
    from ledger.config import get_settings
    from ledger.db import get_engine

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("RELANCE_LANG", "fr")
    get_settings.cache_clear(), get_engine.cache_clear()
    try:
        return runner.invoke(cli_app, list(args))
    finally:
        get_settings.cache_clear(), get_engine.cache_clear()


def test_cli_import_fec_prints_the_report(monkeypatch, tmp_path):
    path = tmp_path / "FEC.txt"
    path.write_text(fec(*BOOKS, separator="\t"), encoding="latin-1")
    result = cli(monkeypatch, tmp_path, "import-fec", str(path), "--terms-days", "45")
    assert result.exit_code == 0, result.output
    assert "factures" in result.output and "avoirs" in result.output
    again = cli(monkeypatch, tmp_path, "import-fec", str(path))
    assert again.exit_code == 0 and "inchangés" in again.output


def test_cli_import_fec_bad_file_exits_2_listing_lines(monkeypatch, tmp_path):
    path = tmp_path / "FEC.txt"
    path.write_text(fec(BOOKS[0].replace("20240105|411000", "2024-01-05|411000"), *BOOKS[1:]))
    result = cli(monkeypatch, tmp_path, "import-fec", str(path))
    assert result.exit_code == 2
    assert "EcritureDate" in result.output and "2024-01-05" in result.output


def test_cli_webhooks_deliver_runs(monkeypatch, tmp_path):
    result = cli(monkeypatch, tmp_path, "webhooks", "deliver")
    assert result.exit_code == 0, result.output
    assert "0 livrés" in result.output


def test_cli_import_fec_json_report_and_export_round_trip(monkeypatch, tmp_path):
    import json

    path = tmp_path / "FEC.txt"
    path.write_text(fec(*BOOKS, separator="\t"), encoding="latin-1")
    result = cli(monkeypatch, tmp_path, "import-fec", str(path), "--json", "--default-terms", "45 jours")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["due_dates"] == {"column": 0, "customer_terms": 0, "default": 3}
    assert [u["record_id"] for u in report["unplaced"]] == ["OD4"]
    out = tmp_path / "export.txt"
    exported = cli(monkeypatch, tmp_path, "export-fec", "--out", str(out), "--encoding", "latin-1")
    assert exported.exit_code == 0, exported.output
    text = out.read_bytes().decode("latin-1")
    assert text.startswith("JournalCode\tJournalLib") and "Société Alpha" in text
    # F001 and its receipt share one lettering code in the export
    lines = [line.split("\t") for line in text.splitlines()[1:]]
    letters = {row[8]: row[13] for row in lines if row[4] == "411000"}
    assert letters["F001"] == letters["REL0210"] != "" and letters["OD4"] == ""
    again = cli(monkeypatch, tmp_path, "import-fec", str(out), "--json")
    assert json.loads(again.output)["result"]["invoices"]["created"] == 0


def test_cli_import_fec_refuses_bad_options_with_exit_2(monkeypatch, tmp_path):
    path = tmp_path / "FEC.txt"
    path.write_text(fec(*BOOKS))
    assert cli(monkeypatch, tmp_path, "import-fec", str(path), "--unlettered", "never").exit_code == 2
    bad = cli(monkeypatch, tmp_path, "import-fec", str(path), "--default-terms", "bientôt")
    assert bad.exit_code == 2 and "bientôt" in bad.output


def test_cli_import_open_items_with_a_mapping_file(monkeypatch, tmp_path):
    from tests.integrations.test_open_items import AGED, MAPPING

    data, mapping = tmp_path / "balance.csv", tmp_path / "mapping.toml"
    data.write_text(AGED, encoding="latin-1")
    mapping.write_text(MAPPING, encoding="utf-8")
    result = cli(monkeypatch, tmp_path, "import-open-items", str(data), "--mapping", str(mapping))
    assert result.exit_code == 0, result.output
    assert "4 lignes" in result.output and "1\u00a0400,00" in result.output
    data.write_text(AGED.replace("15/01/2024", "2024-01-15"), encoding="latin-1")
    bad = cli(monkeypatch, tmp_path, "import-open-items", str(data), "--mapping", str(mapping))
    assert bad.exit_code == 2 and "line 2, Date" in bad.output
