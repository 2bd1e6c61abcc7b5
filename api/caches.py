"""What the app keeps between requests: tile bodies, and origin reports by tree size. Both hold
only values that never change once computed (a tile at a width, a report at a size)."""

import threading
from collections import OrderedDict
from collections.abc import Callable

from starlette.concurrency import run_in_threadpool

from ledger import LogStore
from registry.origins.facts import load_facts
from registry.origins.report import build_report, report_bytes

Body = tuple[bytes, str | None]  # a response body and its Content-Encoding


class TileCache:
    """Response bodies of tiles and bundles, least recently used out past `limit` bytes.

    A tile at a given width never changes, so an entry never goes stale; caching the gzipped
    bundle saves compressing it again (3 ms for 200 KB) on every read."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._size = 0
        self._items: OrderedDict[tuple[object, ...], Body] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[object, ...]) -> Body | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: tuple[object, ...], value: Body) -> None:
        if len(value[0]) > self._limit:
            return
        with self._lock:
            old = self._items.pop(key, None)
            self._size += len(value[0]) - (len(old[0]) if old is not None else 0)
            self._items[key] = value
            while self._size > self._limit:
                _, evicted = self._items.popitem(last=False)
                self._size -= len(evicted[0])


class OriginReports:
    """The origin report (registry.origins.report) as bytes, by tree size: the last `kept`.
    Read by GET /v1/clusters, GET /v1/origins/{id} and the /origins page alike."""

    def __init__(self, kept: int = 4, on_computed: Callable[[], None] = lambda: None) -> None:
        self._kept = kept
        self._reports: dict[int, bytes] = {}
        self._on_computed = on_computed  # api.metrics counts the computations

    async def at(self, store: LogStore, at: int | None) -> bytes:
        """The report at tree size `at`, or at the latest checkpoint's."""
        size = store.latest_checkpoint().size if at is None else at
        if size not in self._reports:
            report = await run_in_threadpool(
                lambda: report_bytes(build_report(load_facts(store, size)))
            )
            self._on_computed()
            while len(self._reports) >= self._kept:
                self._reports.pop(next(iter(self._reports)))
            self._reports[size] = report
        return self._reports[size]
