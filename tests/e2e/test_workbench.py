"""The collection agent's workbench in a real headless Chromium: an agent's day and a manager's,
each action clicked in the page and then checked through the API; a screenshot of every page
(tests/artifacts/e2e/, git-ignored)."""
from __future__ import annotations

import contextlib
import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from sqlmodel import Session

from tests.e2e.conftest import TODAY, _load_ledger

pytestmark = pytest.mark.e2e

READY = "() => window.relance && window.relance.ready === true"
AGENT = "e2e-agent"       # the agent key's name: its portfolio is filed under it
EMPTY_AGENT = "agent-vide"
# codes that must never reach a person (the catalogue gives each one words)
RAW = re.compile(r"\b(mid_market|credit_note|formal_notice|first_reminder|pre_due_email|firm_letter|"
                 r"legal_handoff|reached_promised|no_answer|wrong_number|not_due|in_review|pending_approval|"
                 r"resolved_credit_note|n_fit|n_train|missing_po|key_account)\b")
# codes that are English words: raw codes on a French page
RAW_FR = re.compile(r"\b(enterprise|pricing|quality|courteous|neutral|delivery|planned|cancelled)\b")


@dataclass(frozen=True)
class Bench:
    url: str
    keys: dict[str, str]
    portfolio: list[str]   # the agent's customers, in worklist order


@pytest.fixture(scope="module")
def bench(browser_executable, tmp_path_factory) -> Bench:
    """The real app on a synthetic ledger after today's run; eight customers in the agent's portfolio."""
    from ledger.db import make_engine, migrate
    from serving.app import create_app
    from serving.auth import create_key
    from tests.server import running

    directory = tmp_path_factory.mktemp("bench")
    engine = make_engine(f"sqlite:///{directory / 'relance.db'}")
    migrate(engine)
    keys = _load_ledger(engine, directory / "ledger")
    with Session(engine) as session:
        keys["agent"] = create_key(session=session, role="agent", name=AGENT)
        keys["empty"] = create_key(session=session, role="agent", name=EMPTY_AGENT)
        session.commit()
    app = create_app(engine=engine)
    app.state.today = TODAY
    with running(app) as url:
        admin = {"Authorization": f"Bearer {keys['admin']}"}
        with httpx.Client(base_url=url + "/api/v1", headers=admin, timeout=60) as api:
            api.post("/dunning/runs", json={"date": TODAY.isoformat()}).raise_for_status()
            top = [r["customer_id"] for r in api.get("/worklist", params={"limit": 8}).json()]
            api.post("/worklist/assignments", json={"agent": AGENT, "customer_ids": top}).raise_for_status()
        yield Bench(url=url, keys=keys, portfolio=top)
    engine.dispose()


def client(bench: Bench, role: str) -> httpx.Client:
    return httpx.Client(base_url=bench.url + "/api/v1", headers={"Authorization": f"Bearer {bench.keys[role]}"},
                        timeout=60)


def sign_in(page, bench: Bench, role: str, path: str) -> None:
    # the session is a cookie of the browser context: each sign-in starts signed out
    page.context.clear_cookies()
    page.goto(bench.url + path)
    page.wait_for_url(re.compile(r"/login\?"))
    page.fill("#api-key", bench.keys[role])
    page.click("#login-submit")
    page.wait_for_url(lambda url: "/login" not in url)
    page.wait_for_function(READY)


def submit(page, form_id: str) -> str:
    """Submit a form by its button and wait for its outcome line; returns it."""
    before = page.evaluate(f"window.relance.submitted['{form_id}'] || 0")
    errors_before = page.evaluate(f"window.relance.errors['{form_id}'] || null")
    page.click(f"#{form_id} button[type=submit]")
    page.wait_for_function(f"""() => (window.relance.submitted['{form_id}'] || 0) > {before}
        || (window.relance.errors['{form_id}'] || null) !== {repr(errors_before) if errors_before else 'null'}
        || document.querySelector('#{form_id}-status').classList.contains('is-error')""")
    # the counter may move before a re-rendered panel writes the outcome line: give it a moment
    # (forms whose outcome shows elsewhere, such as the dry run, leave the line empty)
    with contextlib.suppress(PlaywrightTimeout):
        page.wait_for_function(f"() => document.querySelector('#{form_id}-status').innerText.trim() !== ''",
                               timeout=5000)
    return page.inner_text(f"#{form_id}-status")


