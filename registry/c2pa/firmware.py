"""The firmware of a C2PA capture: what the camera's signed claim says generated it.

A C2PA claim names the software that made it in `claim_generator_info` - in a camera, its
firmware. C2PA 2.x (`c2pa.claim.v2`) has one map there, {name, version, ...}; C2PA 1.x
(`c2pa.claim`) a list of such maps beside the free-form `claim_generator` string. The firmware
of a c2pa-capture/v1 claim is the `version` of that map (of the list's first), as the vendor
wrote it: the same vendor-defined string a capture/v1 device signs as its `firmware`, so a
firmware-scoped revocation names a release the same way for both kinds. The name is left out:
it is the product ("Example Camera X1"), which the device certificate already identifies.

Nothing else is read: a 1.x claim with only the `claim_generator` string (say
"Camera/2.00 c2pa-rs/0.30") has no firmware, since that string has no defined grammar.

The registry derives it at ingest and an auditor re-derives it from the logged CBOR claim
(`check_firmware_claim`), so the logged `firmware` is exactly what the camera signed. A version
that is not a valid claim `firmware` (registry.entries.codec.check_firmware: 1-100 printable
ASCII) gives none, rather than refusing the file: the camera signed its C2PA claim, not our
field, and a picture is not less of a capture for an odd version string. Pure functions.
"""

import binascii
from collections.abc import Mapping
from typing import cast

from ledger.errors import LedgerError, MalformedError, VerificationError
from registry.c2pa.cose import Decoded, decode_cbor
from registry.entries.codec import C2PA_CAPTURE, is_firmware, unb64
from registry.entries.formats import C2paEvidence, Claim

__all__ = ["capture_firmware", "check_firmware_claim", "claim_firmware", "entry_firmware"]


def claim_firmware(claim: Mapping[Decoded, Decoded]) -> str | None:
    """The firmware a decoded C2PA claim names, or None."""
    info = claim.get("claim_generator_info")
    if isinstance(info, list):
        info = info[0] if info else None
    if not isinstance(info, Mapping):
        return None
    version = info.get("version")
    return version if isinstance(version, str) and is_firmware(version) else None


def capture_firmware(c2pa: C2paEvidence) -> str | None:
    """The firmware of an entry's (or an ingested file's) `c2pa` evidence, or None."""
    try:
        claim_bytes = unb64(c2pa["claim"])
    except (binascii.Error, ValueError):
        raise MalformedError("c2pa claim is not base64", code="c2pa_malformed") from None
    claim = decode_cbor(claim_bytes, "the C2PA claim")
    return claim_firmware(claim) if isinstance(claim, Mapping) else None


def check_firmware_claim(claim: Claim, c2pa: C2paEvidence) -> None:
    """Raise VerificationError(c2pa_firmware_mismatch) if a c2pa-capture/v1 claim's firmware
    is not the one its evidence names.

    A claim without `firmware` is accepted whatever the evidence says: entries logged before
    the field existed have none, and old logs must still audit clean. Such an entry's firmware
    is still in its evidence, for anyone who re-derives it with `capture_firmware`."""
    if "firmware" not in claim:
        return
    derived = capture_firmware(c2pa)
    if claim["firmware"] != derived:
        named = "names no firmware" if derived is None else f"names firmware {derived!r}"
        raise VerificationError(
            f"the claim's firmware {claim['firmware']!r} is not what the camera signed: its "
            f"C2PA claim_generator_info {named}; the registry logs that version, or nothing",
            code="c2pa_firmware_mismatch",
        )


def entry_firmware(entry: Mapping[str, object]) -> str | None:
    """The firmware a logged capture names, for revocations: its claim's `firmware`, or for a
    c2pa-capture/v1 that logged none, the one its camera-signed evidence names. An operator who
    drops the field from a C2PA capture cannot take it out of a firmware-scoped revocation;
    evidence that does not decode names none (the audit reports it as malformed)."""
    claim = entry.get("claim")
    firmware = claim.get("firmware") if isinstance(claim, Mapping) else None
    if firmware is not None or entry.get("kind") != C2PA_CAPTURE:
        return firmware if isinstance(firmware, str) else None
    try:
        return capture_firmware(cast(C2paEvidence, entry["c2pa"]))
    except (LedgerError, KeyError, TypeError):
        return None
