"""Measure the PyPI package ``pymerkle`` (RFC 9162 Merkle tree, SQLite backend) as a benchmark peer.

pymerkle API used (7.0.0): ``SqliteTree(dbfile)`` with its defaults (sha256, security on, i.e.
0x00/0x01 leaf/node prefixes), ``append_entries(batch)`` (one transaction + ``executemany`` per
call), ``prove_inclusion(index, size)``, ``prove_consistency(prior_size, later_size)``,
``cache_clear()``, ``get_root(size)``, ``verify_inclusion`` and ``verify_consistency``.
Leaf indexes are 1-based: leaf ``i`` of the tree is ``leaves[i - 1]``.

Run standalone: ``.venv/bin/python bench/pymerkle_peer.py [--leaves N] [--batch-size B]``.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import pathlib
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from typing import TypeVar

from pymerkle import SqliteTree, verify_consistency, verify_inclusion

T = TypeVar("T")

WINDOW = 100_000


def _percentile(samples: list[float], pct: float) -> float:
    """Linear interpolation between closest ranks (numpy's default method)."""
    ordered = sorted(samples)
    pos = (len(ordered) - 1) * pct / 100
    low, high = math.floor(pos), math.ceil(pos)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def _timed_ms(call: Callable[[], T]) -> tuple[float, T]:
    start = time.perf_counter()
    result = call()
    return (time.perf_counter() - start) * 1000, result


def _window_rate(batches: list[tuple[int, int, float]], low: int, high: int) -> float:
    """Leaves/s over the whole batches that overlap leaf positions [low, high)."""
    picked = [(end - start, secs) for start, end, secs in batches if start < high and end > low]
    return sum(n for n, _ in picked) / sum(secs for _, secs in picked)


def run_pymerkle(
    leaves: list[bytes], db_path: pathlib.Path, batch_size: int, proof_samples: int, seed: int = 1
) -> dict[str, float]:
    """Append `leaves` in batches of `batch_size` into a fresh pymerkle SQLite tree at db_path,
    then time `proof_samples` inclusion proofs (random index, at full size) and `proof_samples`
    consistency proofs (random old size < full size -> full size).

    "first_100k"/"last_100k" are the rates over the batches covering the first/last 100,000
    leaves; with fewer than 200,000 leaves the first/last 10% of the leaves are used instead.
    "first_*_ms" is the first proof of each kind with pymerkle's subroot cache empty; the
    percentiles cover the `proof_samples` calls that follow it, with the cache as those calls
    leave it (it only ever grows). Raises if the timed proofs do not verify.
    """
    size = len(leaves)
    if size < 2 or batch_size < 1 or proof_samples < 1:
        raise ValueError("need >= 2 leaves, batch_size >= 1 and proof_samples >= 1")
    if db_path.exists():
        # Appending onto an existing tree would measure a different workload.
        raise FileExistsError(f"{db_path} already exists; pymerkle needs a fresh database")

    rng = random.Random(seed)
    # Drawn up front so the RNG is not inside the timed region.
    indexes = [rng.randint(1, size) for _ in range(proof_samples + 1)]
    old_sizes = [rng.randint(1, size - 1) for _ in range(proof_samples + 1)]

    with SqliteTree(str(db_path)) as tree:
        batches: list[tuple[int, int, float]] = []
        for start in range(0, size, batch_size):
            batch = leaves[start : start + batch_size]
            ms, _ = _timed_ms(partial(tree.append_entries, batch))
            batches.append((start, start + len(batch), ms / 1000))

        # Each proof kind starts cold so neither benefits from subroots cached by the other.
        tree.cache_clear()
        first_inclusion_ms, inclusion = _timed_ms(partial(tree.prove_inclusion, indexes[0], size))
        inclusion_ms = [_timed_ms(partial(tree.prove_inclusion, i, size))[0] for i in indexes[1:]]
        tree.cache_clear()
        first_consistency_ms, consistency = _timed_ms(
            partial(tree.prove_consistency, old_sizes[0], size)
        )
        consistency_ms = [
            _timed_ms(partial(tree.prove_consistency, m, size))[0] for m in old_sizes[1:]
        ]

        # The leaf hash is computed here, not read back from pymerkle, so a passing check also
        # confirms the 1-based index mapping and the RFC 9162 0x00 leaf prefix.
        root = tree.get_root(size)
        leaf_hash = hashlib.sha256(b"\x00" + leaves[indexes[0] - 1]).digest()
        verify_inclusion(leaf_hash, root, inclusion, index=indexes[0], size=size)
        verify_consistency(
            tree.get_root(old_sizes[0]), root, consistency, prior_size=old_sizes[0], later_size=size
        )

    window = WINDOW if size >= 2 * WINDOW else max(1, size // 10)
    return {
        "append_leaves_per_s": size / sum(secs for _, _, secs in batches),
        "first_100k_leaves_per_s": _window_rate(batches, 0, window),
        "last_100k_leaves_per_s": _window_rate(batches, size - window, size),
        "inclusion_p50_ms": statistics.median(inclusion_ms),
        "inclusion_p90_ms": _percentile(inclusion_ms, 90),
        "consistency_p50_ms": statistics.median(consistency_ms),
        "consistency_p90_ms": _percentile(consistency_ms, 90),
        "first_inclusion_ms": first_inclusion_ms,
        "first_consistency_ms": first_consistency_ms,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmark pymerkle's SQLite tree as a peer.")
    parser.add_argument("--leaves", type=int, default=20_000)
    parser.add_argument("--leaf-bytes", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=1_000)
    parser.add_argument("--proof-samples", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    # Seeded so repeated runs append byte-identical logs.
    data_rng = random.Random(args.seed)
    leaves = [data_rng.randbytes(args.leaf_bytes) for _ in range(args.leaves)]
    with tempfile.TemporaryDirectory(prefix="pymerkle-peer-") as tmp:
        result = run_pymerkle(
            leaves, pathlib.Path(tmp) / "tree.db", args.batch_size, args.proof_samples, args.seed
        )
    windows = "100k" if args.leaves >= 2 * WINDOW else "10% (fewer than 200k leaves)"
    print(
        f"pymerkle SqliteTree, {args.leaves:,} leaves x {args.leaf_bytes} B, "
        f"batch {args.batch_size:,}, {args.proof_samples} proof samples, first/last = {windows}"
    )
    for key, value in result.items():
        print(f"  {key:26s} {value:14,.3f}")


if __name__ == "__main__":
    main()
