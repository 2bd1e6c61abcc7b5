"""Looking an image up: a verdict, the ranked matching captures, and their proofs.

Verdicts:
- `registered`: a capture of exactly these file bytes (same SHA-256) by a camera;
- `disclosed-synthetic`: the best match (exact or near) is a generator vendor's disclosure, or
  a disclosure among the matches was logged before every camera capture among them (a
  generated image photographed or re-registered by a camera is not "registered");
- `near-duplicate`: a camera capture that `registry.imaging.matching.judge` accepts - PDQ distance <= 31
  between one of the query's probes (its 8 dihedral variants, its trimmed picture, its regions)
  and the capture's PDQ or one of its claim features, or a PDQ distance up to 63 confirmed by
  the pHash. A low-quality PDQ (< 50) never decides alone;
- `not-found`.

Which came first is the log's order, never a device's claimed time (`registry.lookup.priority`): each
match says whether it was the first logged (`first_logged`, `log_order`) and carries the
cautions against it (`cautions`); the result lists them for the lookup as a whole.

The near-duplicate indexes live in memory (`registry.imaging.matching.CaptureIndex`); `refresh()` adds
captures sequenced since the last call by tailing reg_captures by leaf index, so new captures
are searchable without a rebuild.
"""

import re
import threading
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, TypedDict

from sqlalchemy import Connection, bindparam, select

from ledger import LogStore
from ledger.errors import MalformedError
from ledger.store import read_receipts
from registry.admission.capture_cautions import read_cautions
from registry.admission.schema import (
    reg_capture_features,
    reg_captures,
    reg_devices,
    reg_revocations,
    reg_vendors,
)
from registry.cautions import Caution
from registry.entries.codec import b64
from registry.imaging.hashing import DEFAULT_MAX_PIXELS, DIHEDRAL_NAMES, ProbeHash, query_hashes
from registry.imaging.matching import (
    GLOBAL,
    PROBE_TARGETS,
    CaptureIndex,
    Evidence,
    Registered,
    judge,
    rank,
)
from registry.lookup import priority

MAX_MATCHES = 20
MAX_PROBES = 16
_HEX_TEXT = re.compile(r"[0-9a-fA-F]+")

REGISTERED = "registered"
NEAR_DUPLICATE = "near-duplicate"
DISCLOSED_SYNTHETIC = "disclosed-synthetic"
NOT_FOUND = "not-found"


@dataclass(frozen=True)
class Query:
    sha256: str | None  # hex, when the file itself was given
    probes: tuple[ProbeHash, ...]  # registry.imaging.hashing.query_hashes: dihedral variants first


class MatchProof(TypedDict):
    """A match's inclusion in the checkpoint the lookup answered against."""

    leaf_hash: str  # base64
    tree_size: int
    inclusion_proof: list[str]  # base64 hashes, RFC 9162 order
    bundle: str  # the path of its offline-verifiable bundle


class CaptureRow(Protocol):
    """A row of `_CAPTURES`: a capture (registry.admission.schema.reg_captures) with its vendor."""

    leaf_index: int
    pdq: bytes
    pdq_quality: int
    phash: bytes
    device_id: str
    vendor_id: str
    vendor_name: str
    role: str
    captured_at_ms: int
    logged_at_ms: int
    counter_status: str


@dataclass
class Match:
    leaf_index: int
    exact: bool
    pdq_distance: int
    variant: int  # dihedral variant of the matching probe (0..7; 0 for trimmed and regions)
    phash_distance: int
    evidence: str  # "exact", or registry.imaging.matching's rule: "pdq" or "pdq+phash"
    probe: str  # the query probe that matched ("original", "rotate-90", "trimmed", "top80", ...)
    matched_hash: str  # the capture's hash it matched: "pdq" or a claim feature name
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
    proof: MatchProof | None = None  # set by Lookup.lookup before it returns the match
    # By the log's order among all accepted matches (registry.lookup.priority): 1 = first logged.
    log_order: int = 0
    first_logged: bool = False
    # What the log knows against this capture (registry.cautions): a revocation, a late
    # upload, an earlier disclosure or registration by log order.
    cautions: list[Caution] = field(default_factory=list)


@dataclass
class LookupResult:
    verdict: str
    query: Query
    matches: list[Match]
    tree_size: int
    checkpoint: str
    # The cautions of the verdict as a whole: those of the match it rests on (matches[0]),
    # then those computed across matches (registry.lookup.priority). Never a clean pass with any.
    cautions: list[Caution] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:  # the JSON of the dataclasses (asdict)
        data = asdict(self)
        data["cautions"] = [c.to_json() for c in self.cautions]
        for match, shown in zip(self.matches, data["matches"], strict=True):
            shown["cautions"] = [c.to_json() for c in match.cautions]
        return data


