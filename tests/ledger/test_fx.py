"""Exchange rates: the ECB file importer, the one conversion decision, the CLI and the API."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from sqlmodel import Session
from typer.testing import CliRunner

from ledger import fx
from ledger.errors import LedgerValidationError

DATA = Path(__file__).resolve().parents[1] / "data" / "ecb"
HIST = DATA / "eurofxref-hist-sample.csv"
DAILY = DATA / "eurofxref-daily-sample.csv"
D = dt.date


def test_ecb_history_is_imported_once_and_idempotently(session):
    report = fx.import_ecb(session=session, source=HIST)
    session.commit()
    # USD, JPY, GBP, CHF are configured; BGN and CYP are not (and CYP is all N/A)
    assert report.currencies == ["CHF", "GBP", "JPY", "USD"]
    assert report.skipped_currencies == ["BGN", "CYP"]
    assert (report.rows, report.created, report.first_date, report.last_date) == (11, 11, D(2026, 11, 20), D(2026, 11, 25))
    again = fx.import_ecb(session=session, source=HIST)
    session.commit()
    assert (again.created, again.updated, again.unchanged) == (0, 0, 11)


def test_daily_file_format_is_read_too(session):
    report = fx.import_ecb(session=session, source=DAILY)
    assert report.first_date == D(2026, 11, 26) and report.currencies == ["CHF", "GBP", "JPY", "USD"]


def test_conversion_uses_the_latest_rate_on_or_before_the_day(session):
    fx.import_ecb(session=session, source=HIST)
    session.commit()
    # 1 EUR = 0.85 GBP on the 25th: 850 GBP = 1000.00 EUR
    assert fx.convert(session, Decimal("850"), "GBP", "EUR", D(2026, 11, 25)) == fx.Converted(
        Decimal("1000.00"), Decimal(1) / Decimal("0.85"), D(2026, 11, 25))
    # on the 23rd (a Monday with no file row in the sample) the 20th's rate applies: 1.08 USD
    on_23 = fx.convert(session, Decimal("100"), "EUR", "USD", D(2026, 11, 23))
    assert on_23.amount == Decimal("108.00") and on_23.rate_date == D(2026, 11, 20)
    # GBP → USD through the euro: 85 GBP = 100 EUR = 110 USD
    cross = fx.convert(session, Decimal("85"), "GBP", "USD", D(2026, 11, 25))
    assert cross.amount == Decimal("110.00") and cross.rate_date == D(2026, 11, 25)
    # half-up to the cent: 10 CHF / 0.94 = 10.638… EUR
    assert fx.convert(session, Decimal("10"), "CHF", "EUR", D(2026, 11, 25)).amount == Decimal("10.64")
    same = fx.convert(session, Decimal("12.34"), "GBP", "GBP", D(2000, 1, 1))
    assert same == fx.Converted(Decimal("12.34"), Decimal(1), None)


def test_no_rate_is_none_never_one_to_one(session):
    fx.import_ecb(session=session, source=HIST)
    session.commit()
    # before the first rate, for a currency never imported, and once the last rate is too old
    assert fx.convert(session, Decimal("1"), "USD", "EUR", D(2026, 11, 19)) is None
    assert fx.convert(session, Decimal("1"), "MAD", "EUR", D(2026, 11, 25)) is None
    assert fx.convert(session, Decimal("1"), "EUR", "MAD", D(2026, 11, 25)) is None
    assert fx.convert(session, Decimal("1"), "USD", "EUR", D(2026, 12, 31)) is None
    # JPY had no rate on the 20th (N/A): the 21st finds nothing for it
    assert fx.convert(session, Decimal("1"), "JPY", "EUR", D(2026, 11, 21)) is None


def test_a_bad_file_stores_nothing_and_names_line_and_column(session):
    bad = HIST.read_text().replace("0.8450", "O.8450").replace("2026-11-20", "2026-13-20")
    with pytest.raises(LedgerValidationError) as caught:
        fx.import_ecb(session=session, source=bad.encode())
    fields = {e.field for e in caught.value.errors}
    assert fields == {"line 3, column GBP", "line 4, column Date"}
    with pytest.raises(LedgerValidationError):
        fx.import_ecb(session=session, source=b"PK\x03\x04\xff\xfe zip")
    with pytest.raises(LedgerValidationError):
        fx.import_ecb(session=session, source=b"Day,USD\n2026-01-01,1.1\n")
    negative = "Date,USD,\n2026-11-25,-1.1,\n"
    with pytest.raises(LedgerValidationError):
        fx.import_ecb(session=session, source=negative)
    assert fx.list_rates(session=session)[1] == 0


def test_since_keeps_recent_days_only(session):
    report = fx.import_ecb(session=session, source=HIST, since=D(2026, 11, 24))
    assert report.first_date == D(2026, 11, 24) and report.rows == 8


def test_cli_import(db, monkeypatch):
    from ledger import db as ledger_db
    from serving.cli import app

    monkeypatch.setattr(ledger_db, "get_engine", lambda: db)
    result = CliRunner().invoke(app, ["fx", "import", str(HIST)])
    assert result.exit_code == 0, result.output
    assert "11" in result.output
    with Session(db) as session:
        assert fx.list_rates(session=session, currency="GBP")[1] == 3
    missing = CliRunner().invoke(app, ["fx", "import", str(DATA / "nope.csv")])
    assert missing.exit_code == 2
    bad = DATA.parent / "ecb" / "eurofxref-daily-sample.csv"
    since = CliRunner().invoke(app, ["fx", "import", str(bad), "--since", "yesterday"])
    assert since.exit_code == 2


def test_api_post_file_json_and_list(client, keys):
    posted = client.post("/api/v1/fx/rates", headers=keys["analyst"],
                         files={"file": ("eurofxref-hist.csv", HIST.read_bytes(), "text/csv")})
    assert posted.status_code == 200, posted.text
    assert posted.json()["created"] == 11
    raw = client.post("/api/v1/fx/rates", headers={**keys["billing"], "content-type": "text/csv"},
                      content=DAILY.read_bytes())
    assert raw.status_code == 200 and raw.json()["created"] == 4
    body = {"rates": [{"currency": "mad", "rate_date": "2026-11-25", "rate": "10.85"}]}
    assert client.post("/api/v1/fx/rates", headers=keys["admin"], json=body).json()["created"] == 1
    listed = client.get("/api/v1/fx/rates", headers=keys["agent"], params={"currency": "GBP"}).json()
    assert listed["base"] == "EUR" and listed["total"] == 4
    assert [r["rate_date"] for r in listed["items"]] == ["2026-11-26", "2026-11-25", "2026-11-24", "2026-11-20"]
    assert Decimal(listed["items"][1]["rate"]) == Decimal("0.85")


def test_api_rejects_bad_rates_with_the_field(client, keys):
    bad = client.post("/api/v1/fx/rates", headers=keys["admin"],
                      json={"rates": [{"currency": "USD", "rate_date": "2026-11-25", "rate": "-1"}]})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "rates[0].rate"
    eur = client.post("/api/v1/fx/rates", headers=keys["admin"],
                      json={"rates": [{"currency": "EUR", "rate_date": "2026-11-25", "rate": "1"}]})
    assert eur.status_code == 422 and eur.json()["errors"][0]["field"] == "rates[0].currency"
    assert client.post("/api/v1/fx/rates", headers=keys["admin"], content=b"{not json").status_code == 422
    file = client.post("/api/v1/fx/rates", headers=keys["admin"],
                       files={"file": ("x.csv", b"Date,USD\nsoon,1\n", "text/csv")})
    assert file.status_code == 422 and file.json()["errors"][0]["field"] == "line 2, column Date"
    assert client.post("/api/v1/fx/rates", headers=keys["agent"], json={"rates": []}).status_code == 403
    assert client.get("/api/v1/fx/rates", headers=keys["agent"], params={"limit": 0}).status_code == 422
