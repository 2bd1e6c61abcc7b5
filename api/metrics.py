"""The server's Prometheus metrics: every one is defined here (docs/operations.md says what each
means and which alarms to set on it). ledger and registry know nothing of Prometheus: the
sequencer reports to a `SequencerObserver` (SequencerMetrics, below), the witness loop hands
its results to a callback (`count_pushes`), and the rest is measured from the api layer.

One process (`prov serve`, TestClient): each app has its own CollectorRegistry, with the
process metrics (CPU, memory, file descriptors, GC). Several (`prov serve --workers N`): the
command makes a private directory (`multiprocess_directory`) and sets PROMETHEUS_MULTIPROC_DIR
before the workers start; each process writes its values to files there, and GET /metrics in
any worker adds them all up (MultiProcessCollector). Process metrics are left out there:
prometheus-client cannot aggregate them across processes, and one worker's alone would
mislead (use the node's or systemd's per-unit figures instead).
"""

import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
    multiprocess,
    values,
)

from ledger.witnessing import PushResult
from registry.lookup.query import IndexStats

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST
UNMATCHED = "unmatched"  # the route label of a path no route matches
# Methods are client input too: anything else is counted as "other", not as its own series.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
REJECTIONS = frozenset({"rate_limited", "overloaded", "body_too_large"})
# Request latency: tiles from memory take well under a millisecond, an image lookup or a
# 1,000-record batch seconds.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
BATCH_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
SAMPLE_EVERY_S = 1.0  # how often a process refreshes its index gauges after a request


def multiprocess_enabled() -> bool:
    return bool(os.environ.get(MULTIPROC_ENV))


@contextmanager
def multiprocess_directory() -> Iterator[Path]:
    """A fresh private directory (mode 0700, this user's: mkdtemp) as PROMETHEUS_MULTIPROC_DIR
    for this process and the workers it starts, removed afterwards: values left by an earlier
    run (or another user) would be added to this one's."""
    path = Path(tempfile.mkdtemp(prefix="prov-metrics-"))
    previous = os.environ.get(MULTIPROC_ENV)
    os.environ[MULTIPROC_ENV] = str(path)
    # prometheus-client picks its value class when it is first imported, which in `prov` is
    # before this runs; pick again, so this process's own values go to the files too.
    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
    try:
        yield path
    finally:
        if previous is None:
            os.environ.pop(MULTIPROC_ENV, None)
        else:
            os.environ[MULTIPROC_ENV] = previous
        values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
        shutil.rmtree(path, ignore_errors=True)


def witness_pushes(registry: CollectorRegistry | None) -> Counter:
    return Counter(
        "prov_witness_pushes",
        "Checkpoints offered to each witness, by outcome: cosigned, up_to_date, failed.",
        ["witness", "outcome"],
        registry=registry,
    )


def count_pushes(counter: Counter) -> Callable[[list[PushResult]], None]:
    """The WitnessLoop callback that counts each round's results in `counter`."""

    def count(results: list[PushResult]) -> None:
        for result in results:
            if result.error is not None:
                outcome = "failed"
            else:
                outcome = "cosigned" if result.timestamp is not None else "up_to_date"
            counter.labels(result.witness, outcome).inc()

    return count


