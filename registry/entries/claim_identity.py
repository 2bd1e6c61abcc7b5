"""The identity of a capture's claim, whatever its signature bytes.

A record id (registry.admission.indexer.record_id) hashes the claim *and* its signature, and signatures
are not unique: ECDSA is randomized and malleable ((r, s) and (r, n - s) both verify), so the
same claim can arrive signed many ways. Admission answers a claim already logged as a
duplicate, with the first receipt, by this id; the indexer marks an older log's copies
`duplicate` (not a counter repeat); `prov audit replay` reports them as `duplicate_claim`.

* capture/v1: SHA-256 of JCS(claim), the bytes the device signed (after the context string).
* c2pa-capture/v1: SHA-256 of a context string and the C2PA claim (CBOR) the camera signed.
  The entry's own claim holds the registry's hash of the whole file, manifest included, so a
  copy of the file with a re-encoded or malleated COSE signature would have a new entry claim;
  the camera's signed claim (its hard binding of the picture, its capture time) stays the same.
"""

import base64
import hashlib
from collections.abc import Mapping
from typing import cast

from registry.entries.codec import CAPTURE, canonical
from registry.entries.formats import C2paEvidence, Claim

__all__ = ["c2pa_claim_id", "capture_claim_id", "claim_id"]

_C2PA_CONTEXT = b"provenance-ledger/c2pa-claim/v1\n"


def capture_claim_id(claim_jcs: bytes) -> bytes:
    return hashlib.sha256(claim_jcs).digest()


def c2pa_claim_id(c2pa: C2paEvidence) -> bytes:
    return hashlib.sha256(_C2PA_CONTEXT + base64.b64decode(c2pa["claim"])).digest()


def claim_id(entry: Mapping[str, object]) -> bytes:
    """The claim id of a logged capture entry of either kind, as the registry admitted it
    (a registry.entries.formats.CaptureEntry or C2paCaptureEntry)."""
    if entry["kind"] == CAPTURE:
        return capture_claim_id(canonical(cast(Claim, entry["claim"])))
    return c2pa_claim_id(cast(C2paEvidence, entry["c2pa"]))
