"""A lookup's question, `Query`: the hashes of an image, computed here or by the client.

`query_from_image` hashes the file (registry.imaging.hashing.query_hashes); `query_from_json`
validates hashes a client computed locally, refusing each malformed field with its own code
(bad_query, bad_pdq, bad_probe, bad_pdq_quality, bad_sha256, bad_phash). api.schemas.lookup
states the same shapes for the OpenAPI schema; this stays the validator, for those codes.
"""

import re
from dataclasses import dataclass

from ledger.errors import MalformedError
from registry.config import RegistrySettings
from registry.imaging.hashing import DEFAULT_MAX_PIXELS, DIHEDRAL_NAMES, ProbeHash, query_hashes
from registry.imaging.matching import PROBE_TARGETS

MAX_PROBES = 16
_HEX_TEXT = re.compile(r"[0-9a-fA-F]+")


@dataclass(frozen=True)
class Query:
    sha256: str | None  # hex, when the file itself was given
    probes: tuple[ProbeHash, ...]  # registry.imaging.hashing.query_hashes: dihedral variants first


def query_from_image(
    data: bytes,
    name: str = "image",
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_decoded_pixels: int | None = None,
) -> Query:
    sha256, probes = query_hashes(
        data, name, max_pixels=max_pixels, max_decoded_pixels=max_decoded_pixels
    )
    return Query(sha256, tuple(probes))


def query_from_upload(settings: RegistrySettings, data: bytes, name: str = "image") -> Query:
    """A lookup of an image someone sent, under the settings' caps: PROV_MAX_IMAGE_PIXELS on
    the file's size, PROV_LOOKUP_MAX_PIXELS on the pixels its decode produces."""
    return query_from_image(
        data,
        name,
        max_pixels=settings.max_image_pixels,
        max_decoded_pixels=settings.lookup_max_pixels,
    )


def query_from_json(body: object) -> Query:
    """A JSON lookup: `{"probes": [{"name", "pdq", "quality", "phash"}, ...], "sha256"?}` - the
    probes of registry.imaging.hashing.query_hashes, for clients that hash locally - or the short form
    `{"pdq": hex or [up to 8 hex, dihedral order], "pdq_quality": n, "phash"?: hex, "sha256"?}`.
    """
    if not isinstance(body, dict):
        raise MalformedError("a JSON lookup must be an object", code="bad_query")
    sha256 = body.get("sha256")
    if sha256 is not None:
        _hex_text(sha256, 32, "sha256")
    if "probes" in body:
        unknown = set(body) - {"probes", "sha256"}
        if unknown:
            raise MalformedError(f"unknown lookup fields {sorted(unknown)}", code="bad_query")
        probes = body["probes"]
        if not isinstance(probes, list) or not 1 <= len(probes) <= MAX_PROBES:
            raise MalformedError(f"'probes' must be a list of 1 to {MAX_PROBES}", code="bad_query")
        return Query(sha256, tuple(_probe(p) for p in probes))
    unknown = set(body) - {"pdq", "pdq_quality", "phash", "sha256"}
    if unknown or "pdq" not in body:
        raise MalformedError(
            "a JSON lookup needs 'probes', or 'pdq' and 'pdq_quality' (with optional 'phash', "
            f"'sha256'){'; unknown fields ' + str(sorted(unknown)) if unknown else ''}",
            code="bad_query",
        )
    pdq = body["pdq"]
    variants = pdq if isinstance(pdq, list) else [pdq]
    if not 1 <= len(variants) <= len(DIHEDRAL_NAMES):
        raise MalformedError("give 1 to 8 PDQ hashes (the dihedral variants)", code="bad_pdq")
    phash = body.get("phash")
    if phash is None:
        phash = "0" * 16  # no pHash: it confirms nothing (distance 32 of 64 on average)
    quality = body.get("pdq_quality")
    return Query(
        sha256,
        tuple(
            _probe({"name": name, "pdq": value, "quality": quality, "phash": phash})
            for name, value in zip(DIHEDRAL_NAMES, variants, strict=False)
        ),
    )


def _probe(item: object) -> ProbeHash:
    if not isinstance(item, dict) or set(item) != {"name", "pdq", "quality", "phash"}:
        raise MalformedError("each probe is {'name', 'pdq', 'quality', 'phash'}", code="bad_probe")
    name, quality = item["name"], item["quality"]
    if not isinstance(name, str) or name not in PROBE_TARGETS:
        raise MalformedError(
            f"unknown probe name {str(name)[:40]!r} (expected one of {', '.join(PROBE_TARGETS)})",
            code="bad_probe",
        )
    if not isinstance(quality, int) or isinstance(quality, bool) or not 0 <= quality <= 100:
        raise MalformedError("probe quality must be an integer 0..100", code="bad_pdq_quality")
    return ProbeHash(
        name, _hex_text(item["pdq"], 32, "pdq"), quality, _hex_text(item["phash"], 8, "phash")
    )


def _hex_text(value: object, length: int, what: str) -> str:
    """`value` as lowercase hex of exactly `length` bytes."""
    # A pattern, not bytes.fromhex: that skips whitespace, so " 00...00 " would pass as hex.
    if not isinstance(value, str) or not _HEX_TEXT.fullmatch(value) or len(value) != 2 * length:
        raise MalformedError(f"{what} must be {2 * length} hex characters", code=f"bad_{what}")
    return value.lower()
