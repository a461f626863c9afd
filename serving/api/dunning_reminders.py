"""Dunning reminders: the list, approvals, posted and delivered letters, their PDF and one reminder
with its rendered text (the scenarios, templates, runs and actions are in `serving.api.dunning`)."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from ledger import errors
from ledger import reminders as dunning_reminders
from ledger.errors import FieldError, LedgerValidationError, NotFoundError
from ledger.tables import Customer
from serving.api.dunning import PDF_CHANNELS, ActionOut, ActionWorker, ChannelFilter, StateFilter
from serving.deps import (
    Analyst,
    PortfolioDep,
    Reader,
    SessionDep,
    TodayDep,
)
from serving.dunning import (
    NothingToSay,
    render_stored_reminder,
)
from serving.inputs import Offset
from serving.reminders import (
    ReminderError,
    RenderedReminder,
    render_pdf,
)
from serving.reminders.render import (
    DEFAULT_DEADLINE_DAYS,
    render_pdfs,
)

router = APIRouter(prefix="/api/v1", tags=["dunning"])


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
