"""Origin report on k captures sharing one PDQ hash (issue 16): the report over distinct PDQ
values (now) against the all-pairs clustering it replaced, wall time (median of `--runs`) and
the peak of traced memory (tracemalloc, one more run; NumPy's buffers are traced too).

    .venv/bin/python -m bench.clusters_copies_bench [--copies 1000 4000 20000]
        [--old-max 4000] [--runs 3] [--case copies|near|both]

Two cases: "copies" (k captures of one PDQ value) and "near" (k DISTINCT values, one hash with
1-4 random bits flipped each: all within the radius of each other, k^2/2 pairs of values; past
the pair budget the report searches anchors only).

The old algorithm (kept here, as it was: every earlier position within the radius, from
`near_pairs` over all hashes of enough quality) runs only up to `--old-max` copies: at 20,000
it needs ~2*10^8 pairs. Each capture is another file (its own SHA-256) from one device.
Prints a table and writes bench/results/clusters_copies_bench.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import statistics
import time
import tracemalloc
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final, cast

from registry.origins import report as report_module
from registry.origins import signals as signals_module
from registry.origins.clusters import clustering
from registry.origins.facts import CAMERA, Capture, Facts, Origin, Parameters
from registry.origins.report import build_report, report_bytes
from tests.support.all_pairs import joined_clustering

RESULTS: Final = Path(__file__).parent / "results" / "clusters_copies_bench.json"


def no_generators(facts: Facts, clusters: object, params: Parameters) -> signals_module.Evidence:
    return defaultdict(set)  # the world has none: the old signal returned before its scan


@contextmanager
def old_algorithm() -> Iterator[None]:
    saved = clustering, signals_module.CHECKS["laundered_synthetic"]
    checks = cast(dict[str, object], signals_module.CHECKS)
    setattr(report_module, "clustering", joined_clustering)  # noqa: B010 - a private import
    checks["laundered_synthetic"] = no_generators
    try:
        yield
    finally:
        setattr(report_module, "clustering", saved[0])  # noqa: B010
        checks["laundered_synthetic"] = saved[1]


def copies(k: int) -> Facts:
    code = bytes(range(32))
    captures = [
        Capture(i, "cam", i + 1, 1_790_000_000_000 + i, 1_790_000_001_000 + i,
                i.to_bytes(32, "big"), code, 90)
        for i in range(k)
    ]  # fmt: skip
    devices = {"cam": Origin("cam", "vendor", "Camera Co.", CAMERA)}
    return Facts("bench/log", k, b"\0" * 32, captures, devices)


def near_identical(k: int) -> Facts:
    """k distinct PDQ values, each one hash with 1-4 random bits flipped (seeded)."""
    rng, base, values = random.Random(16), int.from_bytes(bytes(range(32))), dict[int, None]()
    while len(values) < k:
        values[base ^ sum(1 << b for b in rng.sample(range(256), rng.randint(1, 4)))] = None
    facts = copies(k)
    captures = [
        dataclasses.replace(c, pdq=v.to_bytes(32))
        for c, v in zip(facts.captures, values, strict=True)
    ]
    return dataclasses.replace(facts, captures=captures)


def measure(facts: Facts, runs: int) -> dict[str, float]:
    def run() -> bytes:
        return report_bytes(build_report(facts))

    seconds = []
    for _ in range(runs):
        start = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - start)
    tracemalloc.start()
    run()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"median_s": round(statistics.median(seconds), 3), "peak_mib": round(peak / 2**20, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--copies", type=int, nargs="+", default=[1000, 4000, 20000])
    parser.add_argument("--old-max", type=int, default=4000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--case", choices=["copies", "near", "both"], default="both")
    args = parser.parse_args()
    results = []
    cases = [("copies", copies), ("near", near_identical)]
    for (case, make), k in ((c, k) for c in cases for k in args.copies):
        if args.case not in ("both", case):
            continue
        facts = make(k)
        new = measure(facts, args.runs)
        row: dict[str, object] = {"case": case, "copies": k, "new": new}
        if k <= args.old_max:
            with old_algorithm():
                old_bytes = report_bytes(build_report(facts))
                row["old"] = measure(facts, args.runs)
            row["same_bytes"] = old_bytes == report_bytes(build_report(facts))
        results.append(row)
        print(json.dumps(row), flush=True)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
