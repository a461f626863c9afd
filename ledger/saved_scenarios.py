"""Scenarios and reminder templates edited by analysts, stored in the database (shipped defaults
apply for names without a record; `serving.scenarios` validates them).
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from ledger.tables import (
    AuditLog,
    ScenarioRecord,
    TemplateRecord,
    utcnow,
)


def stored_scenarios(session: Session) -> dict[str, dict[str, Any]]:
    return {r.name: r.body for r in session.execute(select(ScenarioRecord)).scalars()}


def save_scenario(session: Session, *, name: str, body: dict[str, Any], actor: str) -> None:
    """Store an (already validated) scenario, with an audit row holding before and after."""
    record = session.get(ScenarioRecord, name, with_for_update=True)
    before = record.body if record else None
    if record is None:
        record = ScenarioRecord(name=name, body=body, updated_by=actor)
    else:
        record.body, record.updated_by, record.updated_at = body, actor, utcnow()
    session.add(record)
    session.add(AuditLog(actor=actor, action="scenario.update", entity="scenario", entity_id=name,
                         before=before, after=body))


def stored_templates(session: Session) -> dict[str, str]:
    return {r.name: r.source for r in session.execute(select(TemplateRecord)).scalars()}


def save_template(session: Session, *, name: str, source: str, actor: str) -> None:
    record = session.get(TemplateRecord, name, with_for_update=True)
    before = {"source": record.source} if record else None
    if record is None:
        record = TemplateRecord(name=name, source=source, updated_by=actor)
    else:
        record.source, record.updated_by, record.updated_at = source, actor, utcnow()
    session.add(record)
    session.add(AuditLog(actor=actor, action="template.update", entity="template", entity_id=name,
                         before=before, after={"source": source}))

