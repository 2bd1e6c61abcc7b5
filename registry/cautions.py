"""What the log knows against a capture: cautions, each a stable code and a sentence.

A caution never makes a verdict fail on its own - the capture is genuinely in the log - but a
verdict that carries one must never look like a clean pass: `--json` lists them, text output
prints them first, the web page draws them in caution colours, and `prov verify` and
`prov lookup` exit with `EXIT_CAUTION`. The codes are part of the public API: a code is added
beside the others, never renamed or reused.
"""

from dataclasses import dataclass
from typing import Final

__all__ = [
    "CAPTURED_IN_COMPROMISE_WINDOW",
    "CLAIMS_TIME_BEFORE_EARLIER_LOG",
    "CODES",
    "GENERATOR_DISCLOSED_FIRST",
    "LATE_LOGGING_MS",
    "LOGGED_AFTER_REVOCATION",
    "LOGGED_LATE",
    "REGISTERED_EARLIER_ELSEWHERE",
    "REVOCATION_STATUS_UNPROVEN",
    "Caution",
]

# The device's key (or a CA above it) was reported compromised from a date at or before the
# capture's claimed time: anyone holding the key could have signed it.
CAPTURED_IN_COMPROMISE_WINDOW: Final = "captured_in_compromise_window"
# The log already held a revocation of the device (or a CA on its chain) when it logged the
# capture: the claimed capture time may have been backdated to just before the compromise.
LOGGED_AFTER_REVOCATION: Final = "logged_after_revocation"
# Logged more than LATE_LOGGING_MS after the time the device claims: the claimed time is
# only the device's word for that long.
LOGGED_LATE: Final = "logged_late"
# A generator vendor disclosed a near-duplicate before this capture was logged.
GENERATOR_DISCLOSED_FIRST: Final = "generator_disclosed_first"
# Another device's near-duplicate was logged before this capture was logged.
REGISTERED_EARLIER_ELSEWHERE: Final = "registered_earlier_elsewhere"
# This capture claims a time before an earlier near-duplicate was logged, but was itself
# logged after it: its claimed priority rests on the device's clock alone.
CLAIMS_TIME_BEFORE_EARLIER_LOG: Final = "claims_time_before_earlier_log"
# A proof bundle that carries no status proof (made before them, or stripped): the revocations
# it lists may be partial, so it can never read as clean (registry.bundle.status).
REVOCATION_STATUS_UNPROVEN: Final = "revocation_status_unproven"

CODES: Final = (
    CAPTURED_IN_COMPROMISE_WINDOW,
    LOGGED_AFTER_REVOCATION,
    LOGGED_LATE,
    GENERATOR_DISCLOSED_FIRST,
    REGISTERED_EARLIER_ELSEWHERE,
    CLAIMS_TIME_BEFORE_EARLIER_LOG,
    REVOCATION_STATUS_UNPROVEN,
)

LATE_LOGGING_MS: Final = 24 * 3600 * 1000  # a day: far beyond any honest upload backlog


@dataclass(frozen=True)
class Caution:
    """One thing the log knows against a capture. `code` is one of `CODES`; `message` is the
    sentence a person reads; `evidence` names the leaf indexes that show it."""

    code: str
    message: str
    evidence: tuple[int, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {"code": self.code, "message": self.message, "evidence": list(self.evidence)}
