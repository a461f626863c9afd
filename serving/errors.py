"""One shape for every error: `{"detail": "<sentence>", "errors": [{"field", "message"}]}`."""
from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from ledger.errors import LedgerConflictError, LedgerError, LedgerValidationError, NotFoundError


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


def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
    errors = [{"field": field_name(e["loc"]), "message": e["msg"]} for e in exc.errors()[:100]]
    sentence = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:3])
    return JSONResponse({"detail": f"invalid input: {sentence}", "errors": errors}, status_code=422)


def _ledger_validation(_: Request, exc: LedgerValidationError) -> JSONResponse:
    errors = [{"field": e.field, "message": e.message} for e in exc.errors[:100]]
    return JSONResponse({"detail": str(exc), "errors": errors}, status_code=422)


def _conflict(_: Request, exc: LedgerConflictError) -> JSONResponse:
    errors = [{"field": e.field, "message": e.message} for e in exc.errors[:100]]
    return JSONResponse({"detail": str(exc), "errors": errors}, status_code=409)


def _not_found(_: Request, exc: NotFoundError) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=404)


def _ledger(_: Request, exc: LedgerError) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=422)


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(LedgerValidationError, _ledger_validation)
    app.add_exception_handler(LedgerConflictError, _conflict)
    app.add_exception_handler(NotFoundError, _not_found)
    app.add_exception_handler(LedgerError, _ledger)
