"""The FastAPI application: `create_app()` builds it; nothing is configured at import time."""
from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from sqlalchemy.engine import Engine
from starlette.types import ASGIApp, Receive, Scope, Send

from ledger.config import Settings, get_settings
from ledger.db import make_engine, migrate
from serving import errors
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


def _routers() -> list:
    """Every `router` of the modules in serving/api, so an area adds routes without editing this."""
    import importlib
    import pkgutil

    import serving.api

    modules = sorted(m.name for m in pkgutil.iter_modules(serving.api.__path__))
    found = [getattr(importlib.import_module(f"serving.api.{name}"), "router", None) for name in modules]
    return [router for router in found if router is not None]


def create_app(*, engine: Engine | None = None, settings: Settings | None = None,
               risk: RiskService | None = None) -> FastAPI:
    """The app on `engine` (default: DATABASE_URL) serving `risk` (default: the champion model,
    loaded at start; rules alone when there is none or it is broken)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if getattr(app.state, "engine", None) is None:
            app.state.engine = make_engine(settings.database_url)
            migrate(app.state.engine)
        if risk is None:
            app.state.risk.reload()
        yield

    app = FastAPI(title="Relance", version="0.1.0", lifespan=lifespan,
                  description="Recouvrement de créances piloté par le risque / risk-driven collections")
    app.state.engine = engine
    app.state.settings = settings
    app.state.risk = risk or RiskService(settings.model_uri)
    # the dunning run, the worklist and the cash forecast ask it through serving.deps.risk_provider
    errors.install(app)
    for router in _routers():
        app.include_router(router)

    @app.get("/health", tags=["health"])
    def health(request: Request) -> dict:
        """Liveness: the only route without a key; warns when the law tables do not cover today."""
        from ledger.law import coverage_warnings

        today = getattr(request.app.state, "today", None) or dt.date.today()
        warnings = [{"code": w.code, "fr": w.fr, "en": w.en} for w in coverage_warnings(today)]
        return {"status": "ok", "warnings": warnings}

    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    return app
