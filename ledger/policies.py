"""Stored policy evaluations and the one explicit decision that switches a policy on.

A candidate reminder policy is switched on only by an analyst or an admin (API or CLI), only
after an off-policy evaluation, and only when the lower bound of its estimated gain's 95 %
interval is above zero: a change that might make collection worse is refused, with the reason.
Every activation is audited. Code that computes the evaluation lives in ``model.policy_eval``;
this module stores its numbers.
"""
from __future__ import annotations

import datetime as dt
import math
from typing import Any

from sqlalchemy import delete
from sqlmodel import Session, col, select

from ledger.errors import FieldError, LedgerConflictError, NotFoundError
from ledger.tables import AuditLog, PolicyEvaluation, PolicyModel, StoredNextAction, utcnow

MAX_LISTED = 50


def save_evaluation(session: Session, *, result: Any, definition: dict[str, Any], ledger: str | None,
                    created_by: str, model: tuple[str, str] | None = None) -> PolicyEvaluation:
    """Store an evaluation (``model.policy_eval.Evaluation``) with the candidate's definition
    and, when given, the candidate itself: ``model`` = (payload, sha256) from
    ``model.policy_model.dump``. The hash is recorded in the evaluation's definition; activating
    the evaluation switches on exactly that payload."""
    gain_low = float(result.gain_lower_bound)
    if model is not None:
        definition = {**definition, "model_sha256": model[1]}
    record = PolicyEvaluation(
        created_by=created_by, candidate=result.candidate[:200], metric=result.metric,
        ledger=None if ledger is None else ledger[:500],
        split_on=dt.date.fromisoformat(result.split_on), n=result.n,
        result={**_finite(result.as_json()), "gain_ci": list(result.gain_ci),
                "higher_is_better": result.higher_is_better},
        gain_low=gain_low if math.isfinite(gain_low) else -1.0, definition=definition,
    )
    session.add(record)
    session.flush()
    if model is not None:
        session.add(PolicyModel(evaluation_id=record.id, payload=model[0], sha256=model[1]))
    session.add(AuditLog(actor=created_by, action="policy.evaluated", entity="policyevaluation",
                         entity_id=str(record.id), after=record.result))
    return record


def _finite(values: dict[str, Any]) -> dict[str, Any]:
    """JSON has no NaN: an estimate that could not be computed is stored as null."""
    def clean(value):
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value
    return {key: clean(value) for key, value in values.items()}


def list_evaluations(session: Session, limit: int = MAX_LISTED) -> list[PolicyEvaluation]:
    statement = select(PolicyEvaluation).order_by(col(PolicyEvaluation.id).desc()).limit(limit)
    return list(session.exec(statement))


def active_policy(session: Session) -> PolicyEvaluation | None:
    return session.exec(select(PolicyEvaluation).where(PolicyEvaluation.state == "active")).first()


def candidate_hash(session: Session, evaluation_id: int) -> str | None:
    """The SHA-256 of the candidate stored with an evaluation (None: none stored)."""
    return session.exec(select(PolicyModel.sha256).where(PolicyModel.evaluation_id == evaluation_id)).first()


def candidate_payload(session: Session, evaluation_id: int) -> str | None:
    return session.exec(select(PolicyModel.payload).where(PolicyModel.evaluation_id == evaluation_id)).first()


def _forget_next_actions(session: Session) -> None:
    """The stored next actions were decided under the previous policy: recompute them."""
    session.execute(delete(StoredNextAction))


REFUSED = {
    "fr": "Politique non activée : la borne basse du gain estimé ({low:+.3f}, intervalle à 95 %) "
          "n'est pas au-dessus de zéro ; rien ne garantit qu'elle ferait mieux que la politique "
          "actuelle",
    "en": "Policy not activated: the lower bound of its estimated gain ({low:+.3f}, 95 % interval) "
          "is not above zero; nothing shows it would do better than the current policy",
}
ALREADY = {
    "fr": "Cette politique est déjà active", "en": "This policy is already active",
}


def activate(session: Session, evaluation_id: int, *, actor: str, comment: str = "",
             language: str = "fr") -> PolicyEvaluation:
    """Switch on the evaluated policy (retiring the active one), or refuse (409) with why."""
    record = session.get(PolicyEvaluation, evaluation_id) if 0 < evaluation_id < 2**31 else None
    if record is None:
        raise NotFoundError("policy evaluation", str(evaluation_id))
    words = "en" if language == "en" else "fr"
    if record.state == "active":
        raise LedgerConflictError([FieldError("evaluation_id", ALREADY[words])])
    if not record.gain_low > 0:
        raise LedgerConflictError([FieldError("evaluation_id", REFUSED[words].format(low=record.gain_low))])
    previous = active_policy(session)
    if previous is not None:
        previous.state = "retired"
        session.add(previous)
    record.state, record.activated_by, record.activated_at = "active", actor, utcnow()
    record.comment = comment[:1000] or None
    session.add(record)
    _forget_next_actions(session)
    session.add(AuditLog(actor=actor, action="policy.activated", entity="policyevaluation",
                         entity_id=str(record.id),
                         after={"candidate": record.candidate, "gain_low": record.gain_low,
                                "retired": None if previous is None else previous.id,
                                "comment": record.comment}))
    session.flush()
    return record


NOT_ACTIVE = {"fr": "Cette politique n'est pas active", "en": "This policy is not active"}


def deactivate(session: Session, evaluation_id: int, *, actor: str, comment: str = "",
               language: str = "fr") -> PolicyEvaluation:
    """Switch the active policy off: the daily run goes back to the scenarios' rules."""
    record = session.get(PolicyEvaluation, evaluation_id) if 0 < evaluation_id < 2**31 else None
    if record is None:
        raise NotFoundError("policy evaluation", str(evaluation_id))
    if record.state != "active":
        words = "en" if language == "en" else "fr"
        raise LedgerConflictError([FieldError("evaluation_id", NOT_ACTIVE[words])])
    record.state = "retired"
    session.add(record)
    _forget_next_actions(session)
    session.add(AuditLog(actor=actor, action="policy.deactivated", entity="policyevaluation",
                         entity_id=str(record.id),
                         after={"candidate": record.candidate, "comment": comment[:1000] or None}))
    session.flush()
    return record
