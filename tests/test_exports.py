"""CSV exports: dialects, BOM, decimal comma, and formula cells neutralised."""
from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest

from serving.exports import neutralise, to_csv


@pytest.mark.parametrize("text", ["=1+1", "+33 1 23", "-2+3", "@SUM(A1)", "\tx", "\rx",
                                  '=HYPERLINK("http://x","y")'])
def test_formula_starts_are_neutralised(text):
    assert neutralise(text) == "'" + text


def test_plain_text_is_left_alone():
    assert neutralise("Dupont & Fils") == "Dupont & Fils" and neutralise("") == ""


def test_french_and_english_dialects():
    rows = [["=cmd|' /C calc'!A0", Decimal("-1234.50"), 0.25, dt.date(2026, 6, 30), None, True]]
    fr = to_csv(["name", "amount", "rate", "on", "empty", "flag"], rows)
    assert fr.startswith("\ufeff")
    parsed = list(csv.reader(io.StringIO(fr[1:]), delimiter=";"))
    # numbers stay numbers (a negative amount is not a formula); the text is neutralised
    assert parsed[1] == ["'=cmd|' /C calc'!A0", "-1234,50", "0,25", "2026-06-30", "", "true"]
    en = to_csv(["amount"], [[Decimal("1234.50")]], "excel-en")
    assert list(csv.reader(io.StringIO(en[1:]))) == [["amount"], ["1234.50"]]


def test_a_customer_name_with_a_formula_is_neutralised_in_a_report(client, keys, session):
    from ledger.effects import ingest_and_apply
    from ledger.schemas import IngestBatch

    ingest_and_apply(today=dt.date.today(), session=session, actor="test", batch=IngestBatch.model_validate({
        "customers": [{"customer_id": "X1", "name": "=HYPERLINK(\"http://evil\")"}],
        "invoices": [{"invoice_id": "XI", "customer_id": "X1", "issue_date": "2026-06-01",
                      "due_date": "2026-06-10", "amount": "10"}]}))
    session.commit()
    text = client.get("/api/v1/reports/aging?by=customer&format=csv&as_of=2026-06-30",
                      headers=keys["analyst"]).text
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=";"))
    assert rows[1][3] == "'=HYPERLINK(\"http://evil\")"
