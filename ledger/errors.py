"""The ledger's exceptions: one flat hierarchy whose messages are what the user sees.

"Malformed" means the input cannot be what it claims to be (wrong length, bad encoding,
an index outside the tree): the caller must fix the request. "Verification failed" means the
input is well-formed but does not check out against the keys or hashes it claims: that is a
verdict, not a crash.
"""


class LedgerError(Exception):
    """Base class for every error the ledger raises on purpose."""


class MalformedError(LedgerError):
    """The input is not well-formed (bad encoding, wrong length, out-of-range index)."""


class VerificationError(LedgerError):
    """Well-formed input that does not verify (wrong hash, bad signature, inconsistent tree)."""


class NotFoundError(LedgerError):
    """The requested entry, tile, or checkpoint does not exist (yet)."""


class ConfigurationError(LedgerError):
    """The log is not set up as asked (missing key, wrong origin, no database)."""


class StorageError(LedgerError):
    """The database holds something the log never wrote (a missing or short tile)."""
