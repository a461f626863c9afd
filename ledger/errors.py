"""Errors the ledger raises; serving/ turns them into HTTP answers, the CLI into messages."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str


class LedgerError(Exception):
    """Base of every error the ledger raises on purpose."""


class LedgerValidationError(LedgerError):
    """Input that cannot be stored; nothing of it was written."""

    def __init__(self, errors: list[FieldError]):
        self.errors = errors
        shown = "; ".join(f"{e.field}: {e.message}" for e in errors[:5])
        more = f" (+{len(errors) - 5} more)" if len(errors) > 5 else ""
        super().__init__(f"{len(errors)} invalid field(s): {shown}{more}")


class NotFoundError(LedgerError):
    def __init__(self, entity: str, entity_id: str):
        self.entity, self.entity_id = entity, entity_id
        super().__init__(f"{entity} {entity_id!r} not found")


class LedgerConflictError(LedgerValidationError):
    """A write that would silently change what a stored record is: its customer, or an invoice's
    kind (the API answers 409; nothing of the batch was written)."""


class IllegalTransitionError(LedgerError):
    """A status change the workflow does not allow: a dispute, a promise or a dunning action
    asked to move where its state machine does not go (the API answers 409)."""
