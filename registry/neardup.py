"""The in-memory near-duplicate index over PDQ hashes (DESIGN §3.6, §5, §6).

`NearDuplicateIndex` holds the 256-bit PDQ hash of every capture, keyed by the capture's leaf
index, in a FAISS binary index, and answers "which registered hashes are within Hamming distance
31 of any of these query hashes" (the eight dihedral variants of the looked-up image, from
`registry.hashing.pdq_dihedral`). Each API replica builds one from the database at start-up and
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
  "closest records" list); their `distance` tells them apart. Exact too (a brute-force k-NN).
* Bytes: a PDQ hash is the 32 bytes of its conventional hex (bit 255 first, `hashing._pdq_hex`),
  as stored in `reg_captures.pdq`. Hamming distance does not depend on bit order, so the bytes
  go to FAISS as they are. Any other length raises `MalformedError` (code "bad_pdq_hash").
* The index does not judge quality: callers must not treat a match on a hash with quality < 50
  as a near-duplicate verdict on its own (DESIGN §3.6); they filter with `reg_captures`.

Thread safety: one `threading.Lock` serialises `add`, `search`, `__len__` and `memory_bytes`.
FAISS indexes allow concurrent reads but not a read concurrent with an append (`add` may
reallocate the code array under a running scan), and the API appends while it serves. FAISS
releases the GIL while it scans, so other Python threads (the event loop, the tailer) run
meanwhile; searches queue on the lock, which costs nothing in throughput because one search
already uses every core (FAISS's OpenMP splits the 8 query variants over the threads).

Flat or MultiHash - measured (`python -m bench.lookup_bench`, 2-core AMD EPYC (Zen 4, AVX-512
VPOPCNTDQ), faiss-cpu 1.15.1; half uniform random hashes, half clusters of near-duplicates;
one search = 8 variants; full table in bench/results/lookup_bench.json):

    kind                          entries   p50 ms   p99 ms   index bytes/entry   recall <= 31
    IndexBinaryFlat                    1M     4.8      6.3          40 (RSS 40)          100%
    IndexBinaryFlat                   10M    49       57            51 (RSS 40)          100%
    IndexBinaryMultiHash(11,23,2)      1M     1.3      4.4         1006 (RSS 1001)       100%
    NumPy brute force (bitwise_count)  1M    51                                          100%
    NumPy brute force (bitwise_count) 10M   516

(bytes/entry from `memory_bytes`: codes and id array at their allocated capacity, which grows
by doubling, after appending in batches of 100,000; RSS counts only touched pages. Multihash
memory_bytes is the libstdc++ layout model below; its RSS comes from the same run.)

IndexBinaryMultiHash(d, nhash, b) cuts the code into `nhash` disjoint b-bit substrings, keeps
one hash table per substring (key -> ids) and at query time probes every key within `nflip`
bits of each query substring, then verifies the full distance of the shortlist. It only finds
substrings within `nflip`, so it is exact at radius r iff nflip >= floor(r / nhash) (pigeonhole:
if the distance over the nhash*b covered bits is <= r, one substring is within floor(r/nhash);
bits left uncovered only lower that distance). For r = 31 and 256 bits the exact settings are
(nhash, b, nflip) = (8, 32, 3), (10, 25, 3), (11, 23, 2), (12, 21, 2), (16, 16, 1), (32, 8, 0).
Measured at 1M (p50 of 8 variants; RSS per entry): 46 ms / 764 B, 19 ms / 936 B, 1.1 ms / 989 B,
2.9 ms / 940 B, 12.5 ms / 351 B, 126 ms / 325 B. The fastest, (11, 23, 2), is 4x faster than
Flat at 1M, but every entry costs ~88 bytes per table (a std::unordered_map node, its bucket
slot, and a heap-allocated std::vector<idx_t> per key) - ~1 KB per entry, 10x the 100-byte
goal, ~10 GB at 10M - and `add` is single-threaded (~10 s per million, vs 0.02 s for Flat).
No exact MultiHash setting comes near 100 bytes per entry: even (32, 8, 0), the leanest, is
325 B and slower than Flat. So the default is **Flat**: exact, 32 bytes of code + 8 of id per
entry, p50 within the 5 ms goal at 1M (DESIGN §6), and linear: it misses 20 ms at 10M (~49 ms
on 2 cores, ~1.2 ns per 32-byte comparison per core whatever SIMD level FAISS dispatches).
Meeting both goals at 10M needs a compact exact multi-index (e.g. 16 x 16-bit substring
tables as sorted uint32 id arrays: ~96 B/entry) or more cores; MultiHash stays available as
`kind="multihash"` for a replica with memory to spare.

FAISS facts this module relies on (faiss-cpu 1.15.1):

* Binary `range_search` keeps `dis < radius` (strict), and returns the distances as float32
  (the bundled type stub says int32); `lims` is uint64. `search` (k-NN) returns int32 distances
  and, past ntotal, label -1 with distance INT32_MAX.
* IndexBinaryMultiHash's third constructor argument is `b`, the substring width (the bundled
  stub calls it `nflip`); nflip is an attribute set afterwards and defaults to 0.
* MultiHash reads each substring as an unaligned 8-byte load at byte offset (h*b) // 8, so
  with b = 23 the last substring reads 4 bytes past the end of a 32-byte code: past the caller's
  buffer for the last vector. Every buffer passed to a MultiHash index here has a spare row.
* MultiHash and IndexBinaryHash search and range_search run on one thread unless there are
  more than 100 queries (`omp parallel if (n > 100)`); its `search` (k-NN) only ranks the
  shortlist, so k-NN beyond the radius uses its flat `storage` instead.
* IndexBinaryFlat keeps its codes in a std::vector (`MaybeOwnedVector`): `add` appends with
  libstdc++'s growth rule (new capacity = size + max(size, added)), so the allocation can be up
  to twice the codes, and the old and new buffers coexist while it grows. `memory_bytes`
  counts that capacity (simulated with the same rule), not just the codes.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Final, Literal

import faiss
import numpy as np
import numpy.typing as npt

from ledger.errors import MalformedError

__all__ = ["Candidate", "Kind", "NearDuplicateIndex", "PDQ_BITS", "PDQ_BYTES"]

PDQ_BITS: Final = 256
PDQ_BYTES: Final = PDQ_BITS // 8

Kind = Literal["flat", "multihash"]

# IndexBinaryMultiHash settings: 11 substrings of 23 bits (253 of 256 bits), probing every key
# within 2 bits. Exact at radius 31 because floor(31 / 11) = 2 = nflip (module docstring).
MULTIHASH_NHASH: Final = 11
MULTIHASH_B: Final = 23
MULTIHASH_NFLIP: Final = 2
# Bytes per (entry, table) in a libstdc++ std::unordered_map<int64, std::vector<int64>> whose
# keys hold one id each (the common case: 2^23 keys per table): a 40-byte node in a 48-byte
# malloc chunk, an 8-byte bucket slot, and the vector's heap block (8 bytes in a 32-byte
# chunk). The benchmark checks this model against the process's RSS.
MULTIHASH_BYTES_PER_ID: Final = 88


@dataclass(frozen=True)
class Candidate:
    """One indexed leaf near the query: its best distance over the query hashes."""

    leaf_index: int
    distance: int  # Hamming distance of the best-matching query variant
    variant: int  # which of the query's hashes matched best (0 = as given)


def _grown(capacity: int, size: int, added: int) -> int:
    """libstdc++'s std::vector capacity after appending `added` elements to `size`."""
    if size + added <= capacity:
        return capacity
    return size + max(size, added)


