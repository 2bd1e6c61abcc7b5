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
cautions against it (`cautions`); the result lists the verdict's own (`_verdict_cautions`).

The near-duplicate indexes live in memory (`registry.imaging.matching.CaptureIndex`); `refresh()` adds
captures sequenced since the last call by tailing reg_captures by leaf index, so new captures
are searchable without a rebuild.
"""

import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TypedDict

from sqlalchemy import Connection

from ledger import LogStore, SignedCheckpoint
from ledger.store import read_receipts
from registry.admission.capture_cautions import read_cautions
from registry.admission.caution_rule import Revocation, covers, uncovered_reasons
from registry.cautions import GENERATOR_DISCLOSED_FIRST, Caution
from registry.entries.codec import b64
from registry.imaging.matching import GLOBAL, CaptureIndex, Evidence, Registered, judge, rank
from registry.lookup import priority, rows
from registry.lookup.parse import MAX_PROBES as MAX_PROBES
from registry.lookup.parse import Query as Query
from registry.lookup.parse import query_from_image as query_from_image
from registry.lookup.parse import query_from_json as query_from_json
from registry.lookup.parse import query_from_upload as query_from_upload
from registry.lookup.rows import CaptureRow

MAX_MATCHES = 20

REGISTERED = "registered"
NEAR_DUPLICATE = "near-duplicate"
DISCLOSED_SYNTHETIC = "disclosed-synthetic"
NOT_FOUND = "not-found"


class MatchProof(TypedDict):
    """A match's inclusion in the checkpoint the lookup answered against."""

    leaf_hash: str  # base64
    tree_size: int
    inclusion_proof: list[str]  # base64 hashes, RFC 9162 order
    bundle: str  # the path of its offline-verifiable bundle


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
    # The device, or for a vendor that signs each capture with a one-time certificate, the CA
    # that issued it (registry.admission.capture_origin): what "another origin" compares.
    origin_id: str
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
    firmware: str | None = None  # the release its signed claim names, if any
    # Why a revocation of its device, a CA on its path or its vendor root does not cover it
    # (one limited to other firmware releases): said, so a clean answer is not a silent one.
    notes: list[str] = field(default_factory=list)


@dataclass
class LookupResult:
    verdict: str
    query: Query
    matches: list[Match]
    tree_size: int
    checkpoint: str
    # The verdict's cautions: those of the match it rests on (matches[0]) and an earlier
    # generator disclosure (`_verdict_cautions`). Never a clean pass with any.
    cautions: list[Caution] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:  # the JSON of the dataclasses (asdict)
        data = asdict(self)
        data["cautions"] = [c.to_json() for c in self.cautions]
        for match, shown in zip(self.matches, data["matches"], strict=True):
            shown["cautions"] = [c.to_json() for c in match.cautions]
        return data


@dataclass(frozen=True)
class IndexStats:
    """The near-duplicate index as a readiness check and the metrics see it."""

    loaded: bool  # refreshed from the database at least once
    captures: int  # captures in the index
    entries: int  # hashes over all its indexes (a capture counts once per feature it has)
    memory_bytes: int  # the indexes' own memory (an estimate: CaptureIndex.memory_bytes)
    next_leaf: int  # captures below this leaf index are in it


