"""/v1/log: entries and proofs as JSON, for clients that do not compute proofs from tiles."""

import base64
import binascii
from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import LogKey, Store
from api.schemas import ConsistencyProof, InclusionProof, LogEntry, LogStatus
from ledger import MalformedError, NotFoundError, hash_leaf
from registry.entries.codec import b64

router = APIRouter(prefix="/v1/log", tags=["log"])


def _parse_hash(text: str) -> bytes:
    """A SHA-256 hash given as 64 hex digits or as standard base64."""
    try:
        value = bytes.fromhex(text) if len(text) == 64 else base64.b64decode(text, validate=True)
    except (ValueError, binascii.Error):
        value = b""
    if len(value) != 32:
        raise MalformedError(
            f"leaf_hash {text!r} is not a SHA-256 hash: give 64 hex digits or 44 base64 characters"
        )
    return value


@router.get("", response_model=LogStatus)
def status(store: Store, log_key: LogKey) -> LogStatus:
    latest = store.latest_checkpoint()
    return LogStatus(
        origin=latest.checkpoint.origin,
        tree_size=latest.size,
        root_hash=b64(latest.checkpoint.root_hash),
        checkpoint=latest.note.decode(),
        vkey=log_key.vkey if log_key else None,
    )


@router.get("/entries/{index}", response_model=LogEntry)
def entry(index: Annotated[int, "leaf index"], store: Store) -> LogEntry:
    if index < 0:
        raise MalformedError(f"entry index {index} is negative")
    data = store.entry(index)
    return LogEntry(index=index, leaf_hash=b64(hash_leaf(data)), data=b64(data))


@router.get("/proof/inclusion", response_model=InclusionProof)
def inclusion(
    store: Store,
    index: Annotated[int | None, Query(ge=0, description="leaf index")] = None,
    leaf_hash: Annotated[str | None, Query(description="hex or base64 leaf hash")] = None,
    tree_size: Annotated[int | None, Query(ge=1, description="default: latest")] = None,
) -> InclusionProof:
    if (index is None) == (leaf_hash is None):
        raise MalformedError("give exactly one of the query parameters index or leaf_hash")
    size = tree_size if tree_size is not None else store.latest_checkpoint().size
    if leaf_hash is not None:
        wanted = _parse_hash(leaf_hash)
        found = [i for i in store.find_leaf(wanted) if i < size]
        if not found:
            raise NotFoundError(f"no entry with leaf hash {leaf_hash} in the tree of size {size}")
        index = found[0]
    assert index is not None
    # One connection and one read of the tiles for the leaf hash and its path.
    [(leaf, path)] = store.receipts([index], size)
    return InclusionProof(
        leaf_index=index,
        tree_size=size,
        leaf_hash=b64(leaf),
        inclusion_path=[b64(h) for h in path],
    )


@router.get("/proof/consistency", response_model=ConsistencyProof)
def consistency(
    store: Store,
    first: Annotated[int, Query(ge=1, description="older tree size")],
    second: Annotated[
        int | None, Query(ge=1, description="newer tree size; default: latest")
    ] = None,
) -> ConsistencyProof:
    size = second if second is not None else store.latest_checkpoint().size
    path = store.consistency_proof(first, size)
    return ConsistencyProof(first=first, second=size, consistency_path=[b64(h) for h in path])
