"""Origin report benchmark: `registry.origins.report.build_report` on a synthetic world with planted abuse.

The world is tests.support.synthetic_origins (described there); the test of the pair search
(tests/registry/test_clusters_scale.py) builds a small one.

For each signal: the planted devices of that kind against the devices the report gives that
signal (precision, recall), where the false flags fall (honest devices, split into those that
took bursts or photographed events, other adversaries, generator releases), the same for
`suspicious` against every planted device, the wall time of `build_report` (median of `--runs`)
and memory (RSS sampled every 20 ms while it runs, and ru_maxrss).

    .venv/bin/python -m bench.clusters_bench [--captures 1000000] [--devices 5000]
        [--adversaries 25] [--runs 1] [--seed 6] [--pair-search auto|pigeonhole|flat|multihash]

Two probes of the thresholds, not in the default world: `--offline-share` makes that share of
honest captures be uploaded 1-48 h late (a camera that was offline), and `--event-window-s`
spreads the first frames of an event's cameras over that many seconds (default 55).

Goals (issue 6): precision and recall >= 0.95 for each kind; the 1M-capture report in <= 5 min.
Prints a table and writes bench/results/clusters_bench.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import resource
import statistics
import threading
import time
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any, Final

import numpy as np

from bench.lookup_bench import rss_bytes, trim_heap
from registry.imaging.pairs import PairSearch
from registry.origins.facts import Facts, Parameters
from registry.origins.report import Report, build_report, report_bytes
from tests.support.synthetic_origins import KINDS, PLANTED_AS, Builder, World

RESULTS: Final = Path(__file__).parent / "results" / "clusters_bench.json"


class RssSampler:
    """The process's RSS every `interval` seconds on a thread, for the peak of one call."""

    def __init__(self, interval: float = 0.02) -> None:
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes())
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self.peak = rss_bytes()
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())


def max_rss() -> int:
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024  # Linux: KiB


def ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def evaluate(world: World, report: Mapping[str, Any]) -> dict[str, Any]:
    flagged: dict[str, set[str]] = {kind: set() for kind in KINDS}
    suspicious: set[str] = set()
    signals_of: dict[str, set[str]] = {}
    for row in report["devices"]:
        signals_of[row["device"]] = set(row["signals"])
        for name in row["signals"]:
            flagged[name].add(row["device"])
        if row["suspicious"]:
            suspicious.add(row["device"])
    every_planted: set[str] = set().union(*world.planted.values())
    kinds: dict[str, Any] = {}
    for kind in KINDS:
        planted, hit = world.planted[kind], flagged[kind]
        true = planted & hit
        kinds[kind] = {
            "planted_as": PLANTED_AS[kind],
            "planted": len(planted),
            "flagged": len(hit),
            "true_positives": len(true),
            "precision": ratio(len(true), len(hit)),
            "recall": ratio(len(true), len(planted)),
            "false_flags": {
                "honest": len(hit & world.honest),
                "other_planted": len(hit & (every_planted - planted)),
                "generator_releases": len(hit & world.generators),
            },
            "planted_suspicious": len(planted & suspicious),
        }
    true = every_planted & suspicious
    honest_flagged = {d for d in signals_of if d in world.honest}
    by_signal = {
        kind: len(flagged[kind] & world.honest) for kind in KINDS if flagged[kind] & world.honest
    }
    bursts, events = world.burst_takers, world.event_takers
    return {
        "kinds": kinds,
        "suspicious": {
            "planted": len(every_planted),
            "flagged": len(suspicious),
            "true_positives": len(true),
            "precision": ratio(len(true), len(suspicious)),
            "recall": ratio(len(true), len(every_planted)),
            "honest": len(suspicious & world.honest),
            "generator_releases": len(suspicious & world.generators),
        },
        "honest_false_flags": {
            "honest_devices": len(world.honest),
            "flagged_any_signal": len(honest_flagged),
            "by_signal": by_signal,
            "took_bursts": {"devices": len(bursts), "flagged": len(honest_flagged & bursts)},
            "photographed_events": {
                "devices": len(events),
                "flagged": len(honest_flagged & events),
            },
            "neither": {
                "devices": len(world.honest - bursts - events),
                "flagged": len(honest_flagged - bursts - events),
            },
            "examples": sorted(honest_flagged)[:10],
        },
        "generator_releases_flagged": sorted(
            {f"{d}: {','.join(sorted(signals_of[d]))}" for d in signals_of if d in world.generators}
        ),
        "cross_kind_flags": sorted(
            f"{PLANTED_AS[kind]} {d}: {name}"
            for kind in KINDS
            for d in world.planted[kind]
            for name in signals_of.get(d, set())
            if name != kind
        ),
    }


def cluster_sizes(report: Mapping[str, Any]) -> dict[str, int]:
    rows = report["clusters"]
    return {
        "clusters_of_2_or_more": len(rows),
        "multi_device_clusters": sum(1 for r in rows if len(r["devices"]) > 1),
        "captures_in_clusters": sum(len(r["members"]) for r in rows),
        "largest_cluster": max((len(r["members"]) for r in rows), default=0),
        "devices_with_signals": len(report["devices"]),
    }


