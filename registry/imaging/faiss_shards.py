"""One FAISS binary index over a contiguous run of PDQ codes, and its leaf indexes: the shard
`NearDuplicateIndex` (`neardup`) is made of, and the FAISS behaviour it relies on.

FAISS facts this module relies on (faiss-cpu 1.15.1):

* Binary `range_search` keeps `dis < radius` (strict), and returns the distances as float32
  (the bundled type stub says int32); `lims` is uint64. `search` (k-NN) returns int32 distances
  and, past ntotal, label -1 with distance INT32_MAX.
* IndexBinaryMultiHash's third constructor argument is `b`, the substring width (the bundled
  stub calls it `nflip`); nflip is an attribute set afterwards and defaults to 0. Its `storage`
  (the flat codes it verifies against) is missing from the stub.
* MultiHash reads each substring as an unaligned 8-byte load at byte offset (h*b) // 8, so
  with b = 23 the last substring reads 4 bytes past the end of a 32-byte code: past the caller's
  buffer for the last vector. Every buffer passed to a MultiHash index here has a spare row.
* MultiHash and IndexBinaryHash search and range_search run on one thread unless there are
  more than 100 queries (`omp parallel if (n > 100)`); MultiHash's `search` (k-NN) only ranks
  its shortlist, so k-NN beyond the radius scans `storage` instead.
* IndexBinaryFlat keeps its codes in a std::vector (`MaybeOwnedVector`): `add` appends with
  libstdc++'s growth rule (new capacity = size + max(size, added); checked against the
  process's virtual size), so the allocation can be twice the codes, and the old and new
  buffers coexist while it grows. `memory_bytes` counts that capacity (simulated with the same
  rule), not just the codes; `Shard.compact` keeps it at one shard's worth.
"""

from __future__ import annotations

from typing import Final, Literal

import faiss
import numpy as np
import numpy.typing as npt

__all__ = [
    "MULTIHASH_BYTES_PER_KEY",
    "MULTIHASH_BYTES_PER_SHARED_ID",
    "MULTIHASH_NHASH",
    "PDQ_BITS",
    "PDQ_BYTES",
    "Codes",
    "Ints",
    "Kind",
    "Shard",
    "knn",
]

PDQ_BITS: Final = 256
PDQ_BYTES: Final = PDQ_BITS // 8

Kind = Literal["flat", "multihash"]
Codes = npt.NDArray[np.uint8]
Ints = npt.NDArray[np.int64]

# IndexBinaryMultiHash settings: 11 substrings of 23 bits (253 of 256 bits), probing every key
# within 2 bits. Exact at radius 31 because floor(31 / 11) = 2 = nflip (`neardup` docstring).
MULTIHASH_NHASH: Final = 11
MULTIHASH_B: Final = 23
MULTIHASH_NFLIP: Final = 2
# The hash tables' layout (libstdc++ std::unordered_map<int64, std::vector<int64>>), per key: a
# 40-byte node in a 48-byte malloc chunk, an 8-byte bucket slot (load factor <= 1) and the
# vector's first heap block (one 8-byte id in a 32-byte chunk); per further id under the same
# key, 8 bytes in a vector that grows by doubling (~16 on average). The benchmark checks this
# model against the process's RSS.
MULTIHASH_BYTES_PER_KEY: Final = 88
MULTIHASH_BYTES_PER_SHARED_ID: Final = 16


def _grown(capacity: int, size: int, added: int) -> int:
    """libstdc++'s std::vector capacity after appending `added` elements to `size`."""
    if size + added <= capacity:
        return capacity
    return size + max(size, added)


class Shard:
    """One FAISS index over a contiguous run of entries, and their leaf indexes."""

    def __init__(self, kind: Kind, capacity: int) -> None:
        self.capacity = capacity  # entries it may hold
        self.size = 0
        self.ids: Ints = np.empty(0, dtype=np.int64)  # position -> leaf, grown by doubling
        self.code_capacity = 0  # FAISS's code vector capacity, in codes (simulated)
        if kind == "flat":
            self.index: faiss.IndexBinary = faiss.IndexBinaryFlat(PDQ_BITS)
            self.storage: faiss.IndexBinary = self.index
        else:
            multi = faiss.IndexBinaryMultiHash(PDQ_BITS, MULTIHASH_NHASH, MULTIHASH_B)
            multi.nflip = MULTIHASH_NFLIP
            self.index = multi
            # The flat copy of the codes MultiHash verifies against; exact k-NN scans it.
            self.storage = multi.storage  # type: ignore[attr-defined,unused-ignore]  # no stub

    def add(self, ids: Ints, codes: Codes) -> None:
        count = len(ids)
        if self.size + count > len(self.ids):
            grown = np.empty(
                min(_grown(len(self.ids), self.size, count), self.capacity), dtype=np.int64
            )
            grown[: self.size] = self.ids[: self.size]
            self.ids = grown
        self.index.add(codes)
        self.ids[self.size : self.size + count] = ids
        self.code_capacity = _grown(self.code_capacity, self.size, count)
        self.size += count

    def compact(self) -> None:
        """Copy a full flat shard into a code vector of exactly its size (one 4 MiB copy)."""
        if self.code_capacity > self.size:
            codes = self.index.reconstruct_n(0, self.size)
            self.index = self.storage = faiss.IndexBinaryFlat(PDQ_BITS)
            self.index.add(codes)
            self.code_capacity = self.size


def knn(shard: Shard, query: Codes, want: int) -> tuple[npt.NDArray[np.int32], Ints]:
    """FAISS k-NN in one shard, at most its size (so every label is valid)."""
    return shard.storage.search(query, min(want, shard.size))