def wait_panel(page, panel: str) -> None:
    page.wait_for_function(f"() => window.relance.panels['{panel}'] && window.relance.panels['{panel}'] !== 'loading'")


def no_raw_code(page) -> None:
    """No code reaches the page: none the catalogue lacks (app.js notes each one it had to make
    readable itself), and none of the known codes in the text."""
    assert sorted(set(page.evaluate("window.relance.unlabelled"))) == []
    text = page.inner_text("body")
    found = RAW.findall(text)
    if page.get_attribute("html", "lang") == "fr":
        found += RAW_FR.findall(text)
    assert found == [], found


def fits(page, width: int) -> None:
    """Nothing makes the page itself scroll sideways at this width."""
    assert page.evaluate("document.documentElement.scrollWidth") <= width + 1


def test_agent_worklist_is_their_portfolio_filterable_and_exportable(page, console, bench, artifacts):
    sign_in(page, bench, "agent", "/worklist")
    page.screenshot(path=str(artifacts / "worklist-agent-fr.png"), full_page=True)
    assert page.evaluate("window.relance.panels['panel-worklist']") == "ok"
    # at 1,400 px every column, the reasons included, is on screen: nothing hides behind a scroll
    overflow = page.evaluate("""() => { const box = document.querySelector('#worklist').closest('.table-box');
        return box.scrollWidth - box.clientWidth; }""")
    assert overflow <= 1, overflow
    links = page.locator("#worklist a.customer-link")
    with client(bench, "agent") as api:
        rows = api.get("/worklist", params={"limit": 100}).json()
    assert [r["customer_id"] for r in rows] == bench.portfolio
    assert links.count() == len(bench.portfolio)
    assert set(page.locator("#worklist tbody tr td:nth-child(12)").all_inner_texts()) == {AGENT}
    assert "Connecté : e2e-agent (chargé de recouvrement)" in page.inner_text("#whoami")
    assert page.locator("#nav-approvals").is_hidden() and page.locator("#f-agent").is_hidden()
    no_raw_code(page)

    # search by name: the one customer
    name = rows[1]["name"]
    page.fill("#f-q", name)
    page.click("#apply-filters")
    page.wait_for_url(re.compile(r"q="))
    page.wait_for_function(READY)
    assert page.locator("#worklist a.customer-link").all_inner_texts() == [name]

    # export: a French-Excel CSV of what the filters show
    with page.expect_download() as info:
        page.click("#export-csv")
    content = Path(info.value.path()).read_text(encoding="utf-8")
    assert content.startswith("\ufeff") and content.splitlines()[0].startswith("\ufeff#;Client;id;Segment")
    assert len(content.splitlines()) == 2 and name in content
    assert console.errors == []


