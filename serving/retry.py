"""Which database errors a transaction may simply replay: the one rule for every retry loop."""
from __future__ import annotations

from sqlalchemy.exc import DBAPIError

RETRIES = 5
# PostgreSQL: deadlock detected, serialization failure (two transactions crossed)
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})


def retryable(exc: DBAPIError) -> bool:
    """A deadlock, a serialization failure, or a busy / locked SQLite database: replaying the
    whole transaction is safe (every write is idempotent) and will likely succeed."""
    code = getattr(getattr(exc, "orig", None), "sqlstate", None)
    text = str(exc).lower()
    return code in RETRYABLE_SQLSTATES or "locked" in text or "busy" in text