class Lookup:
    def __init__(self, store: LogStore, index: CaptureIndex | None = None) -> None:
        self._store = store
        self._index = index or CaptureIndex()
        self._next = 0  # captures below this leaf index are in the index
        self._refreshed_at = -1  # the tree size of the last refresh by a lookup
        self._loaded = False
        self._lock = threading.Lock()

    def stats(self) -> IndexStats:
        return IndexStats(
            loaded=self._loaded,
            captures=len(self._index),
            entries=self._index.entries(),
            memory_bytes=self._index.memory_bytes(),
            next_leaf=self._next,
        )

    def refresh(self) -> int:
        """Index the captures sequenced since the last refresh; returns the index size."""
        with self._store.reading() as connection:
            return self._refresh_on(connection)

    def _refresh_on(self, connection: Connection) -> int:
        with self._lock:
            leaves, pdqs, features = rows.new_captures(connection, self._next)
            if leaves:
                self._index.add(leaves, pdqs, features)
                self._next = leaves[-1] + 1
            self._loaded = True
            return len(self._index)

    def lookup(self, query: Query) -> LookupResult:
        return self.lookup_many([query])[0]

    def lookup_many(self, queries: Sequence[Query]) -> list[LookupResult]:
        """Each query's answer, in order, all against one checkpoint (one read)."""
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
            return [self._lookup_on(connection, checkpoint, query) for query in queries]

    def _lookup_on(
        self, connection: Connection, checkpoint: SignedCheckpoint, query: Query
    ) -> LookupResult:
        near = self._index.candidates(query.probes)
        exact: set[int] = set()
        if query.sha256 is not None:
            exact = rows.exact_leaves(connection, bytes.fromhex(query.sha256))
        inexact = [leaf for leaf in near if leaf not in exact]
        nearest = sorted(inexact, key=lambda leaf: (near[leaf], leaf))[: 5 * MAX_MATCHES]
        # And the earliest logged: priority is decided by them, however many closer copies
        # were logged later.
        earliest = sorted(inexact)[:MAX_MATCHES]
        found, features = rows.captures(connection, sorted(set(nearest) | set(earliest) | exact))
        revoked = rows.revoked(connection, {row.device_id for row in found})
        matches, ordered = _ranked(query, found, features, exact, revoked)
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


def _ranked(
    query: Query,
    rows: list[CaptureRow],
    features: dict[int, dict[str, str]],
    exact: set[int],
    revoked: dict[str, list[Revocation]],
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
        match = _match(row, evidence, query, revoked.get(row.device_id, []), exact=not inexact)
        match.log_order = ordered.log_order[match.leaf_index]
        match.first_logged = match.leaf_index == ordered.first
        match.cautions.extend(ordered.cautions[match.leaf_index])
        matches.append(match)
    return matches, ordered


def _logged(row: CaptureRow) -> priority.Logged:
    return priority.Logged(
        row.leaf_index, row.logged_at_ms, row.captured_at_ms, row.origin_id, row.role
    )


def _registered(row: CaptureRow, features: dict[str, str]) -> Registered:
    return Registered(bytes(row.pdq).hex(), row.pdq_quality, bytes(row.phash).hex(), features)


def _match(
    row: CaptureRow,
    evidence: Evidence | None,
    query: Query,
    revocations: list[Revocation],
    *,
    exact: bool,
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
        origin_id=row.origin_id,
        vendor_id=row.vendor_id,
        vendor_name=row.vendor_name,
        role=row.role,
        captured_at_ms=row.captured_at_ms,
        logged_at_ms=row.logged_at_ms,
        delay_ms=row.logged_at_ms - row.captured_at_ms,
        in_compromise_window=any(
            covers(r, row.firmware) and row.captured_at_ms >= r.compromised_since
            for r in revocations
        ),
        counter_status=row.counter_status,
        firmware=row.firmware,
        notes=uncovered_reasons(revocations, row.firmware),
    )


def _verdict_cautions(matches: list[Match], across: list[Caution]) -> list[Caution]:
    """The cautions of the match the verdict rests on, and an earlier generator disclosure
    (which decides the verdict). Other matches' cautions are against those captures, not this
    one: a later copier must not cloud an original's verdict by registering a near-duplicate of
    it (its own match carries them, and says so). A disclosure cannot be aimed that way: it
    only speaks against camera captures logged after it."""
    best = matches[0].cautions if matches else []
    decisive = [c for c in across if c.code == GENERATOR_DISCLOSED_FIRST]
    return list(dict.fromkeys([*best, *decisive]))


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
