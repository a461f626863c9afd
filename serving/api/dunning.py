"""Dunning: scenarios and templates (analyst), daily runs, actions, reminders and their PDF."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import select

from ledger import actions as dunning_actions
from ledger import errors
from ledger import reminders as dunning_reminders
from ledger import saved_scenarios as saved
from ledger.errors import FieldError, LedgerValidationError, NotFoundError
from ledger.schemas import BusinessDate, Paragraphs
from ledger.tables import Customer
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
    NothingToSay,
    edited_templates,
    known_templates,
    load_scenarios,
    planned_as_dict,
    render_stored_reminder,
    run_and_commit,
)
from serving.errors import field_name
from serving.inputs import Offset, RowId
from serving.outbox import send_outbox
from serving.ratelimit import RateLimited
from serving.reminders import (
    ReminderError,
    RenderedReminder,
    available_templates,
    render_pdf,
    validate_template,
)
from serving.reminders.render import (
    CHANNELS,
    DEFAULT_DEADLINE_DAYS,
    LANGUAGES,
    NAME_PATTERN,
    render_pdfs,
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


# --- reminders ------------------------------------------------------------------------------------


class ReminderInvoice(BaseModel):
    invoice_id: str
    due_date: dt.date | None
    open_amount: str | None
    step: str | None
    action_id: int
    state: str


class ReminderSummary(BaseModel):
    """One consolidated reminder: one task per customer, day and channel, with its invoices."""

    reminder_id: str
    customer_id: str
    customer_name: str | None
    run_date: dt.date
    send_on: dt.date
    channel: str
    tone: str
    template: str | None
    language: str
    state: str
    posted_on: dt.date | None
    registered_number: str | None
    delivered_on: dt.date | None
    notice_deadline: dt.date | None
    invoices: list[ReminderInvoice]
    total_open: str


class ReminderPage(BaseModel):
    items: list[ReminderSummary]
    total: int
    limit: int
    offset: int


def _summaries(session, pairs) -> list[ReminderSummary]:
    invoices = dunning_reminders.invoices_by_id(session, [a.invoice_id for _, actions in pairs
                                              for a in actions if a.invoice_id])
    names = dict(session.execute(select(Customer.customer_id, Customer.name).where(
        Customer.customer_id.in_({r.customer_id for r, _ in pairs}))).all()) if pairs else {}
    out = []
    for reminder, actions in pairs:
        lines = [ReminderInvoice(
            invoice_id=a.invoice_id, due_date=invoices[a.invoice_id].due_date,
            open_amount=str(invoices[a.invoice_id].open_amount), step=a.step, action_id=a.id,
            state=a.state) for a in actions if a.invoice_id in invoices]
        live = [invoices[line.invoice_id].open_amount for line in lines if line.state != "cancelled"]
        out.append(ReminderSummary(
            reminder_id=reminder.reminder_id, customer_id=reminder.customer_id,
            customer_name=names.get(reminder.customer_id), run_date=reminder.run_date,
            send_on=reminder.send_on, channel=reminder.channel, tone=reminder.tone,
            template=reminder.template, language=reminder.language,
            state=dunning_reminders.reminder_state(actions), posted_on=reminder.posted_on,
            registered_number=reminder.registered_number, delivered_on=reminder.delivered_on,
            notice_deadline=(dunning_reminders.notice_deadline(reminder, DEFAULT_DEADLINE_DAYS)
                             if reminder.channel == "formal_notice" else None),
            invoices=lines, total_open=str(sum(live, Decimal("0")))))
    return out


@router.get("/reminders", response_model=ReminderPage)
def list_reminders(
    session: SessionDep, _: Reader, portfolio: PortfolioDep,
    customer_id: Annotated[str | None, Query(max_length=64)] = None,
    channel: Annotated[ChannelFilter | None, Query()] = None,
    state: Annotated[StateFilter | None, Query()] = None,
    date: dt.date | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Offset = 0,
) -> ReminderPage:
    """Consolidated reminders (one call, e-mail or letter per customer, day and channel) with
    their invoices; an agent sees their portfolio only."""
    pairs, total = dunning_reminders.list_reminders(session, customer_id=customer_id, agent=portfolio.agent,
                                        channel=channel, state=state, on=date, limit=limit,
                                        offset=offset)
    return ReminderPage(items=_summaries(session, pairs), total=total, limit=limit, offset=offset)


@router.get("/dunning/approvals", response_model=list[ReminderSummary])
def approvals(session: SessionDep, _: Analyst) -> list[ReminderSummary]:
    """Formal notices and legal hand-offs waiting for a person's approval, oldest first."""
    return _summaries(session, dunning_reminders.pending_approvals(session))


class PostedIn(BaseModel):
    posted_on: dt.date
    # a recommandé avec accusé de réception has a number (e.g. 1A 123 456 7890 1)
    registered_number: str | None = Field(default=None, min_length=4, max_length=64,
                                          pattern=r"^[A-Za-z0-9 \-]+$")


class DeliveredIn(BaseModel):
    delivered_on: dt.date


def _check_date(field: str, value: dt.date, today: dt.date) -> None:
    if value > today:
        raise LedgerValidationError([FieldError(field, f"{value.isoformat()} is in the future "
                                                       f"(today is {today.isoformat()})")])


