"""Near-duplicate lookup benchmark: `registry.imaging.neardup.NearDuplicateIndex` at 1M and 10M PDQ hashes.

Synthetic 256-bit hashes: half uniformly random, half in clusters of near-duplicates (random
centres; 2-20 members each, every member 0-40 random bit flips from its centre, drawn with
replacement so a few cancel). Rows are shuffled and keyed by non-contiguous leaf indexes.

A query is 8 hashes in one `search` call, as a lookup sends the 8 dihedral variants: the "true"
hash at a random position plus 7 random hashes (the variants of a real image are unrelated
hashes). The true hash is a clustered entry with 0-8 bits flipped (a re-encoded copy: its
cluster mates lie at distances spread over 0-90, so the radius boundary is exercised) for 3 of 4
queries, and a random hash for the rest.

For each size and index kind (IndexBinaryFlat; IndexBinaryMultiHash(256, 11, 23) nflip 2, the
fastest exact MultiHash setting, only up to --multihash-max entries, as it costs ~1 KB/entry):

* p50 / p99 / mean latency of `search(8 hashes)` (radius 31), and p50 with k=10;
* the same with one core kept busy by a CPU-bound child process (a replica also serving HTTP,
  or a shared machine), and for flat with `threads=1`;
* index memory per entry: `memory_bytes()` (allocated capacity) and the process's RSS growth
  while building (the index is built by appending batches of --batch hashes, as a replica
  loads from its database);
* recall against a NumPy brute force within radius 31 (must be 100%), and whether the result
  lists are identical (same leaves, distances and best variants);
* the NumPy brute force itself (np.bitwise_count over the packed codes, vectorised over the 8
  variants, chunked), and the ratio of our p50 to its p50;
* the baseline without shards and worker threads: one IndexBinaryFlat over all codes,
  `range_search` on FAISS's OpenMP threads, quiet and with one core busy.

    .venv/bin/python -m bench.lookup_bench [--sizes 1000000 10000000] [--queries 200]
        [--brute-queries 30] [--busy-queries 50] [--multihash-max 1000000] [--batch 100000]

Goals (issue 4): p50 <= 5 ms at 1M (<= 20 ms at 10M), exact, <= 100 bytes per entry.
Prints a table and writes bench/results/lookup_bench.json.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import functools
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import numpy.typing as npt

from registry.imaging.neardup import PDQ_BYTES, Candidate, Kind, NearDuplicateIndex

RESULTS = Path(__file__).parent / "results" / "lookup_bench.json"
RADIUS = NearDuplicateIndex.RADIUS
VARIANTS = 8
MAX_CLUSTER_FLIPS = 40
MAX_QUERY_FLIPS = 8
BRUTE_CHUNK = 1 << 20

Codes = npt.NDArray[np.uint8]
Ints = npt.NDArray[np.int64]


# ---------------------------------------------------------------------------------------------
# Data


def flip_masks(rng: np.random.Generator, flips: Ints) -> Codes:
    """One 32-byte XOR mask per row with flips[row] bit toggles (positions drawn with
    replacement, so the distance is flips[row] or a little less, same parity)."""
    rows = len(flips)
    most = int(flips.max()) if rows else 0
    positions = rng.integers(0, 8 * PDQ_BYTES, size=(rows, max(most, 1)))
    bits = np.zeros((rows, 8 * PDQ_BYTES), dtype=np.uint8)
    for j in range(most):
        sel = np.nonzero(flips > j)[0]
        bits[sel, positions[sel, j]] ^= 1
    return np.packbits(bits, axis=1)


def make_corpus(n: int, rng: np.random.Generator) -> tuple[Codes, npt.NDArray[np.bool_]]:
    """n codes (shuffled) and which of them are cluster members."""
    n_random = n // 2
    n_clustered = n - n_random
    sizes = rng.integers(2, 21, size=n_clustered // 2 + 1)  # more than enough clusters
    sizes = sizes[: int(np.searchsorted(np.cumsum(sizes), n_clustered)) + 1]
    sizes[-1] -= int(sizes.sum()) - n_clustered
    centres = rng.integers(0, 256, size=(len(sizes), PDQ_BYTES), dtype=np.uint8)
    owner = np.repeat(np.arange(len(sizes)), sizes)
    codes = np.empty((n, PDQ_BYTES), dtype=np.uint8)
    codes[:n_random] = rng.integers(0, 256, size=(n_random, PDQ_BYTES), dtype=np.uint8)
    chunk = 250_000
    for start in range(0, n_clustered, chunk):
        stop = min(start + chunk, n_clustered)
        flips = rng.integers(0, MAX_CLUSTER_FLIPS + 1, size=stop - start)
        codes[n_random + start : n_random + stop] = centres[owner[start:stop]] ^ flip_masks(
            rng, flips
        )
    clustered = np.zeros(n, dtype=bool)
    clustered[n_random:] = True
    order = rng.permutation(n)
    return codes[order], clustered[order]


def make_queries(
    codes: Codes, clustered: npt.NDArray[np.bool_], count: int, rng: np.random.Generator
) -> list[list[bytes]]:
    members = np.nonzero(clustered)[0]
    queries: list[list[bytes]] = []
    for i in range(count):
        variants = rng.integers(0, 256, size=(VARIANTS, PDQ_BYTES), dtype=np.uint8)
        if i % 4 != 3:
            source = codes[members[rng.integers(0, len(members))]]
            flips = rng.integers(0, MAX_QUERY_FLIPS + 1, size=1)
            variants[rng.integers(0, VARIANTS)] = source ^ flip_masks(rng, flips)[0]
        queries.append([row.tobytes() for row in variants])
    return queries


def leaf_indexes(n: int) -> Ints:
    """Captures are a sparse subset of the log's leaves: not 0..n-1."""
    return np.arange(n, dtype=np.int64) * 3 + 11


