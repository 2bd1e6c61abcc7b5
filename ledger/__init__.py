"""The transparency log: RFC 9162 tree math, C2SP checkpoints, tiles and proofs, on SQL storage.

It knows nothing of images or certificates: entries are opaque bytes.
"""

import importlib
from typing import TYPE_CHECKING

from ledger.checkpoint import Checkpoint, open_checkpoint, parse_checkpoint, sign_checkpoint
from ledger.config import LogConfig
from ledger.errors import (
    ConfigurationError,
    LedgerError,
    MalformedError,
    NotFoundError,
    StorageError,
    VerificationError,
)
from ledger.merkle import (
    EMPTY_ROOT,
    hash_children,
    hash_leaf,
    prove_consistency,
    prove_inclusion,
    prove_inclusions,
    root_hash,
    tree_hash,
    verify_consistency,
    verify_inclusion,
)
from ledger.note import Signer, Verifier, open_note, sign_note
from ledger.status import (
    EMPTY_STATUS_ROOT,
    StatusProof,
    parse_status_proof,
    prove_status,
    status_root,
    verify_status,
)
from ledger.status_note import STATUS_NOTE_HEADER, StatusCommitment, open_status, sign_status
from ledger.tlogproof import TlogProof, parse_tlog_proof

if TYPE_CHECKING:
    from ledger import leafindex
    from ledger.database import open_engine
    from ledger.sequencer import AppendResult, Sequencer
    from ledger.status_index import StatusRule
    from ledger.store import LogStore, SignedCheckpoint

# The storage names load SQLAlchemy, so they are imported on first use (PEP 562): a verifier
# that only checks proofs offline (registry.bundle.verify) imports the pure modules alone.
_STORAGE = {
    "leafindex": "ledger.leafindex",
    "open_engine": "ledger.database",
    "AppendResult": "ledger.sequencer",
    "Sequencer": "ledger.sequencer",
    "LogStore": "ledger.store",
    "SignedCheckpoint": "ledger.store",
    "StatusRule": "ledger.status_index",
}


def __getattr__(name: str) -> object:
    if name not in _STORAGE:
        raise AttributeError(f"module 'ledger' has no attribute {name!r}")
    module = importlib.import_module(_STORAGE[name])
    value = module if name == "leafindex" else getattr(module, name)
    globals()[name] = value
    return value


__all__ = [
    "EMPTY_ROOT",
    "EMPTY_STATUS_ROOT",
    "STATUS_NOTE_HEADER",
    "AppendResult",
    "Checkpoint",
    "ConfigurationError",
    "LedgerError",
    "LogConfig",
    "LogStore",
    "MalformedError",
    "NotFoundError",
    "Sequencer",
    "SignedCheckpoint",
    "Signer",
    "StatusCommitment",
    "StatusProof",
    "StatusRule",
    "StorageError",
    "TlogProof",
    "VerificationError",
    "Verifier",
    "hash_children",
    "hash_leaf",
    "leafindex",
    "open_checkpoint",
    "open_engine",
    "open_note",
    "open_status",
    "parse_checkpoint",
    "parse_status_proof",
    "parse_tlog_proof",
    "prove_consistency",
    "prove_inclusion",
    "prove_inclusions",
    "prove_status",
    "root_hash",
    "sign_checkpoint",
    "sign_note",
    "sign_status",
    "status_root",
    "tree_hash",
    "verify_consistency",
    "verify_inclusion",
    "verify_status",
]
