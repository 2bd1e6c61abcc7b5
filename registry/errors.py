"""The registry's exceptions, beside the log's (ledger/errors.py), and the catalogue of both.

They are raised above the log: by image decoding and admission here, by the API's limits, and
by the HTTP client when a server answers with their status. Each carries its HTTP status and
`prov` exit code, as every LedgerError does; every stable code is listed in docs/errors.md.
"""

from ledger.errors import (
    EXIT_BAD_INPUT,
    EXIT_UNAVAILABLE,
    ConfigurationError,
    LedgerError,
    MalformedError,
    NotFoundError,
    StorageError,
    UnavailableError,
    VerificationError,
)

__all__ = [
    "ERRORS",
    "SHARED_STATUS",
    "ConflictError",
    "NotAuthorizedError",
    "OverloadedError",
    "RateLimitedError",
    "TooLargeError",
    "UnavailableError",
    "UnsupportedMediaError",
]


class TooLargeError(MalformedError):
    """Well-formed input over a size limit (records per batch, image pixels, body bytes): the
    caller must send less, not different."""

    default_code = "too_large"
    http_status = 413
    exit_code = EXIT_BAD_INPUT


class UnsupportedMediaError(MalformedError):
    """Input of a media type the operation does not take (a PDF where an image is expected):
    the caller must send another kind of thing, not fix this one."""

    default_code = "unsupported_media_type"
    http_status = 415
    exit_code = EXIT_BAD_INPUT


class NotAuthorizedError(LedgerError):
    """The operation needs a credential the caller did not present (the operator's token)."""

    default_code = "not_authorized"
    http_status = 401
    exit_code = EXIT_BAD_INPUT


class ConflictError(LedgerError):
    """The request contradicts what the log holds already (a vendor root logged under another
    name or role): the log keeps its first entry, so the caller must ask for that one."""

    default_code = "conflict"
    http_status = 409
    exit_code = EXIT_BAD_INPUT


class RateLimitedError(LedgerError):
    """The caller sent more requests than its rate limit allows; `retry_after_s` says when the
    next one will be accepted. Raised by the API's limiter and, on a 429, by the HTTP client,
    so it lives below both."""

    default_code = "rate_limited"
    http_status = 429
    # The server is busy with this client: the request was fine, it just was not served, so
    # "try again later", like a server that cannot be reached (never "not found").
    exit_code = EXIT_UNAVAILABLE

    def __init__(self, message: str, retry_after_s: int, code: str | None = None) -> None:
        super().__init__(message, code)
        self.retry_after_s = retry_after_s


class OverloadedError(LedgerError):
    """The server is at its limit of image decodes in flight and waiting (PROV_DECODE_CONCURRENCY,
    PROV_DECODE_QUEUE), so it refused at once rather than queue without bound; `retry_after_s`
    says when to try again. Raised by the decode gate (registry.imaging.gate) and, on a 503 with
    this code, by the HTTP client."""

    default_code = "overloaded"
    http_status = 503
    # The request was fine; it just was not served now: try again later.
    exit_code = EXIT_UNAVAILABLE

    def __init__(self, message: str, retry_after_s: int, code: str | None = None) -> None:
        super().__init__(message, code)
        self.retry_after_s = retry_after_s


# Every error class a caller can meet. The API's and the CLI's tables are derived from this.
# Each has its own HTTP status but those in SHARED_STATUS. The HTTP client maps a 4xx status
# back to its class; a 5xx is the server failing (UnavailableError, whatever class raised it on
# the server), but a SHARED_STATUS class, which the client knows by its code.
ERRORS: tuple[type[LedgerError], ...] = (
    MalformedError,
    NotAuthorizedError,
    NotFoundError,
    ConflictError,
    TooLargeError,
    UnsupportedMediaError,
    VerificationError,
    RateLimitedError,
    StorageError,
    ConfigurationError,
    OverloadedError,
    UnavailableError,
)

# The classes that share their HTTP status with another in ERRORS: the HTTP client knows them by
# their `default_code`, and gives every other code of that status to the status's own class
# (for a 5xx, UnavailableError).
SHARED_STATUS: tuple[type[LedgerError], ...] = (OverloadedError,)