def query_from_image(
    data: bytes, name: str = "image", *, max_pixels: int = DEFAULT_MAX_PIXELS
) -> Query:
    sha256, probes = query_hashes(data, name, max_pixels=max_pixels)
    return Query(sha256, tuple(probes))


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


class Lookup:
    def __init__(self, store: LogStore, index: CaptureIndex | None = None) -> None:
        self._store = store
        self._index = index or CaptureIndex()
        self._next = 0  # captures below this leaf index are in the index
        self._refreshed_at = -1  # the tree size of the last refresh by a lookup
        self._lock = threading.Lock()

    def refresh(self) -> int:
        """Index the captures sequenced since the last refresh; returns the index size."""
        with self._store.reading() as connection:
            return self._refresh_on(connection)

    def _refresh_on(self, connection: Connection) -> int:
        with self._lock:
            rows = connection.execute(
                select(reg_captures.c.leaf_index, reg_captures.c.pdq)
                .where(reg_captures.c.leaf_index >= self._next)
                .order_by(reg_captures.c.leaf_index)
            ).all()
            features: dict[str, tuple[list[int], list[bytes]]] = {}
            for leaf, name, value in connection.execute(
                select(reg_capture_features).where(
                    reg_capture_features.c.leaf_index >= self._next,
                    reg_capture_features.c.leaf_index <= (rows[-1].leaf_index if rows else -1),
                )
            ):
                leaves, hashes = features.setdefault(name, ([], []))
                leaves.append(leaf)
                hashes.append(bytes(value))
            if rows:
                self._index.add(
                    [r.leaf_index for r in rows], [bytes(r.pdq) for r in rows], features
                )
                self._next = rows[-1].leaf_index + 1
            return len(self._index)

    def lookup(self, query: Query) -> LookupResult:
        # One connection for all of it: on PostgreSQL each checkout and each statement is a
        # round trip through the pool and psycopg, which cost more than the queries themselves.
        with self._store.reading() as connection:
            checkpoint = self._store.latest_checkpoint_on(connection)
            # Captures and the checkpoint that covers them commit together: while the log has
            # not grown, nothing new can be indexed, and the tailing query (half a millisecond
            # of a two-millisecond lookup) is skipped.
            if checkpoint.size != self._refreshed_at:
                self._refresh_on(connection)
                self._refreshed_at = checkpoint.size
            near = self._index.candidates(query.probes)
            exact: set[int] = set()
            if query.sha256 is not None:
                sha256 = bytes.fromhex(query.sha256)
                exact = set(connection.execute(_EXACT, {"sha256": sha256}).scalars())
            inexact = [leaf for leaf in near if leaf not in exact]
            nearest = sorted(inexact, key=lambda leaf: (near[leaf], leaf))[: 5 * MAX_MATCHES]
            # And the earliest logged: priority is decided by them, however many closer
            # copies were logged later.
            earliest = sorted(inexact)[:MAX_MATCHES]
            rows, features = _captures(connection, sorted(set(nearest) | set(earliest) | exact))
            revoked = _revoked(connection, {row.device_id for row in rows})
            matches, ordered = _ranked(query, rows, features, exact, revoked)
            receipts = read_receipts(connection, [m.leaf_index for m in matches], checkpoint.size)
            cautions = read_cautions(connection, [m.leaf_index for m in matches])
        for match, (leaf_hash, proof) in zip(matches, receipts, strict=True):
            match.proof = {
                "leaf_hash": b64(leaf_hash),
                "tree_size": checkpoint.size,
                "inclusion_proof": [b64(h) for h in proof],
                "bundle": f"/v1/bundles/{match.leaf_index}",
            }
            # Stored ones (revocations, late logging) first, then those by log order.
            match.cautions = [*cautions.get(match.leaf_index, ()), *match.cautions]
        return LookupResult(
            _verdict(matches, ordered.disclosed_first),
            query,
            matches,
            checkpoint.size,
            checkpoint.note.decode(),
            _verdict_cautions(matches, ordered.summary),
        )


# Built once, as ledger.store's proof statements are: building and compiling a select costs
# more than PostgreSQL takes to answer it. The features ride along on the captures' rows (a
# row per feature, or one with NULLs), which saves a round trip.
_EXACT = select(reg_captures.c.leaf_index).where(reg_captures.c.sha256 == bindparam("sha256"))
_CAPTURES = (
    select(
        reg_captures,
        reg_devices.c.vendor_id,
        reg_vendors.c.name.label("vendor_name"),
        reg_vendors.c.role,
        reg_capture_features.c.name.label("feature_name"),
        reg_capture_features.c.hash.label("feature_hash"),
    )
    .join(reg_devices, reg_devices.c.device_id == reg_captures.c.device_id)
    .join(reg_vendors, reg_vendors.c.vendor_id == reg_devices.c.vendor_id)
    .outerjoin(reg_capture_features, reg_capture_features.c.leaf_index == reg_captures.c.leaf_index)
    .where(reg_captures.c.leaf_index.in_(bindparam("leaves", expanding=True)))
)
_REVOKED = select(reg_revocations.c.device_id, reg_revocations.c.compromised_since_ms).where(
    reg_revocations.c.device_id.in_(bindparam("devices", expanding=True))
)


