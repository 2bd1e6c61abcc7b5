"""One benchmark run: register the photos, look up every edited copy, tally per class.

Recall counts the *goal* photos only (PDQ quality >= MIN_QUALITY); distractors (the rest) are
registered and looked up too, and any of their lookups that accepts another image is a false
match like any other. Margins, in PDQ bits (the judge's units):

* `margin`: over a class's goal queries, the smallest PDQ distance from a query to a wrong
  image (any compared probe/hash pair, `matcher`), minus PDQ_RADIUS - above 0, no wrong image
  came within the radius a plain PDQ match needs;
* `phash_margin`: over the comparisons with wrong images that the rule settles by pHash, the
  smallest pHash distance minus the pHash threshold that applies (`matcher`) - above 0 (or None,
  no such comparison), no pHash came close to confirming a wrong image;
* the same two over the distractors' queries, reported apart: near-uniform tiles of one photo
  sit close to each other by nature, and only the rule's quality and pHash checks keep them
  apart, which is what these show.
"""

from __future__ import annotations

import multiprocessing
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bench.robustness.matcher import NO_SLACK, Gallery, Outcome
from registry.imaging.matching import MIN_QUALITY, PDQ_RADIUS
from tests.support.bundled_photos import Sample, spread
from tests.support.edit_classes import BY_NAME, EditClass, kind, variants
from tests.support.image_edits import png

MISSES_KEPT = 25
DISTRACTOR_QUERIES = 40  # half-tiles also looked up edited (one variant per class)


@dataclass
class Near:
    """The nearest wrong image seen so far, for one margin."""

    margin: int | None = None
    phash_margin: int | None = None
    example: dict[str, Any] | None = None

    def see(self, outcome: Outcome, own: int, names: Sequence[str], query: str) -> None:
        pdq = outcome.pdq_near.copy()
        pdq[own] = 1 << 20
        wrong = int(np.argmin(pdq))
        margin = int(pdq[wrong]) - PDQ_RADIUS
        if self.margin is None or margin < self.margin:
            self.margin = margin
            self.example = {"query": query, "nearest_wrong": names[wrong], "pdq": int(pdq[wrong])}
        slack = outcome.phash_slack.copy()
        slack[own] = NO_SLACK
        phash = int(slack.min())
        if phash < NO_SLACK and (self.phash_margin is None or phash < self.phash_margin):
            self.phash_margin = phash

    def row(self, prefix: str = "") -> dict[str, Any]:
        return {
            f"{prefix}margin": self.margin,
            f"{prefix}phash_margin": self.phash_margin,
            f"{prefix}margin_example": self.example,
        }


@dataclass
class Tally:
    edit_class: EditClass
    queries: int = 0
    hits: int = 0
    original_accepted: int = 0
    distractor_queries: int = 0
    false_queries: int = 0
    false_examples: list[dict[str, Any]] = field(default_factory=list)
    evidence: Counter[str] = field(default_factory=Counter)
    misses: list[dict[str, Any]] = field(default_factory=list)
    kinds: dict[str, list[int]] = field(default_factory=dict)  # kind -> [queries, hits]
    near: Near = field(default_factory=Near)
    distractor_near: Near = field(default_factory=Near)
    seconds: float = 0.0

    def see(
        self, outcome: Outcome, own: int, goal: bool, query: str, names: list[str], params: str
    ) -> bool:
        wrong = [m for m in outcome.matches if m.leaf != own]
        if wrong:
            self.false_queries += 1
            if len(self.false_examples) < MISSES_KEPT:
                e = wrong[0].evidence
                self.false_examples.append(
                    {
                        "query": query,
                        "matched": names[wrong[0].leaf],
                        "pdq": e.pdq_distance,
                        "phash": e.phash_distance,
                        "probe": e.probe,
                        "target": e.target,
                    }
                )
        if not goal:
            self.distractor_queries += 1
            self.distractor_near.see(outcome, own, names, query)
            return False
        self.queries += 1
        self.near.see(outcome, own, names, query)
        hit = outcome.top() == own
        self.original_accepted += any(m.leaf == own for m in outcome.matches)
        if hit:
            best = outcome.matches[0].evidence
            self.evidence[f"{best.probe}->{best.target}/{best.rule}"] += 1
        elif len(self.misses) < MISSES_KEPT:
            top = outcome.top()
            self.misses.append(
                {
                    "query": query,
                    "top": None if top is None else names[top],
                    "original_pdq": int(outcome.pdq_near[own]),
                }
            )
        self.hits += hit
        counts = self.kinds.setdefault(kind(self.edit_class.name, params), [0, 0])
        counts[0] += 1
        counts[1] += hit
        return hit

    def row(self) -> dict[str, Any]:
        c = self.edit_class
        recall = round(100 * self.hits / self.queries, 2) if self.queries else None
        return {
            "class": c.name,
            "group": c.group,
            "goal_pct": c.goal,
            "about": c.about,
            "queries": self.queries,
            "hits": self.hits,
            "recall_pct": recall,
            "met": recall is not None and recall >= c.goal,
            "original_accepted": self.original_accepted,
            "distractor_queries": self.distractor_queries,
            "false_match_queries": self.false_queries,
            **self.near.row(),
            **self.distractor_near.row("distractor_"),
            "recall_by_kind": {
                name: {"queries": n, "recall_pct": round(100 * hits / n, 1)}
                for name, (n, hits) in sorted(self.kinds.items())
            },
            "hits_by_evidence": dict(self.evidence.most_common()),
            "misses": self.misses,
            "false_matches": self.false_examples,
            "seconds": round(self.seconds, 1),
        }


