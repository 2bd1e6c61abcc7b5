"""The in-memory near-duplicate index over PDQ hashes (docs/design.md §4.7; figures in docs/benchmarks.md).

`NearDuplicateIndex` holds the 256-bit PDQ hash of every capture, keyed by the capture's leaf
index, in a FAISS binary index, and answers "which registered hashes are within Hamming distance
31 of any of these query hashes" (the eight dihedral variants of the looked-up image, from
`registry.imaging.hashing.pdq_dihedral`). Each API replica builds one from the database at start-up and
keeps it fresh by appending new captures (`add` appends, it never rebuilds).

    index = NearDuplicateIndex()
    index.add([leaf_index, ...], [bytes.fromhex(pdq_hex), ...])
    hits = index.search([bytes.fromhex(h) for h, _quality in pdq_dihedral(image)])
    # -> [Candidate(leaf_index=..., distance=..., variant=...), ...], nearest first

Contract:

* Exact within the radius: every indexed hash at distance <= `radius` (default `RADIUS` = 31)
  of any query hash is returned - no approximate structure, no sampling. FAISS binary
  `range_search` keeps distances *strictly below* its threshold, so it is called with
  radius + 1.
* One `Candidate` per leaf index (a leaf indexed under several hashes, or matched by several
  query variants, collapses to one): its smallest distance, and the variant (position in
  `queries`) that gave it - the lowest position on a tie. Sorted by (distance, leaf_index).
* `k`: also return the k nearest leaves overall, beyond the radius if need be (for ranking a
  "closest records" list); their `distance` tells them apart. Exact too (a brute-force k-NN,
  run first on Flat: when every variant's k-th nearest is beyond the radius, its lists already
  hold every match, which saves the range scan).
* Bytes: a PDQ hash is the 32 bytes of its conventional hex (bit 255 first, `hashing._pdq_hex`),
  as stored in `reg_captures.pdq`. Hamming distance does not depend on bit order, so the bytes
  go to FAISS as they are. Other lengths raise `MalformedError` (code "bad_pdq_hash").
* The index does not judge quality: callers must not treat a match on a hash with quality < 50
  as a near-duplicate verdict on its own (docs/design.md §4.7); they filter with `reg_captures`.

Layout (kind "flat"): shards of SHARD_SIZE = 2^17 codes (4 MiB), each an IndexBinaryFlat with
its own int64 array of leaf indexes. Appends fill the last shard; a full shard is copied once into
an exactly-sized code vector, so memory stays at 40 bytes per entry plus the open shard's spare
capacity, and an append never reallocates (and copies, under the lock) more than 4 MiB - a
single 10M-entry IndexBinaryFlat would copy 320 MB while searches wait. A search hands the
shards to a pool of `threads` worker threads (default: FAISS's OpenMP thread count), each of
which runs FAISS on one OpenMP thread (`omp_set_num_threads(1)` is per thread, so the rest of
the process keeps its setting) and scans its shard for all 8 variants while it is in cache.

Thread safety: one `threading.Lock` serialises `add`, `search`, `__len__` and `memory_bytes`.
FAISS indexes allow concurrent reads but not a read concurrent with an append (`add` may
reallocate the code vector under a running scan), and the API appends while it serves. FAISS
releases the GIL while it scans, so other Python threads (the event loop, the tailer) run
meanwhile; searches queue on the lock, which costs no throughput because one search already
keeps every core busy.

Why Flat by default: it is exact and costs 40 bytes per entry, and a search is a linear scan
(8 variants x n codes, divided evenly over the cores), which meets the 1M-entry latency goal
(issue 4) but not the 10M one on 2 cores. IndexBinaryMultiHash(d, nhash, b) cuts the code into
`nhash` disjoint b-bit substrings, keeps one hash table per substring (key -> ids), probes every
key within `nflip` bits of each query substring, and verifies the full distance of the
shortlist. It only finds substrings within `nflip`, so it is exact at radius r iff
nflip >= floor(r / nhash) (pigeonhole: if the distance over the nhash*b covered bits is <= r,
one substring is within floor(r/nhash); bits left uncovered only lower that distance). Every
exact setting for r = 31 is either slower than Flat or stores 0.3-1 KB per entry in its hash
tables (std::unordered_map nodes and a heap vector per key), far over the 100-byte goal, and
its `add` is single-threaded. `kind="multihash"` (11 x 23 bits, nflip 2, the fastest exact
setting) stays for a replica with memory to spare (the index is one FAISS object: no shards,
one thread per search). The figures behind these choices (both kinds and a NumPy brute force
at 1M-10M entries, the exact MultiHash settings, shard sizes, a busy core):
docs/benchmarks.md, "Tuning the near-duplicate index".

The FAISS behaviour the shards rely on: `registry.imaging.faiss_shards`.
"""

