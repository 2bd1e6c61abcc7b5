"""What the claim features cost a lookup: `registry.imaging.matching.CaptureIndex` vs a global-PDQ index.

A lookup searches more than the 8 dihedral PDQs of `bench.lookup_bench`: with the features of
`registry.imaging.features` it sends 13 probes - 8 dihedral variants and the trimmed picture against the
captures' global PDQs (out to distance 63, for pHash confirmation), the picture as given and
trimmed against the center-95% feature, the top and bottom regions against theirs, and both
whole-picture probes against the trimmed feature. This benchmark builds, in one run:

* CaptureIndex over N synthetic captures (the clustered corpus of bench.lookup_bench for the
  global PDQ; each region feature its own random hash; a trimmed hash for TRIMMED_SHARE of them,
  since only pictures with uniform borders have one);
* the peer: one NearDuplicateIndex over the same global PDQs, searched with the 8 dihedral
  variants at radius 31 - a lookup without features, as bench.lookup_bench measures it;

and reports p50/p99 of `CaptureIndex.candidates(13 probes)` and of the peer's search, their
ratio, and the memory of each per capture.

    .venv/bin/python -m bench.capture_index_bench [--sizes 1000000 10000000] [--queries 100]
"""

from __future__ import annotations

import argparse
import functools
import json
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.lookup_bench import (
    Codes,
    leaf_indexes,
    make_corpus,
    make_queries,
    rss_bytes,
    summary,
    time_calls,
    trim_heap,
)
from registry.imaging.features import FEATURE_REGIONS, TRIMMED
from registry.imaging.hashing import DIHEDRAL_NAMES, ProbeHash
from registry.imaging.matching import CaptureIndex
from registry.imaging.neardup import PDQ_BYTES, NearDuplicateIndex

RESULTS = Path(__file__).parent / "results" / "capture_index_bench.json"
TRIMMED_SHARE = 0.02
BATCH = 100_000
EXTRA_PROBES = ("trimmed", "center95", "top80", "bottom80")


def random_codes(rng: np.random.Generator, n: int) -> Codes:
    return rng.integers(0, 256, size=(n, PDQ_BYTES), dtype=np.uint8)


def build_capture_index(
    codes: Codes, leaves: np.ndarray[Any, Any], rng: np.random.Generator
) -> tuple[CaptureIndex, float, int]:
    trim_heap()
    before = rss_bytes()
    start = time.perf_counter()
    index = CaptureIndex()
    n = len(codes)
    trimmed = rng.random(n) < TRIMMED_SHARE
    for lo in range(0, n, BATCH):
        hi = min(lo + BATCH, n)
        batch_leaves = leaves[lo:hi].tolist()
        features: dict[str, tuple[list[int], list[bytes]]] = {
            name: (batch_leaves, [row.tobytes() for row in random_codes(rng, hi - lo)])
            for name in FEATURE_REGIONS
        }
        with_trim = np.nonzero(trimmed[lo:hi])[0]
        features[TRIMMED] = (
            [batch_leaves[i] for i in with_trim],
            [row.tobytes() for row in random_codes(rng, len(with_trim))],
        )
        index.add(batch_leaves, [row.tobytes() for row in codes[lo:hi]], features)
    build_s = time.perf_counter() - start
    trim_heap()
    return index, build_s, rss_bytes() - before


def as_probes(query: list[bytes], rng: np.random.Generator) -> list[ProbeHash]:
    phash = "00" * 8
    probes = [
        ProbeHash(name, h.hex(), 90, phash) for name, h in zip(DIHEDRAL_NAMES, query, strict=True)
    ]
    probes += [
        ProbeHash(name, random_codes(rng, 1)[0].tobytes().hex(), 90, phash) for name in EXTRA_PROBES
    ]
    return probes


def run_size(n: int, queries: int, rng: np.random.Generator) -> dict[str, Any]:
    codes, clustered = make_corpus(n, rng)
    leaves = leaf_indexes(n)
    capture_index, build_s, rss = build_capture_index(codes, leaves, rng)
    plain = NearDuplicateIndex()
    for lo in range(0, n, BATCH):
        hi = min(lo + BATCH, n)
        plain.add(leaves[lo:hi].tolist(), [row.tobytes() for row in codes[lo:hi]])
    dihedral = make_queries(codes, clustered, queries, rng)
    probe_sets = [as_probes(q, rng) for q in dihedral]

    # Interleaved, so both see the same machine load.
    ours: list[float] = []
    peer: list[float] = []
    for probes, query in zip(probe_sets, dihedral, strict=True):
        ours += time_calls([functools.partial(capture_index.candidates, probes)] * 4)[-1:]
        peer += time_calls([functools.partial(plain.search, query)] * 4)[-1:]
    ours_s, peer_s = summary(ours), summary(peer)
    return {
        "captures": n,
        "index_hashes": capture_index.entries(),
        "build_s": round(build_s, 1),
        "capture_index": ours_s,
        "global_pdq_only": peer_s,
        "p50_ratio": round(ours_s["p50_ms"] / peer_s["p50_ms"], 2),
        "capture_index_bytes_per_capture": round(capture_index.memory_bytes() / n, 1),
        "capture_index_rss_bytes_per_capture": round(rss / n, 1),
        "global_pdq_bytes_per_capture": round(plain.memory_bytes() / n, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    rng = np.random.default_rng(5)
    rows = []
    for n in args.sizes:
        row = run_size(n, args.queries, rng)
        rows.append(row)
        print(
            f"{n:>11,} captures: CaptureIndex p50 {row['capture_index']['p50_ms']} ms "
            f"(p99 {row['capture_index']['p99_ms']}), global PDQ only p50 "
            f"{row['global_pdq_only']['p50_ms']} ms (p99 {row['global_pdq_only']['p99_ms']}); "
            f"ratio {row['p50_ratio']}; {row['capture_index_bytes_per_capture']} B/capture "
            f"(RSS {row['capture_index_rss_bytes_per_capture']}) vs "
            f"{row['global_pdq_bytes_per_capture']}; build {row['build_s']} s",
            flush=True,
        )
    report = {"python": platform.python_version(), "results": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
