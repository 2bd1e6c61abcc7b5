"""The one table from error type to exit code: 0 ok, 1 failed or not found, 2 bad input, and
4 for a verdict that verified but carries cautions (registry.cautions)."""

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

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
# Verified, with cautions: the proof holds, but the log knows something against the capture
# (`prov verify`, `prov lookup`). Not an error: a script that checks `== 0` must not read it as clean.
EXIT_CAUTION = 4

EXIT_CODE_BY_ERROR: dict[type[LedgerError], int] = {
    MalformedError: EXIT_BAD_INPUT,
    TooLargeError: EXIT_BAD_INPUT,
    UnsupportedMediaError: EXIT_BAD_INPUT,
    NotAuthorizedError: EXIT_BAD_INPUT,
    ConfigurationError: EXIT_BAD_INPUT,
    VerificationError: EXIT_FAILED,
    NotFoundError: EXIT_FAILED,
    StorageError: EXIT_FAILED,
    # The server is busy with this client: the request was fine, it just was not served.
    RateLimitedError: EXIT_FAILED,
}


def exit_code_for(error: LedgerError) -> int:
    for error_type in type(error).__mro__:
        if error_type in EXIT_CODE_BY_ERROR:
            return EXIT_CODE_BY_ERROR[error_type]
    return EXIT_FAILED
