"""Errors as HTTP responses. Every error body is
`{"error": {"type": <machine-readable code>, "message": ...}}`; the message says what to fix.
The status is the error class's own `http_status` (ledger/errors.py, registry/errors.py); the
table below is derived from them for reading, never edited."""

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from ledger.database import STORAGE_UNAVAILABLE
from ledger.errors import LedgerError
from registry.errors import ERRORS, OverloadedError, RateLimitedError

# uvicorn's error logger: `prov serve` has it configured, so the detail reaches the server log.
log = logging.getLogger("uvicorn.error")
# A client learns that the database failed, never which database or why: the URL, host and
# driver message are the operator's (they go to the server log).
UNAVAILABLE_MESSAGE = "the log's database is unavailable; try again later"
STORAGE_ERROR_MESSAGE = "the log's database failed to answer this request"

STATUS_BY_ERROR: dict[type[LedgerError], int] = {error: error.http_status for error in ERRORS}


def error_response(
    status: int, kind: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = {"error": {"type": kind, "message": message}}
    return JSONResponse(body, status_code=status, headers=headers)


def status_for(exc: LedgerError) -> int:
    return exc.http_status


def ledger_error_response(exc: LedgerError) -> JSONResponse:
    """The response for one error, by its class; also for middleware, outside routing."""
    if exc.code == STORAGE_UNAVAILABLE:
        log.error("database unavailable: %s", exc)
        return error_response(503, "storage_unavailable", UNAVAILABLE_MESSAGE)
    status = status_for(exc)
    headers = None
    if isinstance(exc, RateLimitedError | OverloadedError):
        headers = {"Retry-After": str(exc.retry_after_s)}
    return error_response(status, exc.code, str(exc), headers)


def _ledger_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, LedgerError)
    return ledger_error_response(exc)


def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = []
    for error in exc.errors():
        where = " ".join(str(part) for part in error.get("loc", ()))
        problems.append(f"{where}: {error.get('msg', 'invalid')}")
    return error_response(400, "malformed", "; ".join(problems) or "invalid request")


def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    kind = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return error_response(exc.status_code, kind, str(exc.detail))


def _database_error(request: Request, exc: Exception) -> JSONResponse:
    """A database error no code path turned into a LedgerError: generic to the client, the
    whole of it (statement, driver message, stack) in the server log."""
    assert isinstance(exc, SQLAlchemyError)
    log.error("database error on %s %s", request.method, request.url.path, exc_info=exc)
    if isinstance(exc, OperationalError):
        return error_response(503, "storage_unavailable", UNAVAILABLE_MESSAGE)
    return error_response(500, "storage_error", STORAGE_ERROR_MESSAGE)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(LedgerError, _ledger_error)
    app.add_exception_handler(SQLAlchemyError, _database_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
