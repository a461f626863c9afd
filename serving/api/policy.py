"""Reminder-policy evaluations and the analyst's explicit activation (docs/policy.md).

Analysts and admins only: an evaluation says how a candidate policy would have done from the
logged actions; activating it is the one decision that switches it on, refused (409, with the
reason) unless the lower bound of its estimated gain is above zero.
"""
from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from ledger import policies as store
from serving.deps import Analyst, SessionDep

router = APIRouter(prefix="/api/v1", tags=["policy"])
EvaluationId = Annotated[int, Path(ge=1, le=2**31 - 1, description="A stored evaluation's id")]


class EvaluationOut(BaseModel):
    id: int
    created_at: dt.datetime
    created_by: str
    candidate: str
    metric: str
    split_on: dt.date | None
    n: int
    result: dict[str, Any]
    gain_low: float
    state: str
    activated_by: str | None
    activated_at: dt.datetime | None
    comment: str | None
    can_activate: bool


class ActivateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    comment: str = Field(default="", max_length=1000)


def _out(record) -> EvaluationOut:
    return EvaluationOut(
        id=record.id, created_at=record.created_at, created_by=record.created_by,
        candidate=record.candidate, metric=record.metric, split_on=record.split_on, n=record.n,
        result=record.result, gain_low=record.gain_low, state=record.state,
        activated_by=record.activated_by, activated_at=record.activated_at, comment=record.comment,
        can_activate=record.state != "active" and record.gain_low > 0,
    )


@router.get("/policy/evaluations", response_model=list[EvaluationOut])
def list_evaluations(session: SessionDep, _: Analyst) -> list[EvaluationOut]:
    """Stored evaluations, newest first (at most 50)."""
    return [_out(record) for record in store.list_evaluations(session)]


@router.post("/policy/evaluations/{evaluation_id}/activate", response_model=EvaluationOut)
def activate(evaluation_id: EvaluationId, session: SessionDep, principal: Analyst,
             body: ActivateIn | None = None,
             lang: Annotated[Literal["fr", "en"] | None, Query()] = None) -> EvaluationOut:
    """Switch the evaluated policy on (the active one is retired); 409 when its gain's lower
    bound is not above zero, or it is already active."""
    from ledger.config import get_settings

    language = lang or get_settings().language
    record = store.activate(session, evaluation_id, actor=principal.actor,
                            comment=(body or ActivateIn()).comment, language=language)
    session.commit()
    return _out(record)


@router.post("/policy/evaluations/{evaluation_id}/deactivate", response_model=EvaluationOut)
def deactivate(evaluation_id: EvaluationId, session: SessionDep, principal: Analyst,
               body: ActivateIn | None = None,
               lang: Annotated[Literal["fr", "en"] | None, Query()] = None) -> EvaluationOut:
    """Switch the active policy off (the daily run goes back to the scenarios' rules); 409 when
    it is not the active one."""
    from ledger.config import get_settings

    language = lang or get_settings().language
    record = store.deactivate(session, evaluation_id, actor=principal.actor,
                              comment=(body or ActivateIn()).comment, language=language)
    session.commit()
    return _out(record)
