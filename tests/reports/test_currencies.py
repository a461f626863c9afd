"""Every report on a ledger in EUR, GBP, USD, CHF (and MAD, with no rate), to the cent, in the
reporting currency and per currency. The figures are worked out in multicurrency_fixture.py."""
from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest

from ledger import forecast, kpis
from tests.reports.multicurrency_fixture import AS_OF, RATE_DAY, build_ledger

M = Decimal


@pytest.fixture
def ledger(session):
    build_ledger(session)
    return session


def lens_for(session, currency=None):
    codes = kpis.ledger_currencies(session=session)
    if currency is not None and currency in codes and currency != "EUR-total":
        return kpis.Lens.only(currency)
    return kpis.Lens.reporting(session=session, as_of=AS_OF, currencies=codes)


def test_the_reporting_lens_converts_what_it_can_and_names_the_rest(ledger):
    lens = lens_for(ledger)
    assert lens.currency == "EUR" and lens.unconverted == ["MAD"]
    assert set(lens.rates) == {"EUR", "GBP", "USD", "CHF"} and lens.rate_date == RATE_DAY
    assert lens.money({"GBP": M("500"), "USD": M("1250"), "CHF": M("960"), "MAD": M("1000")}) == M("2625.00")


def test_aging_converted_and_per_currency(ledger):
    report = kpis.aging(session=ledger, as_of=AS_OF, lens=lens_for(ledger))
    got = {b.bucket: (b.count, b.amount) for b in report.buckets}
    # not due: EI2 500 + GI2 400 GBP = 500 EUR; MAD's MI1 is left out
    assert got["not_due"] == (2, M("1000.00"))
    assert got["1-30"] == (2, M("2000.00"))       # EI1 1000 + SI1 960 CHF = 1000 EUR
    assert got["31-60"] == (1, M("625.00"))       # GI1 500 GBP open
    assert got["61-90"] == (0, M("0"))
    assert got["91-180"] == (1, M("1000.00"))     # UI1 1250 USD
    assert (report.total, report.count, report.overdue) == (M("4625.00"), 6, M("3625.00"))
    assert report.overdue_rate == pytest.approx(3625 / 4625, abs=1e-4)
    own = {c: kpis.aging(session=ledger, as_of=AS_OF, lens=kpis.Lens.only(c)) for c in
           ("EUR", "GBP", "USD", "CHF", "MAD")}
    assert {c: r.total for c, r in own.items()} == {
        "EUR": M("1500.00"), "GBP": M("900.00"), "USD": M("1250.00"), "CHF": M("960.00"), "MAD": M("1000.00")}
    assert own["GBP"].buckets[2].amount == M("500.00") and own["GBP"].currency == "GBP"
    assert own["MAD"].buckets[0].amount == M("1000.00")


def test_dso_and_cei_converted_and_per_currency(ledger):
    point = kpis.dso(session=ledger, as_of=AS_OF, months=1, lens=lens_for(ledger)).current
    # sales in [04-02, 06-30]: EI1 1000 + EI2 500 + GI2 400 GBP (500) + UI2 250 USD (200)
    # + SI1 960 CHF (1000) = 3200 EUR (GI1 and UI1 were issued before the window)
    assert (point.receivables, point.sales, point.current_receivables) == (M("4625.00"), M("3200.00"), M("1000.00"))
    assert point.dso == pytest.approx(4625 / 3200 * 90, abs=1e-3)
    assert point.best_possible_dso == pytest.approx(1000 / 3200 * 90, abs=1e-3)
    assert point.to_date is False  # 06-30 ends its month
    gbp = kpis.dso(session=ledger, as_of=AS_OF, months=1, lens=kpis.Lens.only("GBP")).current
    assert (gbp.receivables, gbp.sales, gbp.dso) == (M("900.00"), M("400.00"), pytest.approx(202.5))
    june = kpis.cei_by_month(session=ledger, as_of=AS_OF, months=1, lens=lens_for(ledger))[-1]
    # begin (05-31): EI1 1000 + GI1 800 GBP (1000) + UI1 1250 USD (1000) + UI2 250 USD (200) = 3200
    # sales in June: EI2 500 + GI2 (500) + SI1 (1000) = 2000; (3200 + 2000 − 4625) / (5200 − 1000)
    assert (june.beginning_receivables, june.sales, june.ending_receivables) == (M("3200.00"), M("2000.00"), M("4625.00"))
    assert june.cei == pytest.approx(575 / 4200 * 100, abs=1e-3)


