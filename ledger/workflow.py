"""The statuses of disputes and promises to pay, as one vocabulary (StrEnums), and the dispute
workflow. Stored as their string values; comparing a member with its string is true.

Dispute workflow (`TRANSITIONS`)::

    open                 → in_review | proposed_credit_note | resolved_credit_note | resolved_rejected | withdrawn
    in_review            → proposed_credit_note | resolved_credit_note | resolved_rejected | withdrawn
    proposed_credit_note → in_review | resolved_credit_note | resolved_rejected | withdrawn
    resolved_credit_note, resolved_rejected, withdrawn: final
"""
from __future__ import annotations

from enum import StrEnum


class DisputeStatus(StrEnum):
    OPEN = "open"
    IN_REVIEW = "in_review"
    PROPOSED_CREDIT_NOTE = "proposed_credit_note"  # an agent's proposal, for an analyst to approve
    RESOLVED_CREDIT_NOTE = "resolved_credit_note"
    RESOLVED_REJECTED = "resolved_rejected"
    WITHDRAWN = "withdrawn"


# an active dispute pauses dunning on every invoice it names (`ledger.pauses`)
ACTIVE_DISPUTE: tuple[DisputeStatus, ...] = (DisputeStatus.OPEN, DisputeStatus.IN_REVIEW,
                                             DisputeStatus.PROPOSED_CREDIT_NOTE)
_RESOLUTIONS = (DisputeStatus.RESOLVED_CREDIT_NOTE, DisputeStatus.RESOLVED_REJECTED, DisputeStatus.WITHDRAWN)
TRANSITIONS: dict[DisputeStatus, tuple[DisputeStatus, ...]] = {
    DisputeStatus.OPEN: (DisputeStatus.IN_REVIEW, DisputeStatus.PROPOSED_CREDIT_NOTE, *_RESOLUTIONS),
    DisputeStatus.IN_REVIEW: (DisputeStatus.PROPOSED_CREDIT_NOTE, *_RESOLUTIONS),
    DisputeStatus.PROPOSED_CREDIT_NOTE: (DisputeStatus.IN_REVIEW, *_RESOLUTIONS),
    DisputeStatus.RESOLVED_CREDIT_NOTE: (),
    DisputeStatus.RESOLVED_REJECTED: (),
    DisputeStatus.WITHDRAWN: (),
}


class PromiseStatus(StrEnum):
    """A promise to pay, and each instalment of a plan: open until the payments decide it."""

    OPEN = "open"
    KEPT = "kept"
    BROKEN = "broken"
    CANCELLED = "cancelled"


def unknown_status_message(value: str, statuses: type[StrEnum]) -> str:
    """The sentence an import or the API gives for a status outside the workflow."""
    return f"unknown status {value!r}: one of {', '.join(s.value for s in statuses)}"
