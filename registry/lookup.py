"""Looking an image up: a verdict, the ranked matching captures, and their proofs.

Verdicts:
- `registered`: a capture of exactly these file bytes (same SHA-256) by a camera;
- `disclosed-synthetic`: the best match (exact or near) is a generator vendor's disclosure;
- `near-duplicate`: a camera capture within PDQ distance 31 of one of the query's 8 dihedral
  variants. A low-quality PDQ (< 50, on either side) never decides this alone: the pHash must
  agree too (distance <= PHASH_CONFIRM);
- `not-found`.

The near-duplicate index lives in memory (registry.neardup); `refresh()` adds captures sequenced
since the last call by tailing reg_captures by leaf index, so new captures are searchable without
a rebuild.
"""

import threading
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import select

from ledger import LogStore
from ledger.errors import MalformedError
from registry.entries import b64
from registry.hashing import hash_image, pdq_dihedral
from registry.neardup import NearDuplicateIndex
from registry.schema import reg_captures, reg_devices, reg_revocations, reg_vendors

PDQ_RADIUS = 31
MIN_QUALITY = 50
PHASH_CONFIRM = 10  # of 64 bits: independent evidence for a low-quality PDQ match
MAX_MATCHES = 20

REGISTERED = "registered"
NEAR_DUPLICATE = "near-duplicate"
DISCLOSED_SYNTHETIC = "disclosed-synthetic"
NOT_FOUND = "not-found"


@dataclass(frozen=True)
class Query:
    sha256: str | None  # hex, when the file itself was given
    pdq_variants: tuple[str, ...]  # hex; the first is the image as given
    pdq_quality: int
    phash: str | None


@dataclass
class Match:
    leaf_index: int
    exact: bool
    pdq_distance: int
    variant: int
    phash_distance: int | None
    pdq_quality: int
    device_id: str
    vendor_id: str
    vendor_name: str
    role: str
    captured_at_ms: int
    logged_at_ms: int
    delay_ms: int
    in_compromise_window: bool
    counter_status: str
    proof: dict[str, Any] = field(default_factory=dict)


@dataclass
class LookupResult:
    verdict: str
    query: Query
    matches: list[Match]
    tree_size: int
    checkpoint: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _hex_bytes(text: str, length: int, what: str) -> bytes:
    try:
        value = bytes.fromhex(text)
    except ValueError:
        value = b""
    if len(value) != length:
        raise MalformedError(f"{what} must be {2 * length} hex characters", code=f"bad_{what}")
    return value


def query_from_image(data: bytes, name: str = "image") -> Query:
    hashes = hash_image(data, name)
    variants = tuple(pdq for pdq, _ in pdq_dihedral(data, name))
    return Query(hashes.sha256, variants, hashes.pdq_quality, hashes.phash)


def query_from_hashes(
    pdq: str | list[str], pdq_quality: int, phash: str | None = None, sha256: str | None = None
) -> Query:
    if not (
        isinstance(pdq, str) or (isinstance(pdq, list) and all(isinstance(v, str) for v in pdq))
    ):
        raise MalformedError("pdq must be a hex string or a list of them", code="bad_pdq")
    if not all(v is None or isinstance(v, str) for v in (phash, sha256)):
        raise MalformedError("phash and sha256 must be hex strings", code="bad_query")
    variants = (pdq,) if isinstance(pdq, str) else tuple(pdq)
    if not 1 <= len(variants) <= 8:
        raise MalformedError("give 1 to 8 PDQ hashes (the dihedral variants)", code="bad_pdq")
    for variant in variants:
        _hex_bytes(variant, 32, "pdq")
    if phash is not None:
        _hex_bytes(phash, 8, "phash")
    if sha256 is not None:
        _hex_bytes(sha256, 32, "sha256")
    if not 0 <= pdq_quality <= 100:
        raise MalformedError("pdq_quality must be 0 to 100", code="bad_pdq_quality")
    return Query(sha256, variants, pdq_quality, phash)


