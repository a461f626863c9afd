"""The FastAPI application: `create_app()` builds it; nothing is configured at import time."""
from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request
from sqlalchemy.engine import Engine
from starlette.types import ASGIApp, Receive, Scope, Send

from ledger.config import Settings, get_settings
from ledger.db import make_engine, migrate
from serving import errors
from serving.auth import KeyCache
from serving.deps import get_today, portfolio_scope
from serving.inputs import TextGuard
from serving.ratelimit import RateLimiter
from serving.risk import RiskService


class BodySizeLimit:
    """413 for a body larger than the limit, whether it says its length or streams it."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._reject(send)
            return
        seen = 0

        async def limited() -> dict:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge()
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await self._reject(send)

    async def _reject(self, send: Send) -> None:
        body = (b'{"detail":"request body too large: at most %d bytes; split the batch"}'
                % self.max_bytes)
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass


# the dashboard loads only its own vendored files (serving/web/static) and calls only its own
# API: nothing inline runs, nothing from elsewhere loads, no page may frame it
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'")
# Swagger UI and ReDoc (FastAPI's /docs and /redoc) load their scripts from a CDN with inline
# set-up code: they keep the other headers but not this policy
_NO_CSP_PATHS = ("/docs", "/redoc")


class SecurityHeaders:
    """Browser hardening on every answer: CSP (but on the API docs), no framing, no MIME
    sniffing, no referrer leaking a customer URL to another site."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        csp = not scope.get("path", "").startswith(_NO_CSP_PATHS)

        async def with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                headers += [(b"x-content-type-options", b"nosniff"),
                            (b"x-frame-options", b"DENY"),
                            (b"referrer-policy", b"no-referrer")]
                if csp:
                    headers.append((b"content-security-policy", CONTENT_SECURITY_POLICY.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


def _served_risk(app: FastAPI):
    """The served model's risk provider now, or None (rules) when no model is loaded."""
    service = app.state.risk
    return service.risk_for if service.state.predictor is not None else None


def _routers() -> list:
    """Every `router` of the modules in serving/api, so an area adds routes without editing this."""
    import importlib
    import pkgutil

    import serving.api

    modules = sorted(m.name for m in pkgutil.iter_modules(serving.api.__path__))
    found = [getattr(importlib.import_module(f"serving.api.{name}"), "router", None) for name in modules]
    return [router for router in found if router is not None]


def default_workers() -> int:
    """Server processes for `relance serve`: one per core this process may use, at most 4 (each
    holds the model and a connection pool; a request is CPU-bound Python, one core each)."""
    import os

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(cores, 4))


def served_app() -> FastAPI:
    """The app of one `relance serve --workers N` process: engine and model from the settings,
    the daily run scheduled when the settings say so."""
    return create_app(schedule=get_settings().schedule)


def create_app(*, engine: Engine | None = None, settings: Settings | None = None,
               risk: RiskService | None = None, schedule: bool = False) -> FastAPI:
    """The app on `engine` (default: DATABASE_URL) serving `risk` (default: the champion model,
    loaded at start; rules alone when there is none or it is broken). `schedule`: also run the
    daily dunning at the configured time (`relance serve`; serving.schedule)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if getattr(app.state, "engine", None) is None:
            app.state.engine = make_engine(settings.database_url)
            migrate(app.state.engine)
        if risk is None:
            app.state.risk.reload()
        scheduler = None
        if schedule:
            from serving.schedule import build_scheduler
            from serving.stored_risk import refresh_all

            scheduler = build_scheduler(engine=app.state.engine, settings=settings,
                                        risk_for=lambda: _served_risk(app),
                                        refresh=lambda day: refresh_all(app.state.risk,
                                                                        app.state.engine, day))
            scheduler.start()
        try:
            yield
        finally:
            if scheduler is not None:
                scheduler.shutdown(wait=False)

    app = FastAPI(title="Relance", version="0.1.0", lifespan=lifespan,
                  description="Recouvrement de créances piloté par le risque / risk-driven collections")
    app.state.engine = engine
    app.state.settings = settings
    app.state.risk = risk or RiskService(settings.model_uri)
    app.state.rate_limiter = RateLimiter(settings.rate_limit, processes=settings.workers)
    app.state.key_cache = KeyCache()  # verified keys kept KEY_CACHE_SECONDS (serving/auth.py)
    # the dunning run, the worklist and the cash forecast ask it through serving.deps.risk_provider
    errors.install(app)
    for router in _routers():
        # object-level authorization on every route: an agent's key sees its portfolio only
        app.include_router(router, dependencies=[Depends(portfolio_scope)])

    @app.get("/health", tags=["health"])
    def health(request: Request) -> dict:
        """Liveness: the only route without a key; warns when the law tables do not cover today."""
        from ledger.law import coverage_warnings

        today = get_today(request)
        warnings = [{"code": w.code, "fr": w.fr, "en": w.en} for w in coverage_warnings(today)]
        return {"status": "ok", "warnings": warnings}

    app.add_middleware(TextGuard)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(SecurityHeaders)
    return app
