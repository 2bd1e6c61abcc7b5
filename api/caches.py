"""What the app keeps between requests: tile bodies, values that never change once computed (a
tile at a width). Origin reports are kept by api.origin_reports."""

import threading
from collections import OrderedDict

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
