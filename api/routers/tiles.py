"""C2SP tlog-tiles read paths at the root: /checkpoint, /tile/<L>/<N>[.p/<W>], /tile/entries/..."""

from fastapi import APIRouter, Response

from api.deps import Store
from ledger.tiles import parse_tile_path
from ledger.witnessing import cosigned_note

router = APIRouter(tags=["tlog-tiles"])

# The checkpoint moves with every batch; a tile's bytes at a given width never change.
MUTABLE = {"Cache-Control": "no-store"}
IMMUTABLE = {"Cache-Control": "public, max-age=31536000, immutable"}


@router.get("/checkpoint", response_class=Response)
def checkpoint(store: Store) -> Response:
    """The latest checkpoint, with the cosignatures its witnesses returned for it so far."""
    note = cosigned_note(store, store.latest_checkpoint())
    return Response(note, media_type="text/plain; charset=utf-8", headers=MUTABLE)


@router.get("/tile/{path:path}", response_class=Response)
def tile(path: str, store: Store) -> Response:
    ref = parse_tile_path("tile/" + path)
    if ref.level is None:
        body = store.entry_bundle(ref.index, ref.width)
    else:
        body = store.tile(ref.level, ref.index, ref.width)
    return Response(body, media_type="application/octet-stream", headers=IMMUTABLE)
