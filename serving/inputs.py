"""Path and query strings go through the same text check as body fields (`check_text`).

Body fields are typed (`ledger.schemas.Line`, `Paragraphs`, `Id`); a path segment or a query
value is checked here, before any route sees it, so that no NUL byte or control character
reaches a database driver (PostgreSQL refuses NUL in text: that was a 500).
"""
from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import Path, Query
from starlette.types import ASGIApp, Receive, Scope, Send

from ledger.schemas import BusinessDate, text_problem
from serving.errors import validation_answer


class TextGuard:
    """422 for a path or query string holding a NUL, a control character or a lone surrogate."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            errors = list(_problems(scope))
            if errors:
                await validation_answer(errors)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _problems(scope: Scope):
    problem = text_problem(scope.get("path", ""))
    if problem:
        yield {"field": "path", "message": f"the path {problem}"}
    query = scope.get("query_string", b"").decode("latin-1")
    # decoded as Starlette decodes them (invalid UTF-8 becomes U+FFFD, which is harmless)
    for name, value in parse_qsl(query, keep_blank_values=True):
        if text_problem(name):
            yield {"field": "query", "message": f"a parameter's name {text_problem(name)}"}
        elif text_problem(value):
            yield {"field": f"query.{name}", "message": f"the value {text_problem(value)}"}


# --- bounded parameters, shared by every route ---------------------------------------------------

# row ids are INTEGER columns (32-bit on PostgreSQL): a larger id or offset is a client's
# mistake, answered 422 before the database would fail on it
MAX_ROW_ID = 2**31 - 1
MAX_OFFSET = 2**31 - 1
RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID, description="a row id (1 … 2^31 − 1)")]
OptionalRowId = Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="rows to skip")]
AsOfDate = Annotated[BusinessDate | None, Query(
    description="date (ISO 8601, 1900-01-01 … 2199-12-31), default today")]
