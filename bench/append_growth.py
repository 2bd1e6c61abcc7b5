"""Append cost against log size: leaves/s for every 100,000 leaves appended, on one database.

    .venv/bin/python -m bench.append_growth sqlite --leaves 1000000 --batch 1000
    .venv/bin/python -m bench.append_growth postgresql --leaves 1000000 --batch 10000

A flat column means appending costs the same at 1,000,000 entries as at 0 (the sequencer reads
and writes only the right edge of the tree). Each run uses a fresh database.
"""

import argparse
import os
import statistics
import tempfile
import time

import migrations
from bench.log_bench import DEFAULT_POSTGRES, fresh_postgres, make_leaves
from ledger import LogStore, Sequencer, Signer, open_engine

WINDOW = 100_000


def _nothing() -> None:
    pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("database", choices=["sqlite", "postgresql"])
    parser.add_argument("--leaves", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument(
        "--postgres", default=os.environ.get("PROV_TEST_POSTGRES_URL", DEFAULT_POSTGRES)
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        if args.database == "sqlite":
            url, drop = f"sqlite:///{tmp}/log.db", _nothing
        else:
            url, drop = fresh_postgres(args.postgres)
        try:
            migrations.upgrade(url)
            engine = open_engine(url)
            sequencer = Sequencer(LogStore(engine), Signer.generate("bench.example/log"), lambda: 0)
            sequencer.initialize()
            leaves = make_leaves(args.leaves, seed=1)
            print(f"{args.database}, batches of {args.batch:,}")
            print(f"{'entries':>12} {'median batch':>14} {'mean':>12}")
            for window in range(0, args.leaves, WINDOW):
                durations = []
                for start in range(window, min(window + WINDOW, args.leaves), args.batch):
                    began = time.perf_counter()
                    sequencer.append(leaves[start : start + args.batch])
                    durations.append(time.perf_counter() - began)
                count = min(WINDOW, args.leaves - window)
                print(
                    f"{window:>12,} {args.batch / statistics.median(durations):>12,.0f}/s "
                    f"{count / sum(durations):>10,.0f}/s",
                    flush=True,
                )
            engine.dispose()
        finally:
            drop()


if __name__ == "__main__":
    main()
