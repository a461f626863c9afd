"""The workbench's own JSON routes: the worklist as a CSV file, a dry run for one customer, and
agent activity. Everything else the pages do goes through the ordinary API (`GET /me` included).
Object-level checks come from `serving.deps.portfolio_scope`, which `create_app` puts on every
router: an agent naming a customer outside their portfolio gets 404 here as everywhere."""
from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import Response
from pydantic import BaseModel

from ledger import worklist as ranking
from ledger import worklist_rows
from ledger.activity import agent_activity
from ledger.calendar import next_business_day
from ledger.store import get_customer
from serving.api.collections import _invoice_risk, _lang
from serving.deps import Analyst, PortfolioDep, Reader, SessionDep, TodayDep, risk_provider
from serving.dunning import planned_as_dict, run_dunning
from serving.exports import Dialect, csv_response
from serving.labels import Language, catalogue, label
from serving.worklist_text import worded

router = APIRouter(prefix="/api/v1", tags=["workbench"])

Lang = Annotated[Language | None, Query(description="fr (default) or en")]
EXPORT_LIMIT = 500


@router.get("/worklist/export", responses={200: {"content": {"text/csv": {}}}})
def worklist_export(request: Request, session: SessionDep, principal: Reader, portfolio: PortfolioDep,
                    today: TodayDep,
                    agent: str | None = None, segment: str | None = None,
                    grade: ranking.Grade | None = None, bucket: worklist_rows.Bucket | None = None,
                    q: Annotated[str | None, Query(max_length=100)] = None,
                    currency: Annotated[str | None, Query(pattern="^[A-Za-z]{3}$")] = None,
                    dispute: bool | None = None, promise: bool | None = None,
                    dialect: Dialect = "excel-fr", lang: Lang = None) -> Response:
    """The worklist with the same filters as a CSV file (French Excel by default), labels in words."""
    language = _lang(request, lang)
    if portfolio.agent is not None:
        if agent is not None and agent != portfolio.agent:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "an agent exports only their own portfolio")
        agent = portfolio.agent
    rows = worded(ranking.worklist(session=session, today=today, agent=agent, limit=EXPORT_LIMIT, segment=segment,
                               grade=grade, bucket=bucket, risk=_invoice_risk(request, session, today),
                               search=q or None, currency=currency, dispute=dispute, promise=promise), language)
    words = catalogue(language)
    header = [words["rank"], words["customer"], "id", words["segment"], words["customer_grade"], words["currency"],
              words["value_at_risk_90"], words["value_at_risk_30"], words["open_amount"], words["overdue_amount"],
              words["days_overdue"], words["bucket"], words["next_action"], words["agent"], words["reasons"]]
    body = [[r.rank, r.name, r.customer_id, label("segment", r.segment, language), r.grade or "",
             r.currency, r.value_at_risk_90, r.value_at_risk_30, r.open_amount, r.overdue_amount,
             r.days_overdue, label("bucket", r.bucket, language),
             _next_action_words(r.next_action, language), r.assigned_agent or words["unassigned"],
             " · ".join(reason.text for reason in r.reasons)] for r in rows]
    return csv_response(header, body, f"worklist-{today.isoformat()}", dialect)


def _next_action_words(action: worklist_rows.ActionOut | None, language: str) -> str:
    if action is None:
        return ""
    return f"{label('step', action.step or action.action, language)} ({label('channel', action.channel, language)}) {action.send_on.isoformat()}"


class PreviewIn(BaseModel):
    date: dt.date | None = None


class PreviewOut(BaseModel):
    customer_id: str
    date: dt.date
    actions: list[dict[str, Any]]
    warnings: list[str]


@router.post("/customers/{customer_id}/dunning-preview", response_model=PreviewOut)
def dunning_preview(customer_id: str, request: Request, session: SessionDep, principal: Reader,
                    portfolio: PortfolioDep, today: TodayDep, body: PreviewIn | None = None) -> PreviewOut:
    """What a dunning run on `date` (default: the next business day) would plan for this customer;
    a dry run: nothing is written."""
    portfolio.require(session, "customer", customer_id)  # the scope did; said here for the reader
    get_customer(session=session, customer_id=customer_id)  # 404 for an unknown id
    run_date = (body.date if body and body.date else None) or next_business_day(today + dt.timedelta(days=1))
    report = run_dunning(session=session, run_date=run_date, dry_run=True, risk_for=risk_provider(request),
                         actor=principal.actor, today=today, customer_id=customer_id)
    session.rollback()
    return PreviewOut(customer_id=customer_id, date=run_date,
                      actions=[planned_as_dict(a) for a in report.actions], warnings=report.warnings)


class ActivityOut(BaseModel):
    actor: str
    calls: int
    notes: int
    promises_obtained: int
    promises_kept: int
    collected: list[dict[str, Any]]  # [{currency, amount}]


@router.get("/agents/activity", response_model=list[ActivityOut])
def activity(session: SessionDep, _: Analyst, today: TodayDep, as_of: dt.date | None = None,
             days: Annotated[int, Query(ge=1, le=366)] = 30) -> list[ActivityOut]:
    """Per person: calls, notes, promises obtained and kept, and payments received within 14 days
    of one of their contacts (by currency; a payment may count for two people who both called)."""
    return [ActivityOut(actor=row.actor, calls=row.calls, notes=row.notes,
                        promises_obtained=row.promises_obtained, promises_kept=row.promises_kept,
                        collected=[{"currency": c, "amount": a} for c, a in row.collected.items()])
            for row in agent_activity(session=session, as_of=as_of or today, days=days)]