def timed_report(facts: Facts, pair_search: PairSearch | None) -> tuple[Report, float, RssSampler]:
    with RssSampler() as sampler:
        start = time.perf_counter()
        report = build_report(facts, pair_search=pair_search)
        seconds = time.perf_counter() - start
    return report, seconds, sampler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--captures", type=int, default=1_000_000)
    parser.add_argument("--devices", type=int, default=5_000, help="honest camera devices")
    parser.add_argument("--adversaries", type=int, default=25, help="planted devices per kind")
    parser.add_argument("--generator-vendors", type=int, default=5)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--offline-share", type=float, default=0.0)
    parser.add_argument("--event-window-s", type=float, default=55.0)
    parser.add_argument(
        "--pair-search", choices=("auto", "pigeonhole", "flat", "multihash"), default="auto",
        help="how build_report finds near pairs (auto: its own choice; the report is the same)",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    trim_heap()
    rss_start = rss_bytes()
    start = time.perf_counter()
    world = Builder(args).build()
    build_s = time.perf_counter() - start
    trim_heap()
    rss_world = rss_bytes()
    maxrss_world = max_rss()
    sizes = world.sizes
    print(
        f"world: {sizes['captures']:,} captures, {sizes['honest_devices']:,} honest cameras, "
        f"{sizes['planted_devices']} planted, {sizes['generator_releases']} generator releases, "
        f"{sizes['vendors']} vendors; built in {build_s:.1f} s, "
        f"RSS +{(rss_world - rss_start) / 2**20:.0f} MiB",
        flush=True,
    )

    pair_search: PairSearch | None = None if args.pair_search == "auto" else args.pair_search
    seconds: list[float] = []
    peaks: list[int] = []
    digests: list[str] = []
    report: Mapping[str, Any] = {}
    for run in range(args.runs):
        report = {}
        trim_heap()
        report, took, sampler = timed_report(world.facts, pair_search)
        seconds.append(took)
        peaks.append(sampler.peak)
        digests.append(hashlib.sha256(report_bytes(report)).hexdigest())
        print(f"run {run + 1}: build_report {took:.1f} s, peak RSS {sampler.peak / 2**20:.0f} MiB",
              flush=True)  # fmt: skip
    maxrss_end = max_rss()
    outcome = evaluate(world, report)
    median_s = statistics.median(seconds)
    result = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "arguments": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "parameters": asdict(Parameters()),
        "world": sizes,
        "world_build_s": round(build_s, 2),
        "report": cluster_sizes(report),
        "report_digest": digests,
        "build_report_s": [round(s, 2) for s in seconds],
        "build_report_median_s": round(median_s, 2),
        "memory_mib": {
            "rss_before_world": round(rss_start / 2**20),
            "rss_with_world": round(rss_world / 2**20),
            "rss_peak_during_report": round(max(peaks) / 2**20),
            "report_peak_above_world": round((max(peaks) - rss_world) / 2**20),
            "ru_maxrss_after_world": round(maxrss_world / 2**20),
            "ru_maxrss_at_end": round(maxrss_end / 2**20),
        },
        **outcome,
        "goals": {
            "precision_and_recall_0.95": all(
                (row["precision"] or 0) >= 0.95 and (row["recall"] or 0) >= 0.95
                for row in outcome["kinds"].values()
            ),
            "report_within_300_s": median_s <= 300,
        },
    }
    print_table(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


def print_table(result: dict[str, Any]) -> None:
    print(f"\n{'kind':<22} {'planted':>7} {'flagged':>7} {'TP':>4} {'precision':>9} "
          f"{'recall':>6}  false flags (honest / other planted / generator)")  # fmt: skip
    rows = [(row["planted_as"], row) for row in result["kinds"].values()]
    for label, row in rows:
        false = row["false_flags"]
        print(
            f"{label:<22} {row['planted']:>7} {row['flagged']:>7} {row['true_positives']:>4} "
            f"{row['precision'] or 0:>9.3f} {row['recall'] or 0:>6.3f}  "
            f"{false['honest']} / {false['other_planted']} / {false['generator_releases']}"
        )
    s = result["suspicious"]
    print(
        f"{'suspicious (any kind)':<22} {s['planted']:>7} {s['flagged']:>7} "
        f"{s['true_positives']:>4} {s['precision'] or 0:>9.3f} {s['recall'] or 0:>6.3f}  "
        f"{s['honest']} / - / {s['generator_releases']}"
    )
    honest = result["honest_false_flags"]
    print(
        f"\nhonest devices flagged: {honest['flagged_any_signal']} of {honest['honest_devices']} "
        f"(took bursts: {honest['took_bursts']['flagged']} of {honest['took_bursts']['devices']}; "
        f"photographed events: {honest['photographed_events']['flagged']} of "
        f"{honest['photographed_events']['devices']}; neither: {honest['neither']['flagged']} of "
        f"{honest['neither']['devices']}) {honest['by_signal']}"
    )
    if result["cross_kind_flags"]:
        print(f"cross-kind flags: {result['cross_kind_flags']}")
    if result["generator_releases_flagged"]:
        print(f"generator releases flagged: {result['generator_releases_flagged']}")
    memory = result["memory_mib"]
    print(
        f"build_report: median {result['build_report_median_s']} s of {result['build_report_s']}; "
        f"RSS with world {memory['rss_with_world']} MiB, peak during report "
        f"{memory['rss_peak_during_report']} MiB (+{memory['report_peak_above_world']}), "
        f"ru_maxrss {memory['ru_maxrss_at_end']} MiB; {result['report']}"
    )


if __name__ == "__main__":
    main()
