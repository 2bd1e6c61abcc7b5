"""The per-capture caution rule, pure: what the log's revocations and clock say against one
capture. No database, so the offline bundle verifier (`registry.bundle.verify`) applies the very
rule the indexer stores (`registry.admission.capture_cautions`) and the auditor replays.

A revocation applies to a capture when it names the capture's device or - once revocations of
CAs exist - a CA on the device's chain (`applies`): the callers gather the revocations by
`subject`, so a CA revocation slots in as one more subject per device.
"""

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from registry.cautions import (
    CAPTURED_IN_COMPROMISE_WINDOW,
    LATE_LOGGING_MS,
    LOGGED_AFTER_REVOCATION,
    LOGGED_LATE,
    Caution,
)

__all__ = ["Revocation", "applies", "capture_cautions"]


@dataclass(frozen=True)
class Revocation:
    """A logged revocation: its leaf index, whom it names, and the compromise date."""

    index: int
    subject: str  # the device id (revocation/v1), or later the id of a CA on the chain
    compromised_since: int


def applies(subject: str, device_id: str, chain_ids: Collection[str] = ()) -> bool:
    """Does a revocation naming `subject` revoke this device (or a CA on its chain)?"""
    return subject == device_id or subject in chain_ids


def _iso(ms: int) -> str:
    try:
        return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds")
    except (ValueError, OverflowError, OSError):
        return f"{ms} ms after 1970"


def capture_cautions(
    index: int, captured_at: int, logged_at: int, revocations: Iterable[Revocation]
) -> list[Caution]:
    """The cautions of the capture at `index` against the revocations that apply to its device
    (all those the log holds at the answer's tree size, before or after the capture)."""
    revocations = list(revocations)
    cautions: list[Caution] = []
    revocations.sort(key=lambda r: r.index)
    window = [r for r in revocations if captured_at >= r.compromised_since]
    earlier = [r for r in revocations if r.index < index]
    if window:
        since = min(r.compromised_since for r in window)
        cautions.append(
            Caution(
                CAPTURED_IN_COMPROMISE_WINDOW,
                f"captured {_iso(captured_at)}, after the device's key was reported compromised "
                f"(since {_iso(since)}, revocation at log entry {window[0].index}): anyone "
                "holding the key could have signed it",
                tuple(r.index for r in window),
            )
        )
    if earlier:
        cautions.append(
            Caution(
                LOGGED_AFTER_REVOCATION,
                f"logged after the log already held a revocation of its device (log entry "
                f"{earlier[0].index}): its capture time {_iso(captured_at)} is only the word of a "
                "key that was reported compromised, and may be backdated",
                tuple(r.index for r in earlier),
            )
        )
    if logged_at - captured_at > LATE_LOGGING_MS:
        hours = (logged_at - captured_at) // 3_600_000
        cautions.append(
            Caution(
                LOGGED_LATE,
                f"logged {hours} hours after the time the device claims: for that long, the "
                "capture time is only the device's word",
                (index,),
            )
        )
    return cautions


def earliest_compromise(revocations: Iterable[tuple[str, int]]) -> dict[str, int]:
    """Each revoked device's earliest compromise date, from (device, compromised_since) pairs.
    A device revoked twice is suspect from the earlier date, whatever order the revocations
    come in: admission, lookups, the origin report and the audit all judge by it."""
    earliest: dict[str, int] = {}
    for device, since in revocations:
        earliest[device] = min(since, earliest.get(device, since))
    return earliest
