"""Credit limits: exposure against limit per customer, and the alert list (over, over 80 %).

The logic lives in `ledger.credit`; an agent sees the customers of their own portfolio only.
"""
from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel

from ledger import credit, store
from serving.deps import PortfolioDep, Reader, SessionDep, TodayDep

router = APIRouter(prefix="/api/v1", tags=["credit limits"])


# the ledger's own record of a customer's exposure, not a copy of its fields
ExposureOut = credit.Exposure


class ExposurePage(BaseModel):
    as_of: dt.date
    items: list[ExposureOut]
    total: int
    counts: dict[str, int]


@router.get("/credit/exposures", response_model=ExposurePage)
def list_exposures(session: SessionDep, _: Reader, today: TodayDep, portfolio: PortfolioDep,
                   status: Annotated[Literal["over", "warning", "ok", "no_limit", "alerts"] | None,
                                     Query(description="alerts = over or warning")] = None,
                   limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                   offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> ExposurePage:
    """Exposure against credit limit per customer, the most used first."""
    rows = credit.exposures(session=session, today=today, agent=portfolio.agent)
    counts = {s: sum(1 for r in rows if r.status == s) for s in credit.STATUSES}
    if status == "alerts":
        rows = [r for r in rows if r.status in ("over", "warning")]
    elif status is not None:
        rows = [r for r in rows if r.status == status]
    return ExposurePage(as_of=today, items=rows[offset:offset + limit],
                        total=len(rows), counts=counts)


@router.get("/credit/alerts", response_model=list[ExposureOut])
def credit_alerts(session: SessionDep, _: Reader, today: TodayDep, portfolio: PortfolioDep) -> list[ExposureOut]:
    """Customers over their credit limit, or at 80 % of it or more."""
    return credit.alerts(session=session, today=today, agent=portfolio.agent)


@router.get("/customers/{customer_id}/credit", response_model=ExposureOut)
def customer_credit(customer_id: str, session: SessionDep, _: Reader, today: TodayDep) -> ExposureOut:
    """One customer's exposure against its credit limit (an agent: their portfolio, see deps)."""
    store.get_customer(session=session, customer_id=customer_id)
    [row] = credit.exposures(session=session, today=today, customer_ids=[customer_id])
    return row