@router.post("/reminders/{reminder_id}/posted", response_model=ReminderSummary)
def posted(reminder_id: str, body: PostedIn, session: SessionDep, principal: ActionWorker,
           today: TodayDep) -> ReminderSummary:
    """A rendered letter or formal notice was posted (a formal notice: its registered number)."""
    _check_date("posted_on", body.posted_on, today)
    try:
        reminder = dunning_reminders.mark_posted(session, reminder_id=reminder_id, posted_on=body.posted_on,
                                     registered_number=body.registered_number, actor=principal.actor)
    except errors.IllegalTransitionError as exc:
        session.rollback()
        raise HTTPException(409, str(exc)) from exc
    session.commit()
    return _summaries(session, [(reminder, dunning_reminders.reminder_actions(session, reminder_id))])[0]


@router.post("/reminders/{reminder_id}/delivered", response_model=ReminderSummary)
def delivered(reminder_id: str, body: DeliveredIn, session: SessionDep, principal: ActionWorker,
              today: TodayDep) -> ReminderSummary:
    """A posted letter was received (the date on the acknowledgement of receipt)."""
    _check_date("delivered_on", body.delivered_on, today)
    try:
        reminder = dunning_reminders.mark_delivered(session, reminder_id=reminder_id,
                                        delivered_on=body.delivered_on, actor=principal.actor)
    except errors.IllegalTransitionError as exc:
        session.rollback()
        raise HTTPException(409, str(exc)) from exc
    session.commit()
    return _summaries(session, [(reminder, dunning_reminders.reminder_actions(session, reminder_id))])[0]


@router.get("/letters.pdf", responses={200: {"content": {"application/pdf": {}}}})
def letters_pdf(session: SessionDep, _: ActionWorker, portfolio: PortfolioDep, today: TodayDep,
                date: dt.date | None = None) -> Response:
    """The day's rendered letters and formal notices in one PDF, one letter per page, to print
    and post (404 when there is none)."""
    on = date or today
    pairs = []
    for channel in PDF_CHANNELS:
        found, _ = dunning_reminders.list_reminders(session, channel=channel, state="rendered", on=on,
                                        agent=portfolio.agent, limit=500)
        pairs.extend(found)
    letters = [r for r, _ in sorted(pairs, key=lambda p: (p[0].customer_id, p[0].channel))
               if r.body_text is not None]
    if not letters:
        raise NotFoundError("letters to print on", on.isoformat())
    pdf = render_pdfs([(RenderedReminder(channel=r.channel, tone=r.tone, language=r.language,
                                         template=r.template or "", subject=r.subject or "",
                                         body_text=r.body_text), r.subject or r.reminder_id)
                       for r in letters])
    return Response(pdf, media_type="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="letters-{on.isoformat()}.pdf"'})


class ReminderOut(BaseModel):
    reminder_id: str
    customer_id: str
    run_date: dt.date
    send_on: dt.date
    channel: str
    tone: str
    language: str
    subject: str
    body_text: str
    body_html: str | None
    rendered_at: dt.datetime | None  # when it was rendered to be sent; None: a preview now
    state: str
    posted_on: dt.date | None = None
    registered_number: str | None = None
    delivered_on: dt.date | None = None
    notice_deadline: dt.date | None = None
    actions: list[ActionOut]
    pdf: str | None


@router.get("/reminders/{reminder_id}", response_model=ReminderOut,
            responses={200: {"content": {"application/pdf": {}}}})
def get_reminder(reminder_id: str, request: Request, session: SessionDep, _: Reader,
                 format: Literal["json", "pdf"] | None = None) -> Any:
    """A reminder's text as sent (or a preview before sending); `?format=pdf` for letters."""
    reminder = dunning_reminders.get_reminder(session, reminder_id)
    wants_pdf = format == "pdf" or (format is None and "application/pdf" in request.headers.get("accept", ""))
    if reminder.body_text is not None:
        subject, body_text, body_html = reminder.subject or "", reminder.body_text, reminder.body_html
    else:
        try:
            rendered = render_stored_reminder(session, reminder, settings=request.app.state.settings)
        except NothingToSay as exc:
            raise HTTPException(409, f"nothing to send: {exc}") from exc
        except ReminderError as exc:  # an edited template that fails on this reminder's data
            raise LedgerValidationError([FieldError("template", str(exc))]) from exc
        subject, body_text, body_html = rendered.subject, rendered.body_text, rendered.body_html
    if wants_pdf:
        if reminder.channel not in PDF_CHANNELS:
            raise LedgerValidationError([FieldError(
                "format", f"only letters and formal notices have a PDF; this reminder is {reminder.channel}")])
        pdf = render_pdf(RenderedReminder(channel=reminder.channel, tone=reminder.tone,
                                          language=reminder.language, template="", subject=subject,
                                          body_text=body_text), title=subject)
        return Response(pdf, media_type="application/pdf", headers={
            "Content-Disposition": f'attachment; filename="{reminder_id}.pdf"'})
    actions = dunning_reminders.reminder_actions(session, reminder_id)
    return ReminderOut(
        reminder_id=reminder.reminder_id, customer_id=reminder.customer_id,
        run_date=reminder.run_date, send_on=reminder.send_on, channel=reminder.channel,
        tone=reminder.tone, language=reminder.language, subject=subject, body_text=body_text,
        body_html=body_html, rendered_at=reminder.rendered_at,
        state=dunning_reminders.reminder_state(actions), posted_on=reminder.posted_on,
        registered_number=reminder.registered_number, delivered_on=reminder.delivered_on,
        notice_deadline=(dunning_reminders.notice_deadline(reminder, DEFAULT_DEADLINE_DAYS)
                         if reminder.channel == "formal_notice" else None),
        actions=[ActionOut.model_validate(a, from_attributes=True) for a in actions],
        pdf=f"/api/v1/reminders/{reminder_id}?format=pdf" if reminder.channel in PDF_CHANNELS else None,
    )
