"""Whose capture it is: the origin of a capture, for priority, origin reports and revocation.

Most vendors give each device one certificate for its life, so the device is the origin. Some
phones sign each picture with its own one-time certificate, issued on the spot by a per-device
(or per-batch) CA; their vendor says so when it registers (vendor/v1 `"certificates":
"per-capture"`, docs/design.md §4.6). For those, every certificate is enrolled as a device of
its own, but the origin - the thing that took the picture, and the thing a vendor revokes - is
the CA that issued it: the first CA on the certificate's verified path (`issuer_id`), never a
certificate in the chain as submitted.

Pure functions: the indexer (reg_devices.origin_id), the audit's priority replay and the origin
report all ask the same question with the same answer.
"""

from typing import Final

from ledger.errors import MalformedError

__all__ = ["CERTIFICATE_MODES", "PER_CAPTURE", "check_certificates", "origin_id"]

PER_CAPTURE: Final = "per-capture"
CERTIFICATE_MODES: Final = (PER_CAPTURE,)  # absent: one certificate per device


def check_certificates(value: object) -> str:
    """A vendor/v1 `certificates` field that is present: only "per-capture" (absent means one
    certificate per device, and is the only other choice)."""
    if value != PER_CAPTURE:
        raise MalformedError(
            f"vendor 'certificates' must be {PER_CAPTURE!r} (each capture signed with its own "
            f"one-time certificate) or left out (one certificate per device), not {value!r:.40}",
            code="bad_certificates",
        )
    return PER_CAPTURE


def origin_id(device_id: str, issuer_id: str, certificates: str | None) -> str:
    """The origin of a device's captures: its issuing CA for a per-capture vendor, else the
    device itself. `issuer_id` must come from the verified path (rules.enrolled_device)."""
    return issuer_id if certificates == PER_CAPTURE else device_id
