"""Bodies of /v1/status: the log's status notes and status proofs (docs/design.md, 4.5)."""

from pydantic import BaseModel, Field


class StatusNoteOut(BaseModel):
    tree_size: int
    note: str = Field(
        description="the status note signed by the log key: provenance-ledger/status/v1, the "
        "origin, this tree size, the checkpoint's base64 root hash and the base64 status root"
    )


class StatusProofOut(BaseModel):
    tree_size: int
    subject: str = Field(description="hex id of the device, CA or vendor root")
    proof: str = Field(
        description="base64 status proof (ledger.status): verify it against the status root "
        "of this size's status note"
    )
    indexes: list[int] = Field(
        description="the log entries the proof lists against the subject (empty: none); only "
        "the proof, verified, says so"
    )