# ---------------------------------------------------------------------------------------------
# Brute force (the reference and the baseline)


def brute_force(
    columns: npt.NDArray[np.uint64], leaves: Ints, query: Sequence[bytes]
) -> list[Candidate]:
    """All leaves within RADIUS of any query hash, best (distance, variant) each.

    `columns` is the codes as 4 contiguous uint64 columns (4, n); the 8 variants are one
    broadcast dimension, the database is processed in chunks of BRUTE_CHUNK rows.
    """
    q = np.frombuffer(b"".join(query), dtype=np.uint64).reshape(len(query), 4)
    n = columns.shape[1]
    hit_rows: list[Ints] = []
    hit_variants: list[Ints] = []
    hit_dists: list[Ints] = []
    for start in range(0, n, BRUTE_CHUNK):
        stop = min(start + BRUTE_CHUNK, n)
        acc = np.zeros((len(query), stop - start), dtype=np.uint16)
        for word in range(4):
            acc += np.bitwise_count(columns[word, None, start:stop] ^ q[:, word, None])
        variant, row = np.nonzero(acc <= RADIUS)
        hit_rows.append(row.astype(np.int64) + start)
        hit_variants.append(variant.astype(np.int64))
        hit_dists.append(acc[variant, row].astype(np.int64))
    rows = np.concatenate(hit_rows)
    variants = np.concatenate(hit_variants)
    dists = np.concatenate(hit_dists)
    best: dict[int, tuple[int, int]] = {}
    for leaf, dist, variant in zip(
        leaves[rows].tolist(), dists.tolist(), variants.tolist(), strict=True
    ):
        if leaf not in best or (dist, variant) < best[leaf]:
            best[leaf] = (dist, variant)
    ranked = sorted((dist, leaf, variant) for leaf, (dist, variant) in best.items())
    return [Candidate(leaf, dist, variant) for dist, leaf, variant in ranked]


# ---------------------------------------------------------------------------------------------
# Measurement


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def trim_heap() -> None:
    """Give freed heap memory back to the OS so the next RSS delta starts clean (glibc)."""
    gc.collect()
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def percentile(samples: list[float], pct: float) -> float:
    return float(np.percentile(np.asarray(samples), pct))


def summary(samples_ms: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(percentile(samples_ms, 50), 3),
        "p99_ms": round(percentile(samples_ms, 99), 3),
        "mean_ms": round(statistics.fmean(samples_ms), 3),
        "min_ms": round(min(samples_ms), 3),
        "runs": len(samples_ms),
    }


def time_calls(calls: list[Callable[[], object]]) -> list[float]:
    for call in calls[:3]:  # warm-up: page in the codes, start the worker threads
        call()
    times: list[float] = []
    for call in calls:
        start = time.perf_counter_ns()
        call()
        times.append((time.perf_counter_ns() - start) / 1e6)
    return times


def time_searches(
    index: NearDuplicateIndex, queries: list[list[bytes]], k: int | None = None
) -> list[float]:
    return time_calls([functools.partial(index.search, query, k=k) for query in queries])


