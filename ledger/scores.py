"""Customer scores as last published, so a change of grade is an event (`risk.grade_changed`).

The score itself is the model's (model/score.py); the ledger only keeps the latest one per
customer and notices when the grade moves.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlmodel import Session, select

from ledger.tables import CustomerScore, record_event, utcnow


def publish_scores(*, session: Session, scores: Iterable[dict], model_version: str | None,
                   scored_on: dt.date) -> int:
    """Store each customer's score (customer_id, score, grade, p_late); record
    `risk.grade_changed` for every customer whose grade differs from the one stored. Returns
    how many grades changed (a first score is not a change)."""
    rows = {row["customer_id"]: row for row in scores}
    stored = {s.customer_id: s for s in session.exec(
        select(CustomerScore).where(CustomerScore.customer_id.in_(list(rows))))} if rows else {}
    changed = 0
    for customer_id, row in rows.items():
        before = stored.get(customer_id)
        if before is not None and before.grade != row["grade"]:
            changed += 1
            record_event(session, type="risk.grade_changed", entity_id=customer_id, payload={
                "customer_id": customer_id, "from": before.grade, "to": row["grade"],
                "score": int(row["score"]), "model_version": model_version})
        current = before or CustomerScore(customer_id=customer_id, score=0, grade="", p_late=0.0,
                                          scored_on=scored_on)
        current.score, current.grade = int(row["score"]), str(row["grade"])
        current.p_late, current.model_version = float(row["p_late"]), model_version
        current.scored_on, current.updated_at = scored_on, utcnow()
        session.add(current)
    session.flush()
    return changed
