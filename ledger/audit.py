"""The audit trail: one row per change (who, what, before, after) in the caller's transaction.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from ledger.tables import (
    AuditLog,
)


def json_safe(value: Any) -> Any:
    """Decimals as strings, dates as ISO text, through lists and dicts: what a JSON column takes."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    return value


def audit(session: Session, *, actor: str, action: str, entity: str, entity_id: str | None,
          before: Mapping[str, Any] | None = None, after: Mapping[str, Any] | None = None) -> None:
    """One audit row in the caller's transaction (values made JSON-safe)."""
    session.add(AuditLog(actor=actor, action=action, entity=entity, entity_id=entity_id,
                         before=json_safe(dict(before)) if before is not None else None,
                         after=json_safe(dict(after)) if after is not None else None))


def list_audit(*, session: Session, entity: str | None = None, entity_id: str | None = None,
               limit: int = 100, offset: int = 0) -> list[AuditLog]:
    query = select(AuditLog)
    if entity is not None:
        query = query.where(AuditLog.entity == entity)
    if entity_id is not None:
        query = query.where(AuditLog.entity_id == entity_id)
    query = query.order_by(AuditLog.at.desc(), AuditLog.id.desc()).offset(offset).limit(limit)
    return list(session.execute(query).scalars())

