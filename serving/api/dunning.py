"""Dunning: scenarios and templates (analyst), daily runs and actions; reminders and their PDF are in
`serving.api.dunning_reminders`."""
from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, Field, ValidationError

from ledger import actions as dunning_actions
from ledger import errors
from ledger import reminders as dunning_reminders
from ledger import saved_scenarios as saved
from ledger.errors import FieldError, LedgerValidationError, NotFoundError
from ledger.schemas import BusinessDate, Paragraphs
from serving.deps import (
    Analyst,
    PortfolioDep,
    Principal,
    Reader,
    SessionDep,
    TodayDep,
    require,
    risk_provider,
)
from serving.dunning import (
    edited_templates,
    known_templates,
    load_scenarios,
    planned_as_dict,
    run_and_commit,
)
from serving.errors import field_name
from serving.inputs import Offset, RowId
from serving.outbox import send_outbox
from serving.ratelimit import RateLimited
from serving.reminders import (
    available_templates,
    validate_template,
)
from serving.reminders.render import (
    CHANNELS,
    LANGUAGES,
    NAME_PATTERN,
)
from serving.scenarios import parse_scenario

router = APIRouter(prefix="/api/v1", tags=["dunning"])
ActionWorker = Annotated[Principal, Depends(require("analyst", "agent"))]
ACTIONS_IN_RUN_ANSWER = 1000
PDF_CHANNELS = ("letter", "formal_notice", "legal")  # printed: posted, or handed to the lawyer


# --- scenarios ------------------------------------------------------------------------------------


class ScenarioOut(BaseModel):
    name: str
    source: Literal["default", "edited"]
    scenario: dict[str, Any]


def _scenarios_out(session) -> list[ScenarioOut]:
    edited = set(saved.stored_scenarios(session))
    return [ScenarioOut(name=name, source="edited" if name in edited else "default",
                        scenario=scenario.model_dump(mode="json"))
            for name, scenario in sorted(load_scenarios(session).items())]


@router.get("/dunning/scenarios", response_model=list[ScenarioOut])
def list_scenarios(session: SessionDep, _: Analyst) -> list[ScenarioOut]:
    """Every dunning scenario, edited ones replacing the shipped defaults."""
    return _scenarios_out(session)


@router.get("/dunning/scenarios/{name}", response_model=ScenarioOut)
def get_scenario(name: str, session: SessionDep, _: Analyst) -> ScenarioOut:
    """One dunning scenario."""
    for scenario in _scenarios_out(session):
        if scenario.name == name:
            return scenario
    raise NotFoundError("scenario", name)


@router.put("/dunning/scenarios/{name}", response_model=ScenarioOut)
def put_scenario(name: str, body: dict[str, Any], session: SessionDep,
                 principal: Analyst) -> ScenarioOut:
    """Create or replace a scenario (validated: steps in order, known channels and templates)."""
    body = {"name": name, **body}
    if body["name"] != name:
        raise LedgerValidationError([FieldError("name", f"the body names scenario {body['name']!r} "
                                                        f"but the URL names {name!r}")])
    try:
        scenario = parse_scenario(body, templates=known_templates(session))
    except ValidationError as exc:
        raise LedgerValidationError([
            FieldError(field_name(e["loc"]) or "body", e["msg"].removeprefix("Value error, "))
            for e in exc.errors()
        ]) from exc
    saved.save_scenario(session, name=name, body=scenario.model_dump(mode="json"),
                        actor=principal.actor)
    session.commit()
    return ScenarioOut(name=name, source="edited", scenario=scenario.model_dump(mode="json"))


# --- templates ------------------------------------------------------------------------------------


class TemplateOut(BaseModel):
    name: str
    channel: str
    tone: str
    language: str
    edited: bool
    source: str | None = None


class TemplateIn(BaseModel):
    source: Paragraphs(100_000)


@router.get("/dunning/templates", response_model=list[TemplateOut])
def list_templates(session: SessionDep, _: Analyst) -> list[TemplateOut]:
    """Every reminder template (channel, tone, language); `edited` when an analyst changed it."""
    edited = set(saved.stored_templates(session))
    return [TemplateOut(name=t.name, channel=t.channel, tone=t.tone, language=t.language,
                        edited=t.name in edited)
            for t in available_templates(templates=edited_templates(session))]


@router.get("/dunning/templates/{name}", response_model=TemplateOut)
def get_template(name: str, session: SessionDep, _: Analyst) -> TemplateOut:
    """One template with its Jinja2 source."""
    edited = edited_templates(session)
    for info in available_templates(templates=edited):
        if info.name == name:
            return TemplateOut(name=info.name, channel=info.channel, tone=info.tone,
                               language=info.language, source=info.source, edited=name in edited)
    raise NotFoundError("template", name)


@router.put("/dunning/templates/{name}", response_model=TemplateOut)
def put_template(name: str, body: TemplateIn, session: SessionDep, principal: Analyst) -> TemplateOut:
    """Replace a template (`email_firm.fr.j2`); checked by a test render before it is stored."""
    match = NAME_PATTERN.match(name)
    if not match or match["channel"] not in CHANNELS or match["language"] not in LANGUAGES:
        raise LedgerValidationError([FieldError("name", f"{name!r} is not a template name like "
                                                        "'email_firm.fr.j2' (channel_tone.language.j2)")])
    problems = validate_template(body.source, templates=edited_templates(session))
    if problems:
        raise LedgerValidationError([FieldError("source", p) for p in problems])
    saved.save_template(session, name=name, source=body.source, actor=principal.actor)
    session.commit()
    return TemplateOut(name=name, channel=match["channel"], tone=match["tone"],
                       language=match["language"], edited=True, source=body.source)


# --- runs -----------------------------------------------------------------------------------------