class SequencerMetrics:
    """The sequencer's observer (ledger.sequencer.SequencerObserver): batches, their entries
    and how long each held the write lock, the tree size, and whether this process holds the
    lock right now. The lock lasts one transaction (docs/scaling.md), so that is rarely."""

    def __init__(self, registry: CollectorRegistry | None, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._taken_at = threading.local()
        self._holders = 0
        self._mutex = threading.Lock()
        self.batches = Counter(
            "prov_sequencer_batches", "Batches the sequencer committed.", registry=registry
        )
        self.entries = Counter(
            "prov_sequencer_entries", "Entries the sequencer appended.", registry=registry
        )
        self.seconds = Histogram(
            "prov_sequencer_batch_seconds",
            "Time a committed batch held the log's write lock, commit included.",
            buckets=BATCH_BUCKETS,
            registry=registry,
        )
        # max over processes: the tree only grows, and the process that sequenced last knows.
        self.tree_size = Gauge(
            "prov_tree_size", "Entries in the log.", multiprocess_mode="max", registry=registry
        )
        # livemax: 1 while any running process of this server holds the lock.
        self.lock_held = Gauge(
            "prov_sequencer_lock_held",
            "1 while this server holds the log's write lock (one batch's transaction).",
            multiprocess_mode="livemax",
            registry=registry,
        )

    @property
    def holding(self) -> bool:
        return self._holders > 0

    def lock_taken(self) -> None:
        self._taken_at.value = self._clock()
        with self._mutex:
            self._holders += 1
            self.lock_held.set(1)

    def lock_released(self) -> None:
        self._taken_at.held_s = self._clock() - getattr(self._taken_at, "value", self._clock())
        with self._mutex:
            self._holders -= 1
            self.lock_held.set(1 if self._holders else 0)

    def batch_committed(self, entries: int, tree_size: int) -> None:
        self.batches.inc()
        self.entries.inc(entries)
        self.seconds.observe(getattr(self._taken_at, "held_s", 0.0))
        self.tree_size.set(tree_size)


class Metrics:
    """Every metric of one app. `multiprocess`: write to PROMETHEUS_MULTIPROC_DIR's files
    (default: when it is set) rather than to this app's own registry."""

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, multiprocess: bool | None = None
    ) -> None:
        self.multiprocess = multiprocess_enabled() if multiprocess is None else multiprocess
        own = None if self.multiprocess else CollectorRegistry()
        self._registry = own
        self._clock = clock
        self._sampled_at: float | None = None
        if own is not None:
            ProcessCollector(registry=own)
            PlatformCollector(registry=own)
            GCCollector(registry=own)
        self.requests = Counter(
            "prov_http_requests",
            "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=own,
        )
        self.latency = Histogram(
            "prov_http_request_duration_seconds",
            "Time to answer a request, by route template and method.",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=own,
        )
        self.rejections = Counter(
            "prov_rejections",
            "Requests refused to protect the server: rate_limited, overloaded, body_too_large.",
            ["reason"],
            registry=own,
        )
        self.report_computations = Counter(
            "prov_report_computations",
            "Origin reports computed (not served from the cache).",
            registry=own,
        )
        # livemin: the index of the process furthest behind, which is what a lookup may miss.
        self.index_entries = Gauge(
            "prov_index_entries",
            "Captures in the near-duplicate index held in memory.",
            multiprocess_mode="livemin",
            registry=own,
        )
        # livesum: each process holds its own copy; together they are the memory they take.
        self.index_bytes = Gauge(
            "prov_index_bytes",
            "Memory of the near-duplicate index (an estimate from its arrays), all processes.",
            multiprocess_mode="livesum",
            registry=own,
        )
        self.sequencer = SequencerMetrics(own, clock)
        self.witness_pushes = witness_pushes(own)

    def request(self, route: str, method: str, status: int, seconds: float) -> None:
        method = method if method in METHODS else "other"
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route, method).observe(seconds)

    def rejected(self, reason: str) -> None:
        if reason in REJECTIONS:
            self.rejections.labels(reason).inc()

    def sample_index(self, stats: Callable[[], IndexStats], force: bool = False) -> None:
        """Set the index gauges from `stats()`, at most once every SAMPLE_EVERY_S seconds."""
        now = self._clock()
        if not force and self._sampled_at is not None and now - self._sampled_at < SAMPLE_EVERY_S:
            return
        self._sampled_at = now
        found = stats()
        self.index_entries.set(found.captures)
        self.index_bytes.set(found.memory_bytes)

    def exposition(self) -> bytes:
        """The text format of every metric: this app's, or all processes' in multiprocess mode."""
        if self._registry is not None:
            return generate_latest(self._registry)
        combined = CollectorRegistry()
        multiprocess.MultiProcessCollector(combined)  # type: ignore[no-untyped-call]
        return generate_latest(combined)

    def process_exited(self) -> None:
        """Drop this process's live gauges (uvicorn worker shutdown); counters stay counted."""
        if self.multiprocess:
            multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
