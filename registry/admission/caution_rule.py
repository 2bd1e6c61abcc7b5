"""The per-capture caution rule, pure: what the log's revocations and clock say against one
capture. No database, so the offline bundle verifier (`registry.bundle.verify`) applies the very
rule the indexer stores (`registry.admission.capture_cautions`) and the auditor replays.

A revocation names a subject: a device (revocation/v1, or v2 with scope "device"), a CA on the
device's verified path (scope "ca") or the vendor root (scope "vendor"). It applies to a capture
when its subject is the capture's device or on its path, and - for one limited to
firmware releases - when the capture's signed claim names one of them (`covers`). A capture
whose claim names no firmware is not covered by a firmware-scoped revocation
(`uncovered_reasons` says so, for the verdict).
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from registry.cautions import (
    CAPTURED_IN_COMPROMISE_WINDOW,
    LATE_LOGGING_MS,
    LOGGED_AFTER_REVOCATION,
    LOGGED_LATE,
    Caution,
)
from registry.wording import iso_utc

__all__ = [
    "CA_SCOPE",
    "DEVICE_SCOPE",
    "SCOPES",
    "VENDOR_SCOPE",
    "Revocation",
    "capture_cautions",
    "covers",
    "describe",
    "revocation_from_entry",
    "uncovered_reasons",
]

DEVICE_SCOPE = "device"
CA_SCOPE = "ca"
VENDOR_SCOPE = "vendor"
SCOPES = (DEVICE_SCOPE, CA_SCOPE, VENDOR_SCOPE)


@dataclass(frozen=True)
class Revocation:
    """A logged revocation: its leaf index, whom it names, and the compromise date; `scope` and
    `firmware` (None: every capture of the subject) as revocation/v2 states them."""

    index: int
    subject: str  # hex id of the device, CA or vendor root it names
    compromised_since: int
    scope: str = DEVICE_SCOPE
    firmware: tuple[str, ...] | None = None


def revocation_from_entry(index: int, entry: Mapping[str, object]) -> Revocation:
    """The Revocation a logged revocation/v1 or revocation/v2 entry states (fields already
    checked: admission's rules, or the bundle's check_fields)."""
    since, firmware = entry["compromised_since"], entry.get("firmware")
    # Checked by the callers; checked again, not asserted, since `python -O` drops asserts.
    if not isinstance(since, int) or not (firmware is None or isinstance(firmware, list)):
        raise ValueError("a revocation's compromised_since or firmware has the wrong type")
    if entry["kind"] == "revocation/v1":
        return Revocation(index, str(entry["device"]), since)
    releases = None if firmware is None else tuple(str(f) for f in firmware)
    return Revocation(index, str(entry["subject"]), since, str(entry["scope"]), releases)


def covers(revocation: Revocation, firmware: str | None) -> bool:
    """Does the revocation cover a capture whose signed claim names `firmware` (None: names
    none)? One not limited to firmware covers every capture of its subject."""
    if revocation.firmware is None:
        return True
    return firmware is not None and firmware in revocation.firmware


def describe(revocation: Revocation, vendor_name: str = "") -> str:
    """The revocation's scope in words: "firmware 2.00 of Example Camera Co., from
    2026-08-27", "CA 3f2a9c0d1b4e5f60… of Example Camera Co., from ...", "device ..."."""
    of = f" of {vendor_name}" if vendor_name else ""
    since = iso_utc(revocation.compromised_since)[:10]
    if revocation.scope == VENDOR_SCOPE:
        whom = f"every device{of}"
    elif revocation.scope == CA_SCOPE:
        whom = f"every device under CA {revocation.subject[:16]}…{of}"
    else:
        whom = f"device {revocation.subject[:16]}…{of}"
    if revocation.firmware is not None:
        releases = ", ".join(revocation.firmware)
        if revocation.scope == VENDOR_SCOPE:  # the whole vendor's release, as incidents say it
            whom = f"firmware {releases}{of}" if vendor_name else f"firmware {releases}"
        elif revocation.scope == DEVICE_SCOPE:
            whom = f"firmware {releases} of {whom}"
        else:
            whom = f"firmware {releases} on {whom}"
    return f"{whom}, from {since}"


def uncovered_reasons(revocations: Iterable[Revocation], firmware: str | None) -> list[str]:
    """Why each firmware-scoped revocation of the capture's subjects does not cover it."""
    reasons = []
    for r in sorted(revocations, key=lambda r: r.index):
        if covers(r, firmware):
            continue
        names = "names no firmware" if firmware is None else f"names firmware {firmware!r}"
        releases = ", ".join(r.firmware or ())
        reasons.append(
            f"the revocation at log entry {r.index} is limited to firmware {releases}; "
            f"this capture's signed claim {names}, so it is not covered"
        )
    return reasons


def capture_cautions(
    index: int,
    captured_at: int,
    logged_at: int,
    revocations: Iterable[Revocation],
    firmware: str | None = None,
) -> list[Caution]:
    """The cautions of the capture at `index` against the revocations that apply to its device
    or a CA on its path (all those the log holds at the answer's tree size, before or after the
    capture); those limited to firmware count only if they cover the claim's `firmware`."""
    revocations = [r for r in revocations if covers(r, firmware)]
    cautions: list[Caution] = []
    revocations.sort(key=lambda r: r.index)
    window = [r for r in revocations if captured_at >= r.compromised_since]
    earlier = [r for r in revocations if r.index < index]
    if window:
        since = min(r.compromised_since for r in window)
        cautions.append(
            Caution(
                CAPTURED_IN_COMPROMISE_WINDOW,
                f"captured {iso_utc(captured_at)}, after the compromise the log's revocation at "
                f"entry {window[0].index} reports ({describe(window[0])}; since {iso_utc(since)}): "
                "anyone holding the key, or using the flaw, could have signed it",
                tuple(r.index for r in window),
            )
        )
    if earlier:
        cautions.append(
            Caution(
                LOGGED_AFTER_REVOCATION,
                f"logged after the log already held a revocation covering it (log entry "
                f"{earlier[0].index}: {describe(earlier[0])}): its capture time "
                f"{iso_utc(captured_at)} is only the word of a key that was reported compromised, "
                "and may be backdated",
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
