"""The registry's own matching, as `registry.lookup.query.Lookup` runs it, without a database.

The one place the benchmark touches `registry.imaging`: registering is `hash_image` (PDQ,
pHash, claim features), a lookup is `query_hashes` -> `CaptureIndex.candidates` ->
`matching.judge` -> `matching.rank`. When the match rule changes there, this follows.

Besides the verdict, every lookup measures how near it came to every *other* image, for the
margin: for each gallery image, the smallest PDQ distance between any probe and any hash of
that image the rule compares it with (`PROBE_TARGETS`), searched exhaustively, so images beyond
the index's reach count too; and, over the comparisons the rule would settle by pHash (a PDQ
within PDQ_RADIUS with a low-quality side: pHash <= PHASH_CONFIRM; a whole-picture probe
against the global PDQ at PDQ_RADIUS+1..PDQ_RADIUS_CONFIRMED: pHash <= PHASH_CONFIRM_FAR), how
many pHash bits the nearest was from being confirmed (`phash_slack`, <= 0: it was).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from registry.imaging.hashing import ProbeHash, hash_image, query_hashes
from registry.imaging.matching import (
    GLOBAL,
    MIN_QUALITY,
    PDQ_RADIUS,
    PDQ_RADIUS_CONFIRMED,
    PHASH_CONFIRM,
    PHASH_CONFIRM_FAR,
    PROBE_TARGETS,
    WHOLE_PICTURE_PROBES,
    CaptureIndex,
    Evidence,
    Registered,
    judge,
    rank,
)

Words = npt.NDArray[np.uint64]
FAR: Final = 256  # the distance recorded for a hash an image does not have
NO_SLACK: Final = 64  # the pHash slack recorded when no comparison rests on the pHash


def _words(hex_hashes: Sequence[str | None], bits: int) -> tuple[Words, npt.NDArray[np.bool_]]:
    """Hashes as rows of 64-bit words, and which rows exist."""
    width = bits // 64
    out = np.zeros((len(hex_hashes), width), dtype=np.uint64)
    present = np.zeros(len(hex_hashes), dtype=np.bool_)
    for row, value in enumerate(hex_hashes):
        if value is not None:
            out[row] = np.frombuffer(bytes.fromhex(value), dtype=">u8").astype(np.uint64)
            present[row] = True
    return out, present


def _distances(probe_hex: str, table: Words) -> npt.NDArray[np.int64]:
    probe, _ = _words([probe_hex], table.shape[1] * 64)
    counts: npt.NDArray[np.int64] = np.bitwise_count(table ^ probe).sum(axis=1, dtype=np.int64)
    return counts


@dataclass(frozen=True)
class Match:
    leaf: int
    evidence: Evidence


@dataclass(frozen=True)
class Outcome:
    matches: list[Match]  # accepted, best first (rank, then leaf)
    pdq_near: npt.NDArray[np.int64]  # per gallery image: nearest compared PDQ distance
    phash_slack: npt.NDArray[np.int64]  # per gallery image: see the module's docstring

    def top(self) -> int | None:
        return self.matches[0].leaf if self.matches else None


class Gallery:
    """The registered images, indexed as a registry indexes captures (leaf = position)."""

    def __init__(self, images: Sequence[bytes]) -> None:
        self.captures = [self._register(data) for data in images]
        self.index = CaptureIndex()
        self.index.add_registered(list(range(len(self.captures))), self.captures)
        targets = {GLOBAL} | {t for c in self.captures for t in c.features}
        self._tables = {
            name: _words([self._stored(c, name) for c in self.captures], 256) for name in targets
        }
        self._phash, _ = _words([c.phash for c in self.captures], 64)
        self._good = np.array([c.quality >= MIN_QUALITY for c in self.captures], dtype=np.bool_)

    @staticmethod
    def _register(data: bytes) -> Registered:
        hashes = hash_image(data)
        return Registered(hashes.pdq, hashes.pdq_quality, hashes.phash, dict(hashes.features))

    @staticmethod
    def _stored(capture: Registered, target: str) -> str | None:
        return capture.pdq if target == GLOBAL else capture.features.get(target)

    def __len__(self) -> int:
        return len(self.captures)

    def quality(self, leaf: int) -> int:
        return self.captures[leaf].quality

    def lookup(self, data: bytes) -> Outcome:
        _, probes = query_hashes(data)
        return self.lookup_probes(probes)

    def lookup_probes(self, probes: Sequence[ProbeHash]) -> Outcome:
        matches = []
        for leaf in self.index.candidates(probes):
            evidence = judge(probes, self.captures[leaf])
            if evidence is not None:
                matches.append(Match(leaf, evidence))
        matches.sort(key=lambda m: (rank(m.evidence), m.leaf))
        pdq_near = np.full(len(self.captures), FAR, dtype=np.int64)
        slack = np.full(len(self.captures), NO_SLACK, dtype=np.int64)
        for probe in probes:
            phash = _distances(probe.phash, self._phash)
            good = self._good & (probe.quality >= MIN_QUALITY)
            for target in PROBE_TARGETS.get(probe.name, ()):
                if target not in self._tables:
                    continue
                table, present = self._tables[target]
                found = np.where(present, _distances(probe.pdq, table), FAR)
                pdq_near = np.minimum(pdq_near, found)
                near = (found <= PDQ_RADIUS) & ~good
                slack = np.where(near, np.minimum(slack, phash - PHASH_CONFIRM), slack)
                if target == GLOBAL and probe.name in WHOLE_PICTURE_PROBES:
                    far = (found > PDQ_RADIUS) & (found <= PDQ_RADIUS_CONFIRMED) & good
                    slack = np.where(far, np.minimum(slack, phash - PHASH_CONFIRM_FAR), slack)
        return Outcome(matches, pdq_near, slack)
