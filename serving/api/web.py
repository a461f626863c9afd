"""The dashboard and the collection agent's workbench: HTML shells and the vendored static files.

The pages themselves are public shells: every figure on them comes from the JSON API, called by
`app.js` with the API key the user typed on /login (kept in sessionStorage), so roles apply to the
data exactly as they do for any other client, and forms post to the same JSON routes any client
uses. French by default, English with `?lang=en`; every word comes from serving/labels.py.
"""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Literal, get_args

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.templating import Jinja2Templates

from ledger.config import get_settings
from ledger.contacts import CALL_OUTCOMES
from ledger.disputes import ReasonCode
from ledger.worklist_rows import BUCKETS
from serving.inputs import AsOfDate as AsOf
from serving.labels import catalogue

router = APIRouter(include_in_schema=False, tags=["dashboard"])

WEB_DIR = Path(__file__).resolve().parents[1] / "web"
STATIC_DIR = (WEB_DIR / "static").resolve()
templates = Jinja2Templates(directory=str(WEB_DIR / "templates"))

Language = Literal["fr", "en"]
Lang = Annotated[Language | None, Query(description="fr (default) or en")]

# the order of the dunning funnel: how far along a scenario a step sits
STEP_ORDER = ["pre_due_email", "first_reminder", "second_reminder", "sms", "call", "letter",
              "firm_letter", "formal_notice", "legal_handoff"]


def labels(language: Language) -> dict[str, str]:
    """Every word of one language, from the one catalogue (serving/labels.py)."""
    return catalogue(language)


def _language(request: Request, lang: Language | None) -> Language:
    if lang is not None:
        return lang
    default = getattr(request.app.state.settings, "language", "fr")
    return "en" if default == "en" else "fr"


def _page(request: Request, template: str, lang: Language | None, **context: object) -> HTMLResponse:
    language = _language(request, lang)
    words = labels(language)
    # the app may pin "today" (demo, tests); reports default to it so the page matches the worklist
    today = getattr(request.app.state, "today", None) or dt.date.today()
    config = {"lang": language, "labels": words, "api": "/api/v1", "step_order": STEP_ORDER,
              "today": today.isoformat(), "reporting_currency": get_settings().reporting_currency.upper(),
              "as_of": (context.pop("as_of", None) or today).isoformat(), **context}
    return templates.TemplateResponse(request, template, {
        "lang": language, "L": words, "other_lang": "fr" if language == "en" else "en",
        "config_json": _config_json(config), "codes": FORM_CODES, "currencies": _currencies(),
        **context})


# the codes forms offer (their words come from the catalogue)
FORM_CODES = {
    "segment": ["sme", "mid_market", "enterprise", "public"],
    "bucket": list(BUCKETS),
    "outcome": list(CALL_OUTCOMES),
    "dispute_reason": list(get_args(ReasonCode)),
}


def _currencies() -> list[str]:
    settings = get_settings()
    reporting = settings.reporting_currency.upper()
    return [reporting] + sorted(settings.currency_codes - {reporting})


def _config_json(config: dict) -> str:
    # inside <script>: "</" would end the element early, "<\/" is the same string to JSON
    return json.dumps(config, ensure_ascii=False).replace("</", "<\\/")


@router.get("/", response_class=HTMLResponse)
def dashboard(request: Request, lang: Lang = None, as_of: AsOf = None) -> HTMLResponse:
    """The dashboard: KPIs, charts and the worklist."""
    return _page(request, "dashboard.html", lang, page="dashboard", as_of=as_of)


@router.get("/login", response_class=HTMLResponse)
def login(request: Request, lang: Lang = None) -> HTMLResponse:
    """The sign-in form (the key is checked against the API by app.js)."""
    return _page(request, "login.html", lang, page="login")


@router.get("/customers/{customer_id}", response_class=HTMLResponse)
def customer_page(customer_id: str, request: Request, lang: Lang = None) -> HTMLResponse:
    """One customer: invoices, payment history, risk, actions, disputes, promises."""
    return _page(request, "customer.html", lang, page="customer", customer_id=customer_id)


@router.get("/worklist", response_class=HTMLResponse)
def worklist_page(request: Request, lang: Lang = None) -> HTMLResponse:
    """The worklist: ranked, filtered, searchable, paginated, exportable."""
    return _page(request, "worklist.html", lang, page="worklist")


@router.get("/approvals", response_class=HTMLResponse)
def approvals_page(request: Request, lang: Lang = None) -> HTMLResponse:
    """Formal notices and legal hand-offs waiting for an analyst's or an admin's approval."""
    return _page(request, "approvals.html", lang, page="approvals")


@router.get("/manager", response_class=HTMLResponse)
def manager_page(request: Request, lang: Lang = None, as_of: AsOf = None) -> HTMLResponse:
    """Manager views: ageing by customer, top debtors, disputes by reason, agent activity."""
    return _page(request, "manager.html", lang, page="manager", as_of=as_of)


@router.get("/model", response_class=HTMLResponse)
def model_page(request: Request, lang: Lang = None) -> HTMLResponse:
    """The serving model: version, backtest metrics, drift."""
    return _page(request, "model.html", lang, page="model")


@router.get("/static/{path:path}")
def static(path: str) -> FileResponse:
    """A file of serving/web/static (the vendored Chart.js, app.js, style.css)."""
    target = (STATIC_DIR / path).resolve()
    # no "..", no symlink out of the folder
    if not target.is_relative_to(STATIC_DIR) or not target.is_file():
        raise HTTPException(404, f"no static file {path!r}")
    return FileResponse(target, headers={"Cache-Control": "no-cache"})
