"""Log benchmark: append N leaves of ~300 bytes, then time proofs at full size, from the database.

Runs our log on SQLite (WAL, synchronous=FULL) and on PostgreSQL, and pymerkle's SQLite tree
as a peer on the same leaves in the same run. Prints a table and writes JSON.

    .venv/bin/python -m bench.log_bench --leaves 1000000 [--batch 10000] [--samples 1000]
    .venv/bin/python -m bench.log_bench --status [--leaves 1000000] [--revocations 1000]

`--status` measures instead what keeping the status index costs a batch (bench.status_cost):
median ms per batch of `--status-batch` leaves at 10% of `--leaves` and at `--leaves`, with
and without a revocation in the batch, against the same batches on a log without the index.

Proof latency is measured from the database through LogStore (a fresh connection checkout and
a query per proof), with no cache of ours. pymerkle keeps an in-memory subtree cache, so its
median depends on the number of samples: both use the same sample count.
"""

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url

import migrations
from bench.pymerkle_peer import run_pymerkle
from bench.status_cost import measure, with_revocations
from ledger import LogStore, Sequencer, Signer, hash_leaf, leafindex, open_engine

WINDOW = 100_000
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def make_leaves(count: int, seed: int) -> list[bytes]:
    """~300-byte JSON-like leaves with random content, so nothing compresses unrealistically."""
    rnd = random.Random(seed)
    return [
        b'{"kind":"bench/v1","n":%d,"sha256":"%s","pad":"%s"}'
        % (i, rnd.randbytes(32).hex().encode(), rnd.randbytes(90).hex().encode())
        for i in range(count)
    ]


def percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round((len(ordered) - 1) * pct / 100))]


def time_calls(call: Callable[[], object], samples: int) -> dict[str, float]:
    first_start = time.perf_counter()
    call()
    first = (time.perf_counter() - first_start) * 1000
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return {"first_ms": first, "p50_ms": statistics.median(times), "p90_ms": percentile(times, 90)}


class StatementCounter:
    """Counts the statements an engine executes and the bytes of their parameters."""

    def __init__(self, engine: Engine) -> None:
        self.statements = 0
        self.bytes_sent = 0
        event.listen(engine, "before_cursor_execute", self._count)

    def reset(self) -> None:
        self.statements = self.bytes_sent = 0

    def _count(self, _conn: object, _cursor: object, _sql: str, params: Any, *_: object) -> None:
        self.statements += 1
        rows = params if isinstance(params, list) else [params]
        for row in rows:
            values = row.values() if isinstance(row, Mapping) else row or ()
            # psycopg wraps bytea parameters in Binary(obj); sqlite3 passes memoryviews.
            blobs = (getattr(v, "obj", v) for v in values)
            self.bytes_sent += sum(
                memoryview(b).nbytes for b in blobs if isinstance(b, bytes | bytearray | memoryview)
            )


