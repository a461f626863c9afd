"""Accounting integrations: FEC upload, webhook subscribers and their delivery log.

The logic lives in `ledger.fec` and `ledger.webhooks`; these routes check roles and shape answers.
"""
from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, File, Query, Request, Response, UploadFile, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from ledger import webhooks as wh
from ledger.fec import FecReport, FecValidationError, import_fec, issues_table
from ledger.schemas import IngestResult, Line
from serving.deps import Admin, Ingester, SessionDep
from serving.inputs import Offset, OptionalRowId, RowId

router = APIRouter(prefix="/api/v1", tags=["integrations"])
MAX_ISSUES = 10_000


class FecIssueOut(BaseModel):
    line: int
    column: str
    message: str


class FecImportOut(BaseModel):
    encoding: str
    separator: str
    lines: int
    entries: int
    invalid_entries: int
    skipped_lines: int
    opening_lines: int
    customers: int
    invoices: int
    credit_notes: int
    payments: int
    lettered_payments: int
    issues: list[FecIssueOut]
    result: IngestResult | None


def _report_out(report: FecReport) -> FecImportOut:
    fields = {name: getattr(report, name) for name in FecImportOut.model_fields if name != "issues"}
    return FecImportOut(**fields, issues=issues_table(report.issues[:MAX_ISSUES]))


@router.post("/import/fec", response_model=FecImportOut)
def upload_fec(file: Annotated[UploadFile, File(description="FEC file (tab or | separated)")],
               session: SessionDep, principal: Ingester,
               terms_days: Annotated[int, Query(ge=0, le=365, description="Payment terms when the FEC has no due date")] = 30,
               skip_invalid: Annotated[bool, Query(description="Import the valid entries, skip the others")] = False,
               ) -> FecImportOut | JSONResponse:
    """Import a FEC: customers, invoices, credit notes, payments (idempotent, all or nothing)."""
    data = file.file.read()
    try:
        report = import_fec(session=session, source=data, actor=principal.actor, terms_days=terms_days,
                            skip_invalid=skip_invalid, name=file.filename or "upload")
        session.commit()
    except FecValidationError as exc:
        session.rollback()
        issues = issues_table(exc.report.issues[:MAX_ISSUES])
        return JSONResponse(status_code=422, content={
            "detail": f"invalid FEC: {len(exc.report.issues)} issue(s), nothing was imported",
            "errors": [{"field": f"line {i['line']}, column {i['column']}", "message": i["message"]}
                       for i in issues],
            "issues": issues})
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