@contextlib.contextmanager
def busy_core() -> Iterator[None]:
    """One CPU-bound process for the duration: a core taken by other work, as on a replica
    that also serves HTTP (or a shared machine). Ends only the process it started."""
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.2)
        yield
    finally:
        spinner.kill()
        spinner.wait()


def build(
    kind: Kind, codes: Codes, leaves: Ints, batch: int, threads: int | None = None
) -> tuple[NearDuplicateIndex, dict[str, Any]]:
    trim_heap()
    before = rss_bytes()
    start = time.perf_counter()
    index = NearDuplicateIndex(kind, threads=threads)
    for lo in range(0, len(codes), batch):
        hi = min(lo + batch, len(codes))
        index.add(leaves[lo:hi].tolist(), [row.tobytes() for row in codes[lo:hi]])
    build_s = time.perf_counter() - start
    trim_heap()
    grown = rss_bytes() - before
    n = len(index)
    return index, {
        "build_s": round(build_s, 2),
        "threads": index.threads,
        "memory_bytes": index.memory_bytes(),
        "bytes_per_entry": round(index.memory_bytes() / n, 1),
        "rss_delta_bytes": grown,
        "rss_bytes_per_entry": round(grown / n, 1),
    }


def raw_faiss(codes: Codes, queries: list[list[bytes]], busy_queries: int) -> dict[str, Any]:
    """The baseline without our sharding and worker threads: one IndexBinaryFlat over all
    codes, range_search(8 variants) with FAISS's own OpenMP threads."""
    flat = faiss.IndexBinaryFlat(8 * PDQ_BYTES)
    flat.add(codes)
    arrays = [np.frombuffer(b"".join(q), dtype=np.uint8).reshape(-1, PDQ_BYTES) for q in queries]
    calls: list[Callable[[], object]] = [
        functools.partial(flat.range_search, a, RADIUS + 1) for a in arrays
    ]
    quiet = summary(time_calls(calls))
    with busy_core():
        busy = summary(time_calls(calls[:busy_queries]))
    return {"omp_threads": faiss.omp_get_max_threads(), "search": quiet, "search_busy_core": busy}


def recall(
    index: NearDuplicateIndex, queries: list[list[bytes]], expected: list[list[Candidate]]
) -> dict[str, Any]:
    want = found = identical = boundary = 0
    for query, truth in zip(queries, expected, strict=True):
        got = index.search(query)
        have = {(c.leaf_index, c.distance) for c in got}
        want += len(truth)
        found += sum((c.leaf_index, c.distance) in have for c in truth)
        identical += got == truth
        boundary += sum(c.distance >= 28 for c in truth)
    return {
        "queries": len(queries),
        "expected_matches": want,
        "found": found,
        "recall": round(found / want, 6) if want else 1.0,
        "identical_results": identical,
        "expected_at_distance_28_to_31": boundary,
    }


