"""The origin clustering of issue 6, before issue 16 bounded it: every earlier capture within
the radius of each capture (all pairs), and anchors chosen from them. Kept as the reference the
equivalence tests compare the report with (brute force), and the benchmark's "old" column
(the pairs from `near_pairs`, so it runs at bench sizes)."""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from registry.imaging.pairs import PairSearch, near_pairs
from registry.origins.facts import Capture, Parameters


@dataclass(frozen=True)
class AllPairs:
    """The old Clustering: anchors, and position -> every earlier position within the radius."""

    anchor_of: Sequence[int]
    earlier: dict[int, list[int]]

    def groups(self) -> dict[int, list[int]]:
        groups: dict[int, list[int]] = defaultdict(list)
        for position, anchor in enumerate(self.anchor_of):
            groups[anchor].append(position)
        return groups


def brute_force_clustering(
    captures: Sequence[Capture], params: Parameters, _: object = None
) -> AllPairs:
    """Every pair compared bit by bit: the reference that shares no code with the product."""
    earlier: dict[int, list[int]] = defaultdict(list)
    good = [p for p, c in enumerate(captures) if c.quality >= params.min_quality]
    for j, p in enumerate(good):
        for q in good[:j]:
            distance = (
                int.from_bytes(captures[p].pdq) ^ int.from_bytes(captures[q].pdq)
            ).bit_count()
            if distance <= params.radius:
                earlier[p].append(q)
    return _anchored(captures, earlier)


def joined_clustering(
    captures: Sequence[Capture], params: Parameters, pair_search: PairSearch | None = None
) -> AllPairs:
    """The same clustering with the pairs from the exact self-join, as issue 6 shipped it."""
    good = [p for p, c in enumerate(captures) if c.quality >= params.min_quality]
    earlier: dict[int, list[int]] = defaultdict(list)
    if good:
        first, second = near_pairs([captures[p].pdq for p in good], params.radius, pair_search)
        positions = np.asarray(good, dtype=np.int64)
        for query, leaf in zip(positions[second].tolist(), positions[first].tolist(), strict=True):
            earlier[query].append(leaf)
    return _anchored(captures, earlier)


def _anchored(captures: Sequence[Capture], earlier: dict[int, list[int]]) -> AllPairs:
    anchor_of: list[int] = []
    first_with_sha: dict[bytes, int] = {}
    for position, capture in enumerate(captures):
        same = first_with_sha.setdefault(capture.sha256, position)
        if same != position:
            anchor_of.append(anchor_of[same])
            continue
        anchors = [q for q in earlier.get(position, ()) if anchor_of[q] == q]
        anchor_of.append(min(anchors) if anchors else position)
    return AllPairs(anchor_of, earlier)
