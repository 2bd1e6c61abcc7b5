"""The log's exceptions, and the base class of every exception raised on purpose: one flat
hierarchy whose messages are what the user sees, each with a machine-readable `code`.

"Malformed" means the input cannot be what it claims to be (wrong length, bad encoding, an index
outside the tree): the caller must fix the request. "Verification failed" means the input is
well-formed but does not check out against the keys, certificates or hashes it claims: that is a
verdict, not a crash.

Each class says, once, what it means at each edge: `http_status` is the status the API answers
with (api/errors.py) and the one the HTTP client maps back to the class (cli/client.py);
`exit_code` is what `prov` exits with (cli/errors.py). Those tables are derived from these
attributes, so they cannot disagree. The errors of the layers above (images, admission, rate
limits) are in registry/errors.py; every stable code is listed in docs/errors.md.
"""

from typing import ClassVar

# The exit codes of `prov` that an error can cause (cli/errors.py adds 0 ok and 4 cautions).
EXIT_FAILED = 1  # verification failed, or not found
EXIT_BAD_INPUT = 2  # bad input or configuration: the caller must change what it asks
# The server could not be reached, is not a log, failed or was busy: try again later or
# elsewhere. It says nothing about what was asked (an image, a bundle, a log's history).
EXIT_UNAVAILABLE = 3


class LedgerError(Exception):
    """Base class for every error raised on purpose. `code` is stable; the message explains.

    A bare LedgerError (a code with no more specific class) is a server-side failure."""

    default_code: ClassVar[str] = "error"
    http_status: ClassVar[int] = 500
    exit_code: ClassVar[int] = EXIT_FAILED

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code or self.default_code


class MalformedError(LedgerError):
    """The input is not well-formed (bad encoding, wrong length, out-of-range index)."""

    default_code = "malformed"
    http_status = 400
    exit_code = EXIT_BAD_INPUT


class VerificationError(LedgerError):
    """Well-formed input that does not verify (wrong hash, bad signature, untrusted chain)."""

    default_code = "verification_failed"
    http_status = 422
    exit_code = EXIT_FAILED


class NotFoundError(LedgerError):
    """The requested entry, tile, device or checkpoint does not exist (yet)."""

    default_code = "not_found"
    http_status = 404
    exit_code = EXIT_FAILED


class ConfigurationError(LedgerError):
    """The service is not set up as asked (missing key, wrong origin, no database)."""

    default_code = "not_configured"
    http_status = 503
    exit_code = EXIT_BAD_INPUT


class StorageError(LedgerError):
    """The database holds something the log never wrote (a missing or short tile)."""

    default_code = "storage_corrupt"
    http_status = 500
    exit_code = EXIT_FAILED


class UnavailableError(LedgerError):
    """A server could not answer: unreachable, not a Provenance Ledger server, or failing on
    its side (any 5xx). Raised by the HTTP clients (ledger.remote, cli/client.py), never by
    the log itself; its status is the one a gateway gives for a server behind it that failed.
    It lives here, not in registry/errors.py, because ledger.remote raises it."""

    default_code = "server_unreachable"
    http_status = 502
    exit_code = EXIT_UNAVAILABLE