def run_size(n: int, args: argparse.Namespace, rng: np.random.Generator) -> dict[str, Any]:
    print(f"\n== {n:,} entries: generating ...", flush=True)
    start = time.perf_counter()
    codes, clustered = make_corpus(n, rng)
    leaves = leaf_indexes(n)
    queries = make_queries(codes, clustered, args.queries, rng)
    brute_queries = queries[: args.brute_queries]
    columns = np.ascontiguousarray(codes.view(np.uint64).T)  # (4, n) for the brute force
    print(f"   generated in {time.perf_counter() - start:.1f} s; brute force ...", flush=True)

    expected: list[list[Candidate]] = []
    brute_ms: list[float] = []
    for query in brute_queries:
        t0 = time.perf_counter_ns()
        expected.append(brute_force(columns, leaves, query))
        brute_ms.append((time.perf_counter_ns() - t0) / 1e6)
    matches = [len(e) for e in expected]
    result: dict[str, Any] = {
        "entries": n,
        "clustered_entries": int(clustered.sum()),
        "queries": len(queries),
        "matches_per_query": {
            "mean": round(statistics.fmean(matches), 2) if matches else 0,
            "max": max(matches, default=0),
        },
        "brute_force": summary(brute_ms),
        "kinds": {},
    }
    del columns

    kinds: list[Kind] = ["flat", "multihash"]
    for kind in kinds:
        if kind == "multihash" and n > args.multihash_max:
            result["kinds"][kind] = {
                "skipped": f"{n:,} > --multihash-max {args.multihash_max:,} (~1 KB per entry, "
                "single-threaded add)"
            }
            continue
        print(f"   {kind}: building ...", flush=True)
        index, memory = build(kind, codes, leaves, args.batch)
        print(f"   {kind}: built in {memory['build_s']} s; searching ...", flush=True)
        latency = summary(time_searches(index, queries))
        k10 = summary(time_searches(index, queries[: max(20, len(queries) // 4)], k=10))
        with busy_core():
            busy = summary(time_searches(index, queries[: args.busy_queries]))
        quality = recall(index, brute_queries, expected)
        result["kinds"][kind] = {
            **memory,
            "search": latency,
            "search_k10": k10,
            "search_busy_core": busy,
            "ratio_p50_to_brute_force": round(
                latency["p50_ms"] / result["brute_force"]["p50_ms"], 4
            ),
            **quality,
        }
        if kind == "flat":
            del index
            trim_heap()
            print("   flat, 1 thread; raw FAISS (OpenMP, one index) ...", flush=True)
            index, _ = build(kind, codes, leaves, args.batch, threads=1)
            result["kinds"][kind]["search_1_thread"] = summary(time_searches(index, queries))
            del index
            trim_heap()
            result["raw_faiss_flat"] = raw_faiss(codes, queries, args.busy_queries)
            continue
        del index
        trim_heap()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--queries", type=int, default=200, help="timed searches per size")
    parser.add_argument(
        "--brute-queries", type=int, default=30, help="of those, checked against brute force"
    )
    parser.add_argument(
        "--busy-queries", type=int, default=50, help="searches timed with one core kept busy"
    )
    parser.add_argument("--multihash-max", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=100_000, help="hashes per add() call")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    load_before = os.getloadavg()
    started = time.perf_counter()
    sizes = [run_size(n, args, rng) for n in args.sizes]
    result: dict[str, Any] = {
        "benchmark": "lookup_bench",
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "numpy": np.__version__,
            "faiss": faiss.__version__,
            "faiss_omp_threads": faiss.omp_get_max_threads(),
            "faiss_simd_level": faiss.SIMDConfig.get_level_name(),
            "loadavg_before": [round(x, 2) for x in load_before],
            "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        },
        "radius": RADIUS,
        "variants_per_query": VARIANTS,
        "data": "half uniform random, half clusters of 2-20 with 0-40 flips from the centre; "
        "query = clustered entry with 0-8 flips (3 of 4) or random, plus 7 random variants",
        "batch": args.batch,
        "goals": {"p50_ms_at_1m": 5, "p50_ms_at_10m": 20, "bytes_per_entry": 100, "recall": 1.0},
        "sizes": sizes,
        "total_s": round(time.perf_counter() - started, 1),
    }

    print()
    print(
        f"{'entries':>11} {'kind':>10} {'p50 ms':>7} {'p99 ms':>7} {'busy p50':>8}"
        f" {'1thr p50':>8} {'k10 p50':>7} {'B/entry':>7} {'RSS B/e':>7} {'build s':>7}"
        f" {'recall':>7} {'brute p50':>9} {'ours/brute':>10}"
    )
    for size in sizes:
        n = size["entries"]
        for kind, r in size["kinds"].items():
            if "skipped" in r:
                print(f"{n:>11,} {kind:>10}  skipped: {r['skipped']}")
                continue
            one = r.get("search_1_thread", {}).get("p50_ms")
            print(
                f"{n:>11,} {kind:>10} {r['search']['p50_ms']:>7.2f} {r['search']['p99_ms']:>7.2f}"
                f" {r['search_busy_core']['p50_ms']:>8.2f} {'-' if one is None else f'{one:.2f}':>8}"
                f" {r['search_k10']['p50_ms']:>7.2f} {r['bytes_per_entry']:>7.1f}"
                f" {r['rss_bytes_per_entry']:>7.1f} {r['build_s']:>7.1f} {r['recall']:>7.2%}"
                f" {size['brute_force']['p50_ms']:>9.1f} {r['ratio_p50_to_brute_force']:>10.3f}"
            )
        raw = size.get("raw_faiss_flat")
        if raw:
            print(
                f"{n:>11,} {'faiss-omp':>10} {raw['search']['p50_ms']:>7.2f}"
                f" {raw['search']['p99_ms']:>7.2f} {raw['search_busy_core']['p50_ms']:>8.2f}"
                "   (one IndexBinaryFlat, FAISS's OpenMP threads, range_search only)"
            )
    print(
        f"\ntotal {result['total_s']} s; load average before {load_before}, after {os.getloadavg()}"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
