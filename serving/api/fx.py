"""Exchange rates: import the ECB's euro reference rates, post rates, list them.

`POST /fx/rates` takes either the ECB's CSV file (multipart `file`, or a `text/csv` body) or JSON
`{"rates": [{"currency", "rate_date", "rate"}]}` (1 EUR = rate units of currency).
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field, ValidationError

from ledger import fx
from ledger.errors import FieldError, LedgerValidationError
from serving.deps import InvoiceReader, Principal, SessionDep, require
from serving.errors import field_name

router = APIRouter(prefix="/api/v1", tags=["exchange rates"])
RateWriter = Annotated[Principal, Depends(require("analyst", "billing"))]


class RateIn(BaseModel):
    currency: str = Field(min_length=3, max_length=3, pattern="^[A-Za-z]{3}$")
    rate_date: dt.date
    rate: Decimal = Field(gt=0, lt=fx.MAX_RATE, max_digits=18, decimal_places=10, allow_inf_nan=False)


class RatesIn(BaseModel):
    rates: list[RateIn] = Field(min_length=1, max_length=100_000)


class RateOut(BaseModel):
    currency: str
    rate_date: dt.date
    rate: Decimal
    source: str


class RatesPage(BaseModel):
    base: str = fx.BASE
    items: list[RateOut]
    total: int
    limit: int
    offset: int


# what an import did: the ledger's own report, not a copy of its fields
RatesImportOut = fx.ImportReport


_BODY_DOC = {"requestBody": {"content": {
    "application/json": {"schema": RatesIn.model_json_schema()},
    "text/csv": {"schema": {"type": "string", "description": "the ECB's eurofxref-hist.csv"}},
    "multipart/form-data": {"schema": {"type": "object", "properties": {
        "file": {"type": "string", "format": "binary"}}}}}}}


@router.post("/fx/rates", response_model=RatesImportOut, openapi_extra=_BODY_DOC)
async def post_rates(request: Request, session: SessionDep, _: RateWriter,
                     since: Annotated[dt.date | None, Query(description="ECB file: keep rates from this date on")] = None,
                     ) -> RatesImportOut:
    """Store euro exchange rates: the ECB's CSV file, or JSON rates (idempotent)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "multipart/form-data":
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise LedgerValidationError([FieldError("file", "send the ECB CSV file as the form field `file`")])
        data = await upload.read()
        report = fx.import_ecb(session=session, source=data, since=since)
    elif kind in ("text/csv", "text/plain", "application/csv"):
        report = fx.import_ecb(session=session, source=await request.body(), since=since)
    else:
        try:
            body = RatesIn.model_validate_json(await request.body())
        except ValidationError as exc:
            raise LedgerValidationError([FieldError(field_name(e["loc"]), e["msg"]) for e in exc.errors()[:100]]) from None
        rates = [fx.RateIn(currency=r.currency.upper(), rate_date=r.rate_date, rate=r.rate) for r in body.rates]
        counts = fx.store_rates(session=session, rates=rates, source="api")
        dates = [r.rate_date for r in rates]
        report = fx.ImportReport(rows=len(rates), **counts, first_date=min(dates), last_date=max(dates),
                                 currencies=sorted({r.currency for r in rates}), skipped_currencies=[])
    session.commit()
    return report


@router.get("/fx/rates", response_model=RatesPage)
def get_rates(session: SessionDep, _: InvoiceReader,
              currency: Annotated[str | None, Query(pattern="^[A-Za-z]{3}$")] = None,
              start: Annotated[dt.date | None, Query(alias="from")] = None,
              end: Annotated[dt.date | None, Query(alias="to")] = None,
              limit: Annotated[int, Query(ge=1, le=1000)] = 100,
              offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0) -> RatesPage:
    """Stored rates (1 EUR = rate units of currency), newest first."""
    rows, total = fx.list_rates(session=session, currency=currency, start=start, end=end,
                                limit=limit, offset=offset)
    return RatesPage(items=[RateOut(currency=r.currency, rate_date=r.rate_date, rate=Decimal(r.rate),
                                    source=r.source) for r in rows],
                     total=total, limit=limit, offset=offset)
