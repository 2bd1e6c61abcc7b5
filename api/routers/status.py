"""The log's status commitments (ledger.status_note) and proofs from its status index
(ledger.status), for auditors (`prov audit replay`) and verifiers (`prov verify --refresh`).

`/checkpoint/status` is the latest checkpoint's status note, as `/checkpoint` is the latest
checkpoint (not a C2SP path); `/v1/status/{size}` a given checkpoint's, and
`/v1/status/{size}/proofs/{subject}` one subject's proof against it. Nothing here is trusted by
its readers: the note verifies with the log key, a proof against the note's root.
"""

from typing import Annotated

from fastapi import APIRouter, Path, Response

from api.deps import Store
from api.schemas import StatusNoteOut, StatusProofOut
from ledger import LogStore, MalformedError, NotFoundError
from registry.entries.codec import b64

router = APIRouter(tags=["status"])

MUTABLE = {"Cache-Control": "no-store"}  # the latest moves with every batch
TreeSize = Annotated[int, Path(ge=0, description="a checkpoint's tree size")]


def _note(store: LogStore, size: int) -> bytes:
    """The status note of the checkpoint of `size`, or NotFoundError saying why there is none."""
    latest = store.latest_checkpoint().size
    if size > latest:
        raise NotFoundError(
            f"the log has no checkpoint of {size} entries yet (its latest has {latest})",
            code="no_status_note",
        )
    note = store.status_note(size)
    if note is None:
        raise NotFoundError(
            f"the log signed no status note for a tree of {size} entries: it signs one for each "
            "checkpoint since it keeps a status index, and this size is not one of those",
            code="no_status_note",
        )
    return note


@router.get("/checkpoint/status", response_class=Response)
def latest_status_note(store: Store) -> Response:
    """The status note of the latest checkpoint (the one `/checkpoint` serves)."""
    note = _note(store, store.latest_checkpoint().size)
    return Response(note, media_type="text/plain; charset=utf-8", headers=MUTABLE)


@router.get("/v1/status/{size}", response_model=StatusNoteOut)
def status_note(size: TreeSize, store: Store) -> StatusNoteOut:
    return StatusNoteOut(tree_size=size, note=_note(store, size).decode())


@router.get("/v1/status/{size}/proofs/{subject}", response_model=StatusProofOut)
def status_proof(
    size: TreeSize,
    subject: Annotated[str, Path(description="hex id of a device, CA or vendor root")],
    store: Store,
) -> StatusProofOut:
    if len(subject) != 64 or any(c not in "0123456789abcdef" for c in subject):
        raise MalformedError(f"subject {subject[:80]!r} is not 64 lowercase hex digits")
    _note(store, size)
    key = bytes.fromhex(subject)
    proof = store.status_proofs(size, [key])[key]
    indexes = list(proof.terminal_indexes) if proof.terminal_key == key else []
    return StatusProofOut(
        tree_size=size, subject=subject, proof=b64(proof.encode()), indexes=indexes
    )
