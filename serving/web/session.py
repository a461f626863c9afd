"""The pages' session: the API key is exchanged once for a cookie that scripts cannot read.

Signing in (`POST /session`) checks the key and sets two cookies, both `SameSite=Strict` (and
`Secure` over HTTPS), for `SESSION_HOURS`:

- `relance_session` (HttpOnly): `<key prefix>.<expiry>.<signature>`, the signature an HMAC of
  prefix and expiry keyed by the key's stored hash. It holds no key; it cannot be forged without
  the database; it dies at its expiry (checked by the server) and with its key (revoked, expired).
- `relance_csrf`: a random token the page's script sends back as `X-CSRF-Token` on every request
  that changes something (double submit): a request another site makes the browser send carries
  the session cookie only if the browser ignores SameSite, and never that header.

`POST /session/logout` clears both. An `Authorization: Bearer` header, when sent, wins over the
cookie, as for any API client.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import time

from fastapi import HTTPException, Request, Response, status
from sqlmodel import Session, select

from ledger.tables import ApiKey
from serving.auth import _expired, verify_key

SESSION_COOKIE = "relance_session"
CSRF_COOKIE = "relance_csrf"
CSRF_HEADER = "X-CSRF-Token"
SESSION_HOURS = 8  # a working day: sign in again the next morning
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def _signature(stored: ApiKey, prefix: str, expires: int) -> str:
    return hmac.new(stored.key_hash.encode(), f"{prefix}.{expires}".encode(), hashlib.sha256).hexdigest()


def open_session(response: Response, request: Request, session: Session, key: str) -> ApiKey | None:
    """Set the session cookies for `key`; None (and no cookie) when the key is not valid."""
    stored = verify_key(session=session, key=key)
    if stored is None:
        return None
    expires = int(time.time()) + SESSION_HOURS * 3600
    token = f"{stored.prefix}.{expires}.{_signature(stored, stored.prefix, expires)}"
    secure = request.url.scheme == "https"
    common = {"max_age": SESSION_HOURS * 3600, "samesite": "strict", "secure": secure, "path": "/"}
    response.set_cookie(SESSION_COOKIE, token, httponly=True, **common)
    response.set_cookie(CSRF_COOKIE, secrets.token_urlsafe(24), httponly=False, **common)
    return stored


def close_session(response: Response) -> None:
    for name in (SESSION_COOKIE, CSRF_COOKIE):
        response.delete_cookie(name, path="/", samesite="strict")


def key_of_session(request: Request, session: Session) -> ApiKey | None:
    """The stored key behind the request's session cookie (None: no cookie, expired, forged, or
    its key revoked). A request that changes something must carry the CSRF token (403 if not)."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    parts = token.split(".")
    if len(parts) != 3 or not parts[1].isdigit() or int(parts[1]) <= time.time():
        return None
    prefix, expires, signature = parts[0], int(parts[1]), parts[2]
    stored = session.exec(select(ApiKey).where(ApiKey.prefix == prefix[:16])).first()
    if stored is None or not hmac.compare_digest(_signature(stored, prefix, expires), signature):
        return None
    if stored.revoked_at is not None or _expired(stored):  # the key's own life ends the session's
        return None
    if request.method not in SAFE_METHODS:
        sent, expected = request.headers.get(CSRF_HEADER, ""), request.cookies.get(CSRF_COOKIE, "")
        if not expected or not hmac.compare_digest(sent, expected):
            raise HTTPException(status.HTTP_403_FORBIDDEN,
                                f"a change made with the session cookie needs the {CSRF_HEADER} header")
    return stored

