"""What keeping the status index costs a batch, against log size (`bench.log_bench --status`).

Two logs get the same leaves: one sequenced with the registry's status rule (the index and a
signed status note per checkpoint), one without (the peer). Revocation/v1 leaves, each naming
its own device, are spread evenly through the leaves (1,000 in 1,000,000 by default). At each
measured size both logs take the same `samples` pairs of batches, one with no revocation and
one with one revocation in it, timed one by one: the medians say what the index adds to a batch,
and comparing sizes says whether that grows with the log.
"""

import hashlib
import statistics
import time
from collections.abc import Callable, Sequence

from sqlalchemy import Engine, event

import migrations
from ledger import LogStore, Sequencer, Signer, open_engine
from registry.entries.codec import canonical
from registry.entries.status_subjects import status_subjects

BUILD_BATCH = 10_000  # how the logs grow between measured sizes (not timed)


def revocation_leaf(n: int) -> bytes:
    """A revocation/v1 leaf as the registry logs one (~420 bytes), naming device n."""
    device = hashlib.sha256(b"bench device %d" % n).hexdigest()
    return canonical(
        {
            "kind": "revocation/v1",
            "device": device,
            "compromised_since": 1_790_000_000_000 + n,
            "reason": "bench: key extracted",
            "signer": hashlib.sha256(b"bench ca").hexdigest(),
            "sig": "MEUCIQ" + "A" * 90,
            "logged_at": 1_790_000_000_000 + n,
        }
    )


def with_revocations(leaves: list[bytes], revocations: int, first_device: int) -> list[bytes]:
    """`leaves` with `revocations` of them, evenly spaced, replaced by revocation leaves."""
    spread = list(leaves)
    if revocations:
        step = max(1, len(spread) // revocations)
        for k, i in enumerate(range(step // 2, len(spread), step)):
            if k < revocations:
                spread[i] = revocation_leaf(first_device + k)
    return spread


class _Statements:
    """Counts the statements an engine runs: what a batch costs, free of the machine's noise."""

    def __init__(self, engine: Engine) -> None:
        self.count = 0
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, *_args: object) -> None:
        self.count += 1


def _timed(sequencer: Sequencer, batch: Sequence[bytes], counter: _Statements) -> tuple[float, int]:
    before = counter.count
    start = time.perf_counter()
    sequencer.append(batch)
    return (time.perf_counter() - start) * 1000, counter.count - before


def _grow(sequencers: Sequence[Sequencer], leaves: list[bytes], start: int, end: int) -> None:
    for low in range(start, end, BUILD_BATCH):
        for sequencer in sequencers:
            sequencer.append(leaves[low : min(end, low + BUILD_BATCH)])


def measure(
    urls: tuple[str, str],
    leaves: list[bytes],
    sizes: Sequence[int],
    batch_leaves: Callable[[int, int], list[bytes]],
    batch: int,
    samples: int,
) -> dict[str, dict[str, float]]:
    """Median ms per batch of `batch` leaves at each size in `sizes`, for the log with the rule
    (batches without and with a revocation) and the one without (same batches, the peer)."""
    signer = Signer.generate("bench.example/status-log")
    engines = []
    for url in urls:
        migrations.upgrade(url)
        engines.append(open_engine(url))
    clock = lambda: time.time_ns() // 10**6  # noqa: E731
    ruled_store = LogStore(engines[0])
    ruled = Sequencer(ruled_store, signer, clock, status_rule=status_subjects)
    plain = Sequencer(LogStore(engines[1]), signer, clock)
    ruled.initialize()
    plain.initialize()
    counters = [_Statements(engine) for engine in engines]
    results: dict[str, dict[str, float]] = {}
    grown, fresh = 0, 0
    for size in sizes:
        _grow([ruled, plain], leaves, grown, size)
        grown = size
        timings: dict[str, list[float]] = {"rule_no_rev": [], "rule_one_rev": [], "no_rule": []}
        statements: dict[str, int] = {}
        for _ in range(samples):
            quiet = batch_leaves(fresh, batch)
            noisy = with_revocations(batch_leaves(fresh + batch, batch), 1, 10_000_000 + fresh)
            fresh += 2 * batch
            for name, sequencer, counter, leaves_in in [
                ("rule_no_rev", ruled, counters[0], quiet),
                ("no_rule", plain, counters[1], quiet),
                ("rule_one_rev", ruled, counters[0], noisy),
                ("no_rule", plain, counters[1], noisy),
            ]:
                ms, statements[name] = _timed(sequencer, leaves_in, counter)
                timings[name].append(ms)
        subjects = len(ruled_store.status_items(ruled_store.latest_checkpoint().size))
        results[f"{size:,}"] = {
            **{f"{name}_median_ms": statistics.median(ms) for name, ms in timings.items()},
            **{f"{name}_statements": count for name, count in statements.items()},
            "subjects_indexed": subjects,
        }
    for engine in engines:
        engine.dispose()
    return results
