"""The dashboard and the collection agent's workbench: HTML shells and the vendored static files.

The pages themselves are public shells: every figure on them comes from the JSON API, called by
`app.js` with the session that /login opened (the key typed once is exchanged for an HttpOnly
cookie, serving/web/session.py), so roles apply to the data exactly as they do for any other
client, and forms post to the same JSON routes any client uses. French by default, English with
`?lang=en`; every word comes from serving/labels.py, every amount, number and date is written by
serving/money.py (Babel) through `POST /formats`.
"""
from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal, get_args

from babel.numbers import get_group_symbol
from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field

from ledger.config import get_settings
from ledger.contacts import CALL_OUTCOMES
from ledger.disputes import ReasonCode
from ledger.worklist_rows import BUCKETS
from serving import money as fmt
from serving.deps import Principal, SessionDep, current_principal, get_today
from serving.inputs import AsOfDate as AsOf
from serving.labels import catalogue
from serving.web.session import SESSION_HOURS, close_session, open_session

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
    today = get_today(request)
    config = {"lang": language, "labels": words, "api": "/api/v1", "step_order": STEP_ORDER,
              "today": today.isoformat(), "reporting_currency": get_settings().reporting_currency.upper(),
              "as_of": (context.pop("as_of", None) or today).isoformat(), "axis": _axis(language), **context}
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


def _axis(language: Language) -> dict[str, str]:
    """What a chart's axis ticks need, from Babel: the grouping sign (whole units, the currency in
    the axis title) and the percent form ("{n}" for the number); every other figure comes written."""
    return {"group": get_group_symbol(fmt.LOCALES[language]),
            "percent": fmt.percent(0.5, language).replace("50", "{n}")}


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


# the path names `customer`, not `customer_id`: the shell holds no data, so the object-level check
# (serving.deps.portfolio_scope) is for the API calls it makes, which answer 404 outside the portfolio
@router.get("/customers/{customer}", response_class=HTMLResponse)
def customer_page(customer: str, request: Request, lang: Lang = None) -> HTMLResponse:
    """One customer: invoices, payment history, risk, actions, disputes, promises."""
    return _page(request, "customer.html", lang, page="customer", customer_id=customer)


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


# --- the session: a key typed once, then an HttpOnly cookie ----------------------------------------

class SessionIn(BaseModel):
    api_key: str = Field(min_length=1, max_length=200)


class SessionOut(BaseModel):
    name: str | None
    role: str
    hours: int


@router.post("/session", response_model=SessionOut)
def sign_in(body: SessionIn, request: Request, response: Response, session: SessionDep) -> SessionOut:
    """Exchange an API key for the pages' session cookie (401 for an unknown or revoked key)."""
    stored = open_session(response, request, session, body.api_key.strip())
    if stored is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "unknown, revoked or expired API key")
    return SessionOut(name=stored.name, role=stored.role, hours=SESSION_HOURS)


@router.post("/session/logout", status_code=status.HTTP_204_NO_CONTENT)
def sign_out(response: Response) -> None:
    """End the pages' session: both cookies cleared."""
    close_session(response)


# --- formats: every amount, number and date a page shows, written by Babel -------------------------

Amount = Annotated[Decimal, Field(ge=-10**15, le=10**15, allow_inf_nan=False)]
MAX_VALUES = 5000


class MoneyIn(BaseModel):
    amount: Amount
    currency: str = Field(pattern="^[A-Z]{3}$")


class FormatsIn(BaseModel):
    lang: Language = "fr"
    money: list[MoneyIn] = Field(default=[], max_length=MAX_VALUES)
    whole_money: list[MoneyIn] = Field(default=[], max_length=MAX_VALUES)  # headline tiles
    dates: list[dt.date] = Field(default=[], max_length=MAX_VALUES)
    numbers: list[Amount] = Field(default=[], max_length=MAX_VALUES)
    percents: list[Amount] = Field(default=[], max_length=MAX_VALUES)


class FormatsOut(BaseModel):
    money: list[str]
    whole_money: list[str]
    dates: list[str]
    numbers: list[str]
    percents: list[str]


@router.post("/formats", response_model=FormatsOut)
def formats(body: FormatsIn, _: Annotated[Principal, Depends(current_principal)]) -> FormatsOut:
    """The page's values as the reader's language writes them (serving/money.py: amounts in their
    own currency, numbers to one decimal, shares as percentages, dates dd/mm/yyyy), so an amount
    reads the same on a page, a statement or a letter. For a signed-in user (any role): it writes
nothing, but a public endpoint would let anyone make the server work."""
    language = body.lang
    return FormatsOut(
        money=[fmt.money(m.amount, m.currency, language) for m in body.money],
        whole_money=[fmt.whole_money(m.amount, m.currency, language) for m in body.whole_money],
        dates=[fmt.date(day, language) for day in body.dates],
        # one decimal for a figure such as a DSO, three below 10 (an AUC, a Brier score)
        numbers=[fmt.number(round(value, 1 if abs(value) >= 10 else 3), language) for value in body.numbers],
        percents=[fmt.percent(float(share), language) for share in body.percents])
