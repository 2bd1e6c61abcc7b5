"""Origin clusters: groups of near-duplicate captures across the log.

Captures are taken in log order. A capture joins the cluster of the earliest earlier capture
with the same SHA-256; otherwise, if its PDQ is of quality >= `min_quality`, the cluster of the
earliest *anchor* within PDQ distance `radius` of it; otherwise it anchors a new cluster. So
every member is within the radius of its anchor (or is the anchor's exact file, or an exact
copy of a member), and A~B~C never chains into one cluster when C is far from A. Anchoring on
the first logged capture is what makes the log's order the priority (`signals`).

Past a budget of pairs of distinct values (`dense.pair_budget`: k distinct near-identical
hashes make k^2/2), the same anchors come from searching anchors only (`dense.anchors`), and
`bounded` says so; `earliest_near` stays exact while it can (docs/design.md §7).

The work is over distinct PDQ values, never over pairs of captures: k captures sharing one
hash are one value with no pair among them (issue 16: all-pairs made k = 20,000 copies cost
~20 GiB). Identical hashes have identical neighbours, so the first capture of a value to search
decides the anchor of every later one with that value (any anchor logged in between comes
after the one it found, or it was the anchor itself). The pairs of distinct values come from
the exact self-join (`registry.imaging.pairs.near_pairs`), never from an all-pairs loop; the
answer is the same as over all pairs of captures, for every log.
"""

import sys
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from registry.imaging.pairs import PairSearch, near_pairs_within
from registry.origins.dense import anchors, earliest_within, pair_budget
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
    near: Mapping[int, Sequence[int]] | None  # None: over the pair budget (`bounded` says)
    hashes: Sequence[bytes] = ()  # value id -> its PDQ hash
    radius: int = 0
    budget: int = 0  # the pair budget of this log
    # What went past the budget, and the rule applied instead, in words (report "bounded").
    # Filled as the report is built (`earliest_near` may add to it): empty for most logs.
    bounded: dict[str, str] = field(default_factory=dict)

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
        if self.near is None:
            return self._earliest_without_pairs(first)
        earliest: dict[int, int] = {}
        for value, position in first.items():
            for other in (value, *self.near.get(value, ())):
                if position < earliest.get(other, position + 1):
                    earliest[other] = position
        return earliest

    def _earliest_without_pairs(self, first: Mapping[int, int]) -> dict[int, int]:
        """`earliest_near` over the pair budget: exact while the (value, position) pairs fit
        the budget; else against the positions' anchors (their earliest, pairwise more than
        the radius apart), which may miss a position within the radius of a value whose
        anchor is not."""
        order = sorted(first, key=first.__getitem__)
        targets, positions = [self.hashes[v] for v in order], [first[v] for v in order]
        found = earliest_within(self.hashes, targets, positions, self.radius, self.budget)
        if found is None:
            kept = sorted(set(anchors(targets, self.radius)))
            self.bounded["earliest_near"] = (
                f"more than {self.budget} pairs of a PDQ value and a disclosure within the "
                "radius: each capture is compared with the disclosures' anchors only (the "
                "earliest of each group of disclosures within the radius of it)"
            )
            targets, positions = [targets[k] for k in kept], [positions[k] for k in kept]
            found = earliest_within(self.hashes, targets, positions, self.radius, sys.maxsize)
            assert found is not None
        return {value: position for value, position in enumerate(found) if position >= 0}


def cluster(
    captures: Sequence[Capture], params: Parameters, *, pair_search: PairSearch | None = None
) -> list[int]:
    """For each capture (by position), the position of its cluster's anchor. `pair_search`
    picks how the near pairs are found (`near_pairs`); every choice gives the same answer."""
    return list(clustering(captures, params, pair_search).anchor_of)


def clustering(
    captures: Sequence[Capture], params: Parameters, pair_search: PairSearch | None = None,
    *, budget: int | None = None,
) -> Clustering:  # fmt: skip
    """`cluster`'s anchors, each capture's PDQ value and the values within the radius (None
    past `budget` pairs of values, default `pair_budget`: then found from anchors only)."""
    value_of, hashes = _values(captures, params)
    budget = pair_budget(len(hashes)) if budget is None else budget
    near = _near(hashes, params.radius, budget, pair_search)
    bounded: dict[str, str] = {}
    anchor_of_value: dict[int, int] = {}  # value -> the anchor its first search found
    if near is None:
        anchor_of_value = _anchors_without_pairs(captures, value_of, hashes, params.radius)
        bounded["clusters"] = (
            f"more than {budget} pairs of distinct PDQ values within the radius: the anchors "
            "were found by searching earlier anchors only (the same clusters)"
        )
    anchor_of: list[int] = []
    first_with_sha: dict[bytes, int] = {}
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
            assert near is not None  # over the budget, every value's anchor is known
            found = [anchored[other] for other in near.get(value, ()) if other in anchored]
            anchor = min(found) if found else position
            if anchor == position:
                anchored[value] = position
            anchor_of_value[value] = anchor
            anchor_of.append(anchor)
    return Clustering(anchor_of, value_of, near, hashes, params.radius, budget, bounded)


def _values(captures: Sequence[Capture], params: Parameters) -> tuple[list[int], list[bytes]]:
    """Each position's value id (NO_VALUE below the quality floor), ids in order of first
    appearance, and the values' hashes."""
    ids: dict[bytes, int] = {}
    value_of = [
        ids.setdefault(c.pdq, len(ids)) if c.quality >= params.min_quality else NO_VALUE
        for c in captures
    ]
    return value_of, list(ids)


def _near(
    hashes: Sequence[bytes], radius: int, budget: int, pair_search: PairSearch | None
) -> dict[int, list[int]] | None:
    """Value id -> the other value ids within the radius; None past `budget` pairs."""
    near: dict[int, list[int]] = defaultdict(list)
    if not hashes:
        return near
    pairs = near_pairs_within(hashes, radius, budget, pair_search)
    if pairs is None:
        return None
    for one, other in zip(pairs[0].tolist(), pairs[1].tolist(), strict=True):
        near[one].append(other)
        near[other].append(one)
    return near


def _anchors_without_pairs(
    captures: Sequence[Capture], value_of: Sequence[int], hashes: Sequence[bytes], radius: int
) -> dict[int, int]:
    """Value -> the anchor its first search finds, for every value that searches: the values in
    the order `clustering` searches them (a capture of a new file with a new value)."""
    searches: dict[int, int] = {}  # value -> the position that searches it
    seen: set[bytes] = set()
    for position, capture in enumerate(captures):
        value = value_of[position]
        if capture.sha256 not in seen and value != NO_VALUE:
            searches.setdefault(value, position)
        seen.add(capture.sha256)
    order = list(searches)
    found = anchors([hashes[value] for value in order], radius)
    return {value: searches[order[anchor]] for value, anchor in zip(order, found, strict=True)}
