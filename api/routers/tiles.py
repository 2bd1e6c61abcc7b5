"""C2SP tlog-tiles read paths at the root: /checkpoint, /tile/<L>/<N>[.p/<W>], /tile/entries/..."""

import gzip
import threading
from collections import OrderedDict

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from api.deps import Store
from ledger import LogStore
from ledger.errors import NotFoundError
from ledger.tiles import parse_tile_path
from ledger.witnessing import cosigned_note, latest_cosigned

router = APIRouter(tags=["tlog-tiles"])

# The checkpoint moves with every batch; a tile's bytes at a given width never change.
MUTABLE = {"Cache-Control": "no-store"}
IMMUTABLE = {"Cache-Control": "public, max-age=31536000, immutable"}
# tlog-tiles asks for compressed entry bundles (JSON, hex and base64: about half the size);
# hash tiles are random bytes, which gzip only makes larger, so they are never compressed
# (api.app's GZip middleware leaves /tile/ to this module).
BUNDLE_HEADERS = {**IMMUTABLE, "Vary": "Accept-Encoding"}
GZIP_MINIMUM = 1024
# Level 1: a 200 KB bundle compresses in 3 ms instead of 10 at level 9, only 7% larger.
GZIP_LEVEL = 1
CACHE_BYTES = 128 * 1024 * 1024  # per server process


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


def tile_cache(request: Request) -> TileCache:
    cache: TileCache = request.app.state.tile_cache
    return cache


@router.get("/checkpoint", response_class=Response)
def checkpoint(store: Store) -> Response:
    """The latest checkpoint, with the cosignatures its witnesses returned for it so far."""
    note = cosigned_note(store, store.latest_checkpoint())
    return Response(note, media_type="text/plain; charset=utf-8", headers=MUTABLE)


@router.get("/checkpoint/cosigned", response_class=Response)
def latest_cosigned_checkpoint(store: Store) -> Response:
    """The newest checkpoint a witness cosigned, with its cosignatures: the latest one is often
    not cosigned yet, and auditors check the log's times against witnesses' (prov audit replay).
    Not a C2SP path; 404 until a witness cosigned."""
    checkpoint = latest_cosigned(store, 0)
    if checkpoint is None:
        raise NotFoundError("no witness has cosigned a checkpoint of this log yet")
    note = cosigned_note(store, checkpoint)
    return Response(note, media_type="text/plain; charset=utf-8", headers=MUTABLE)


# async, so that a cached tile is answered on the event loop without a thread hop; the
# database is read in the thread pool.
@router.get("/tile/{path:path}", response_class=Response)
async def tile(path: str, store: Store, request: Request) -> Response:
    ref = parse_tile_path("tile/" + path)
    cache = tile_cache(request)
    if ref.level is not None:
        key: tuple[object, ...] = (ref.level, ref.index, ref.width)
        found = cache.get(key)
        if found is None:
            found = (await run_in_threadpool(store.tile, ref.level, ref.index, ref.width), None)
            cache.put(key, found)
        return Response(found[0], media_type="application/octet-stream", headers=IMMUTABLE)
    compress = "gzip" in request.headers.get("accept-encoding", "")
    key = ("entries", ref.index, ref.width, compress)
    found = cache.get(key)
    if found is None:
        found = await run_in_threadpool(_bundle, store, ref.index, ref.width, compress)
        cache.put(key, found)
    body, encoding = found
    headers = (
        BUNDLE_HEADERS if encoding is None else {**BUNDLE_HEADERS, "Content-Encoding": encoding}
    )
    return Response(body, media_type="application/octet-stream", headers=headers)


def _bundle(store: LogStore, index: int, width: int, compress: bool) -> Body:
    body = store.entry_bundle(index, width)
    if compress and len(body) >= GZIP_MINIMUM:
        return gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0), "gzip"
    return body, None