from __future__ import annotations

import functools
import sys
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import ClassVar, Final

import faiss
import numpy as np
import numpy.typing as npt

from ledger.errors import MalformedError
from registry.imaging.faiss_shards import (
    MULTIHASH_BYTES_PER_KEY,
    MULTIHASH_BYTES_PER_SHARED_ID,
    MULTIHASH_NHASH,
    PDQ_BITS,
    PDQ_BYTES,
    Codes,
    Ints,
    Kind,
    Shard,
    knn,
)
from registry.imaging.hashing import PDQ_RADIUS

__all__ = ["Candidate", "Kind", "NearDuplicateIndex", "PDQ_BITS", "PDQ_BYTES"]

Hits = tuple[Ints, Ints, Ints]  # leaf indexes, distances, variants

_EMPTY: Final[Hits] = (np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.int64))


@dataclass(frozen=True)
class Candidate:
    """One indexed leaf near the query: its best distance over the query hashes."""

    leaf_index: int
    distance: int  # Hamming distance of the best-matching query variant
    variant: int  # which of the query's hashes matched best (0 = as given)


class NearDuplicateIndex:
    """Exact Hamming-radius search over 256-bit PDQ hashes, keyed by leaf index.

    `kind` "flat" (the default, see the module docstring for why) scans every code with
    IndexBinaryFlat, in shards of SHARD_SIZE entries; "multihash" uses one
    IndexBinaryMultiHash(256, 11, 23) with nflip 2, which is also exact at radius 31 but costs
    ~1 KB per entry. Thread-safe (one lock).
    """

    RADIUS: ClassVar[int] = PDQ_RADIUS  # a match is distance <= 31 (docs/design.md §4.7)
    # Flat shard size: 2^17 codes = 4 MiB. The 8 query variants rescan a shard from cache, the
    # worker threads share the shards out evenly from 1M entries up (8 shards), and an append
    # never reallocates more than one shard (measured against 2^15, 2^16 and 2^18:
    # docs/benchmarks.md).
    SHARD_SIZE: ClassVar[int] = 1 << 17

    def __init__(self, kind: Kind = "flat", *, threads: int | None = None) -> None:
        if kind not in ("flat", "multihash"):
            raise ValueError(f"unknown index kind {kind!r} (expected 'flat' or 'multihash')")
        self.kind: Final[Kind] = kind
        # Searches fan the shards out over these threads, each running FAISS on one OpenMP
        # thread (the setting is per thread: the rest of the process keeps its own).
        self.threads: Final[int] = max(1, threads or faiss.omp_get_max_threads())
        self._pool = ThreadPoolExecutor(
            max_workers=self.threads,
            thread_name_prefix="neardup",
            initializer=faiss.omp_set_num_threads,
            initargs=(1,),
        )
        self._shard_size = self.SHARD_SIZE if kind == "flat" else sys.maxsize
        self._padded = kind == "multihash"  # MultiHash reads up to 4 bytes past a code
        self._lock = threading.Lock()
        self._shards: list[Shard] = []
        self._ntotal = 0

    def __len__(self) -> int:
        with self._lock:
            return self._ntotal

    def add(self, leaf_indexes: Sequence[int], pdq_hashes: Sequence[bytes]) -> None:
        """Append hashes (32 bytes each) under their leaf indexes. A leaf may appear more than
        once (several hashes of one capture); its candidates collapse at search time.

        All-or-nothing: the input is checked before anything is appended. Raises
        MalformedError on a hash that is not 32 bytes, a negative or non-integer leaf index,
        or a length mismatch.
        """
        if len(leaf_indexes) != len(pdq_hashes):
            raise MalformedError(
                f"{len(leaf_indexes)} leaf indexes but {len(pdq_hashes)} PDQ hashes",
                code="bad_pdq_hash",
            )
        ids = _leaf_array(leaf_indexes)
        codes = self._codes(pdq_hashes, "indexed")
        count = len(ids)
        with self._lock:
            done = 0
            while done < count:
                if not self._shards or self._shards[-1].size >= self._shard_size:
                    self._shards.append(Shard(self.kind, self._shard_size))
                shard = self._shards[-1]
                take = min(count - done, self._shard_size - shard.size)
                # codes has a spare row after the last code when padded: slice, don't copy.
                shard.add(ids[done : done + take], codes[done : done + take])
                if shard.size == self._shard_size:
                    shard.compact()
                done += take
            self._ntotal += count

    def search(
        self, queries: Sequence[bytes], radius: int = RADIUS, k: int | None = None
    ) -> list[Candidate]:
        """Every indexed leaf with a hash within `radius` of any query hash, one Candidate per
        leaf (best distance, and the lowest query position reaching it), sorted by
        (distance, leaf_index). With `k`, also the k nearest leaves overall, however far.
        """
        if not isinstance(radius, int) or isinstance(radius, bool) or not 0 <= radius <= PDQ_BITS:
            raise MalformedError(f"radius must be 0..{PDQ_BITS}, got {radius!r}", code="bad_radius")
        if k is not None and (not isinstance(k, int) or isinstance(k, bool) or k < 0):
            raise MalformedError(f"k must be a non-negative integer, got {k!r}", code="bad_k")
        if len(queries) == 0:
            raise MalformedError("no query hashes", code="bad_pdq_hash")
        query = self._codes(queries, "query")[: len(queries)]  # a view: keeps the spare row
        with self._lock:
            if self._ntotal == 0:
                return []
            if k and self.kind == "flat":
                # k-NN first: when it already holds every hash within the radius, that saves
                # the second full scan a range search would cost.
                hits, complete = self._nearest(query, k, radius)
                if not complete:
                    hits = _best_per_leaf(*_concat(hits, self._within(query, radius)))
            else:
                hits = self._within(query, radius)
                if k and len(hits[0]) < k:
                    near, _ = self._nearest(query, k, radius)
                    hits = _best_per_leaf(*_concat(hits, near))
        leaves, dists, variants = hits
        order = np.lexsort((leaves, dists))
        keep = max(int(np.count_nonzero(dists <= radius)), k or 0)
        return [
            Candidate(leaf_index=int(leaf), distance=int(d), variant=int(v))
            for leaf, d, v in zip(
                leaves[order][:keep], dists[order][:keep], variants[order][:keep], strict=True
            )
        ]

    def pairs_within(
        self, queries: Sequence[bytes], radius: int = RADIUS
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Batched, independent queries: (query position, leaf index, distance) of every indexed
        hash within `radius` of each query, one row per hit (a leaf under several hashes may
        appear more than once). Exact, like `search`; for whole-log work such as clustering,
        where one query per capture would cost a Python call each."""
        if not queries:
            empty = np.empty(0, dtype=np.int64)
            return empty, empty, empty
        query = self._codes(queries, "query")[: len(queries)]
        with self._lock:
            positions, leaves, distances = [], [], []
            found = self._pool.map(
                lambda shard: shard.index.range_search(query, radius + 1), self._shards
            )
            for shard, (lims, dist, labels) in zip(self._shards, found, strict=True):
                counts = np.diff(lims).astype(np.int64)
                positions.append(np.repeat(np.arange(len(query), dtype=np.int64), counts))
                leaves.append(shard.ids[labels])
                distances.append(dist.astype(np.int64))
        if not positions:
            empty = np.empty(0, dtype=np.int64)
            return empty, empty, empty
        return np.concatenate(positions), np.concatenate(leaves), np.concatenate(distances)

    def memory_bytes(self) -> int:
        """The index's own memory: FAISS's code vectors at their allocated capacity (only the
        open shard has spare capacity), the leaf-id arrays at theirs, and for "multihash" the
        hash tables (layout model from the number of keys: MULTIHASH_BYTES_PER_KEY,
        MULTIHASH_BYTES_PER_SHARED_ID). Object headers (~200 bytes per shard) are left out.
        The benchmark compares this with the process's RSS growth."""
        with self._lock:
            total = sum(s.code_capacity * PDQ_BYTES + s.ids.nbytes for s in self._shards)
            if self.kind == "multihash" and self._shards:
                index = self._shards[0].index
                keys = int(index.hashtable_size())  # type: ignore[attr-defined,unused-ignore]
                ids = self._ntotal * MULTIHASH_NHASH
                total += keys * MULTIHASH_BYTES_PER_KEY
                total += (ids - keys) * MULTIHASH_BYTES_PER_SHARED_ID
            return int(total)

    # -----------------------------------------------------------------------------------------

    def _codes(self, hashes: Sequence[bytes], what: str) -> Codes:
        """(n, 32) uint8 codes, plus one zero row for MultiHash's over-reading loads."""
        for position, value in enumerate(hashes):
            if not isinstance(value, bytes | bytearray) or len(value) != PDQ_BYTES:
                size = (
                    f"{len(value)} bytes" if isinstance(value, bytes | bytearray) else "not bytes"
                )
                raise MalformedError(
                    f"{what} PDQ hash {position}: expected {PDQ_BYTES} bytes, got {size}",
                    code="bad_pdq_hash",
                )
        if self._padded:
            hashes = [*hashes, bytes(PDQ_BYTES)]
        flat = np.frombuffer(bytearray(b"".join(hashes)), dtype=np.uint8)
        return flat.reshape(len(hashes), PDQ_BYTES)

    def _within(self, query: Codes, radius: int) -> Hits:
        """Every hash within `radius` of a query row, best per leaf (the lock is held)."""
        parts: list[Hits] = []
        rows = np.arange(len(query), dtype=np.int64)
        found = self._pool.map(
            lambda shard: shard.index.range_search(query, radius + 1),  # keeps dis < thresh
            self._shards,
        )
        for shard, (lims, dist, labels) in zip(self._shards, found, strict=True):
            if len(labels):
                variants = np.repeat(rows, np.diff(lims).astype(np.int64))
                parts.append((shard.ids[labels], dist.astype(np.int64), variants))
        if not parts:
            return _EMPTY
        return _best_per_leaf(*(np.concatenate(column) for column in zip(*parts, strict=True)))

    def _nearest(self, query: Codes, k: int, radius: int) -> tuple[Hits, bool]:
        """Exact k nearest leaves of each query row over the flat codes, best per leaf, and
        whether the lists also hold every hash within `radius` (the lock is held).

        Asks FAISS for k hashes per row (from every shard, merged), and for more while some
        row's list holds fewer than k distinct leaves (a leaf indexed under several hashes):
        then a leaf missing from a list is no closer than k distinct leaves in it, so the
        union's k best leaves are the true k nearest (up to ties). The lists are complete for
        the radius when each one's farthest hash is beyond it, or they hold the whole index.
        """
        total = self._ntotal
        want = min(k, total)
        while True:
            dists: list[Ints] = []
            leaves: list[Ints] = []
            found = self._pool.map(functools.partial(knn, query=query, want=want), self._shards)
            for shard, (dist, labels) in zip(self._shards, found, strict=True):
                dists.append(dist.astype(np.int64))
                leaves.append(shard.ids[labels])  # all valid: asked for <= shard.size
            dist_all = np.concatenate(dists, axis=1)
            best = np.argsort(dist_all, axis=1, kind="stable")[:, :want]
            dist_top = np.take_along_axis(dist_all, best, axis=1)
            leaf_top = np.take_along_axis(np.concatenate(leaves, axis=1), best, axis=1)
            distinct = min(int(np.unique(row).size) for row in leaf_top)
            if distinct >= min(k, total) or want >= total:
                break
            want = min(2 * want, total)
        complete = want >= total or bool(np.all(dist_top[:, -1] > radius))
        variants = np.broadcast_to(np.arange(len(query), dtype=np.int64)[:, None], best.shape)
        hits = _best_per_leaf(leaf_top.ravel(), dist_top.ravel(), variants.ravel())
        return hits, complete


def _leaf_array(leaf_indexes: Sequence[int]) -> npt.NDArray[np.int64]:
    values = np.asarray(leaf_indexes)
    if values.ndim != 1 or (values.size and values.dtype.kind not in "iu"):
        raise MalformedError("leaf indexes must be a flat sequence of integers", code="bad_leaf")
    if values.size and (values.min() < 0 or values.max() > np.iinfo(np.int64).max):
        raise MalformedError("leaf indexes must be in 0..2^63-1", code="bad_leaf")
    return values.astype(np.int64)


def _concat(a: Hits, b: Hits) -> Hits:
    return (
        np.concatenate((a[0], b[0])),
        np.concatenate((a[1], b[1])),
        np.concatenate((a[2], b[2])),
    )


def _best_per_leaf(leaves: Ints, dists: Ints, variants: Ints) -> Hits:
    """One row per leaf: the smallest distance, and the lowest variant among those reaching it."""
    order = np.lexsort((variants, dists, leaves))
    leaves, dists, variants = leaves[order], dists[order], variants[order]
    first = np.ones(len(leaves), dtype=bool)
    first[1:] = leaves[1:] != leaves[:-1]
    return leaves[first], dists[first], variants[first]
