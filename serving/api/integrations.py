"""Accounting integrations: FEC upload, webhook subscribers and their delivery log.

The logic lives in `ledger.fec` and `ledger.webhooks`; these routes check roles and shape answers.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, File, Query, Request, Response, UploadFile, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from ledger import webhooks as wh
from ledger.errors import LedgerValidationError
from ledger.fec import FecOptions, FecReport, FecValidationError, import_fec, issues_table
from ledger.fec.report import unbalanced_table, unplaced_table
from ledger.fec.terms import read_terms_file
from ledger.schemas import IngestResult, Line
from serving.deps import Admin, Ingester, SessionDep, TodayDep
from serving.inputs import Offset, OptionalRowId, RowId
from serving.ratelimit import RateLimited

router = APIRouter(prefix="/api/v1", tags=["integrations"])
MAX_ISSUES = 10_000


class FecIssueOut(BaseModel):
    line: int
    column: str
    message: str


class UnbalancedGroupOut(BaseModel):
    customer_id: str
    letter: str
    debits: Decimal
    credits: Decimal
    difference: Decimal
    lines: list[int]
    partial: bool = Field(description="a lowercase code: the package marks the lettering as partial")


class UnplacedOut(BaseModel):
    line: int
    customer_id: str
    record_id: str
    amount: Decimal
    reason: str = Field(description="unallocated_credit | opening_already_imported | penalty_invoice")


class DueDateSourcesOut(BaseModel):
    column: int
    customer_terms: int
    default: int


class FecImportOut(BaseModel):
    encoding: str
    separator: str
    lines: int
    entries: int
    invalid_entries: int
    skipped_lines: int
    opening_lines: int
    opening_items: int
    customers: int
    invoices: int
    credit_notes: int
    payments: int
    lettered_payments: int
    lettering_groups: int
    links: int
    due_dates: DueDateSourcesOut
    unbalanced_groups: list[UnbalancedGroupOut]
    unplaced: list[UnplacedOut]
    issues: list[FecIssueOut]
    result: IngestResult | None


def _report_out(report: FecReport) -> FecImportOut:
    lists = ("issues", "unbalanced_groups", "unplaced")
    fields = {name: getattr(report, name) for name in FecImportOut.model_fields if name not in lists}
    return FecImportOut(**fields, issues=issues_table(report.issues[:MAX_ISSUES]),
                        unbalanced_groups=unbalanced_table(report.unbalanced_groups[:MAX_ISSUES]),
                        unplaced=unplaced_table(report.unplaced[:MAX_ISSUES]))


def _invalid(field: str, message: str) -> JSONResponse:
    return JSONResponse(status_code=422, content={"detail": message,
                                                  "errors": [{"field": field, "message": message}]})


@router.post("/import/fec", response_model=FecImportOut, dependencies=[RateLimited])
def upload_fec(file: Annotated[UploadFile, File(description="FEC file (tab or | separated)")],
               session: SessionDep, principal: Ingester, today: TodayDep,
               terms: Annotated[UploadFile | None, File(description="CSV customer_id;terms (\"45 jours fin de mois\"…)")] = None,
               terms_days: Annotated[int | None, Query(ge=0, le=365, description="Default terms in days")] = None,
               default_terms: Annotated[str | None, Query(max_length=60, description="Default terms, e.g. \"30 jours fin de mois\"")] = None,
               opening_journal: Annotated[list[str] | None, Query(max_length=10, description="Extra opening-balance journal codes")] = None,
               unlettered: Annotated[Literal["credit", "oldest_first"] | None, Query(description="What unlettered receipts do")] = None,
               skip_invalid: Annotated[bool, Query(description="Import the valid entries, skip the others")] = False,
               dry_run: Annotated[bool, Query(description="Check and report, write nothing")] = False,
               ) -> FecImportOut | JSONResponse:
    """Import a FEC: customers, invoices, credit notes, payments, lettering (idempotent, all or nothing)."""
    data = file.file.read()
    base = FecOptions.from_settings()
    journals = [j.strip().upper() for j in opening_journal or [] if j.strip()]
    if len(journals) > 20 or any(len(j) > 10 for j in journals):
        return _invalid("opening_journal", "at most 20 journal codes of at most 10 characters")
    options = FecOptions.from_settings(
        default_terms=default_terms, unlettered=unlettered, skip_invalid=skip_invalid,
        terms=read_terms_file(terms.file.read(1_000_000)) if terms is not None else None,
        opening_journals=base.opening_journals | set(journals))
    try:
        report = import_fec(session=session, source=data, actor=principal.actor, options=options,
                            terms_days=terms_days, dry_run=dry_run, name=file.filename or "upload",
                            today=today)
        if dry_run:
            session.rollback()
        else:
            session.commit()
    except FecValidationError as exc:
        session.rollback()
        issues = issues_table(exc.report.issues[:MAX_ISSUES])
        return JSONResponse(status_code=422, content={
            "detail": f"invalid FEC: {len(exc.report.issues)} issue(s), nothing was imported",
            "errors": [{"field": f"line {i['line']}, column {i['column']}", "message": i["message"]}
                       for i in issues],
            "issues": issues})
    except LedgerValidationError:
        session.rollback()
        raise  # bad options 422, a record sent under another customer 409 (serving.errors)
    return _report_out(report)


# --- webhooks ----------------------------------------------------------------------------------

class SubscriberIn(BaseModel):
    url: Line(500, min_length=1)
    events: list[Line(64)] = Field(max_length=len(wh.EVENT_TYPES))
    secret: Line(200, min_length=16) | None = Field(default=None,
                                                    description="Generated and returned once when omitted")
    active: bool = True


class SubscriberOut(BaseModel):
    id: int
    url: str
    events: list[str]
    active: bool
    created_at: dt.datetime


class SubscriberCreated(SubscriberOut):
    secret: str


class DeliveryOut(BaseModel):
    id: int
    subscriber_id: int
    event_id: int
    attempt: int
    status: str
    response_code: int | None
    error: str | None
    next_attempt_at: dt.datetime | None
    attempted_at: dt.datetime | None
    delivered_at: dt.datetime | None


class DeliveryReportOut(BaseModel):
    fanned_out: int
    attempted: int
    delivered: int
    retrying: int
    failed: int
    errors: list[str]


@router.get("/webhooks", response_model=list[SubscriberOut])
def list_webhooks(session: SessionDep, _: Admin) -> list[SubscriberOut]:
    """Webhook subscribers (secrets are never shown again)."""
    return [SubscriberOut.model_validate(s, from_attributes=True)
            for s in wh.list_subscribers(session=session)]


@router.post("/webhooks", response_model=SubscriberCreated, status_code=status.HTTP_201_CREATED)
def create_webhook(body: SubscriberIn, session: SessionDep, _: Admin) -> SubscriberCreated:
    """Subscribe a URL to event types; the answer carries the signing secret, once."""
    subscriber = wh.create_subscriber(session=session, url=body.url, events=body.events,
                                      secret=body.secret, active=body.active)
    session.commit()
    return SubscriberCreated.model_validate(subscriber, from_attributes=True)


@router.delete("/webhooks/{subscriber_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_webhook(subscriber_id: RowId, session: SessionDep, _: Admin) -> Response:
    """Stop a subscriber (its delivery log is kept)."""
    wh.deactivate_subscriber(session=session, subscriber_id=subscriber_id)
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/webhooks/deliveries", response_model=list[DeliveryOut])
def list_deliveries(session: SessionDep, _: Admin, subscriber_id: OptionalRowId = None,
                    status_: Annotated[str | None, Query(alias="status")] = None,
                    limit: Annotated[int, Query(ge=1, le=500)] = 100,
                    offset: Offset = 0) -> list[DeliveryOut]:
    """The delivery log, newest first: one row per attempt."""
    rows = wh.list_deliveries(session=session, subscriber_id=subscriber_id, status=status_,
                              limit=limit, offset=offset)
    return [DeliveryOut.model_validate(d, from_attributes=True) for d in rows]


@router.post("/webhooks/deliver", response_model=DeliveryReportOut)
def deliver_now(request: Request, _: Admin) -> DeliveryReportOut:
    """Fan out new events and make every delivery attempt that is due now."""
    report = wh.deliver_pending(engine=request.app.state.engine)
    return DeliveryReportOut(**vars(report))
