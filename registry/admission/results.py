"""What the write side answers: a receipt per logged entry, a result per submitted capture."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ledger import LogStore, SignedCheckpoint
from registry.entries.codec import b64


@dataclass(frozen=True)
class Receipt:
    """Where an entry is in the log, and the proof that it is there."""

    index: int
    leaf_hash: bytes
    tree_size: int
    checkpoint: bytes
    inclusion_proof: list[bytes]
    duplicate: bool = False  # the same entry was already in the log

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "leaf_hash": b64(self.leaf_hash),
            "tree_size": self.tree_size,
            "checkpoint": self.checkpoint.decode(),
            "inclusion_proof": [b64(h) for h in self.inclusion_proof],
            "duplicate": self.duplicate,
        }


@dataclass(frozen=True)
class CaptureResult:
    """The outcome for one record of a submitted batch."""

    position: int
    receipt: Receipt | None = None
    counter_status: str | None = None
    flags: tuple[str, ...] = ()
    code: str | None = None
    reason: str | None = None

    @property
    def accepted(self) -> bool:
        return self.receipt is not None

    def to_json(self) -> dict[str, Any]:
        if self.receipt is None:
            return {
                "position": self.position,
                "accepted": False,
                "code": self.code,
                "reason": self.reason,
            }
        return {
            "position": self.position,
            "accepted": True,
            **self.receipt.to_json(),
            "counter_status": self.counter_status,
            "flags": list(self.flags),
        }


def receipts(
    store: LogStore,
    indexes: Sequence[int],
    checkpoint: SignedCheckpoint,
    duplicates: set[int],
) -> list[Receipt]:
    """A receipt for each of `indexes` under `checkpoint`; those in `duplicates` say so."""
    found = store.receipts(indexes, checkpoint.size)
    return [
        Receipt(index, leaf_hash, checkpoint.size, checkpoint.note, proof, index in duplicates)
        for index, (leaf_hash, proof) in zip(indexes, found, strict=True)
    ]
