"""A c2pa-capture/v1's hard binding, recomputed over a file.

The entry logs the camera's signed c2pa.hash.data: the SHA-256 of the file's bytes outside its
exclusions. Recomputing it over a file says whether that file is the one the logged claim signs,
which nothing in the entry alone can: a genuine manifest lifted from another photo verifies on
its own, and only the file shows that its hash is of other bytes. The exclusion must also be
exactly the APP11 segments that hold the file's manifest store: a wider one would leave bytes
of the picture unbound. Run at ingest (registry.Registry.ingest_c2pa) and by `prov verify
--image` given the registered file (registry.bundle.verify.verify_bundle). Pure functions.
"""

import hashlib

from ledger.errors import VerificationError
from registry.c2pa.evidence import HASH_DATA, hash_data
from registry.c2pa.jumbf import manifest_store_and_span
from registry.entries.formats import C2paEvidence


def check_hard_binding(c2pa: C2paEvidence, data: bytes) -> None:
    """Raise VerificationError unless `data` is the file the entry's signed hard binding binds."""
    bound = hash_data(c2pa)
    hasher = hashlib.sha256()
    position = 0
    for start, length in sorted(bound.exclusions):
        if start < position or start + length > len(data):
            raise VerificationError(
                f"{HASH_DATA} excludes bytes {start}..{start + length}, which overlap or run "
                f"past this {len(data)}-byte file",
                code="c2pa_exclusion_mismatch",
            )
        hasher.update(data[position:start])
        position = start + length
    hasher.update(data[position:])
    if hasher.digest() != bound.hash:
        raise VerificationError(
            f"the logged {HASH_DATA} does not hash this file: the manifest the entry logs is "
            "not this file's (it was signed over other bytes)",
            code="c2pa_hard_binding_mismatch",
        )
    _, (start, length) = manifest_store_and_span(data)
    if bound.exclusions != ((start, length),):
        raise VerificationError(
            f"the logged {HASH_DATA} excludes {_ranges(bound.exclusions)}, but this file's "
            f"manifest store is in bytes {_ranges(((start, length),))}: the binding leaves "
            "other bytes unsigned",
            code="c2pa_exclusion_mismatch",
        )


def _ranges(ranges: tuple[tuple[int, int], ...]) -> str:
    return ", ".join(
        f"{start}..{start + length}" if length >= 0 else f"{start}.. (not contiguous)"
        for start, length in ranges
    )
