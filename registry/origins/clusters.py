"""Origin clusters: groups of near-duplicate captures across the log.

Captures are taken in log order. A capture joins the cluster of the earliest earlier capture
with the same SHA-256; otherwise, if its PDQ is of quality >= `min_quality`, the cluster of the
earliest *anchor* within PDQ distance `radius` of it; otherwise it anchors a new cluster. So
every member is within the radius of its anchor (or is the anchor's exact file, or an exact
copy of a member), and A~B~C never chains into one cluster when C is far from A. Anchoring on
the first logged capture is what makes the log's order the priority (`signals`).

The work is over distinct PDQ values, never over pairs of captures: k captures sharing one
hash are one value with no pair among them (issue 16: all-pairs made k = 20,000 copies cost
~20 GiB). Identical hashes have identical neighbours, so the first capture of a value to search
decides the anchor of every later one with that value (any anchor logged in between comes
after the one it found, or it was the anchor itself). The pairs of distinct values come from
the exact self-join (`registry.imaging.pairs.near_pairs`), never from an all-pairs loop; the
answer is the same as over all pairs of captures, for every log.
"""

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from registry.imaging.pairs import PairSearch, near_pairs
from registry.origins.facts import Capture, Parameters

__all__ = ["Clustering", "cluster", "clustering"]

NO_VALUE = -1  # `Clustering.value_of` for a hash below the quality floor (it searches nothing)


@dataclass(frozen=True)
class Clustering:
    """Clusters by position in the captures (not by leaf index)."""

    anchor_of: Sequence[int]  # position -> its cluster's anchor's position
    # Position -> the id of its PDQ value among the hashes of enough quality (NO_VALUE below),
    # and value id -> the other values within the radius (each pair of distinct values once
    # each way; copies of one value are no pairs at all).
    value_of: Sequence[int]
    near: Mapping[int, Sequence[int]]

    def groups(self) -> dict[int, list[int]]:
        """Anchor position -> its members' positions in log order (the anchor first), the
        clusters in the order of their anchors."""
        groups: dict[int, list[int]] = defaultdict(list)
        for position, anchor in enumerate(self.anchor_of):
            groups[anchor].append(position)
        return groups

    def earliest_near(self, positions: Iterable[int]) -> dict[int, int]:
        """Value id -> the earliest of `positions` (those with a value) whose hash is that
        value or within the radius of it. Costs the neighbours of the values `positions`
        hold, once per value however many positions share it."""
        first: dict[int, int] = {}
        for position in positions:
            value = self.value_of[position]
            if value != NO_VALUE and position < first.get(value, position + 1):
                first[value] = position
        earliest: dict[int, int] = {}
        for value, position in first.items():
            for other in (value, *self.near.get(value, ())):
                if position < earliest.get(other, position + 1):
                    earliest[other] = position
        return earliest


def cluster(
    captures: Sequence[Capture], params: Parameters, *, pair_search: PairSearch | None = None
) -> list[int]:
    """For each capture (by position), the position of its cluster's anchor. `pair_search`
    picks how the near pairs are found (`near_pairs`); every choice gives the same answer."""
    return list(clustering(captures, params, pair_search).anchor_of)


def clustering(
    captures: Sequence[Capture], params: Parameters, pair_search: PairSearch | None = None
) -> Clustering:
    """`cluster`'s anchors, each capture's PDQ value and the values within the radius."""
    value_of, near = _near_values(captures, params, pair_search)
    anchor_of: list[int] = []
    first_with_sha: dict[bytes, int] = {}
    anchor_of_value: dict[int, int] = {}  # value -> the anchor its first search found
    anchored: dict[int, int] = {}  # value -> the anchor with that value (at most one)
    for position, capture in enumerate(captures):
        same = first_with_sha.setdefault(capture.sha256, position)
        value = value_of[position]
        if same != position:
            anchor_of.append(anchor_of[same])
        elif value == NO_VALUE:
            anchor_of.append(position)
        elif value in anchor_of_value:  # the same hash searched before: the same answer
            anchor_of.append(anchor_of_value[value])
        else:
            # The anchors among the value's neighbours: one search per distinct value.
            anchors = [anchored[other] for other in near.get(value, ()) if other in anchored]
            anchor = min(anchors) if anchors else position
            if anchor == position:
                anchored[value] = position
            anchor_of_value[value] = anchor
            anchor_of.append(anchor)
    return Clustering(anchor_of, value_of, near)


def _near_values(
    captures: Sequence[Capture], params: Parameters, pair_search: PairSearch | None
) -> tuple[list[int], dict[int, list[int]]]:
    """Each position's value id (NO_VALUE below the quality floor), ids in order of first
    appearance, and value id -> the other value ids within the radius."""
    ids: dict[bytes, int] = {}
    value_of = [
        ids.setdefault(c.pdq, len(ids)) if c.quality >= params.min_quality else NO_VALUE
        for c in captures
    ]
    near: dict[int, list[int]] = defaultdict(list)
    if ids:
        first, second = near_pairs(list(ids), params.radius, pair_search)
        for one, other in zip(first.tolist(), second.tolist(), strict=True):
            near[one].append(other)
            near[other].append(one)
    return value_of, near
