"""The one table from error type to HTTP status. Every error body is
`{"error": {"type": ..., "message": ...}}`, and the message says what to fix."""

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from ledger.errors import (
    ConfigurationError,
    LedgerError,
    MalformedError,
    NotFoundError,
    StorageError,
    VerificationError,
)

STATUS_BY_ERROR: dict[type[LedgerError], tuple[int, str]] = {
    MalformedError: (400, "malformed"),
    NotFoundError: (404, "not_found"),
    VerificationError: (422, "verification_failed"),
    ConfigurationError: (503, "not_configured"),
    StorageError: (500, "storage_corrupt"),
}


def error_response(status: int, kind: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"type": kind, "message": message}}, status_code=status)


def _ledger_error(_request: Request, exc: Exception) -> JSONResponse:
    for error_type in type(exc).__mro__:
        if error_type in STATUS_BY_ERROR:
            status, kind = STATUS_BY_ERROR[error_type]
            return error_response(status, kind, str(exc))
    return error_response(500, "internal", str(exc))


def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = []
    for error in exc.errors():
        where = " ".join(str(part) for part in error.get("loc", ()))
        problems.append(f"{where}: {error.get('msg', 'invalid')}")
    return error_response(400, "malformed", "; ".join(problems) or "invalid request")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(LedgerError, _ledger_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
