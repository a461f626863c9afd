"""The `relance` CLI on a real SQLite file: import, keys, error exit codes."""
import pandas as pd
from typer.testing import CliRunner

from serving.cli import app

runner = CliRunner()


def cli(monkeypatch, tmp_path, *args):
    from ledger.config import get_settings
    from ledger.db import get_engine

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    get_settings.cache_clear(), get_engine.cache_clear()
    try:
        return runner.invoke(app, list(args))
    finally:
        get_settings.cache_clear(), get_engine.cache_clear()


def test_import_ibm_prints_counts_and_late_rate(monkeypatch, tmp_path, shared_ibm):
    result = cli(monkeypatch, tmp_path, "import", str(shared_ibm))
    assert result.exit_code == 0, result.output
    assert "2466" in result.output and "35.56 %" in result.output


def test_import_bad_directory_exits_2_with_a_message(monkeypatch, tmp_path):
    (tmp_path / "ledger").mkdir()
    pd.DataFrame([{"customer_id": ""}]).to_csv(tmp_path / "ledger" / "customers.csv", index=False)
    result = cli(monkeypatch, tmp_path, "import", str(tmp_path / "ledger"))
    assert result.exit_code == 2
    assert "invoices.csv" in result.output


def test_keys_create_prints_a_working_key_once(monkeypatch, tmp_path):
    result = cli(monkeypatch, tmp_path, "keys", "create", "--role", "analyst")
    assert result.exit_code == 0, result.output
    key = result.output.strip().splitlines()[-1]
    assert key.startswith("rl_")
    from sqlmodel import Session

    from ledger.db import make_engine
    from serving.auth import verify_key

    with Session(make_engine(f"sqlite:///{tmp_path / 'cli.db'}")) as session:
        stored = verify_key(session=session, key=key)
        assert stored.role == "analyst" and stored.key_hash != key
    bad = cli(monkeypatch, tmp_path, "keys", "create", "--role", "boss")
    assert bad.exit_code == 2 and "boss" in bad.output
