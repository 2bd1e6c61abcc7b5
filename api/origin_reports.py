"""The origin reports a server serves (GET /v1/clusters, /v1/origins/{id}, /origins): only the
latest and those at the sizes the log signed a checkpoint at, computed by one background thread.

A report rebuilds clusters and signals over the whole log, so a size a client may pick freely
would make every request a full computation (issue 16: `?at=N` for each N, no authentication,
no limit). So:

* no `at`: the latest checkpoint's report. When the tree has grown past the newest report, its
  recomputation is queued and the previous report is served until it is ready; a request
  waits only when there is no report at all yet.
* `at=N` at a signed checkpoint (`LogStore.checkpoint_at`): served once computed; requests
  wait for it, and all requests for one size wait on the same computation (single flight).
  At most `queued` sizes wait to be computed; past that the request is refused with 429
  (`reports_busy`, Retry-After) before anything is computed.
* any other N: 404 `report_not_computed`, with nothing computed. `prov clusters --at N` gives
  it from the auditor's own copy of the log.

One worker thread per process computes the reports one at a time, the largest size first (the
latest, which every default request reads, never waits behind old sizes). The last `kept`
reports stay in memory, the newest always among them. `computations` counts the reports this
process computed (for metrics).
"""

import asyncio
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future

from starlette.concurrency import run_in_threadpool

from ledger import LogStore
from ledger.errors import NotFoundError
from registry.errors import RateLimitedError
from registry.origins.facts import load_facts
from registry.origins.report import build_report, report_bytes

__all__ = ["Compute", "OriginReports", "compute_report"]

Compute = Callable[[LogStore, int], bytes]
RETRY_AFTER_S = 30  # when the queue is full: about one report's time at 1M captures


def compute_report(store: LogStore, size: int) -> bytes:
    """The report's bytes at tree size `size`, from the registry's derived tables."""
    return report_bytes(build_report(load_facts(store, size)))


class OriginReports:
    """Reports by tree size, computed in the background (module docstring)."""

    def __init__(
        self,
        kept: int = 4,
        queued: int = 4,
        compute: Compute = compute_report,
        on_computed: Callable[[], None] = lambda: None,
    ) -> None:
        self.computations = 0  # reports computed by this process
        self._on_computed = on_computed  # api.metrics counts the computations
        self._kept, self._queued, self._compute = kept, queued, compute
        self._reports: OrderedDict[int, bytes] = OrderedDict()
        self._newest: int | None = None  # the largest size with a report
        self._pending: dict[int, tuple[LogStore, Future[bytes]]] = {}  # queued, not started
        self._running: dict[int, Future[bytes]] = {}  # queued or being computed
        self._waiters: dict[int, int] = {}
        self._changed = threading.Condition()
        self._worker: threading.Thread | None = None
        self._closed = False

    async def at(self, store: LogStore, at: int | None) -> bytes:
        """The report at tree size `at` (a signed checkpoint's), or the latest one."""
        latest = (await run_in_threadpool(store.latest_checkpoint)).size
        if at is None or at == latest:
            with self._changed:
                found = self._reports.get(latest)
                if found is None and at is None and self._newest is not None:
                    self._start(store, latest, refuse_when_full=False)
                    return self._reports[self._newest]  # served until the new one is ready
            if found is not None:
                return found
        else:
            await run_in_threadpool(_check_published, store, at, latest)
        size = latest if at is None else at
        with self._changed:
            found = self._reports.get(size)
            if found is not None:
                return found
            future = self._start(store, size, refuse_when_full=size != latest)
            self._waiters[size] = self._waiters.get(size, 0) + 1
        try:
            return await asyncio.wrap_future(future)
        finally:
            with self._changed:
                self._waiters[size] -= 1

    def waiters(self, size: int) -> int:
        """Requests waiting now for the report at `size` (for tests and metrics)."""
        with self._changed:
            return self._waiters.get(size, 0)

    def close(self) -> None:
        """Stop the worker after the report it is computing; queued sizes are cancelled."""
        with self._changed:
            self._closed = True
            for _, future in self._pending.values():
                future.cancel()
            self._pending.clear()
            self._changed.notify_all()

    def _start(self, store: LogStore, size: int, *, refuse_when_full: bool) -> Future[bytes]:
        """The computation of `size`: the one queued or running, or a new one. Holds the lock."""
        running = self._running.get(size)
        if running is not None:
            return running
        if refuse_when_full and len(self._running) >= self._queued:
            raise RateLimitedError(
                f"the server is computing {len(self._running)} origin reports; retry in "
                f"{RETRY_AFTER_S} s (Retry-After), or run `prov clusters --at {size}` against "
                "your own copy of the log",
                RETRY_AFTER_S,
                code="reports_busy",
            )
        future: Future[bytes] = Future()
        self._running[size] = future
        self._pending[size] = (store, future)
        if self._worker is None:
            self._worker = threading.Thread(target=self._work, name="origin-reports", daemon=True)
            self._worker.start()
        self._changed.notify_all()
        return future

    def _work(self) -> None:
        while True:
            with self._changed:
                while not self._pending and not self._closed:
                    self._changed.wait()
                if self._closed:
                    return
                size = max(self._pending)  # the latest first
                store, future = self._pending.pop(size)
            try:
                body = self._compute(store, size)
            except BaseException as error:  # handed to every waiter; the next request retries
                with self._changed:
                    del self._running[size]
                future.set_exception(error)
                continue
            with self._changed:
                self.computations += 1
                self._on_computed()
                self._remember(size, body)
                del self._running[size]
            future.set_result(body)

    def _remember(self, size: int, body: bytes) -> None:
        self._reports[size] = body
        self._newest = max(size, self._newest if self._newest is not None else size)
        while len(self._reports) > self._kept:
            oldest = next(s for s in self._reports if s != self._newest)
            del self._reports[oldest]


def _check_published(store: LogStore, size: int, latest: int) -> None:
    """Refuse a size the log signed no checkpoint at (NotFoundError, `report_not_computed`)."""
    try:
        store.checkpoint_at(size)
    except NotFoundError:
        raise NotFoundError(
            f"no origin report at tree size {size}: the server computes reports at checkpoint "
            f"sizes only (the latest is {latest}: GET /checkpoint; an earlier one is a size "
            "your saved checkpoints or GET /v1/status/{size} show the log signed). For any "
            f"other size run `prov clusters --at {size}` against your own copy of the log",
            code="report_not_computed",
        ) from None
