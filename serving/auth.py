"""API keys: created once, shown once, stored hashed; each key has exactly one role."""
from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlmodel import Session, select

from ledger.models import ApiKey, AuditLog, utcnow

ROLES = ("admin", "analyst", "agent", "billing")


class UnknownRoleError(ValueError):
    pass


def _hash(secret: str) -> str:
    # keys are 256-bit random tokens: a fast hash is enough, no password stretching needed
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(*, session: Session, role: str, name: str | None = None, actor: str = "cli") -> str:
    """Store a new key for `role` and return it in clear, the only time it is ever visible."""
    if role not in ROLES:
        raise UnknownRoleError(f"unknown role {role!r}: choose one of {', '.join(ROLES)}")
    prefix = secrets.token_hex(4)
    key = f"rl_{prefix}_{secrets.token_urlsafe(32)}"
    session.add(ApiKey(prefix=prefix, key_hash=_hash(key), role=role, name=name))
    session.add(AuditLog(actor=actor, action="create", entity="api_key", entity_id=prefix,
                         after={"role": role, "name": name}))
    session.flush()
    return key


def verify_key(*, session: Session, key: str) -> ApiKey | None:
    """The stored key matching `key`, unless unknown or revoked."""
    parts = key.split("_")
    if len(parts) < 3 or parts[0] != "rl":
        return None
    stored = session.exec(select(ApiKey).where(ApiKey.prefix == parts[1])).first()
    if stored is None or stored.revoked_at is not None:
        return None
    return stored if hmac.compare_digest(stored.key_hash, _hash(key)) else None


def revoke_key(*, session: Session, prefix: str, actor: str) -> bool:
    stored = session.exec(select(ApiKey).where(ApiKey.prefix == prefix)).first()
    if stored is None:
        return False
    stored.revoked_at = utcnow()
    session.add(stored)
    session.add(AuditLog(actor=actor, action="revoke", entity="api_key", entity_id=prefix))
    return True
