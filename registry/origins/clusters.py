"""Origin clusters: groups of near-duplicate captures across the log.

Captures are taken in log order. A capture joins the cluster of the earliest earlier capture
with the same SHA-256; otherwise, if its PDQ is of quality >= `min_quality`, the cluster of the
earliest *anchor* within PDQ distance `radius` of it; otherwise it anchors a new cluster. So
every member is within the radius of its anchor (or is the anchor's exact file, or an exact
copy of a member), and A~B~C never chains into one cluster when C is far from A. Anchoring on
the first logged capture is what makes the log's order the priority (`signals`).

Pairs come from the exact self-join of the PDQ hashes (`registry.imaging.pairs.near_pairs`),
never from an all-pairs loop.
"""

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from registry.imaging.pairs import PairSearch, near_pairs
from registry.origins.facts import Capture, Parameters

__all__ = ["Clustering", "cluster", "clustering"]


@dataclass(frozen=True)
class Clustering:
    """Clusters by position in the captures (not by leaf index)."""

    anchor_of: Sequence[int]  # position -> its cluster's anchor's position
    earlier: Mapping[int, Sequence[int]]  # position -> earlier positions within the radius

    def groups(self) -> dict[int, list[int]]:
        """Anchor position -> its members' positions in log order (the anchor first), the
        clusters in the order of their anchors."""
        groups: dict[int, list[int]] = defaultdict(list)
        for position, anchor in enumerate(self.anchor_of):
            groups[anchor].append(position)
        return groups


def cluster(
    captures: Sequence[Capture], params: Parameters, *, pair_search: PairSearch | None = None
) -> list[int]:
    """For each capture (by position), the position of its cluster's anchor. `pair_search`
    picks how the near pairs are found (`near_pairs`); every choice gives the same answer."""
    return list(clustering(captures, params, pair_search).anchor_of)


def clustering(
    captures: Sequence[Capture], params: Parameters, pair_search: PairSearch | None = None
) -> Clustering:
    """`cluster`'s anchors, and for each position the earlier positions within the radius."""
    earlier = _earlier_near(captures, params, pair_search)
    anchor_of: list[int] = []
    first_with_sha: dict[bytes, int] = {}
    for position, capture in enumerate(captures):
        same = first_with_sha.setdefault(capture.sha256, position)
        if same != position:
            anchor_of.append(anchor_of[same])
            continue
        anchors = [q for q in earlier.get(position, ()) if anchor_of[q] == q]
        anchor_of.append(min(anchors) if anchors else position)
    return Clustering(anchor_of, earlier)


def _earlier_near(
    captures: Sequence[Capture], params: Parameters, pair_search: PairSearch | None
) -> dict[int, list[int]]:
    """Position -> the earlier positions within the radius, among hashes of enough quality."""
    good = [p for p, c in enumerate(captures) if c.quality >= params.min_quality]
    earlier: dict[int, list[int]] = defaultdict(list)
    if good:
        first, second = near_pairs([captures[p].pdq for p in good], params.radius, pair_search)
        positions = np.asarray(good, dtype=np.int64)
        for query, leaf in zip(positions[second].tolist(), positions[first].tolist(), strict=True):
            earlier[query].append(leaf)
    return earlier
