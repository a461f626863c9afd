"""API keys: created once, shown once, stored hashed; each key has exactly one role.

A key reads `rl_<prefix>_<secret>`: the prefix (8 hex characters) is its public id, listed and
used to revoke it; the secret (32 random bytes) is never stored, only the SHA-256 of the whole
key. A key may expire (`expires_at`); a revoked or expired key is refused like an unknown one.

A server keeps a verified key's answer for `KEY_CACHE_SECONDS` (`KeyCache`: the key's hash →
prefix, role, name, expiry), so a burst of requests reads the key once, not once each. Revoking
through the API forgets the key at once on the server that revoked it; a revocation made
elsewhere (the CLI, another server process) takes effect within `KEY_CACHE_SECONDS`. Expiry is
checked on every request, cached or not. Unknown and refused keys are never kept."""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel
from sqlmodel import Session, select

from ledger.tables import ApiKey, AuditLog, utcnow

ROLES = ("admin", "analyst", "agent", "billing")
Role = Literal["admin", "analyst", "agent", "billing"]


KEY_CACHE_SECONDS = 2.0


class UnknownRoleError(ValueError):
    pass


def _hash(secret: str) -> str:
    # keys are 256-bit random tokens: a fast hash is enough, no password stretching needed
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(*, session: Session, role: str, name: str | None = None, actor: str = "cli",
               expires_at: dt.datetime | None = None) -> str:
    """Store a new key for `role` and return it in clear, the only time it is ever visible."""
    if role not in ROLES:
        raise UnknownRoleError(f"unknown role {role!r}: choose one of {', '.join(ROLES)}")
    if expires_at is not None and expires_at.tzinfo is None:
        expires_at = expires_at.replace(tzinfo=dt.UTC)  # a date without offset is UTC
    prefix = secrets.token_hex(4)
    key = f"rl_{prefix}_{secrets.token_urlsafe(32)}"
    session.add(ApiKey(prefix=prefix, key_hash=_hash(key), role=role, name=name,
                       expires_at=expires_at))
    session.add(AuditLog(actor=actor, action="create", entity="api_key", entity_id=prefix,
                         after={"role": role, "name": name,
                                "expires_at": expires_at.isoformat() if expires_at else None}))
    session.flush()
    return key


class KeyInfo(BaseModel):
    """What may be shown of a key: never the key, never its hash."""

    prefix: str
    role: str
    name: str | None
    created_at: dt.datetime
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    status: Literal["active", "revoked", "expired"]


def key_info(stored: ApiKey) -> KeyInfo:
    state = "revoked" if stored.revoked_at is not None else "expired" if _expired(stored) else "active"
    return KeyInfo(prefix=stored.prefix, role=stored.role, name=stored.name,
                   created_at=stored.created_at, expires_at=stored.expires_at,
                   revoked_at=stored.revoked_at, status=state)


def list_keys(*, session: Session) -> list[KeyInfo]:
    return [key_info(k) for k in session.exec(select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)).all()]


def get_key(*, session: Session, prefix: str) -> ApiKey | None:
    return session.exec(select(ApiKey).where(ApiKey.prefix == prefix[:16])).first()


def verify_key(*, session: Session, key: str) -> ApiKey | None:
    """The stored key matching `key`, unless unknown or revoked."""
    parts = key.split("_")
    if len(parts) < 3 or parts[0] != "rl":
        return None
    stored = session.exec(select(ApiKey).where(ApiKey.prefix == parts[1][:16])).first()
    if stored is None or stored.revoked_at is not None or _expired(stored):
        return None
    return stored if hmac.compare_digest(stored.key_hash, _hash(key)) else None


def _expired(stored: ApiKey | CachedKey) -> bool:
    if stored.expires_at is None:
        return False
    expires = stored.expires_at if stored.expires_at.tzinfo else stored.expires_at.replace(tzinfo=dt.UTC)
    return expires <= utcnow()


def revoke_key(*, session: Session, prefix: str, actor: str) -> bool:
    """Revoke the key with this prefix (False if there is none); revoking twice keeps the first date."""
    stored = get_key(session=session, prefix=prefix)
    if stored is None:
        return False
    if stored.revoked_at is not None:
        return True
    stored.revoked_at = utcnow()
    session.add(stored)
    session.add(AuditLog(actor=actor, action="revoke", entity="api_key", entity_id=prefix))
    return True


@dataclass(frozen=True, slots=True)
class CachedKey:
    """What a request needs of a verified key (never the key, never its hash)."""

    prefix: str
    role: str
    name: str | None
    expires_at: dt.datetime | None


class KeyCache:
    """Verified keys kept `ttl` seconds, by the SHA-256 of the key (see the module docstring)."""

    def __init__(self, ttl: float = KEY_CACHE_SECONDS) -> None:
        self.ttl = ttl
        self._entries: dict[str, tuple[float, CachedKey]] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> CachedKey | None:
        digest = _hash(key)
        with self._lock:
            entry = self._entries.get(digest)
            if entry is None:
                return None
            until, found = entry
            if time.monotonic() >= until or _expired(found):
                del self._entries[digest]
                return None
            return found

    def put(self, key: str, stored: ApiKey) -> None:
        found = CachedKey(prefix=stored.prefix, role=stored.role, name=stored.name,
                          expires_at=stored.expires_at)
        with self._lock:
            if len(self._entries) > 10_000:  # many keys: start again rather than grow
                self._entries.clear()
            self._entries[_hash(key)] = (time.monotonic() + self.ttl, found)

    def forget(self, prefix: str) -> None:
        with self._lock:
            for digest in [d for d, (_, k) in self._entries.items() if k.prefix == prefix]:
                del self._entries[digest]