class NearDuplicateIndex:
    """Exact Hamming-radius search over 256-bit PDQ hashes, keyed by leaf index.

    `kind` "flat" (the default, see the module docstring for why) scans every code with
    IndexBinaryFlat; "multihash" uses IndexBinaryMultiHash(256, 11, 23) with nflip 2, which is
    also exact at radius 31 but costs ~1 KB per entry. Thread-safe (one lock).
    """

    RADIUS: ClassVar[int] = 31  # a match is distance <= 31 (DESIGN §3.6)

    def __init__(self, kind: Kind = "flat") -> None:
        if kind == "flat":
            self._index: faiss.IndexBinary = faiss.IndexBinaryFlat(PDQ_BITS)
            self._storage: faiss.IndexBinary = self._index
        elif kind == "multihash":
            multi = faiss.IndexBinaryMultiHash(PDQ_BITS, MULTIHASH_NHASH, MULTIHASH_B)
            multi.nflip = MULTIHASH_NFLIP
            self._index = multi
            # The flat copy of the codes it verifies against; exact k-NN scans it.
            self._storage = multi.storage  # type: ignore[attr-defined,unused-ignore]  # not in the stub
        else:
            raise ValueError(f"unknown index kind {kind!r} (expected 'flat' or 'multihash')")
        self.kind: Final[Kind] = kind
        self._padded = kind == "multihash"
        self._lock = threading.Lock()
        self._ntotal = 0
        self._ids: npt.NDArray[np.int64] = np.empty(0, dtype=np.int64)  # position -> leaf
        self._code_capacity = 0  # simulated capacity of FAISS's code vector, in codes

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
        if count == 0:
            return
        with self._lock:
            size = self._ntotal
            if size + count > len(self._ids):
                grown = np.empty(_grown(len(self._ids), size, count), dtype=np.int64)
                grown[:size] = self._ids[:size]
                self._ids = grown
            self._index.add(codes[:count])
            self._ids[size : size + count] = ids
            self._code_capacity = _grown(self._code_capacity, size, count)
            self._ntotal = size + count

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
        codes = self._codes(queries, "query")
        nq = len(queries)
        query = codes[:nq]
        with self._lock:
            total = self._ntotal
            if total == 0:
                return []
            ids = self._ids  # position -> leaf; replaced, never mutated in place below total
            lims, dist, labels = self._index.range_search(query, radius + 1)
            leaves = ids[labels]
            dists = dist.astype(np.int64)
            variants = np.repeat(np.arange(nq, dtype=np.int64), np.diff(lims).astype(np.int64))
            leaves, dists, variants = _best_per_leaf(leaves, dists, variants)
            if k and len(leaves) < k:
                near_leaves, near_dists, near_variants = self._nearest(query, k, total, ids)
                leaves, dists, variants = _best_per_leaf(
                    np.concatenate((leaves, near_leaves)),
                    np.concatenate((dists, near_dists)),
                    np.concatenate((variants, near_variants)),
                )
        order = np.lexsort((leaves, dists))
        keep = max(int(np.count_nonzero(dists <= radius)), k or 0)
        return [
            Candidate(leaf_index=int(leaf), distance=int(d), variant=int(v))
            for leaf, d, v in zip(
                leaves[order][:keep], dists[order][:keep], variants[order][:keep], strict=True
            )
        ]

    def memory_bytes(self) -> int:
        """The index's own memory: FAISS's code vector at its allocated capacity, the leaf-id
        array at its capacity, and for "multihash" the hash tables (layout model,
        MULTIHASH_BYTES_PER_ID per entry and table). Fixed-size object headers (< 1 KB) are left
        out. The benchmark compares this with the process's RSS growth."""
        with self._lock:
            total = self._code_capacity * PDQ_BYTES + self._ids.nbytes
            if self.kind == "multihash":
                total += self._ntotal * MULTIHASH_NHASH * MULTIHASH_BYTES_PER_ID
            return int(total)

    # -----------------------------------------------------------------------------------------

    def _codes(self, hashes: Sequence[bytes], what: str) -> npt.NDArray[np.uint8]:
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

    def _nearest(
        self, query: npt.NDArray[np.uint8], k: int, total: int, ids: npt.NDArray[np.int64]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Exact k-NN over the flat codes, per query, as (leaves, distances, variants).

        Asks FAISS for k hashes per query, and for more while some query's list holds fewer
        than k distinct leaves (a leaf indexed under several hashes): then every leaf missing
        from a list is no closer than k distinct leaves that are in it, so the union's k best
        leaves are the true k nearest (up to ties).
        """
        want = min(k, total)
        while True:
            dist, labels = self._storage.search(query, want)
            valid = labels >= 0
            leaves = ids[np.where(valid, labels, 0)]
            enough = all(
                np.unique(row[mask]).size >= min(k, total)
                for row, mask in zip(leaves, valid, strict=True)
            )
            if enough or want >= total:
                break
            want = min(2 * want, total)
        variants = np.broadcast_to(np.arange(len(query), dtype=np.int64)[:, None], labels.shape)
        return leaves[valid], dist[valid].astype(np.int64), variants[valid]


def _leaf_array(leaf_indexes: Sequence[int]) -> npt.NDArray[np.int64]:
    values = np.asarray(leaf_indexes)
    if values.ndim != 1 or (values.size and values.dtype.kind not in "iu"):
        raise MalformedError("leaf indexes must be a flat sequence of integers", code="bad_leaf")
    if values.size and (values.min() < 0 or values.max() > np.iinfo(np.int64).max):
        raise MalformedError("leaf indexes must be in 0..2^63-1", code="bad_leaf")
    return values.astype(np.int64)


def _best_per_leaf(
    leaves: npt.NDArray[np.int64], dists: npt.NDArray[np.int64], variants: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """One row per leaf: the smallest distance, and the lowest variant among those reaching it."""
    order = np.lexsort((variants, dists, leaves))
    leaves, dists, variants = leaves[order], dists[order], variants[order]
    first = np.ones(len(leaves), dtype=bool)
    first[1:] = leaves[1:] != leaves[:-1]
    return leaves[first], dists[first], variants[first]
