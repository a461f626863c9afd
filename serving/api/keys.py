"""API keys (admin) and `GET /me`: who a key is, its role and, for an agent, its portfolio."""
from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status
from pydantic import BaseModel, Field

from ledger.errors import NotFoundError
from ledger.portfolio import portfolio_size
from serving import auth
from serving.deps import Admin, Principal, SessionDep, current_principal

router = APIRouter(prefix="/api/v1", tags=["keys"])


class MeOut(BaseModel):
    key: str = Field(description="the key's public prefix (rl_<prefix>_…)")
    name: str | None
    role: str
    portfolio: str = Field(description="`all` (every customer) or `assigned` (an agent's own)")
    portfolio_customers: int | None = Field(
        description="for an agent: customers assigned to the key's name; None for other roles")
    expires_at: dt.datetime | None


@router.get("/me", response_model=MeOut)
def me(session: SessionDep, principal: Annotated[Principal, Depends(current_principal)]) -> MeOut:
    """The calling key: its name, role and what it may see (an agent: its portfolio's size)."""
    stored = auth.get_key(session=session, prefix=principal.key_prefix)
    agent = principal.role == "agent"
    return MeOut(key=principal.key_prefix, name=principal.name, role=principal.role,
                 portfolio="assigned" if agent else "all",
                 portfolio_customers=portfolio_size(session, principal.name or principal.key_prefix)
                 if agent else None,
                 expires_at=stored.expires_at if stored else None)


class KeyIn(BaseModel):
    role: auth.Role
    name: str | None = Field(default=None, min_length=1, max_length=100)
    expires_at: dt.datetime | None = Field(default=None, description="UTC if no offset; None: never")


class KeyCreated(auth.KeyInfo):
    key: str = Field(description="the key in clear: shown this once, stored only as a hash")


@router.get("/keys", response_model=list[auth.KeyInfo])
def list_keys(session: SessionDep, _: Admin) -> list[auth.KeyInfo]:
    """Every API key: prefix, role, name, dates and status (never the key nor its hash)."""
    return auth.list_keys(session=session)


@router.post("/keys", response_model=KeyCreated, status_code=status.HTTP_201_CREATED)
def create_key(body: KeyIn, session: SessionDep, principal: Admin) -> KeyCreated:
    """Create a key (optionally expiring); the answer is the only time it is shown."""
    key = auth.create_key(session=session, role=body.role, name=body.name, actor=principal.actor,
                          expires_at=body.expires_at)
    session.commit()
    info = auth.key_info(auth.get_key(session=session, prefix=key.split("_")[1]))
    return KeyCreated(**info.model_dump(), key=key)


@router.delete("/keys/{prefix}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_key(prefix: str, request: Request, session: SessionDep, principal: Admin) -> Response:
    """Revoke a key by its prefix: it answers 401 from now on."""
    if not auth.revoke_key(session=session, prefix=prefix, actor=principal.actor):
        raise NotFoundError("api key", prefix)
    session.commit()
    cache = getattr(request.app.state, "key_cache", None)
    if cache is not None:  # this server forgets it at once (others within KEY_CACHE_SECONDS)
        cache.forget(prefix)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