def _captures(
    connection: Connection, leaves: list[int]
) -> tuple[list[CaptureRow], dict[int, dict[str, str]]]:
    """The captures at `leaves` with their devices' vendors, and their features by leaf."""
    if not leaves:  # most not-found lookups: no candidate, nothing to read
        return [], {}
    rows: dict[int, CaptureRow] = {}
    features: dict[int, dict[str, str]] = {}
    for row in connection.execute(_CAPTURES, {"leaves": leaves}):
        rows.setdefault(row.leaf_index, row)
        if row.feature_name is not None:
            features.setdefault(row.leaf_index, {})[row.feature_name] = bytes(
                row.feature_hash
            ).hex()
    return list(rows.values()), features


def _revoked(connection: Connection, devices: set[str]) -> dict[str, int]:
    """Each device's earliest compromise date: revoked twice, the earlier date is the one
    from which its captures are suspect (as admission, registry.Registry._admit, judges)."""
    earliest: dict[str, int] = {}
    if devices:
        for device, since in connection.execute(_REVOKED, {"devices": list(devices)}).tuples():
            earliest[device] = min(since, earliest.get(device, since))
    return earliest


def _ranked(
    query: Query,
    rows: list[CaptureRow],
    features: dict[int, dict[str, str]],
    exact: set[int],
    revoked: dict[str, int],
) -> tuple[list[Match], priority.Order]:
    """The accepted matches, exact ones first, then by registry.imaging.matching.rank and leaf index,
    each placed in the log's order among all accepted matches (registry.lookup.priority)."""
    ranked = []
    for row in rows:
        evidence = judge(query.probes, _registered(row, features.get(row.leaf_index, {})))
        is_exact = row.leaf_index in exact
        if evidence is None and not is_exact:
            continue
        ranked.append(
            (
                not is_exact,
                rank(evidence) if evidence else (0, 0, 0),
                row.leaf_index,
                row,
                evidence,
            )
        )
    ranked.sort(key=lambda item: item[:3])
    ordered = priority.order([_logged(item[3]) for item in ranked])
    kept = priority.pinned([(item[3].leaf_index, item[3].role) for item in ranked], MAX_MATCHES)
    matches = []
    for position in kept:
        inexact, _, _, row, evidence = ranked[position]
        match = _match(row, evidence, query, revoked.get(row.device_id), exact=not inexact)
        match.log_order = ordered.log_order[match.leaf_index]
        match.first_logged = match.leaf_index == ordered.first
        match.cautions.extend(ordered.cautions[match.leaf_index])
        matches.append(match)
    return matches, ordered


def _logged(row: CaptureRow) -> priority.Logged:
    return priority.Logged(
        row.leaf_index, row.logged_at_ms, row.captured_at_ms, row.device_id, row.role
    )


def _registered(row: CaptureRow, features: dict[str, str]) -> Registered:
    return Registered(bytes(row.pdq).hex(), row.pdq_quality, bytes(row.phash).hex(), features)


def _match(
    row: CaptureRow, evidence: Evidence | None, query: Query, since: int | None, *, exact: bool
) -> Match:
    if evidence is None:  # the same file bytes, though no probe came near (another decoder?)
        as_given = query.probes[0]
        evidence = Evidence(
            (int(as_given.pdq, 16) ^ int.from_bytes(bytes(row.pdq), "big")).bit_count(),
            (int(as_given.phash, 16) ^ int.from_bytes(bytes(row.phash), "big")).bit_count(),
            as_given.name,
            GLOBAL,
            "exact",
        )
    return Match(
        leaf_index=row.leaf_index,
        exact=exact,
        pdq_distance=evidence.pdq_distance,
        variant=evidence.variant,
        phash_distance=evidence.phash_distance,
        evidence="exact" if exact else evidence.rule,
        probe=evidence.probe,
        matched_hash=evidence.target,
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


def _verdict_cautions(matches: list[Match], across: list[Caution]) -> list[Caution]:
    """The best match's own cautions, then those across matches, each once."""
    best = matches[0].cautions if matches else []
    return list(dict.fromkeys([*best, *across]))


def _verdict(matches: list[Match], disclosed_first: bool) -> str:
    if not matches:
        return NOT_FOUND
    best = matches[0]
    # A disclosure logged before every camera capture decides, even when a camera's capture is
    # the exact file: a camera can photograph (or re-register) a generated image, but it cannot
    # have been logged before the generator disclosed it.
    if best.role == "generator" or disclosed_first:
        return DISCLOSED_SYNTHETIC
    return REGISTERED if best.exact else NEAR_DUPLICATE
