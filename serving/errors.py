"""One shape for every error: `{"detail": "<sentence>", "errors": [{"field", "message"}]}`.

The OpenAPI document says so too (`document_errors`): FastAPI's own `HTTPValidationError`
schema is replaced by the body this module sends, and every operation lists the error answers
it may give, so a client generated from the document parses what it gets.
"""
from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError

from ledger.errors import LedgerConflictError, LedgerError, LedgerValidationError, NotFoundError


class FieldErrorOut(BaseModel):
    field: str = Field(description="where: `invoices[3].due_date`, `query.as_of`, `path`")
    message: str = Field(description="what is wrong, in a sentence")


class ErrorOut(BaseModel):
    """Any error answer (401, 403, 404, 409, 413, 429…)."""

    detail: str = Field(description="what went wrong, in a sentence")
    errors: list[FieldErrorOut] = Field(default_factory=list)


class ValidationErrorOut(BaseModel):
    """The 422 answer: a sentence, then each offending field."""

    detail: str
    errors: list[FieldErrorOut]


ERROR_ANSWERS = {
    "401": "Missing, unknown, revoked or expired API key",
    "403": "The key's role may not do this",
    "404": "Unknown id (or outside the agent's portfolio)",
    "409": "Conflicts with what is stored (an id already taken, a workflow step not allowed)",
    "413": "Request body too large",
    "429": "Too many requests for this key: try again after `Retry-After` seconds",
}


def field_name(loc: tuple | list) -> str:
    """('body', 'invoices', 3, 'due_date') → 'invoices[3].due_date'."""
    parts: list[str] = []
    for part in loc:
        if part in ("body", "query", "path", "header") and not parts:
            continue
        if isinstance(part, int):
            parts.append(f"[{part}]")
        else:
            parts.append(("." if parts else "") + str(part))
    return "".join(parts) or "body"


def _message(error: dict) -> str:
    # pydantic prefixes our own sentences with "Value error, "; a person needs only the sentence
    return str(error["msg"]).removeprefix("Value error, ")


def validation_answer(errors: list[dict[str, str]]) -> JSONResponse:
    sentence = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:3])
    return JSONResponse({"detail": f"invalid input: {sentence}", "errors": errors[:100]},
                        status_code=422)


def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
    return validation_answer([{"field": field_name(e["loc"]), "message": _message(e)}
                              for e in exc.errors()[:100]])


def _ledger_validation(_: Request, exc: LedgerValidationError) -> JSONResponse:
    errors = [{"field": e.field, "message": e.message} for e in exc.errors[:100]]
    return JSONResponse({"detail": str(exc), "errors": errors}, status_code=422)


def _conflict(_: Request, exc: LedgerConflictError) -> JSONResponse:
    errors = [{"field": e.field, "message": e.message} for e in exc.errors[:100]]
    return JSONResponse({"detail": str(exc), "errors": errors}, status_code=409)


def _not_found(_: Request, exc: NotFoundError) -> JSONResponse:
    return JSONResponse({"detail": str(exc), "errors": []}, status_code=404)


def _integrity(_: Request, exc: IntegrityError) -> JSONResponse:
    # two clients writing the same id at once: the database's unique key decides; the loser is
    # told, never given a 500 (the text of the database error stays in the server's log)
    return JSONResponse({"detail": "the request conflicts with a record stored meanwhile "
                                   "(the same id sent twice at once?): read it and try again",
                         "errors": []}, status_code=409)


def _ledger(_: Request, exc: LedgerError) -> JSONResponse:
    return JSONResponse({"detail": str(exc), "errors": []}, status_code=422)


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(LedgerValidationError, _ledger_validation)
    app.add_exception_handler(LedgerConflictError, _conflict)
    app.add_exception_handler(NotFoundError, _not_found)
    app.add_exception_handler(IntegrityError, _integrity)
    app.add_exception_handler(LedgerError, _ledger)
    document_errors(app)


# --- the OpenAPI document ----------------------------------------------------------------------

def document_errors(app: FastAPI) -> None:
    """Make `app.openapi()` describe the error bodies this module sends."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description,
                                 routes=app.routes)
            _rewrite(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _rewrite(schema: dict[str, Any]) -> None:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.pop("ValidationError", None)
    components.pop("HTTPValidationError", None)
    for model in (FieldErrorOut, ErrorOut, ValidationErrorOut):
        components[model.__name__] = model.model_json_schema(
            ref_template="#/components/schemas/{model}")
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}}
    invalid = {"description": "Invalid input: the offending fields, each with a sentence",
               "content": {"application/json": {
                   "schema": {"$ref": "#/components/schemas/ValidationErrorOut"}}}}
    for path, item in schema.get("paths", {}).items():
        for operation in item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            responses["422"] = invalid
            if path == "/health":
                continue
            for code, description in ERROR_ANSWERS.items():
                responses.setdefault(code, {"description": description, **error})
            if "requestBody" in operation:
                responses.setdefault("400", {"description": "The body is not JSON (or not UTF-8)",
                                             **error})
