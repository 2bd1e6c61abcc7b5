"""The registry as a C2PA soft-binding resolution service (the C2PA 2.x "Soft Binding Resolution
API"): our fingerprint algorithm names, soft-binding queries turned into lookups, lookup results
turned into C2PA matches, and manifest identifiers resolved to documents. Pure, except
`manifest_for`, which reads the log. docs/c2pa.md describes the API built on it.

Algorithm names. PDQ and pHash are not on the C2PA soft-binding algorithm list
(github.com/c2pa-org/softbinding-algorithm-list), so they are named in a reverse-domain namespace
of our own, `org.provenance-ledger.`, with the version last as the list's names have it. Each
name pins the exact hash the claims carry (`registry.imaging.hashing.ALGORITHMS`):

- `org.provenance-ledger.pdq.1`: `pdqhash-0.2.8/pdq-v1/prep-v1`; the value is its 32 bytes in
  the conventional order (the 64-hex string's bytes, bit 255 first);
- `org.provenance-ledger.phash.1`: `imagehash-4.3.2/phash-8x8/prep-v1`; the value is its 8 bytes
  (imagehash's 16-hex string's bytes).

What a binding value alone can decide is what `registry.imaging.matching` says, no more. A PDQ value is
searched as the whole picture ("original" probe) and accepted at distance <= PDQ_RADIUS on the
"pdq" evidence rule; the value carries no quality, so it is taken as good, while the capture's own
quality still applies. Matches that rule would only accept with the image's pHash agreeing too
(PDQ 32-63, or a low-quality capture hash) are dropped: a binding value has no pHash to agree. A
pHash value alone decides nothing - in `registry.imaging.matching` pHash only confirms a PDQ match - so it
is refused with the reason, not answered with an empty list that would read as "not registered".

Manifest identifiers. Every capture's id is `capture-<leaf index>` (decimal, no leading zeros),
the stem of its bundle's usual file name. A capture logged with our own claim signature has no
C2PA manifest; its "manifest" is its offline proof bundle (`registry.bundle.build`). A capture ingested
from a C2PA-signed file has one: its manifest store, rebuilt from the log entry
(`registry.c2pa.evidence.manifest_store`: the camera's claim, signature and the assertions the
log keeps; its proof bundle stays at /v1/bundles/<index>). `manifest_for` is the one place an id
is resolved to bytes and a media type.
"""

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, TypedDict

from ledger import LogStore
from ledger.errors import MalformedError, NotFoundError
from registry.bundle.build import build_bundle
from registry.c2pa.evidence import manifest_store
from registry.entries.codec import C2PA_CAPTURE, parse_entry
from registry.lookup.query import MAX_MATCHES, LookupResult, Match, Query, query_from_json

NAMESPACE: Final = "org.provenance-ledger"
PDQ_ALG: Final = f"{NAMESPACE}.pdq.1"
PHASH_ALG: Final = f"{NAMESPACE}.phash.1"
# alg -> the length of its value in bytes
FINGERPRINTS: Final = {PDQ_ALG: 32, PHASH_ALG: 8}

DEFAULT_MAX_RESULTS: Final = 10  # the API's default for maxResults
MAX_RESULTS: Final = MAX_MATCHES  # a lookup ranks no more than this many matches
PDQ_BITS: Final = 256
# A binding value carries no PDQ quality; taken as good, so the capture's quality decides.
BINDING_PDQ_QUALITY: Final = 100

BUNDLE_MEDIA_TYPE: Final = "application/json"
C2PA_MEDIA_TYPE: Final = "application/c2pa"  # a manifest store, C2PA 2.x §11.3
_CAPTURE_ID = re.compile(r"capture-(0|[1-9][0-9]{0,18})")
_MAX_INDEX = 2**63 - 1  # the database's integer column


@dataclass(frozen=True)
class BindingQuery:
    """A soft-binding value as a lookup: the query, and whether the matches it returns must rest
    on PDQ alone (a binding value has no pHash to confirm anything with)."""

    query: Query
    pdq_only: bool


def supported_algorithms() -> dict[str, list[dict[str, str]]]:
    """The body of GET /services/supportedAlgorithms: fingerprints only, we embed no watermark."""
    return {"watermarks": [], "fingerprints": [{"alg": alg} for alg in FINGERPRINTS]}