def _pairs(
    gallery: Gallery, images: Sequence[bytes], names: list[str], goal: Sequence[bool]
) -> dict[str, Any]:
    """Distinct images: each looked up as its own registered bytes."""
    false_pairs: set[tuple[int, int]] = set()
    near, distractor_near = Near(), Near()
    for leaf, data in enumerate(images):
        outcome = gallery.lookup(data)
        for match in outcome.matches:
            if match.leaf != leaf:
                false_pairs.add((min(leaf, match.leaf), max(leaf, match.leaf)))
        (near if goal[leaf] else distractor_near).see(outcome, leaf, names, names[leaf])
    n = len(images)
    return {
        "pairs": n * (n - 1) // 2,
        "false_pairs": len(false_pairs),
        "false_pair_examples": [[names[a], names[b]] for a, b in sorted(false_pairs)],
        **near.row(),
        **distractor_near.row("distractor_"),
    }


# What a lookup worker holds: the gallery, the photos and the edit classes of the run.
_WORKER: dict[str, Any] = {}
Task = tuple[str, int, int]  # (edit class name, gallery leaf, variants)


def _start_worker(images: Sequence[bytes], samples: Sequence[Sample], seed: int) -> None:
    _WORKER.update(gallery=Gallery(images), samples=samples, seed=seed)


def _lookups(task: Task) -> tuple[list[tuple[str, Outcome]], float]:
    name, leaf, count = task
    started = time.perf_counter()
    gallery, sample = _WORKER["gallery"], _WORKER["samples"][leaf]
    made = variants(BY_NAME[name], _WORKER["seed"], sample.name, sample.image, count)
    return [(params, gallery.lookup(data)) for data, params in made], time.perf_counter() - started


def _all_lookups(
    tasks: list[Task], images: Sequence[bytes], samples: Sequence[Sample], seed: int, jobs: int
) -> Iterator[tuple[list[tuple[str, Outcome]], float]]:
    """Each task's lookups, in order; with jobs > 1 in spawned processes (not forked: the
    index's native threads do not survive a fork), each building the gallery anew."""
    if jobs <= 1:
        yield from map(_lookups, tasks)
        return
    context = multiprocessing.get_context("spawn")
    with context.Pool(jobs, _start_worker, (images, samples, seed)) as pool:
        yield from pool.imap(_lookups, tasks, chunksize=4)


def run(
    samples: Sequence[Sample],
    classes: Sequence[EditClass],
    seed: int,
    per_class: int,
    distractors: Sequence[Sample] = (),
    jobs: int = 1,
) -> dict[str, Any]:
    """The report of one run: `per_class` variants of each class for each photo, and one for
    DISTRACTOR_QUERIES of the `distractors`, which are registered beside the photos."""
    started = time.perf_counter()
    gallery_samples = [*samples, *distractors]
    images = [png(s.image) for s in gallery_samples]
    _start_worker(images, gallery_samples, seed)
    gallery: Gallery = _WORKER["gallery"]
    names = [s.name for s in gallery_samples]
    goal = [gallery.quality(leaf) >= MIN_QUALITY for leaf in range(len(samples))]
    goal += [False] * len(distractors)
    edited = [(leaf, per_class) for leaf in range(len(samples))]
    picked = {s.name for s in spread(distractors, DISTRACTOR_QUERIES)}
    edited += [(leaf, 1) for leaf in range(len(samples), len(names)) if names[leaf] in picked]
    tasks = [(c.name, leaf, count) for c in classes for leaf, count in edited]
    tallies = {c.name: Tally(c) for c in classes}
    results = _all_lookups(tasks, images, gallery_samples, seed, jobs)
    for (name, leaf, _), (outcomes, seconds) in zip(tasks, results, strict=True):
        tally = tallies[name]
        tally.seconds += seconds
        for params, outcome in outcomes:
            tally.see(outcome, leaf, goal[leaf], f"{names[leaf]}: {params}", names, params)
    rows = [tally.row() for tally in tallies.values()]
    pairs = _pairs(gallery, images, names, goal)
    false_queries = sum(r["false_match_queries"] for r in rows)
    return {
        "seed": seed,
        "variants_per_class": per_class,
        "photos": len(samples),
        "goal_photos": [n for n, g in zip(names, goal, strict=True) if g],
        "low_quality_photos": [s.name for s, g in zip(samples, goal, strict=False) if not g],
        "half_tile_distractors": len(distractors),
        "index_hashes": gallery.index.entries(),
        "index_bytes": gallery.index.memory_bytes(),
        "classes": rows,
        "distinct": pairs,
        "false_matches": pairs["false_pairs"] + false_queries,
        "seconds": round(time.perf_counter() - started, 1),
    }
