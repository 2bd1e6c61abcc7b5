"""The bounded searches of the origin report, for logs whose near pairs exceed the budget.

k distinct PDQ values all within the radius of each other (one hash with 1-4 random bits
flipped per capture) make k^2/2 pairs of values: 2*10^8 at k = 20,000. When the pairs of
distinct values outnumber `pair_budget(values)`, the report takes these paths instead of the
pairs (docs/design.md §7):

* `anchors`: the clusters' anchors without the pairs, the same answer. Anchors are pairwise
  more than the radius apart (a later anchor had no earlier anchor within it), so a value needs
  only the anchors within the radius of it, of which there are few. Values are taken in the
  order they first search, in chunks of `CHUNK`: a chunk is searched against the anchors so far
  (a flat `NearDuplicateIndex`, exact at the radius), a member with an earlier anchor takes the
  smallest, the rest are resolved in order within the chunk, by its own distances (a CHUNK x
  CHUNK matrix: the chunk's pairs, never the log's).
* `earliest_within`: per value, the earliest of some positions within the radius (the first
  disclosure near a capture): exact while the (value, target) pairs stay under the budget,
  otherwise (`None`) the caller applies a documented rule on anchors instead.
Memory is bounded by the chunks (CHUNK x CHUNK distances, CHUNK x anchors-near hits); the time
is the flat scan, values x anchors.
"""

from collections.abc import Sequence
from typing import Final

import numpy as np
import numpy.typing as npt

from registry.imaging.neardup import NearDuplicateIndex

__all__ = [
    "CHUNK",
    "MIN_PAIR_BUDGET",
    "PAIRS_PER_VALUE",
    "anchors",
    "earliest_within",
    "pair_budget",
]

PAIRS_PER_VALUE: Final = 8
MIN_PAIR_BUDGET: Final = 2**20
CHUNK: Final = 1024  # values resolved at once: CHUNK^2 distances (8 MiB as int64)
QUERIES: Final = 64  # values per index search in `earliest_within`: 64 x targets hits at most
Ints = npt.NDArray[np.int64]


def pair_budget(values: int) -> int:
    """The most pairs of distinct values the report holds: max(8 x values, 2^20). Ordinary logs
    have ~1 pair per value (the 1M-capture world: 0.1); 2^20 pairs (~50 MiB as lists) keep
    small logs on the pair path whatever they hold. A function of the log alone, so everyone
    who recomputes the report takes the same path."""
    return max(PAIRS_PER_VALUE * values, MIN_PAIR_BUDGET)


def anchors(hashes: Sequence[bytes], radius: int) -> list[int]:
    """For each hash, in the order given (the order they search), the position of its anchor:
    the earliest earlier anchor within `radius`, else itself. The answer of the pairs, without
    them."""
    index = NearDuplicateIndex("flat", threads=1)
    anchor_of: list[int] = []
    for start in range(0, len(hashes), CHUNK):
        chunk = hashes[start : start + CHUNK]
        earlier = _min_hit(index, chunk, radius)
        near = _distances(chunk) <= radius
        anchored = np.zeros(len(chunk), dtype=bool)  # the chunk's own anchors so far
        for offset in range(len(chunk)):
            anchor = int(earlier[offset])
            if anchor < 0:  # no earlier chunk's anchor: the first of this chunk's near it
                within = np.flatnonzero(near[offset, :offset] & anchored[:offset])
                anchor = start + int(within[0]) if len(within) else start + offset
            anchored[offset] = anchor == start + offset
            anchor_of.append(anchor)
        new = (np.flatnonzero(anchored) + start).tolist()
        index.add(new, [hashes[a] for a in new])
    return anchor_of


def earliest_within(
    hashes: Sequence[bytes], targets: Sequence[bytes], positions: Sequence[int], radius: int,
    budget: int,
) -> list[int] | None:  # fmt: skip
    """For each hash, the smallest of `positions` whose target is within `radius` of it (-1:
    none); None when the (hash, target) pairs exceed `budget`."""
    index = NearDuplicateIndex("flat", threads=1)
    index.add(list(positions), list(targets))
    earliest: list[int] = []
    pairs = 0
    for start in range(0, len(hashes), QUERIES):
        chunk = hashes[start : start + QUERIES]
        found, leaves, _ = index.pairs_within(list(chunk), radius)
        pairs += len(found)
        if pairs > budget:
            return None
        earliest.extend(_smallest(found, leaves, len(chunk)).tolist())
    return earliest


def _min_hit(index: NearDuplicateIndex, chunk: Sequence[bytes], radius: int) -> Ints:
    """Per hash of `chunk`, the smallest leaf of `index` within `radius` (-1: none)."""
    if not len(index):
        return np.full(len(chunk), -1, dtype=np.int64)
    found, leaves, _ = index.pairs_within(list(chunk), radius)
    return _smallest(found, leaves, len(chunk))


def _smallest(found: Ints, leaves: Ints, size: int) -> Ints:
    smallest = np.full(size, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(smallest, found, leaves)
    smallest[smallest == np.iinfo(np.int64).max] = -1
    return smallest


def _distances(chunk: Sequence[bytes]) -> Ints:
    """The chunk's Hamming distances, all against all."""
    words = np.frombuffer(b"".join(chunk), dtype=">u8").reshape(len(chunk), 4).astype(np.uint64)
    distance = np.zeros((len(chunk), len(chunk)), dtype=np.int64)
    for column in range(4):
        distance += np.bitwise_count(words[:, None, column] ^ words[None, :, column])
    return distance