def check_alg(alg: str | None) -> None:
    """MalformedError unless `alg` (if given) is one of ours."""
    if alg is not None and alg not in FINGERPRINTS:
        raise MalformedError(
            f"unknown soft-binding algorithm {alg[:80]!r}: this service answers "
            f"{' and '.join(FINGERPRINTS)} (GET /services/supportedAlgorithms)",
            code="unknown_alg",
        )


def binding_query(alg: str, value: str) -> BindingQuery:
    """The lookup for a soft-binding value: `value` is base64 of the fingerprint's bytes."""
    check_alg(alg)
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise MalformedError(
            f"value {value[:80]!r} is not base64 (in a URL query, percent-encode '+' as %2B, "
            "'/' as %2F and '=' as %3D)",
            code="bad_base64",
        ) from None
    length = FINGERPRINTS[alg]
    if len(raw) != length:
        raise MalformedError(
            f"a {alg} value is {length} bytes ({len(base64.b64encode(bytes(length)))} base64 "
            f"characters), not {len(raw)}",
            code="bad_value_length",
        )
    if alg == PHASH_ALG:
        raise MalformedError(
            f"a pHash alone decides no match here: pHash only confirms a PDQ match. Query with "
            f"{PDQ_ALG}, or POST the image to /matches/byContent",
            code="phash_alone",
        )
    body = {"pdq": raw.hex(), "pdq_quality": BINDING_PDQ_QUALITY}
    return BindingQuery(query_from_json(body), pdq_only=True)


def manifest_id(leaf_index: int) -> str:
    return f"capture-{leaf_index}"


def leaf_index_of(manifest_id: str) -> int | None:
    """The capture's leaf index for an id `manifest_id` made, else None."""
    found = _CAPTURE_ID.fullmatch(manifest_id)
    if found is None or int(found.group(1)) > _MAX_INDEX:
        return None
    return int(found.group(1))


def similarity_score(match: Match) -> int:
    """100 for the same file bytes; otherwise 100 * (256 - d) / 256 rounded down, d being the
    PDQ distance of the evidence the lookup accepted, so only d = 0 scores 100 and the furthest
    accepted match (d = 63) scores 75."""
    if match.exact:
        return 100
    return 100 * (PDQ_BITS - match.pdq_distance) // PDQ_BITS


class SoftBindingMatch(TypedDict):
    """One match of a C2PA soft-binding /matches answer (its field names are the API's)."""

    manifestId: str  # noqa: N815
    similarityScore: int  # noqa: N815


def matches(
    result: LookupResult, max_results: int, *, pdq_only: bool = False
) -> dict[str, list[SoftBindingMatch]]:
    """The body of a /matches answer: the lookup's matches, best first, at most `max_results`
    (and MAX_RESULTS, all a lookup ranks). Without `endpoint`: this same service serves each."""
    kept: Sequence[Match] = result.matches
    if pdq_only:
        kept = [m for m in kept if m.exact or m.evidence == "pdq"]
    return {
        "matches": [
            {"manifestId": manifest_id(m.leaf_index), "similarityScore": similarity_score(m)}
            for m in kept[: min(max_results, MAX_RESULTS)]
        ]
    }


def manifest_for(store: LogStore, manifest_id: str) -> tuple[bytes, str]:
    """The document a manifest id names, and its media type. NotFoundError for any other id."""
    index = leaf_index_of(manifest_id)
    if index is None:
        raise NotFoundError(
            f"no manifest {manifest_id[:80]!r} here: this service's ids are capture-<index>",
            code="manifest_not_found",
        )
    try:
        # The log says what the entry is; a c2pa-capture/v1 carries its own manifest. Every other
        # index goes to build_bundle, which refuses what is not a capture.
        entry = parse_entry(store.entry(index))
        if entry["kind"] == C2PA_CAPTURE:
            return manifest_store(entry["c2pa"]), C2PA_MEDIA_TYPE
        return build_bundle(store, index), BUNDLE_MEDIA_TYPE
    except NotFoundError:
        raise NotFoundError(
            f"no manifest {manifest_id!r}: log entry {index} is not a registered capture",
            code="manifest_not_found",
        ) from None