class RunIn(BaseModel):
    date: BusinessDate | None = None  # default: today
    dry_run: bool = False


class RunOut(BaseModel):
    run_date: dt.date
    dry_run: bool
    invoices_seen: int
    customers_seen: int
    planned: int
    created: int
    reminders: int
    cancelled: int
    by_channel: dict[str, int]
    seconds: float
    warnings: list[str] = Field(description="in the server's language (RELANCE_LANG, French by default)")
    warnings_detail: list[dict[str, str]] = Field(default_factory=list, description="each warning "
                                                  "with its code, in French (fr) and English (en)")
    actions: list[dict[str, Any]]
    actions_truncated: bool


@router.post("/dunning/runs", response_model=RunOut, dependencies=[RateLimited])
def post_run(body: RunIn, request: Request, principal: Analyst, today: TodayDep) -> RunOut:
    """Plan the actions due on `date` (idempotent); `dry_run` shows the same plan, writes nothing."""
    report = run_and_commit(engine=request.app.state.engine, run_date=body.date or today,
                            dry_run=body.dry_run, actor=principal.actor,
                            risk_for=risk_provider(request), today=today)
    summary = report.summary()
    return RunOut(**summary, actions=[planned_as_dict(a) for a in report.actions[:ACTIONS_IN_RUN_ANSWER]],
                  actions_truncated=len(report.actions) > ACTIONS_IN_RUN_ANSWER)


class SendIn(BaseModel):
    date: BusinessDate | None = None


@router.post("/dunning/outbox", dependencies=[RateLimited])
def post_outbox(body: SendIn, request: Request, principal: Analyst, today: TodayDep) -> dict[str, Any]:
    """Send the planned emails, SMS and letters due on `date` (each reminder in its own transaction)."""
    report = send_outbox(engine=request.app.state.engine, on=body.date or today,
                         actor=principal.actor, settings=request.app.state.settings)
    return report.summary()


# --- actions --------------------------------------------------------------------------------------


StateFilter = Literal["planned", "pending_approval", "rendered", "sent", "posted", "delivered",
                     "failed", "cancelled"]
ChannelFilter = Literal["email", "sms", "call", "letter", "formal_notice", "legal"]


class ActionOut(BaseModel):
    id: int
    customer_id: str
    invoice_id: str | None
    reminder_id: str | None
    run_date: dt.date | None
    scenario: str | None
    step: str | None
    action: str
    channel: str
    tone: str | None
    template: str | None
    send_on: dt.date
    state: str
    attempts: int
    last_error: str | None
    sent_at: dt.datetime | None
    outcome: str | None
    created_by: str | None
    reasons: list[dict[str, Any]] | None
    closed_on: dt.date | None = None
    approved_by: str | None = None
    approved_at: dt.datetime | None = None


class ActionPage(BaseModel):
    items: list[ActionOut]
    total: int
    limit: int
    offset: int


@router.get("/dunning/actions", response_model=ActionPage)
def get_actions(
    session: SessionDep, _: Reader, portfolio: PortfolioDep,
    state: Annotated[StateFilter | None, Query()] = None,
    customer_id: Annotated[str | None, Query(max_length=64)] = None,
    channel: Annotated[ChannelFilter | None, Query()] = None,
    date: Annotated[BusinessDate | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> ActionPage:
    """Dunning actions, filtered by state, customer, channel and send date."""
    rows, total = dunning_reminders.list_actions(session, state=state, customer_id=customer_id,
                                     channel=channel, on=date, limit=limit, offset=offset,
                                     agent=portfolio.agent)
    return ActionPage(items=[ActionOut.model_validate(r, from_attributes=True) for r in rows],
                      total=total, limit=limit, offset=offset)


class CancelIn(BaseModel):
    reason: Paragraphs(500) = "cancelled by a user"


@router.post("/dunning/actions/{action_id}/cancel", response_model=ActionOut)
def cancel(action_id: RowId, session: SessionDep, principal: ActionWorker,
           body: CancelIn | None = None) -> ActionOut:
    """Cancel a planned action (409 once it is sent, failed or cancelled)."""
    try:
        action = dunning_actions.cancel_action(session, action_id=action_id, actor=principal.actor,
                                     reason=(body or CancelIn()).reason)
    except errors.IllegalTransitionError as exc:
        session.rollback()
        raise HTTPException(409, str(exc)) from exc
    session.commit()
    return ActionOut.model_validate(action, from_attributes=True)


class DecisionIn(BaseModel):
    comment: Paragraphs(1000, min_length=0) | None = None


def _decide(action_id: int, session, principal: Principal, *, approve: bool,
            body: DecisionIn | None) -> list[ActionOut]:
    try:
        group = dunning_actions.decide_approval(session, action_id=action_id, approve=approve,
                                      actor=principal.actor, comment=(body or DecisionIn()).comment)
    except errors.IllegalTransitionError as exc:
        session.rollback()
        raise HTTPException(409, str(exc)) from exc
    session.commit()
    return [ActionOut.model_validate(a, from_attributes=True) for a in group]


@router.post("/dunning/actions/{action_id}/approve", response_model=list[ActionOut])
def approve(action_id: RowId, session: SessionDep, principal: Analyst,
            body: DecisionIn | None = None) -> list[ActionOut]:
    """Approve a formal notice or legal hand-off (with the rest of its letter): it may go out."""
    return _decide(action_id, session, principal, approve=True, body=body)


@router.post("/dunning/actions/{action_id}/reject", response_model=list[ActionOut])
def reject(action_id: RowId, session: SessionDep, principal: Analyst,
           body: DecisionIn | None = None) -> list[ActionOut]:
    """Reject a formal notice or legal hand-off (with the rest of its letter): it is cancelled."""
    return _decide(action_id, session, principal, approve=False, body=body)