def test_period_stats_converted(ledger):
    stats = kpis.period_stats(session=ledger, as_of=AS_OF, days=90, lens=lens_for(ledger))
    # collected: 300 GBP (375 EUR) + 250 USD (200 EUR); opening at 04-01: GI1 (1000) + UI1 (1000)
    assert (stats.collected, stats.opening_receivables, stats.sales) == (M("575.00"), M("2000.00"), M("3200.00"))
    assert stats.recovery_rate == pytest.approx(575 / 5200, abs=1e-4)
    assert (stats.invoices_paid, stats.average_days_late_paid, stats.share_paid_late) == (1, 11.0, 1.0)
    usd = kpis.period_stats(session=ledger, as_of=AS_OF, days=90, lens=kpis.Lens.only("USD"))
    assert (usd.collected, usd.opening_receivables, usd.sales) == (M("250.00"), M("1250.00"), M("250.00"))


def test_top_debtors_and_disputes_converted(ledger):
    debtors = kpis.top_debtors(session=ledger, as_of=AS_OF, lens=lens_for(ledger))
    assert [(d.customer_id, d.overdue_balance, d.open_balance) for d in debtors] == [
        ("E1", M("1000.00"), M("1500.00")), ("S1", M("1000.00"), M("1000.00")),
        ("U1", M("1000.00"), M("1000.00")), ("G1", M("625.00"), M("1125.00"))]
    rows = {r.reason: r for r in kpis.disputes(session=ledger, as_of=AS_OF, lens=lens_for(ledger))}
    # GI1's dispute: the invoice's 800 GBP = 1000 EUR; the MAD dispute is not in the EUR view
    assert set(rows) == {"price"} and rows["price"].open_amount == M("1000.00")
    assert rows["price"].average_open_age_days == 29
    mad = kpis.disputes(session=ledger, as_of=AS_OF, lens=kpis.Lens.only("MAD"))
    assert [(r.reason, r.open_amount) for r in mad] == [("quality", M("1000.00"))]


def test_cash_forecast_adds_up_to_the_open_amount(ledger):
    report = forecast.cash_forecast(session=ledger, as_of=AS_OF, lens=lens_for(ledger))
    assert report.open_receivables == M("4625.00") and report.currency == "EUR"
    assert sum((w.expected for w in report.weeks), M(0)) + report.later == M("4625.00")
    gbp = forecast.cash_forecast(session=ledger, as_of=AS_OF, lens=kpis.Lens.only("GBP"))
    assert sum((w.expected for w in gbp.weeks), M(0)) + gbp.later == M("900.00")


def test_no_rate_at_all_keeps_only_the_reporting_currency(session):
    build_ledger(session, rates=False)
    lens = lens_for(session)
    assert lens.unconverted == ["CHF", "GBP", "MAD", "USD"] and lens.rate_date is None
    assert kpis.aging(session=session, as_of=AS_OF, lens=lens).total == M("1500.00")


REPORTS = ["kpis", "aging", "dso", "dunning-effectiveness", "disputes", "cash-forecast"]


@pytest.mark.parametrize("name", REPORTS)
def test_every_report_states_its_currency_rates_and_by_currency(client, keys, ledger, name):
    body = client.get(f"/api/v1/reports/{name}?as_of=2026-06-30", headers=keys["analyst"]).json()
    assert body["reporting_currency"] == "EUR" and body["rate_date"] == "2026-06-29"
    assert {r["currency"]: Decimal(r["rate"]).quantize(M("0.0001")) for r in body["rates"]} == {
        "GBP": M("1.2500"), "USD": M("0.8000"), "CHF": M("1.0417")}
    assert [u["currency"] for u in body["unconverted"]] == ["MAD"]
    assert [e["currency"] for e in body["by_currency"]] == ["CHF", "EUR", "GBP", "MAD", "USD"]


def test_kpis_api_figures(client, keys, ledger):
    body = client.get("/api/v1/reports/kpis?as_of=2026-06-30", headers=keys["analyst"]).json()
    assert body["aging"]["total"] == "4625.00" and body["currency"] == "EUR"
    assert body["period"]["collected"] == "575.00"
    by = {e["currency"]: e for e in body["by_currency"]}
    assert by["GBP"]["aging"]["total"] == "900.00" and by["GBP"]["period"]["collected"] == "300.00"
    assert by["MAD"]["aging"]["total"] == "1000.00"
    assert by["USD"]["top_debtors"][0]["open_balance"] == "1250.00"


