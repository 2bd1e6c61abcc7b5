"""The one table from error type to HTTP status. Every error body is
`{"error": {"type": <machine-readable code>, "message": ...}}`; the message says what to fix."""

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ledger.errors import (
    ConfigurationError,
    LedgerError,
    MalformedError,
    NotAuthorizedError,
    NotFoundError,
    RateLimitedError,
    StorageError,
    TooLargeError,
    UnsupportedMediaError,
    VerificationError,
)

STATUS_BY_ERROR: dict[type[LedgerError], int] = {
    MalformedError: 400,
    TooLargeError: 413,
    UnsupportedMediaError: 415,
    RateLimitedError: 429,
    NotAuthorizedError: 401,
    NotFoundError: 404,
    VerificationError: 422,
    ConfigurationError: 503,
    StorageError: 500,
}


def error_response(
    status: int, kind: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = {"error": {"type": kind, "message": message}}
    return JSONResponse(body, status_code=status, headers=headers)


def status_for(exc: LedgerError) -> int:
    return next((STATUS_BY_ERROR[t] for t in type(exc).__mro__ if t in STATUS_BY_ERROR), 500)


def ledger_error_response(exc: LedgerError) -> JSONResponse:
    """The response for one error, by the table above; also for middleware, outside routing."""
    status = status_for(exc)
    headers = None
    if isinstance(exc, RateLimitedError):
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


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(LedgerError, _ledger_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
