"""The dashboard's HTML shells and static files, without a browser."""
from __future__ import annotations

import json
import re
from urllib.parse import quote

import pytest


def config_of(html: str) -> dict:
    match = re.search(r'<script id="relance-config" type="application/json">(.*?)</script>', html, re.S)
    assert match, "no page configuration in the HTML"
    return json.loads(match.group(1))


def test_dashboard_shell_is_french_by_default_and_english_on_request(client):
    french = client.get("/")
    assert french.status_code == 200 and french.headers["content-type"].startswith("text/html")
    assert '<html lang="fr">' in french.text and "Tableau de bord" in french.text
    assert config_of(french.text)["labels"]["chart_aging"] == "Balance âgée"
    english = client.get("/?lang=en")
    assert '<html lang="en">' in english.text and "Dashboard" in english.text
    assert config_of(english.text)["labels"]["chart_aging"] == "Ageing balance"
    assert client.get("/?lang=de").status_code == 422


def test_every_label_has_both_languages():
    from serving.labels import CODES, UI

    missing = [key for key, words in UI.items() if set(words) != {"fr", "en"} or not all(words.values())]
    assert missing == []
    assert [(kind, code) for kind, codes in CODES.items() for code, words in codes.items()
            if len(words) != 2 or not all(words)] == []


def test_pages_carry_no_data_and_the_report_date(client, app):
    import datetime as dt

    app.state.today = dt.date(2024, 6, 30)
    assert config_of(client.get("/").text)["as_of"] == "2024-06-30"
    assert config_of(client.get("/?as_of=2024-03-31").text)["as_of"] == "2024-03-31"
    for path in ("/", "/login", "/model", "/customers/C1", "/worklist", "/approvals", "/manager"):
        assert client.get(path).status_code == 200, path


def test_customer_id_cannot_inject_markup(client):
    evil = '"><img src=x onerror=alert(1)>'
    page = client.get("/customers/" + quote(evil, safe="")).text
    # inert inside the JSON configuration block; escaped everywhere else
    outside = re.sub(r'<script id="relance-config".*?</script>', "", page, flags=re.S)
    assert "<img" not in outside and "&lt;img src=x" in outside
    assert config_of(page)["customer_id"] == evil


def test_the_configuration_cannot_close_its_script_tag():
    from serving.api.web import _config_json

    assert "</script>" not in _config_json({"customer_id": "</script><script>alert(1)</script>"})


def test_static_files_are_served_from_the_package_only(client):
    chart = client.get("/static/chart.umd.js")
    assert chart.status_code == 200 and "Chart.js v4" in chart.text[:200]
    assert "javascript" in chart.headers["content-type"]
    assert client.get("/static/style.css").headers["content-type"].startswith("text/css")
    for path in ("/static/../api/web.py", "/static/%2e%2e/%2e%2e/app.py", "/static/nope.js",
                 "/static/%2Fetc%2Fpasswd", "/static/"):
        assert client.get(path).status_code == 404, path


@pytest.mark.parametrize("path", ["/api/v1/reports/kpis", "/api/v1/worklist"])
def test_the_data_still_needs_a_key(client, path):
    assert client.get(path).status_code == 401
