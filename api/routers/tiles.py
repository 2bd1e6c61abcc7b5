"""C2SP tlog-tiles read paths at the root: /checkpoint, /tile/<L>/<N>[.p/<W>], /tile/entries/..."""

import gzip

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from api.caches import Body
from api.deps import Store, TileCacheDep
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
async def tile(path: str, store: Store, cache: TileCacheDep, request: Request) -> Response:
    ref = parse_tile_path("tile/" + path)
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
