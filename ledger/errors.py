"""The exceptions of the ledger and the registry: one flat hierarchy whose messages are what the
user sees, each with a machine-readable `code`.

"Malformed" means the input cannot be what it claims to be (wrong length, bad encoding, an index
outside the tree): the caller must fix the request. "Verification failed" means the input is
well-formed but does not check out against the keys, certificates or hashes it claims: that is a
verdict, not a crash.
"""


class LedgerError(Exception):
    """Base class for every error raised on purpose. `code` is stable; the message explains."""

    default_code = "error"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code or self.default_code


class MalformedError(LedgerError):
    """The input is not well-formed (bad encoding, wrong length, out-of-range index)."""

    default_code = "malformed"


class TooLargeError(MalformedError):
    """Well-formed input over a size limit (records per batch, image pixels, body bytes): the
    caller must send less, not different."""

    default_code = "too_large"


class UnsupportedMediaError(MalformedError):
    """Input of a media type the operation does not take (a PDF where an image is expected):
    the caller must send another kind of thing, not fix this one."""

    default_code = "unsupported_media_type"


class RateLimitedError(LedgerError):
    """The caller sent more requests than its rate limit allows; `retry_after_s` says when the
    next one will be accepted."""

    default_code = "rate_limited"

    def __init__(self, message: str, retry_after_s: int, code: str | None = None) -> None:
        super().__init__(message, code)
        self.retry_after_s = retry_after_s


class VerificationError(LedgerError):
    """Well-formed input that does not verify (wrong hash, bad signature, untrusted chain)."""

    default_code = "verification_failed"


class NotFoundError(LedgerError):
    """The requested entry, tile, device or checkpoint does not exist (yet)."""

    default_code = "not_found"


class NotAuthorizedError(LedgerError):
    """The operation needs a credential the caller did not present (the operator's token)."""

    default_code = "not_authorized"


class ConfigurationError(LedgerError):
    """The service is not set up as asked (missing key, wrong origin, no database)."""

    default_code = "not_configured"


class StorageError(LedgerError):
    """The database holds something the log never wrote (a missing or short tile)."""

    default_code = "storage_corrupt"