def test_agent_day_on_the_customer_page(page, console, bench, artifacts):
    customer = bench.portfolio[0]
    sign_in(page, bench, "agent", f"/customers/{customer}")
    for panel in ("panel-invoices", "panel-next-reminder"):
        wait_panel(page, panel)
    page.screenshot(path=str(artifacts / "customer-agent-fr.png"), full_page=True)
    assert page.locator("#form-assign").is_hidden()  # managers assign
    with client(bench, "agent") as api:
        open_invoices = api.get("/invoices", params={"customer_id": customer, "status": "open", "limit": 500}).json()["items"]
        planned = api.get("/dunning/actions", params={"customer_id": customer, "state": "planned"}).json()["items"]

        # the next reminder, exactly as it will be sent
        if planned:
            first = sorted(planned, key=lambda a: (a["send_on"], a["id"]))[0]
            reminder = api.get(f"/reminders/{first['reminder_id']}").json()
            assert page.inner_text("#reminder-text").strip() == reminder["body_text"].strip()
        else:
            assert page.locator("#no-next-reminder").is_visible()

        # tomorrow's run for this customer: what the page lists is what the API plans
        page.fill("#dry-run-date", (TODAY + dt.timedelta(days=1)).isoformat())
        submit(page, "form-dry-run")
        expected = api.post(f"/customers/{customer}/dunning-preview",
                            json={"date": (TODAY + dt.timedelta(days=1)).isoformat()}).json()
        if expected["actions"]:
            assert page.locator("#dry-run-list > li").count() == len({a["reminder_id"] for a in expected["actions"]})
        else:
            assert page.locator("#dry-run-none").is_visible()

        # a call and its outcome
        page.select_option("#call-outcome", "reached_promised")
        page.fill("#call-note", "Rappeler jeudi, promet un virement")
        assert submit(page, "form-call") == "Enregistré."
        calls = api.get("/dunning/actions", params={"customer_id": customer, "channel": "call", "state": "sent"}).json()["items"]
        assert [c["outcome"] for c in calls] == ["reached_promised"] and calls[0]["created_by"] == f"agent:{AGENT}"
        assert "Rappeler jeudi" in [n["body"] for n in api.get(f"/customers/{customer}/notes").json()][0]

        # a promise refused by the API: its sentence, in French, in the page (the ledger's own
        # history may hold earlier promises: only new ones count)
        earlier = {p["promise_id"] for p in api.get("/promises", params={"customer_id": customer}).json()}
        page.fill("#promise-amount", "150.50")
        page.fill("#promise-date", (TODAY - dt.timedelta(days=3)).isoformat())
        message = submit(page, "form-promise")
        assert message.startswith("Saisie refusée") and "Date promise" in message
        assert {p["promise_id"] for p in api.get("/promises", params={"customer_id": customer}).json()} == earlier
        page.fill("#promise-date", (TODAY + dt.timedelta(days=7)).isoformat())
        assert submit(page, "form-promise") == "Enregistré."
        promises = [p for p in api.get("/promises", params={"customer_id": customer}).json() if p["promise_id"] not in earlier]
        assert [(p["amount"], p["promised_date"]) for p in promises] == [("150.50", (TODAY + dt.timedelta(days=7)).isoformat())]
        earlier.add(promises[0]["promise_id"])
        # the panel shows it at once, in the customer's currency, and no longer says "no data"
        page.wait_for_function("() => [...document.querySelectorAll('#promises tbody tr')].some(r => r.innerText.includes('150,50'))")
        row = page.locator("#promises tbody tr").filter(has_text="150,50").first
        assert row.is_visible() and "en cours" in row.inner_text()
        assert page.locator("#panel-promises > .notice").count() == 0

        # an instalment plan (échéancier): two dated amounts
        page.check("#promise-plan")
        page.fill("#instalment-date-1", (TODAY + dt.timedelta(days=15)).isoformat())
        page.fill("#instalment-amount-1", "100")
        page.fill("#instalment-date-2", (TODAY + dt.timedelta(days=45)).isoformat())
        page.fill("#instalment-amount-2", "200.25")
        assert submit(page, "form-promise") == "Enregistré."
        plans = [p for p in api.get("/promises", params={"customer_id": customer}).json()
                 if p["promise_id"] not in earlier and len(p["instalments"]) > 1]
        assert len(plans) == 1 and plans[0]["amount"] == "300.25"
        assert [(i["due_on"], i["amount"]) for i in plans[0]["instalments"]] == [
            ((TODAY + dt.timedelta(days=15)).isoformat(), "100.00"), ((TODAY + dt.timedelta(days=45)).isoformat(), "200.25")]

        # a dispute on the chosen invoice, then through its workflow with a comment
        assert submit(page, "form-dispute") == "Cochez au moins une facture."
        chosen = open_invoices[0]["invoice_id"]
        page.check(f"#dispute-invoices input[value='{chosen}']")
        page.select_option("#dispute-reason", "price")
        page.fill("#dispute-comment", "Remise non appliquée")
        assert submit(page, "form-dispute") == "Enregistré."
        disputes = api.get("/disputes", params={"customer_id": customer}).json()
        opened = [d for d in disputes if d["reason"] == "price"]
        assert len(opened) == 1 and [i["invoice_id"] for i in opened[0]["invoices"]] == [chosen]
        dispute_id = opened[0]["dispute_id"]
        form = f"form-dispute-{dispute_id}"
        page.wait_for_selector(f"#{form}")
        page.select_option(f"#{form}-next", "in_review")
        page.fill(f"#{form}-comment", "Transmis au commercial")
        assert submit(page, form) == "Enregistré."
        moved = api.get(f"/disputes/{dispute_id}").json()
        assert moved["status"] == "in_review" and "Transmis au commercial" in [c["body"] for c in moved["comments"]]

        # a note, typed and sent with the keyboard only
        page.focus("#note-body")
        page.keyboard.type("Client joint, très coopératif")
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.closest('form').id") == "form-note"
        page.keyboard.press("Enter")
        page.wait_for_function("() => (window.relance.submitted['form-note'] || 0) > 0")
        assert api.get(f"/customers/{customer}/notes").json()[0]["body"] == "Client joint, très coopératif"

        # on hold with a reason and an end date
        assert page.locator("#form-hold").is_visible()
        page.fill("#hold-reason", "Attente de l'avoir")
        page.fill("#hold-until", (TODAY + dt.timedelta(days=20)).isoformat())
        assert submit(page, "form-hold") == "Enregistré."
        held = api.get(f"/customers/{customer}").json()
        assert held["on_hold"] is True and held["on_hold_until"] == (TODAY + dt.timedelta(days=20)).isoformat()
        page.wait_for_selector("#badge-hold")
        assert "Attente de l'avoir" in page.inner_text("#badge-hold")

        # then released
        page.click("#hold-release")
        page.wait_for_function("() => !document.querySelector('#badge-hold')")
        assert api.get(f"/customers/{customer}").json()["on_hold"] is False

        # the statement of account, PDF and CSV
        assert page.locator("#statement-links").is_visible() and page.locator("#statement-missing").is_hidden()
        with page.expect_download() as info:
            page.click("#statement-pdf")
        assert Path(info.value.path()).read_bytes()[:5] == b"%PDF-"
        with page.expect_download() as info:
            page.click("#statement-csv")
        assert Path(info.value.path()).read_text(encoding="utf-8")[:1] == "\ufeff"

    page.wait_for_function(READY)
    page.screenshot(path=str(artifacts / "customer-agent-after-fr.png"), full_page=True)
    no_raw_code(page)
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(200)
    fits(page, 390)
    page.screenshot(path=str(artifacts / "customer-agent-390.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})
    fits(page, 1280)
    assert [e for e in console.errors if "422" not in e[1]] == []


def test_a_customer_outside_the_portfolio_is_not_found(page, bench):
    outsider = bench.keys  # any customer not in the portfolio
    with client(bench, "admin") as api:
        others = [r["customer_id"] for r in api.get("/worklist", params={"limit": 20}).json()
                  if r["customer_id"] not in bench.portfolio]
    sign_in(page, bench, "agent", f"/customers/{others[0]}")
    wait_panel(page, "panel-tomorrow") if False else None
    page.fill("#dry-run-date", (TODAY + dt.timedelta(days=1)).isoformat())
    message = submit(page, "form-dry-run")
    assert message == "Introuvable (ou hors de votre portefeuille)."
    assert outsider


def test_an_empty_portfolio_says_so_and_how_to_get_one(page, console, bench, artifacts):
    sign_in(page, bench, "empty", "/worklist")
    page.screenshot(path=str(artifacts / "worklist-empty-fr.png"), full_page=True)
    assert page.evaluate("window.relance.panels['panel-worklist']") == "empty", [m[1][:300] for m in console.messages if m[0] == "warning"]
    assert "« agent-vide »" in page.inner_text("#empty-what") and "portefeuille est vide" in page.inner_text("#empty-what")
    how = page.inner_text("#empty-how")
    assert "analyste ou administrateur" in how and "POST /api/v1/worklist/assignments" in how
    assert console.errors == []


def test_manager_filters_by_agent_assigns_and_reads_the_manager_views(page, console, bench, artifacts):
    sign_in(page, bench, "analyst", "/worklist")
    assert page.locator("#f-agent").is_visible() and page.locator("#nav-approvals").is_visible()
    page.fill("#f-agent", AGENT)
    page.click("#apply-filters")
    page.wait_for_url(re.compile(r"agent=e2e-agent"))
    page.wait_for_function(READY)
    page.screenshot(path=str(artifacts / "worklist-manager-fr.png"), full_page=True)
    assert page.locator("#worklist a.customer-link").count() == len(bench.portfolio)
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(200)
    fits(page, 390)
    page.screenshot(path=str(artifacts / "worklist-390.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})

    # assign the last customer of the portfolio to the other agent
    moved = bench.portfolio[-1]
    page.goto(f"{bench.url}/customers/{moved}")
    page.wait_for_function(READY)
    page.fill("#assign-agent", EMPTY_AGENT)
    assert submit(page, "form-assign") == "Enregistré."
    with client(bench, "analyst") as api:
        assert api.get(f"/customers/{moved}").json()["assigned_agent"] == EMPTY_AGENT
        api.post("/worklist/assignments", json={"agent": AGENT, "customer_ids": [moved]}).raise_for_status()

    with client(bench, "agent") as api:  # some activity of the agent to show
        api.post("/calls", json={"customer_id": bench.portfolio[1], "outcome": "no_answer"}).raise_for_status()
    page.goto(f"{bench.url}/manager")
    page.wait_for_function(READY)
    page.screenshot(path=str(artifacts / "manager-fr.png"), full_page=True)
    panels = page.evaluate("window.relance.panels")
    assert panels["panel-top-debtors"] == panels["panel-activity"] == "ok", panels
    activity = page.inner_text("#activity")
    assert AGENT in activity
    with client(bench, "analyst") as api:
        rows = {r["actor"]: r for r in api.get("/agents/activity").json()}
        aging = api.get("/reports/aging", params={"by": "customer", "as_of": TODAY.isoformat()}).json()
    cells = page.locator("#activity tbody tr").filter(has_text=AGENT).locator("td").all_inner_texts()
    assert cells[1] == str(rows[f"agent:{AGENT}"]["calls"])
    biggest = max(aging["rows"], key=lambda r: float(r["total"]))
    assert (biggest["name"] or biggest["key"]) in page.locator("#top-debtors tbody tr").first.inner_text()
    assert panels["panel-aging-customers"] == "ok", panels
    assert page.locator("#aging-customers tbody tr").count() == min(200, sum(len(p["rows"]) for p in aging["by_currency"]))
    if panels["panel-aging-customers"] == "ok":
        page.click("#drill-0")
        page.wait_for_selector("tr.drill table")
    if panels["panel-disputes-reason"] == "ok":
        assert "Prix contesté" in page.inner_text("#disputes-reason") or page.locator("#disputes-reason tbody tr").count() > 0
    no_raw_code(page)
    assert [e for e in console.errors if "404" not in e[1]] == []


NOTICE_ONLY = {"name": "notice-only", "label_fr": "Mise en demeure seule", "label_en": "Formal notice only",
               "steps": [{"name": "formal_notice", "offset_days": 30, "channel": "formal_notice", "tone": "formal"}]}


def pending_notices(bench: Bench) -> dict[str, dict]:
    """Two formal notices waiting for approval, made through the API: two customers on a one-step
    scenario (a formal notice 30 days after the due date) each owe an invoice 40 days overdue,
    then today's run plans their notices (which a scenario sends only once approved)."""
    day = lambda n: (TODAY + dt.timedelta(days=n)).isoformat()  # noqa: E731
    ids = ["APPROVE-1", "APPROVE-2"]
    with client(bench, "admin") as api:
        api.put("/dunning/scenarios/notice-only", json=NOTICE_ONLY).raise_for_status()
        api.post("/ingest", json={
            "customers": [{"customer_id": c, "name": f"Approbation {c[-1]}", "dunning_scenario": "notice-only",
                           "email": "compta@example.com"} for c in ids],
            "invoices": [{"invoice_id": f"AP-{c[-1]}", "customer_id": c, "currency": "EUR", "amount": "5000",
                          "issue_date": day(-70), "due_date": day(-40)} for c in ids]}).raise_for_status()
        api.post("/dunning/runs", json={"date": TODAY.isoformat()}).raise_for_status()
        pending = api.get("/dunning/actions", params={"state": "pending_approval", "limit": 1000}).json()["items"]
    found = {a["customer_id"]: a for a in pending if a["customer_id"] in ids}
    assert sorted(found) == ids and {a["step"] for a in found.values()} == {"formal_notice"}
    return found


def decide_in_page(page, action: dict, comment: str, decision: str) -> str:
    form_id = f"form-approval-{action['id']}"
    card = page.locator(f"#approval-{action['id']}")
    assert action["customer_id"] in card.inner_text()
    # the letter as it will go out, not a placeholder
    page.wait_for_function(f"() => !document.querySelector('#approval-{action['id']} pre.letter')"
                           f".textContent.startsWith({repr(page.evaluate('window.relance.config.labels.loading'))})")
    # (the letter's text writes money with plain spaces, as its PDF's Latin-1 fonts need)
    letter = card.locator("pre.letter").inner_text().replace("\u202f", " ").replace("\xa0", " ")
    assert "5 000,00 €" in letter and f"Approbation {action['customer_id'][-1]}" in letter
    page.fill(f"#{form_id}-comment", comment)
    page.click(f"#{form_id} button[value={decision}]")
    page.wait_for_function(f"() => (window.relance.submitted['{form_id}'] || 0) > 0 || window.relance.errors['{form_id}']")
    assert page.evaluate(f"window.relance.errors['{form_id}'] || null") is None
    return page.inner_text(f"#{form_id}-status")


def test_approval_queue(page, console, bench, artifacts):
    """An analyst approves one formal notice and rejects another, each with a comment, in the page."""
    from serving.labels import ui

    notices = pending_notices(bench)
    sign_in(page, bench, "analyst", "/approvals")
    # each card's letter as it will go out (fetched after the cards are drawn)
    page.wait_for_function("""() => [...document.querySelectorAll('pre.letter')]
        .every((p) => p.textContent !== window.relance.config.labels.loading)""")
    page.screenshot(path=str(artifacts / "approvals-fr.png"), full_page=True)
    assert page.locator("#approvals-empty").count() == 0
    assert decide_in_page(page, notices["APPROVE-1"], "Vu, conforme", "approve") == ui("approved")
    assert decide_in_page(page, notices["APPROVE-2"], "Litige en cours", "reject") == ui("rejected")
    no_raw_code(page)
    with client(bench, "analyst") as api:
        states = {c: api.get("/dunning/actions", params={"customer_id": c}).json()["items"][0] for c in notices}
        still = [a["customer_id"] for a in
                 api.get("/dunning/actions", params={"state": "pending_approval", "limit": 1000}).json()["items"]]
    approved, rejected = states["APPROVE-1"], states["APPROVE-2"]
    assert approved["state"] == "planned" and approved["approved_by"] == "analyst:e2e-analyst"
    assert rejected["state"] == "cancelled"
    assert "APPROVE-1" not in still and "APPROVE-2" not in still
    # a reload shows neither any more
    page.reload()
    page.wait_for_function(READY)
    assert page.locator(f"#approval-{approved['id']}").count() == 0
    assert page.locator(f"#approval-{rejected['id']}").count() == 0
    assert console.errors == []


def test_english_worklist_and_customer_page(page, console, bench, artifacts):
    sign_in(page, bench, "agent", "/worklist?lang=en")
    page.screenshot(path=str(artifacts / "worklist-agent-en.png"), full_page=True)
    from serving.labels import ui

    assert page.inner_text("h1") == "Worklist" and ui("value_at_risk_90", "en") in page.inner_text("#worklist thead")
    segments = set(page.locator("#worklist tbody tr td:nth-child(3)").all_inner_texts())
    assert segments <= {"SME", "Mid-market", "Enterprise", "Public sector"}
    page.locator("#worklist a.customer-link").first.click()
    page.wait_for_function(READY)
    assert "Log a call" in page.inner_text("#panel-act")
    page.screenshot(path=str(artifacts / "customer-agent-en.png"), full_page=True)
    no_raw_code(page)


PAGES = ["/worklist", "/", "/manager", "/approvals", "/model", "/customers/{top}", "/customers/{resolved}"]


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_no_page_shows_a_raw_code(page, console, bench, artifacts, lang):
    """Every page, in both languages, as an admin (who sees every panel): each code in words."""
    with client(bench, "admin") as api:
        disputes = api.get("/disputes", params={"limit": 500}).json()
    resolved = next(d["customer_id"] for d in disputes if d["status"] not in ("open", "in_review"))
    sign_in(page, bench, "admin", f"/worklist?lang={lang}")
    for path in PAGES:
        target = path.format(top=bench.portfolio[0], resolved=resolved)
        page.goto(bench.url + target + ("&" if "?" in target else "?") + f"lang={lang}")
        page.wait_for_function(READY)
        # every amount and date came written by the server: no placeholder is left
        assert "\u2063" not in page.inner_text("body"), target
        no_raw_code(page)
    page.screenshot(path=str(artifacts / f"customer-resolved-dispute-{lang}.png"), full_page=True)
    assert [e for e in console.errors if "404" not in e[1]] == []
