"""FastAPI dependencies: typed aliases, so routes never build engines or check keys themselves."""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.engine import Engine
from sqlmodel import Session

from serving.auth import verify_key

bearer = HTTPBearer(auto_error=False, description="API key: `Authorization: Bearer rl_…`")


def get_engine(request: Request) -> Engine:
    return request.app.state.engine


def get_today(request: Request) -> dt.date:
    """Today, unless the app pins a date (`app.state.today`: demos, tests, replays)."""
    return getattr(request.app.state, "today", None) or dt.date.today()


TodayDep = Annotated[dt.date, Depends(get_today)]


def get_session(engine: Annotated[Engine, Depends(get_engine)]) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


@dataclass(frozen=True)
class Principal:
    key_prefix: str
    role: str
    name: str | None

    @property
    def actor(self) -> str:
        return f"{self.role}:{self.name or self.key_prefix}"


def current_principal(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    # the request's own session (FastAPI caches it per request): one connection per request
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing API key: send `Authorization: Bearer <key>`",
                            headers={"WWW-Authenticate": "Bearer"})
    stored = verify_key(session=session, key=credentials.credentials)
    if stored is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "unknown or revoked API key",
                            headers={"WWW-Authenticate": "Bearer"})
    return Principal(key_prefix=stored.prefix, role=stored.role, name=stored.name)


def require(*roles: str) -> Callable[..., Principal]:
    """A dependency letting through `admin` and the named roles, 403 for the others."""
    allowed = {"admin", *roles}

    def check(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if principal.role not in allowed:
            raise HTTPException(status.HTTP_403_FORBIDDEN,
                                f"role {principal.role!r} may not do this (needs one of: {', '.join(sorted(allowed))})")
        return principal

    return check


ALL_ROLES = ("analyst", "agent", "billing")
Reader = Annotated[Principal, Depends(require("analyst", "agent"))]
InvoiceReader = Annotated[Principal, Depends(require("analyst", "agent", "billing"))]
Ingester = Annotated[Principal, Depends(require("billing"))]
Analyst = Annotated[Principal, Depends(require("analyst"))]
Agent = Annotated[Principal, Depends(require("agent"))]
Admin = Annotated[Principal, Depends(require())]


def risk_provider(request: Request):
    """invoice ids → Risk from the served model, or None when rules alone apply (no model).

    A provider set on `app.state.risk_for` (a test's, an integration's) takes precedence."""
    explicit = getattr(request.app.state, "risk_for", None)
    if explicit is not None:
        return explicit
    risk = getattr(request.app.state, "risk", None)
    return risk.risk_for if risk is not None and risk.state.predictor is not None else None


def cash_provider(request: Request):
    """The cash forecast's predicted delays from the served model, or None (the forecast's rules)."""
    explicit = getattr(request.app.state, "cash_predictions", None)
    if explicit is not None:
        return explicit
    risk = getattr(request.app.state, "risk", None)
    return risk.cash_predictions if risk is not None and risk.state.predictor is not None else None
