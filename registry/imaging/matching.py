"""When does a looked-up image match a registered capture? One rule, for lookups and bundles.

A query is a list of probes (`registry.imaging.hashing.query_hashes`): its eight dihedral variants, the
picture with its uniform borders trimmed, and three regions. A capture offers its global PDQ
("pdq") and its claim's `features`. `PROBE_TARGETS` says which probe is compared with which of
those; `judge` returns the best accepted comparison, or None. Evidence, strongest first:

* "pdq": PDQ distance <= 31 (docs/design.md §4.7), both hashes of quality >= 50. A feature is taken to
  have its capture's quality (the SDK leaves regions of quality < 50 out of the claim).
* "pdq+phash": the same distance with a low-quality hash on either side, confirmed by a pHash
  distance <= PHASH_CONFIRM (10 of 64); or, for a whole-picture probe against the global PDQ,
  a PDQ distance of 32..63 confirmed by pHash <= PHASH_CONFIRM_FAR (8 of 64), both hashes of
  good quality. Two independent hashes must agree: on the robustness benchmark's 2,278 pairs of
  distinct photographs the closest PDQ pair was 96 bits apart and the closest pHash pair 18, while
  the copies this admits (quarter-size resizes, blurs, crops) sat at PDQ 32-63, pHash 0-8.

The pHash compared is always the whole query's, in the probe's orientation (trimmed for the
trimmed probe), against the capture's pHash.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from registry.imaging.features import FEATURE_NAMES, FEATURE_REGIONS, TRIMMED
from registry.imaging.hashing import (
    DIHEDRAL_NAMES,
    MIN_QUALITY,
    PDQ_RADIUS,
    ProbeHash,
    feature_probe_name,
)
from registry.imaging.neardup import NearDuplicateIndex

__all__ = [
    "GLOBAL",
    "MIN_QUALITY",
    "PDQ_RADIUS",
    "PDQ_RADIUS_CONFIRMED",
    "PHASH_CONFIRM",
    "PHASH_CONFIRM_FAR",
    "PROBE_TARGETS",
    "CaptureIndex",
    "Evidence",
    "Registered",
    "judge",
    "rank",
]

PDQ_RADIUS_CONFIRMED: Final = 63  # only with pHash <= PHASH_CONFIRM_FAR, whole picture only
PHASH_CONFIRM: Final = 10  # of 64 bits: confirms a low-quality PDQ match within PDQ_RADIUS
PHASH_CONFIRM_FAR: Final = 8  # of 64 bits: confirms a PDQ match at 32..PDQ_RADIUS_CONFIRMED

GLOBAL: Final = "pdq"  # the capture's own PDQ, as opposed to one of its features
_CENTER, _TOP, _BOTTOM = FEATURE_REGIONS  # the three region feature names, in order

# Probe name -> the capture hashes it is compared with. The whole query, as given or trimmed, may
# be the capture cropped (center95) or the capture's own trimmed picture; a region of the query
# only ever meets the same region of the capture.
PROBE_TARGETS: Final[Mapping[str, tuple[str, ...]]] = {
    **{name: (GLOBAL,) for name in DIHEDRAL_NAMES[1:]},
    DIHEDRAL_NAMES[0]: (GLOBAL, _CENTER, TRIMMED),
    "trimmed": (GLOBAL, _CENTER, TRIMMED),
    feature_probe_name(_CENTER): (_CENTER,),
    feature_probe_name(_TOP): (_TOP,),
    feature_probe_name(_BOTTOM): (_BOTTOM,),
}
# Probes searched beyond PDQ_RADIUS (against the global PDQ, for pHash confirmation).
WHOLE_PICTURE_PROBES: Final = frozenset({*DIHEDRAL_NAMES, "trimmed"})


@dataclass(frozen=True)
class Registered:
    """The hashes a capture claim carries."""

    pdq: str
    quality: int
    phash: str
    features: Mapping[str, str]


@dataclass(frozen=True)
class Evidence:
    pdq_distance: int
    phash_distance: int
    probe: str  # which query probe matched ("original", "rotate-90", "trimmed", "top80", ...)
    target: str  # which capture hash it matched: GLOBAL or a feature name
    rule: str  # "pdq" or "pdq+phash"

    @property
    def variant(self) -> int:
        """The dihedral variant (0..7) of the probe, 0 for a trimmed or region probe."""
        return DIHEDRAL_NAMES.index(self.probe) if self.probe in DIHEDRAL_NAMES else 0


def judge(probes: Sequence[ProbeHash], capture: Registered) -> Evidence | None:
    """The best accepted comparison of the query's probes with the capture, or None."""
    best: Evidence | None = None
    capture_phash = int(capture.phash, 16)
    for probe in probes:
        phash_distance = (int(probe.phash, 16) ^ capture_phash).bit_count()
        for target in PROBE_TARGETS.get(probe.name, ()):
            stored = capture.pdq if target == GLOBAL else capture.features.get(target)
            if stored is None:
                continue
            distance = (int(probe.pdq, 16) ^ int(stored, 16)).bit_count()
            rule = _rule(distance, phash_distance, probe, target, capture.quality)
            if rule is None:
                continue
            evidence = Evidence(distance, phash_distance, probe.name, target, rule)
            if best is None or rank(evidence) < rank(best):
                best = evidence
    return best