def test_reporting_in_another_currency(client, keys, ledger):
    body = client.get("/api/v1/reports/aging?as_of=2026-06-30&currency=gbp", headers=keys["analyst"]).json()
    # EUR 1500 = 1200 GBP; GBP 900; USD 1250 = 1000 EUR = 800 GBP; CHF 960 = 1000 EUR = 800 GBP
    assert body["reporting_currency"] == "GBP" and body["total"] == "3700.00"
    bad = client.get("/api/v1/reports/aging?currency=XYZ", headers=keys["analyst"])
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "currency"


def test_aging_by_customer_and_agent(client, keys, ledger, db):
    from sqlmodel import Session

    from ledger.tables import Customer

    with Session(db) as s:
        for cid in ("E1", "G1"):
            s.get(Customer, cid).assigned_agent = "test-agent"
        s.commit()
    body = client.get("/api/v1/reports/aging?as_of=2026-06-30&by=customer", headers=keys["analyst"]).json()
    rows = {r["key"]: r for r in body["rows"]}
    assert set(rows) == {"E1", "G1", "U1", "S1"}  # M1 (MAD) has no rate
    assert rows["G1"]["total"] == "1125.00" and rows["G1"]["buckets"]["31-60"] == "625.00"
    assert rows["G1"]["agent"] == "test-agent" and rows["G1"]["name"] == "Pound Ltd"
    mad = next(e for e in body["by_currency"] if e["currency"] == "MAD")
    assert [(r["key"], r["total"]) for r in mad["rows"]] == [("M1", "1000.00")]
    agents = client.get("/api/v1/reports/aging?as_of=2026-06-30&by=agent", headers=keys["analyst"]).json()
    assert {r["key"]: r["total"] for r in agents["rows"]} == {"test-agent": "2625.00", "": "2000.00"}
    # reports are for analysts and admins (docs/security.md): an agent reads its worklist instead
    assert client.get("/api/v1/reports/aging?as_of=2026-06-30&by=customer",
                      headers=keys["agent"]).status_code == 403
    text = client.get("/api/v1/reports/aging?as_of=2026-06-30&by=customer&format=csv",
                      headers=keys["analyst"]).text
    table = list(csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=";"))
    assert table[0][:7] == ["scope", "currency", "key", "name", "agent", "count", "total"]
    assert ["total", "EUR", "G1", "Pound Ltd", "test-agent", "2", "1125,00"] in [r[:7] for r in table]


def test_worklist_amounts_in_the_customers_currency_ranked_in_the_reporting_one(client, keys, ledger, app):
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class Odds:
        p_unpaid_30: float = 0.8
        p_unpaid_90: float = 0.5
        grade: str = "C"
        source: str = "model"

    app.state.today = AS_OF
    app.state.risk_for = lambda session, invoice_ids, today: {i: Odds() for i in invoice_ids}
    rows = client.get("/api/v1/worklist", headers=keys["analyst"]).json()
    # 90 days, half of what is open: E1 750 EUR; G1 450 GBP = 562.50 EUR; U1 625 USD = 500 EUR;
    # S1 480 CHF = 500 EUR; M1 500 MAD, no rate: ranked on 500 (its own amount) and said so
    assert [(r["customer_id"], r["currency"], r["value_at_risk_90"], r["value_at_risk_90_reporting"])
            for r in rows] == [("E1", "EUR", "750.00", "750.00"), ("G1", "GBP", "450.00", "562.50"),
                               ("M1", "MAD", "500.00", None), ("S1", "CHF", "480.00", "500.00"),
                               ("U1", "USD", "625.00", "500.00")]
    mad = rows[2]
    assert mad["unconverted"] == ["MAD"] and any(r["code"] == "no_rate" for r in mad["reasons"])
    assert rows[1]["open_amount"] == "900.00" and rows[1]["value_at_risk_30"] == "720.00"
    gbp = next(r for r in rows[1]["reasons"] if r["code"] == "value_at_risk")["text"]
    assert "450,00\xa0£GB sous 90 jours" in gbp
