"""Statement of account per customer: `GET /customers/{id}/statement?format=pdf|csv|json`."""
from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response

from ledger import store
from ledger.errors import NotFoundError
from ledger.statement import statement
from serving.deps import Reader, SessionDep, TodayDep
from serving.exports import Dialect
from serving.statements import statement_csv, statement_pdf

router = APIRouter(prefix="/api/v1", tags=["statements"])


@router.get("/customers/{customer_id}/statement", responses={200: {"content": {
    "application/json": {}, "text/csv": {"schema": {"type": "string"}},
    "application/pdf": {"schema": {"type": "string", "format": "binary"}}}}})
def customer_statement(
    customer_id: str, session: SessionDep, principal: Reader, today: TodayDep,
    format: Annotated[Literal["pdf", "csv", "json"], Query(description="pdf (default), csv or json")] = "pdf",
    as_of: Annotated[dt.date | None, Query(description="statement date, default today")] = None,
    start: Annotated[dt.date | None, Query(alias="from", description="first day of the entries (default: all)")] = None,
    lang: Annotated[Literal["fr", "en"] | None, Query(description="default: the customer's language")] = None,
    dialect: Annotated[Dialect, Query(description="CSV: excel-fr (default) or excel-en")] = "excel-fr",
) -> Response:
    """Statement of account (relevé de compte): entries, running balance, open invoices."""
    customer = store.get_customer(session=session, customer_id=customer_id)
    if principal.role == "agent" and customer.assigned_agent != (principal.name or principal.key_prefix):
        raise NotFoundError("customer", customer_id)  # outside the agent's portfolio: as if absent
    result = statement(session=session, customer_id=customer_id, as_of=as_of or today, start=start)
    language = lang or result.language or "fr"
    name = f"releve-{customer_id}-{result.as_of.isoformat()}" if language == "fr" else \
        f"statement-{customer_id}-{result.as_of.isoformat()}"
    safe = "".join(ch for ch in name if ch.isalnum() or ch in "-_.")
    if format == "json":
        return JSONResponse(jsonable_encoder(asdict(result), custom_encoder={Decimal: str}))
    if format == "csv":
        return Response(statement_csv(result, language, dialect).encode("utf-8"),
                        media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{safe}.csv"'})
    return Response(statement_pdf(result, language), media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{safe}.pdf"'})
