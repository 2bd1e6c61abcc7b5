"""The exit codes of `prov`: 0 ok, 1 failed or not found, 2 bad input or configuration, 3 the
server could not be reached or failed (or was busy: try again later or elsewhere; it says nothing
about the image), and 4 for a verdict that verified but carries cautions (registry.cautions).
One table for every command (README.md, docs/errors.md). Each error class carries
its own `exit_code` (ledger/errors.py, registry/errors.py); the table below is derived from them
for reading, never edited."""

from ledger.errors import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_UNAVAILABLE, LedgerError
from registry.errors import ERRORS

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_CAUTION",
    "EXIT_CODE_BY_ERROR",
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_UNAVAILABLE",
    "exit_code_for",
]

EXIT_OK = 0
# Verified, with cautions: the proof holds, but the log knows something against the capture
# (`prov verify`, `prov lookup`). Not an error: a script that checks `== 0` must not read it as clean.
EXIT_CAUTION = 4

EXIT_CODE_BY_ERROR: dict[type[LedgerError], int] = {error: error.exit_code for error in ERRORS}


def exit_code_for(error: LedgerError) -> int:
    return error.exit_code
