"""FastAPI dependencies: typed aliases, so routes never build engines or check keys themselves."""
from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.engine import Engine
from sqlmodel import Session

from ledger.errors import NotFoundError
from ledger.portfolio import in_portfolio, owned_by_agent
from serving.auth import KeyCache, verify_key
from serving.web.session import key_of_session

bearer = HTTPBearer(auto_error=False, description="API key: `Authorization: Bearer rl_…`")


# Dependencies that do no I/O are `async`: FastAPI runs a plain `def` dependency in its thread
# pool, one hop per dependency per request, which on a busy server costs more than the work. What
# reads the database (a key not in the cache, an agent's portfolio check) goes to the pool.

async def get_engine(request: Request) -> Engine:
    return request.app.state.engine


def get_today(request: Request) -> dt.date:
    """Today, unless the app pins a date (`app.state.today`: demos, tests, replays)."""
    return getattr(request.app.state, "today", None) or dt.date.today()


async def _today(request: Request) -> dt.date:
    return get_today(request)


TodayDep = Annotated[dt.date, Depends(_today)]


async def get_session(engine: Annotated[Engine, Depends(get_engine)]) -> AsyncIterator[Session]:
    # a Session opens no connection until first used: made here, in the event loop; closed in
    # the thread pool only when it holds one (giving it back to the pool is I/O)
    session = Session(engine, expire_on_commit=False)
    try:
        yield session
    finally:
        if session.in_transaction():
            await run_in_threadpool(session.close)
        else:
            session.close()


SessionDep = Annotated[Session, Depends(get_session)]


@dataclass(frozen=True)
class Principal:
    key_prefix: str
    role: str
    name: str | None

    @property
    def actor(self) -> str:
        return f"{self.role}:{self.name or self.key_prefix}"


def _lookup(request: Request, session: Session,
            credentials: HTTPAuthorizationCredentials | None) -> Principal | None:
    """The key's principal, or None (no key, unknown, revoked or expired); looked up once per
    request however many dependencies ask, and an API key's answer kept a few seconds
    (`serving.auth.KeyCache`)."""
    cached = getattr(request.state, "principal", False)
    if cached is not False:
        return cached
    if credentials is not None and credentials.scheme.lower() == "bearer":
        cache: KeyCache | None = getattr(request.app.state, "key_cache", None)
        stored = cache.get(credentials.credentials) if cache is not None else None
        if stored is None:
            stored = verify_key(session=session, key=credentials.credentials)
            if stored is not None and cache is not None:
                cache.put(credentials.credentials, stored)
    else:  # the pages: the session cookie their sign-in set (serving/web/session.py)
        stored = key_of_session(request, session)
    principal = None if stored is None else Principal(key_prefix=stored.prefix, role=stored.role,
                                                      name=stored.name)
    request.state.principal = principal
    return principal


async def _principal(request: Request, session: Session,
                     credentials: HTTPAuthorizationCredentials | None) -> Principal | None:
    """`_lookup` without a thread hop when the answer is known already (this request, or the
    key cache); the database is read in the thread pool otherwise."""
    cached = getattr(request.state, "principal", False)
    if cached is not False:
        return cached
    cache: KeyCache | None = getattr(request.app.state, "key_cache", None)
    if cache is not None and credentials is not None and credentials.scheme.lower() == "bearer":
        stored = cache.get(credentials.credentials)
        if stored is not None:
            principal = Principal(key_prefix=stored.prefix, role=stored.role, name=stored.name)
            request.state.principal = principal
            return principal
    return await run_in_threadpool(_lookup, request, session, credentials)


async def current_principal(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    # the request's own session (FastAPI caches it per request): one connection per request
    principal = await _principal(request, session, credentials)
    if principal is None and (credentials is None or credentials.scheme.lower() != "bearer"):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing API key: send `Authorization: Bearer <key>`",
                            headers={"WWW-Authenticate": "Bearer"})
    if principal is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "unknown, revoked or expired API key",
                            headers={"WWW-Authenticate": "Bearer"})
    return principal


def require(*roles: str) -> Callable[..., Principal]:
    """A dependency letting through `admin` and the named roles, 403 for the others."""
    allowed = {"admin", *roles}

    async def check(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if principal.role not in allowed:
            raise HTTPException(status.HTTP_403_FORBIDDEN,
                                f"role {principal.role!r} may not do this (needs one of: {', '.join(sorted(allowed))})")
        return principal

    return check


# --- object-level authorization: an agent sees their own portfolio only --------------------------

# every path or query parameter naming a record, and the kind of record it names
SCOPED_PARAMETERS = {"customer_id": "customer", "invoice_id": "invoice", "dispute_id": "dispute",
                     "promise_id": "promise", "action_id": "action", "reminder_id": "reminder"}


@dataclass(frozen=True)
class Portfolio:
    """What the request's key may see: `agent` None for every customer (admin, analyst, billing),
    else the customers assigned to that agent (their key's name)."""

    agent: str | None

    def require(self, session: Session, kind: str, record_id: str) -> None:
        """404 (as for an unknown id: nothing tells it exists) for a record outside the portfolio."""
        if self.agent is not None and not owned_by_agent(session, kind=kind, record_id=record_id,
                                                         agent=self.agent):
            raise NotFoundError(kind, record_id)

    def where(self, column):
        """A filter on a customer-id column for list queries (None: no restriction)."""
        return in_portfolio(column, self.agent)


async def portfolio_scope(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Portfolio:
    """THE object-level check, on every API route (`create_app` adds it to each router): for an
    agent's key, every record named in the path or query string must be in their portfolio (404
    otherwise); routes that list take the returned `Portfolio` to filter, routes whose body names
    records call `Portfolio.require`. Authentication itself stays with `current_principal`."""
    principal = await _principal(request, session, credentials)
    if principal is None or principal.role != "agent":
        return Portfolio(agent=None)
    portfolio = Portfolio(agent=principal.name or principal.key_prefix)
    named = [(kind, str(value)) for name, kind in SCOPED_PARAMETERS.items()
             for value in ([request.path_params[name]] if name in request.path_params else [])
             + request.query_params.getlist(name)]
    if named:
        await run_in_threadpool(_require_all, portfolio, session, named)
    return portfolio


def _require_all(portfolio: Portfolio, session: Session, named: list[tuple[str, str]]) -> None:
    for kind, record_id in named:
        portfolio.require(session, kind, record_id)


PortfolioDep = Annotated[Portfolio, Depends(portfolio_scope)]

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
