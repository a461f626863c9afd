"""Statement of account: entries, running balance, open items, per currency; PDF and CSV."""
from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest

from ledger.statement import statement
from tests.reports import ledger_fixture, multicurrency_fixture

M = Decimal


def test_statement_with_an_opening_balance_and_a_credit_note(session):
    ledger_fixture.build_ledger(session)
    s = statement(session=session, customer_id="C2", as_of=ledger_fixture.AS_OF,
                  start=ledger_fixture.D("2026-04-01"))
    [eur] = s.sections
    # before April: I4 2000. Then I8 700, P4 −700, I5 300, credit note CN1 −100
    assert eur.opening_balance == M("2000.00")
    assert [(line.kind, line.reference, line.debit, line.credit, line.balance) for line in eur.lines] == [
        ("invoice", "I8", M("700.00"), M("0.00"), M("2700.00")),
        ("payment", "P4", M("0.00"), M("700.00"), M("2000.00")),
        ("invoice", "I5", M("300.00"), M("0.00"), M("2300.00")),
        ("credit_note", "CN1", M("0.00"), M("100.00"), M("2200.00"))]
    assert eur.closing_balance == M("2200.00")
    # open: I4 2000 − 100 credit = 1900, 91 days past due; I5 300 due that day
    assert [(i.invoice_id, i.open_amount, i.days_past_due) for i in eur.open_items] == [
        ("I4", M("1900.00"), 91), ("I5", M("300.00"), 0)]
    assert eur.overdue == M("1900.00") and eur.aging["91-180"] == M("1900.00")
    # the closing balance is what is open (no unused credit, no unallocated cash here)
    assert eur.closing_balance == sum((i.open_amount for i in eur.open_items), M(0))


def test_statement_is_point_in_time_and_in_the_customers_currency(session):
    multicurrency_fixture.build_ledger(session)
    before = statement(session=session, customer_id="G1", as_of=dt.date(2026, 6, 9))
    [gbp] = before.sections
    assert gbp.currency == "GBP" and gbp.closing_balance == M("1200.00")  # the 300 paid 06-10 not yet in
    after = statement(session=session, customer_id="G1", as_of=multicurrency_fixture.AS_OF).sections[0]
    assert after.closing_balance == M("900.00") and after.overdue == M("500.00")


def test_statement_routes(client, keys, session):
    multicurrency_fixture.build_ledger(session)
    pdf = client.get("/api/v1/customers/G1/statement?as_of=2026-06-30", headers=keys["analyst"])
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-") and len(pdf.content) > 1000
    text = client.get("/api/v1/customers/G1/statement?as_of=2026-06-30&format=csv&lang=en",
                      headers=keys["analyst"]).text
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=";"))
    assert rows[0][:4] == ["currency", "section", "date", "kind"]
    entries = [r for r in rows if r[1] == "entry"]
    assert [(r[3], r[4], r[8]) for r in entries] == [("Invoice", "GI1", "800,00"), ("Invoice", "GI2", "1200,00"),
                                                     ("Payment", "PG1", "900,00")]
    english = client.get("/api/v1/customers/G1/statement?as_of=2026-06-30&format=csv&dialect=excel-en",
                         headers=keys["analyst"]).text
    assert "900.00" in english and ";" not in english.splitlines()[0]
    body = client.get("/api/v1/customers/G1/statement?format=json&as_of=2026-06-30", headers=keys["admin"]).json()
    assert body["sections"][0]["closing_balance"] == "900.00"


@pytest.mark.parametrize(("query", "status"), [("format=xml", 422), ("as_of=2026-02-30", 422),
                                               ("from=2026-07-01&as_of=2026-06-30", 422)])
def test_statement_bad_input(client, keys, session, query, status):
    multicurrency_fixture.build_ledger(session)
    answer = client.get(f"/api/v1/customers/G1/statement?{query}", headers=keys["analyst"])
    assert answer.status_code == status and answer.json()["errors"]


def test_statement_roles(client, keys, session):
    multicurrency_fixture.build_ledger(session)
    assert client.get("/api/v1/customers/NOPE/statement", headers=keys["analyst"]).status_code == 404
    # G1 is not in the agent's portfolio: 404, as if it did not exist
    assert client.get("/api/v1/customers/G1/statement", headers=keys["agent"]).status_code == 404
    assert client.get("/api/v1/customers/G1/statement", headers=keys["billing"]).status_code == 403