def run_ours(
    url: str, leaves: list[bytes], batch: int, samples: int, seed: int
) -> dict[str, float]:
    migrations.upgrade(url)
    engine = open_engine(url)
    store = LogStore(engine)
    sequencer = Sequencer(
        store, Signer.generate("bench.example/log"), lambda: time.time_ns() // 10**6
    )
    sequencer.initialize()
    io = StatementCounter(engine)
    batch_times: list[tuple[int, int, float]] = []
    batch_io: list[tuple[int, int]] = []
    start_all = time.perf_counter()
    for start in range(0, len(leaves), batch):
        chunk = leaves[start : start + batch]
        io.reset()
        t = time.perf_counter()
        sequencer.append(chunk)
        batch_times.append((start, start + len(chunk), time.perf_counter() - t))
        batch_io.append((io.statements, io.bytes_sent))
    total = time.perf_counter() - start_all
    size = len(leaves)

    def window(lo: int, hi: int) -> float:
        inside = [(e - s, d) for s, e, d in batch_times if s < hi and e > lo]
        return sum(n for n, _ in inside) / sum(d for _, d in inside)

    def window_median(lo: int, hi: int) -> float:
        """Leaves per second of the median batch: robust to a stray WAL checkpoint."""
        inside = [(e - s) / d for s, e, d in batch_times if s < hi and e > lo]
        return statistics.median(inside)

    # The leaf-hash index is derived after sequencing (ledger.leafindex): time it on its own.
    index_start = time.perf_counter()
    leafindex.catch_up(engine)
    index_rate = size / (time.perf_counter() - index_start)

    window_size = WINDOW if size >= 2 * WINDOW else max(1, size // 10)
    rnd = random.Random(seed)
    store = LogStore(open_engine(url))  # a fresh store: no process state carried from appends
    inclusion = time_calls(lambda: store.inclusion_proof(rnd.randrange(size), size), samples)
    consistency = time_calls(lambda: store.consistency_proof(rnd.randrange(1, size), size), samples)
    lookup = time_calls(lambda: store.find_leaf(hash_leaf(leaves[rnd.randrange(size)])), samples)
    engine.dispose()
    return {
        "append_leaves_per_s": size / total,
        "first_window_leaves_per_s": window(0, window_size),
        "last_window_leaves_per_s": window(size - window_size, size),
        "first_window_median_batch_leaves_per_s": window_median(0, window_size),
        "last_window_median_batch_leaves_per_s": window_median(size - window_size, size),
        # Statements and bytes a full batch sends to the database, second batch vs last full one:
        # equal at 1 and at N batches in, so the work per append does not grow with the log.
        "second_batch_statements": batch_io[1][0] if len(batch_io) > 1 else float("nan"),
        "last_batch_statements": batch_io[-2][0] if len(batch_io) > 1 else float("nan"),
        "second_batch_bytes_sent": batch_io[1][1] if len(batch_io) > 1 else float("nan"),
        "last_batch_bytes_sent": batch_io[-2][1] if len(batch_io) > 1 else float("nan"),
        **{f"inclusion_{k}": v for k, v in inclusion.items()},
        **{f"consistency_{k}": v for k, v in consistency.items()},
        "leaf_index_build_leaves_per_s": index_rate,
        "find_leaf_p50_ms": lookup["p50_ms"],
    }


def fresh_postgres(
    base_url: str, name: str | None = None, template: str | None = None
) -> tuple[str, Callable[[], None]]:
    """An empty database `name` (default prov_bench_<pid>) on the server at `base_url`, or a copy
    of `template`; and the function that drops it."""
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    name = name or f"prov_bench_{os.getpid()}"
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        suffix = f' TEMPLATE "{template}"' if template else ""
        connection.execute(text(f'CREATE DATABASE "{name}"{suffix}'))

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return make_url(base_url).set(database=name).render_as_string(hide_password=False), drop


def run_status(args: argparse.Namespace, tmp: str) -> dict[str, dict[str, dict[str, float]]]:
    leaves = with_revocations(make_leaves(args.leaves, args.seed), args.revocations, 0)
    sizes = [args.leaves // 10, args.leaves]
    results = {}
    for database in ("sqlite", "postgresql"):
        if database in args.skip:
            continue
        print(f"status index cost, {database}: {args.leaves:,} leaves ...", flush=True)
        drops = []
        if database == "sqlite":
            urls = (f"sqlite:///{tmp}/ruled.db", f"sqlite:///{tmp}/plain.db")
        else:
            (ruled, drop_ruled), (plain, drop_plain) = (
                fresh_postgres(args.postgres, f"prov_bench_{os.getpid()}_{name}")
                for name in ("ruled", "plain")
            )
            urls, drops = (ruled, plain), [drop_ruled, drop_plain]
        try:
            results[database] = measure(
                urls,
                leaves,
                sizes,
                lambda start, count: make_leaves(count, args.seed + 1 + start),
                args.status_batch,
                args.status_samples,
            )
        finally:
            for drop in drops:
                drop()
        for size, row in results[database].items():
            cells = ", ".join(f"{name} {value:,.2f}" for name, value in row.items())
            print(f"  at {size} entries: {cells}", flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leaves", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--postgres", default=os.environ.get("PROV_TEST_POSTGRES_URL", DEFAULT_POSTGRES)
    )
    parser.add_argument(
        "--skip", action="append", default=[], choices=["sqlite", "postgresql", "pymerkle"]
    )
    parser.add_argument("--out", type=Path, default=Path("bench/results/log_bench.json"))
    parser.add_argument("--status", action="store_true", help="the status index's batch cost")
    parser.add_argument("--revocations", type=int, default=1_000)
    parser.add_argument("--status-batch", type=int, default=1_000)
    parser.add_argument("--status-samples", type=int, default=25)
    args = parser.parse_args()
    if args.status:
        with tempfile.TemporaryDirectory() as tmp:
            status = run_status(args, tmp)
        out = args.out.with_name("status_bench.json")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(
            json.dumps(
                {"args": {k: str(v) for k, v in vars(args).items()}, "results": status}, indent=2
            )
        )
        print(f"wrote {out}")
        return

    leaves = make_leaves(args.leaves, args.seed)
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        if "sqlite" not in args.skip:
            print(
                f"ours, SQLite: {args.leaves:,} leaves in batches of {args.batch:,} ...", flush=True
            )
            results["ours_sqlite"] = run_ours(
                f"sqlite:///{tmp}/log.db", leaves, args.batch, args.samples, args.seed
            )
        if "postgresql" not in args.skip:
            print("ours, PostgreSQL ...", flush=True)
            url, drop = fresh_postgres(args.postgres)
            try:
                results["ours_postgresql"] = run_ours(
                    url, leaves, args.batch, args.samples, args.seed
                )
            finally:
                drop()
        if "pymerkle" not in args.skip:
            print("pymerkle, SQLite ...", flush=True)
            peer = run_pymerkle(
                leaves, Path(tmp) / "pymerkle.db", args.batch, args.samples, args.seed
            )
            results["pymerkle_sqlite"] = {
                "append_leaves_per_s": peer["append_leaves_per_s"],
                "first_window_leaves_per_s": peer["first_100k_leaves_per_s"],
                "last_window_leaves_per_s": peer["last_100k_leaves_per_s"],
                "inclusion_first_ms": peer["first_inclusion_ms"],
                "inclusion_p50_ms": peer["inclusion_p50_ms"],
                "inclusion_p90_ms": peer["inclusion_p90_ms"],
                "consistency_first_ms": peer["first_consistency_ms"],
                "consistency_p50_ms": peer["consistency_p50_ms"],
                "consistency_p90_ms": peer["consistency_p90_ms"],
            }

    metrics = list(dict.fromkeys(m for r in results.values() for m in r))
    names = list(results)
    print(f"\n{args.leaves:,} leaves, batches of {args.batch:,}, {args.samples:,} proof samples")
    print(f"{'metric':<40}" + "".join(f"{n:>18}" for n in names))
    for metric in metrics:
        cells = (results[n].get(metric) for n in names)
        print(
            f"{metric:<40}"
            + "".join(f"{c:>18,.3f}" if c is not None else f"{'-':>18}" for c in cells)
        )
    ratios = {}
    if "ours_sqlite" in results and "pymerkle_sqlite" in results:
        ours, peer = results["ours_sqlite"], results["pymerkle_sqlite"]
        ratios = {
            "append_ours_over_pymerkle": ours["append_leaves_per_s"] / peer["append_leaves_per_s"],
            "inclusion_p50_pymerkle_over_ours": peer["inclusion_p50_ms"] / ours["inclusion_p50_ms"],
            "consistency_p50_pymerkle_over_ours": peer["consistency_p50_ms"]
            / ours["consistency_p50_ms"],
            "inclusion_first_pymerkle_over_ours": peer["inclusion_first_ms"]
            / ours["inclusion_first_ms"],
        }
        print("\nratios (SQLite, same run):")
        for name, value in ratios.items():
            print(f"  {name:<38} {value:8.2f}x")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "args": {k: str(v) for k, v in vars(args).items()},
                "results": results,
                "ratios": ratios,
            },
            indent=2,
        )
    )
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
