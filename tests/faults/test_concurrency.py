"""Two processes append to one log at once: the database lock keeps it a single history."""

import multiprocessing
from multiprocessing import Queue

import pytest

from ledger import LogStore, Sequencer, Signer, open_engine
from tests.support.clocks import FixedClock
from tests.support.invariants import InvariantChecker

WRITERS = 2
BATCHES = 25


def _writer(url: str, key: str, writer: int, results: "Queue[tuple[int, list[int]]]") -> None:
    engine = open_engine(url)
    sequencer = Sequencer(LogStore(engine), Signer.from_string(key), FixedClock())
    sizes: list[int] = []
    for batch in range(BATCHES):
        leaves = [f"writer {writer} batch {batch} leaf {i}".encode() for i in range(1 + batch * 7)]
        sizes.append(sequencer.append(leaves).checkpoint.size)
    engine.dispose()
    results.put((writer, sizes))


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_concurrent_writers_never_fork_the_log(
    migrated_url: str, store: LogStore, signer: Signer
) -> None:
    Sequencer(store, signer, FixedClock()).initialize()
    context = multiprocessing.get_context("spawn")
    results: Queue[tuple[int, list[int]]] = context.Queue()
    processes = [
        context.Process(target=_writer, args=(migrated_url, signer.to_string(), w, results))
        for w in range(WRITERS)
    ]
    for process in processes:
        process.start()
    reported = [results.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(timeout=30)
        assert process.exitcode == 0

    expected = {
        f"writer {w} batch {b} leaf {i}".encode()
        for w in range(WRITERS)
        for b in range(BATCHES)
        for i in range(1 + b * 7)
    }
    size = store.latest_checkpoint().size
    entries = store.entries(0, size)
    assert len(entries) == len(expected)  # nothing lost, nothing twice
    assert set(entries) == expected

    position = {entry: index for index, entry in enumerate(entries)}
    for w in range(WRITERS):
        for b in range(BATCHES):
            indexes = [
                position[f"writer {w} batch {b} leaf {i}".encode()] for i in range(1 + b * 7)
            ]
            assert indexes == list(range(indexes[0], indexes[0] + len(indexes))), "batch split"

    # The two writers' checkpoints interleave into one chain of distinct sizes.
    all_sizes = sorted(s for _, sizes in reported for s in sizes)
    assert len(set(all_sizes)) == WRITERS * BATCHES
    assert all_sizes[-1] == size

    # Replaying the entries reproduces every checkpoint, each consistent with the one before.
    checker = InvariantChecker(store, signer.verifier)
    for checkpoint_size in all_sizes:
        assert store.checkpoint_at(checkpoint_size).size == checkpoint_size
    for checkpoint_size in all_sizes:
        root = store.checkpoint_at(checkpoint_size).checkpoint.root_hash
        checker.seen.append((checkpoint_size, root))
    checker.check(entries)
