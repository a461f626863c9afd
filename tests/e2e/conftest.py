"""End-to-end fixtures: the real app under uvicorn on a small synthetic ledger, and a real
headless Chromium (Debian's, driven by Playwright) against it.

Without a `chromium` on the PATH the browser tests skip, saying so, unless
RELANCE_REQUIRE_BROWSER=1 (CI), where they fail instead.
"""
from __future__ import annotations

import datetime as dt
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts" / "e2e"
TODAY = dt.date(2024, 12, 31)  # the last day of the synthetic ledger: the dashboard's "today"
REQUIRE_BROWSER = os.environ.get("RELANCE_REQUIRE_BROWSER") == "1"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage"]


def chromium_path() -> str | None:
    """Debian's browser: the real binary behind the /usr/bin/chromium wrapper script when present."""
    wrapper = shutil.which("chromium")
    if wrapper is None:
        return None
    real = Path("/usr/lib/chromium/chromium")
    return str(real) if real.exists() else wrapper


@dataclass(frozen=True)
class Live:
    url: str
    keys: dict[str, str]   # role → API key
    customer_id: str       # the top customer of the worklist, with a dispute and a promise
    database_url: str = ""  # the served SQLite file, for tests that store what no route writes


@pytest.fixture(scope="session")
def browser_executable() -> str:
    path = chromium_path()
    if path is None:
        message = "no `chromium` on this machine: browser tests skipped (apt-get install chromium)"
        if REQUIRE_BROWSER:
            pytest.fail(f"RELANCE_REQUIRE_BROWSER=1 but {message}", pytrace=False)
        pytest.skip(message)
    return path


def _load_ledger(engine, directory: Path) -> dict[str, str]:
    from features.synth import generate
    from ledger.frames import write_ledger_dir
    from ledger.importers import import_ledger_dir
    from serving.auth import ROLES, create_key

    write_ledger_dir(generate(customers=60, months=12, seed=3), directory)
    with Session(engine) as session:
        import_ledger_dir(session=session, directory=directory, actor="e2e", today=dt.date.today())
        keys = {role: create_key(session=session, role=role, name=f"e2e-{role}") for role in ROLES}
        session.commit()
    return keys


def _collections_activity(url: str, keys: dict[str, str]) -> str:
    """Today's dunning run, then a dispute and a promise on the top customer, through the API."""
    admin = {"Authorization": f"Bearer {keys['admin']}"}
    with httpx.Client(base_url=url + "/api/v1", headers=admin, timeout=60) as api:
        api.post("/dunning/runs", json={"date": TODAY.isoformat()}).raise_for_status()
        top = api.get("/worklist", params={"limit": 1}).raise_for_status().json()[0]["customer_id"]
        open_invoices = api.get("/invoices", params={"customer_id": top, "status": "open"}).json()["items"]
        api.post("/disputes", json={"invoices": [{"invoice_id": open_invoices[0]["invoice_id"]}],
                                    "reason": "quality", "opened_on": TODAY.isoformat()}).raise_for_status()
        api.post("/promises", json={"customer_id": top, "amount": "1000.00",
                                    "promised_date": (TODAY + dt.timedelta(days=10)).isoformat()}
                 ).raise_for_status()
    return top


@pytest.fixture(scope="module")
def live(browser_executable, tmp_path_factory) -> Live:
    """The real app (SQLite file, synthetic ledger, dunning run) served on loopback."""
    from ledger.db import make_engine, migrate
    from serving.app import create_app
    from tests.server import running

    directory = tmp_path_factory.mktemp("e2e")
    engine = make_engine(f"sqlite:///{directory / 'relance.db'}")
    migrate(engine)
    keys = _load_ledger(engine, directory / "ledger")
    app = create_app(engine=engine)
    app.state.today = TODAY
    with running(app) as url:
        customer_id = _collections_activity(url, keys)
        yield Live(url=url, keys=keys, customer_id=customer_id,
                   database_url=f"sqlite:///{directory / 'relance.db'}")
    engine.dispose()


@pytest.fixture(scope="module")
def browser_context(browser_executable, tmp_path_factory):
    """A persistent context on a fresh profile directory (so --user-data-dir is ours)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=browser_executable,
            headless=True, args=FLAGS, viewport={"width": 1400, "height": 900}, locale="fr-FR")
        yield context
        context.close()


class Console:
    """Console messages and uncaught errors of one page."""

    def __init__(self, page):
        self.messages: list[tuple[str, str, str]] = []
        page.on("console", lambda m: self.messages.append((m.type, m.text, m.location.get("url", ""))))
        page.on("pageerror", lambda e: self.messages.append(("pageerror", str(e), "")))

    @property
    def errors(self) -> list[tuple[str, str, str]]:
        return [m for m in self.messages if m[0] in ("error", "pageerror")]


@pytest.fixture
def page(browser_context):
    page = browser_context.new_page()
    yield page
    page.close()


@pytest.fixture
def console(page) -> Console:
    return Console(page)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
