"""The dashboard in a real headless Chromium against the running server."""
from __future__ import annotations

import json
import re

import httpx
import pytest

pytestmark = pytest.mark.e2e

CHARTS = ["chart-dso", "chart-aging", "chart-forecast", "chart-risk", "chart-funnel"]
READY = "() => window.relance && window.relance.ready === true"


def sign_in(page, live, role: str = "analyst", path: str = "/") -> None:
    """Open a page without a key: the login form comes first, then the page asked for."""
    # the session is a cookie of the browser context: each sign-in starts signed out
    page.context.clear_cookies()
    page.goto(live.url + path)
    page.wait_for_url(re.compile(r"/login\?"))
    page.fill("#api-key", live.keys[role])
    page.click("#login-submit")
    page.wait_for_url(lambda url: "/login" not in url)
    page.wait_for_function(READY)


def chart_sizes(page) -> dict[str, list[float]]:
    """Canvas size and whether a Chart.js instance draws on it, per chart id."""
    return page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('canvas')].map(c => {
        const r = c.getBoundingClientRect();
        return [c.id, [r.width, r.height, Chart.getChart(c) ? 1 : 0]];
    }))""")


def test_dashboard_in_french_renders_every_chart_without_console_error(page, console, live, artifacts):
    page.goto(live.url + "/")
    page.wait_for_url(re.compile(r"/login\?"))
    page.fill("#api-key", "rl_wrong_key")
    page.click("#login-submit")
    page.wait_for_selector("#login-message:not([hidden])")
    assert "Clé inconnue" in page.inner_text("#login-message")
    console.messages.clear()  # the 401 of the wrong key is logged by the browser, as it should be

    page.fill("#api-key", live.keys["analyst"])
    page.click("#login-submit")
    page.wait_for_url(lambda url: "/login" not in url)
    page.wait_for_function(READY)
    page.screenshot(path=str(artifacts / "dashboard-fr.png"), full_page=True)

    panels = page.evaluate("window.relance.panels")
    for panel in ["panel-kpis", "panel-dso", "panel-aging", "panel-forecast", "panel-risk",
                  "panel-funnel", "panel-worklist"]:
        assert panels[panel] == "ok", panels
    # no scheduler has run in this test server: the panel says so rather than inventing a run
    assert panels["panel-last-run"] == "empty", panels
    assert "Aucune exécution planifiée" in page.inner_text("#panel-last-run")
    sizes = chart_sizes(page)
    for chart in CHARTS:
        width, height, drawn = sizes[chart]
        assert width > 100 and height > 100 and drawn == 1, (chart, sizes[chart])
    assert page.evaluate("Object.keys(Chart.instances).length") >= len(CHARTS)
    assert page.inner_text("h1") == "Tableau de bord"
    assert "Évolution du DSO" in page.inner_text("#panel-dso")
    # the funnel counts the actions of today's dunning run
    planned = page.evaluate("""() => Chart.getChart('chart-funnel').data.datasets
        .reduce((n, d) => n + d.data.reduce((a, b) => a + b, 0), 0)""")
    assert planned > 0
    assert console.errors == []


def test_worklist_links_to_the_customer_page_with_its_invoices(page, console, live, artifacts):
    sign_in(page, live)
    rows = page.locator("#worklist tbody tr")
    assert rows.count() > 5
    first = page.locator("#worklist a.customer-link").first
    assert first.get_attribute("href") == f"/customers/{live.customer_id}?lang=fr"
    first.click()
    page.wait_for_url(re.compile(rf"/customers/{live.customer_id}"))
    page.wait_for_function(READY)
    page.screenshot(path=str(artifacts / "customer-fr.png"), full_page=True)

    headers = {"Authorization": f"Bearer {live.keys['analyst']}"}
    expected = httpx.get(f"{live.url}/api/v1/invoices", params={"customer_id": live.customer_id,
                                                                "limit": 1000}, headers=headers).json()
    shown = page.locator("#invoices tbody tr td:first-child").all_inner_texts()
    assert sorted(shown) == sorted(i["invoice_id"] for i in expected["items"])
    assert live.customer_id in page.inner_text("#customer-title")
    panels = page.evaluate("window.relance.panels")
    assert panels["panel-disputes"] == panels["panel-promises"] == panels["panel-actions"] == "ok", panels
    disputes = page.inner_text("#disputes")
    assert "qualité" in disputes and "ouvert" in disputes
    assert chart_sizes(page)["chart-history"][2] == 1
    assert [e for e in console.errors if e[0] == "pageerror"] == []


def test_english_with_lang_en(page, console, live, artifacts):
    sign_in(page, live, path="/?lang=en")
    page.screenshot(path=str(artifacts / "dashboard-en.png"), full_page=True)
    assert page.inner_text("h1") == "Dashboard"
    assert page.get_attribute("html", "lang") == "en"
    assert "Ageing balance" in page.inner_text("#panel-aging")
    assert "Customer" in page.inner_text("#worklist thead")
    legend = page.evaluate("Chart.getChart('chart-dso').data.datasets.map(d => d.label)")
    assert legend == ["DSO (standard)", "DSO (count-back)", "Best possible DSO"]
    assert page.locator("#worklist a.customer-link").first.get_attribute("href").endswith("?lang=en")
    assert console.errors == []


def test_model_page_shows_the_model_state(page, console, live, artifacts):
    sign_in(page, live, path="/model")
    page.screenshot(path=str(artifacts / "model-fr.png"), full_page=True)
    panels = page.evaluate("window.relance.panels")
    answer = httpx.get(f"{live.url}/api/v1/model", headers={"Authorization": f"Bearer {live.keys['analyst']}"})
    if answer.status_code == 404:  # the model API is not in this build: the panel says so
        assert panels["panel-model"] == "unavailable" and "Indisponible" in page.inner_text("#panel-model")
        return
    assert panels["panel-model"] == "ok", panels
    facts = page.inner_text("#model-facts")
    assert "Version" in facts and "Base des décisions" in facts
    if answer.json()["status"] == "no_model":
        # no model: the page says decisions come from rules, and does not ask for drift
        assert "Aucun modèle en service" in page.inner_text("#panel-model")
        assert panels["panel-drift"] == "empty"
        assert "Aucun modèle" in page.inner_text("#panel-drift")
    assert console.errors == []
    assert [e for e in console.errors if e[0] == "pageerror"] == []


def test_a_failing_endpoint_shows_unavailable_and_the_rest_still_renders(page, live):
    # the browser answers for two endpoints as if they were not built yet / broken
    page.route("**/api/v1/reports/aging*", lambda route: route.fulfill(status=501, body="{}"))
    page.route("**/api/v1/reports/dso*", lambda route: route.fulfill(status=500, body="oops"))
    sign_in(page, live)
    panels = page.evaluate("window.relance.panels")
    assert panels["panel-aging"] == panels["panel-dso"] == "unavailable"
    assert "Indisponible" in page.inner_text("#panel-aging")
    assert panels["panel-forecast"] == panels["panel-worklist"] == "ok"


def test_a_failed_scheduled_run_is_told_in_a_sentence_never_its_exception(page, live):
    # the API keeps the cause for operators; the dashboard must not print it to a manager
    failed = {"run": {"run_date": "2026-11-30", "state": "failed", "owner": "host-1",
                      "started_at": "2026-11-30T06:00:00", "finished_at": "2026-11-30T06:00:03",
                      "report": None, "error": "OperationalError: (psycopg.OperationalError) boom"},
              "schedule": "07:00 Europe/Paris"}
    page.route("**/api/v1/dunning/runs/last*", lambda route: route.fulfill(
        status=200, content_type="application/json", body=json.dumps(failed)))
    sign_in(page, live)
    text = page.inner_text("#panel-last-run")
    assert "La relance automatique a échoué" in text and "journal du serveur" in text
    assert "OperationalError" not in text and "psycopg" not in text


def test_roles_still_apply_a_billing_key_sees_no_report(page, live, artifacts):
    sign_in(page, live, role="billing")
    panels = page.evaluate("window.relance.panels")
    assert set(panels.values()) == {"forbidden"}, panels
    assert "Votre rôle ne donne pas accès" in page.inner_text("#panel-worklist")
    page.screenshot(path=str(artifacts / "dashboard-billing.png"), full_page=True)


def test_model_page_policy_panel_writes_numbers_the_server_way(page, console, live, artifacts):
    """A stored off-policy evaluation on the model page: every word from the catalogue (no
    "learned" or "paid_14" as they are), every number written by the server (French decimal
    comma, the gain signed), and the activate button offered since the gain is surely positive."""
    from sqlmodel import Session

    from ledger.db import make_engine
    from ledger.policies import save_evaluation
    from model.policy_eval import Evaluation

    engine = make_engine(live.database_url)
    with Session(engine) as session:
        save_evaluation(session, result=Evaluation(
            metric="paid_14", logged_value=0.30, ips=0.33, snips=0.34, dr=0.35, dr_ci=(0.31, 0.39),
            n=1234, gain_ci=(0.02, 0.09), higher_is_better=True, candidate="learned",
            split_on="2025-01-06"), definition={"kind": "learned"}, ledger="e2e", created_by="e2e")
        session.commit()
    engine.dispose()
    sign_in(page, live, path="/model")
    page.wait_for_selector("#policy-activate")
    page.wait_for_function("() => !document.getElementById('policy-facts').innerText.includes('\\u2063')")
    facts = page.inner_text("#policy-facts")
    page.screenshot(path=str(artifacts / "model-policy-fr.png"), full_page=True)
    assert "Politique apprise" in facts and "learned" not in facts and "paid_14" not in facts
    assert "0,35" in facts and "[0,31 ; 0,39]" in facts and "+0,02" in facts
    assert "1 234" in facts.replace("\u202f", " ").replace("\xa0", " ")
    assert page.evaluate("window.relance.unlabelled") == []
    assert [e for e in console.errors if e[0] == "pageerror"] == []