class Lookup:
    def __init__(self, store: LogStore, index: NearDuplicateIndex | None = None) -> None:
        self._store = store
        self._index = index or NearDuplicateIndex()
        self._next = 0  # captures below this leaf index are in the index
        self._lock = threading.Lock()

    def refresh(self) -> int:
        """Index the captures sequenced since the last refresh; returns the index size."""
        with self._lock:
            with self._store.engine.connect() as connection:
                rows = connection.execute(
                    select(reg_captures.c.leaf_index, reg_captures.c.pdq)
                    .where(reg_captures.c.leaf_index >= self._next)
                    .order_by(reg_captures.c.leaf_index)
                ).all()
            if rows:
                self._index.add([r.leaf_index for r in rows], [bytes(r.pdq) for r in rows])
                self._next = rows[-1].leaf_index + 1
            return len(self._index)

    def lookup(self, query: Query) -> LookupResult:
        self.refresh()
        candidates = {
            c.leaf_index: c
            for c in self._index.search([bytes.fromhex(v) for v in query.pdq_variants], PDQ_RADIUS)
        }
        exact: set[int] = set()
        with self._store.engine.connect() as connection:
            if query.sha256 is not None:
                exact = set(
                    connection.execute(
                        select(reg_captures.c.leaf_index).where(
                            reg_captures.c.sha256 == bytes.fromhex(query.sha256)
                        )
                    ).scalars()
                )
            nearest = sorted(candidates.values(), key=lambda c: (c.distance, c.leaf_index))
            wanted = sorted({c.leaf_index for c in nearest[: 5 * MAX_MATCHES]} | exact)
            rows = connection.execute(
                select(
                    reg_captures,
                    reg_devices.c.vendor_id,
                    reg_vendors.c.name.label("vendor_name"),
                    reg_vendors.c.role,
                )
                .join(reg_devices, reg_devices.c.device_id == reg_captures.c.device_id)
                .join(reg_vendors, reg_vendors.c.vendor_id == reg_devices.c.vendor_id)
                .where(reg_captures.c.leaf_index.in_(wanted))
            ).all()
            revoked = dict(
                connection.execute(
                    select(
                        reg_revocations.c.device_id, reg_revocations.c.compromised_since_ms
                    ).where(reg_revocations.c.device_id.in_({r.device_id for r in rows}))
                ).all()
            )
        matches = []
        for row in rows:
            candidate = candidates.get(row.leaf_index)
            distance = candidate.distance if candidate else 0
            phash_distance = (
                bin(int(query.phash, 16) ^ int.from_bytes(bytes(row.phash), "big")).count("1")
                if query.phash
                else None
            )
            since = revoked.get(row.device_id)
            matches.append(
                Match(
                    leaf_index=row.leaf_index,
                    exact=row.leaf_index in exact,
                    pdq_distance=distance,
                    variant=candidate.variant if candidate else 0,
                    phash_distance=phash_distance,
                    pdq_quality=row.pdq_quality,
                    device_id=row.device_id,
                    vendor_id=row.vendor_id,
                    vendor_name=row.vendor_name,
                    role=row.role,
                    captured_at_ms=row.captured_at_ms,
                    logged_at_ms=row.logged_at_ms,
                    delay_ms=row.logged_at_ms - row.captured_at_ms,
                    in_compromise_window=since is not None and row.captured_at_ms >= since,
                    counter_status=row.counter_status,
                )
            )
        matches = [m for m in matches if m.exact or self._decisive(query, m)]
        matches.sort(
            key=lambda m: (not m.exact, m.pdq_distance, m.phash_distance or 0, m.leaf_index)
        )
        matches = matches[:MAX_MATCHES]
        checkpoint = self._store.latest_checkpoint()
        receipts = self._store.receipts([m.leaf_index for m in matches], checkpoint.size)
        for match, (leaf_hash, proof) in zip(matches, receipts, strict=True):
            match.proof = {
                "leaf_hash": b64(leaf_hash),
                "tree_size": checkpoint.size,
                "inclusion_proof": [b64(h) for h in proof],
                "bundle": f"/v1/bundles/{match.leaf_index}",
            }
        return LookupResult(
            _verdict(matches), query, matches, checkpoint.size, checkpoint.note.decode()
        )

    @staticmethod
    def _decisive(query: Query, match: Match) -> bool:
        """A PDQ match counts alone only when both hashes are of good quality."""
        if query.pdq_quality >= MIN_QUALITY and match.pdq_quality >= MIN_QUALITY:
            return True
        return match.phash_distance is not None and match.phash_distance <= PHASH_CONFIRM


def _verdict(matches: list[Match]) -> str:
    if not matches:
        return NOT_FOUND
    best = matches[0]
    if best.role == "generator":
        return DISCLOSED_SYNTHETIC
    return REGISTERED if best.exact else NEAR_DUPLICATE