def _rule(
    distance: int, phash_distance: int, probe: ProbeHash, target: str, quality: int
) -> str | None:
    good = probe.quality >= MIN_QUALITY and quality >= MIN_QUALITY
    if distance <= PDQ_RADIUS:
        if good:
            return "pdq"
        return "pdq+phash" if phash_distance <= PHASH_CONFIRM else None
    far_allowed = target == GLOBAL and probe.name in WHOLE_PICTURE_PROBES
    if far_allowed and good and distance <= PDQ_RADIUS_CONFIRMED:
        return "pdq+phash" if phash_distance <= PHASH_CONFIRM_FAR else None
    return None


def rank(evidence: Evidence) -> tuple[int, int, int]:
    return (evidence.rule != "pdq", evidence.pdq_distance, evidence.phash_distance)


class CaptureIndex:
    """In memory: a NearDuplicateIndex over the captures' global PDQs, and one per feature.

    `candidates` searches each index with the probes PROBE_TARGETS sends to it (the global one
    out to PDQ_RADIUS_CONFIRMED for whole-picture probes, the rest to PDQ_RADIUS) and returns
    every capture within reach, which `judge` then accepts or not. Exact, like its indexes: no
    capture that `judge` would accept is left out. Thread-safe (each index has its lock).
    """

    def __init__(self, *, threads: int | None = None) -> None:
        self._indexes = {
            name: NearDuplicateIndex(threads=threads) for name in (GLOBAL, *FEATURE_NAMES)
        }

    def __len__(self) -> int:
        return len(self._indexes[GLOBAL])

    def add(
        self,
        leaf_indexes: Sequence[int],
        pdq_hashes: Sequence[bytes],
        features: Mapping[str, tuple[Sequence[int], Sequence[bytes]]] | None = None,
    ) -> None:
        """Append captures: their global PDQs (32 bytes each) and, per feature name, the
        (leaf indexes, 32-byte hashes) of the captures that have it. Other names are ignored."""
        self._indexes[GLOBAL].add(leaf_indexes, pdq_hashes)
        for name, (leaves, hashes) in (features or {}).items():
            if name in self._indexes and name != GLOBAL and len(leaves):
                self._indexes[name].add(leaves, hashes)

    def add_registered(self, leaf_indexes: Sequence[int], captures: Sequence[Registered]) -> None:
        features: dict[str, tuple[list[int], list[bytes]]] = {}
        for leaf, capture in zip(leaf_indexes, captures, strict=True):
            for name, value in capture.features.items():
                leaves, hashes = features.setdefault(name, ([], []))
                leaves.append(leaf)
                hashes.append(bytes.fromhex(value))
        self.add(leaf_indexes, [bytes.fromhex(c.pdq) for c in captures], features)

    def candidates(self, probes: Sequence[ProbeHash]) -> dict[int, int]:
        """Leaf index -> the smallest PDQ distance any probe reached it at."""
        found: dict[int, int] = {}
        for name, index in self._indexes.items():
            wanted = [p for p in probes if name in PROBE_TARGETS.get(p.name, ())]
            far = [p for p in wanted if name == GLOBAL and p.name in WHOLE_PICTURE_PROBES]
            near = [p for p in wanted if p not in far]
            for group, radius in ((far, PDQ_RADIUS_CONFIRMED), (near, PDQ_RADIUS)):
                if not group:
                    continue
                for hit in index.search([bytes.fromhex(p.pdq) for p in group], radius):
                    found[hit.leaf_index] = min(hit.distance, found.get(hit.leaf_index, 256))
        return found

    def memory_bytes(self) -> int:
        return sum(index.memory_bytes() for index in self._indexes.values())

    def entries(self) -> int:
        """Hashes held over all indexes (a capture counts once per feature it has)."""
        return sum(len(index) for index in self._indexes.values())
