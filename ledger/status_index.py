"""Keeping the status index (ledger.status) and its signed note, inside the sequencer's batch.

The ledger never reads a leaf: a `StatusRule` from the layer above names the subjects each leaf
speaks about. Everything here runs on the sequencer's locked connection, so the index, its
state row and the note commit or roll back with the batch that they describe.

Cost per batch: the rule over the batch's leaves, three single-row statements (the state row,
the previous note's root) and one signature. Only a batch that adds subject rows reads the
index's rows to recompute the root; those are the rare entries that name a subject, so that
read grows with the number of revocations, never with the log.
"""

from collections.abc import Callable, Collection, Sequence

from sqlalchemy import Connection, bindparam, insert, select, update

from ledger.checkpoint import Checkpoint
from ledger.database import insert_rows
from ledger.errors import ConfigurationError, StorageError
from ledger.note import Signer
from ledger.schema import log_status_entries, log_status_notes, log_status_state
from ledger.status import KEY_SIZE, status_root
from ledger.status_note import StatusCommitment, sign_status
from ledger.store import read_entries, read_status_indexed_size, read_status_items
from ledger.tiles import TILE_WIDTH

StatusRule = Callable[[bytes], Collection[bytes]]
"""The subjects (32-byte ids) a leaf speaks about; most leaves name none. Pure and total: it
must answer the same for the same leaf forever, since auditors replay it over the log."""

CATCH_UP_CHUNK = 16 * TILE_WIDTH  # leaves read at a time when indexing a log written before

_STORED_ROOT = select(log_status_notes.c.status_root).where(
    log_status_notes.c.tree_size == bindparam("size")
)


def subject_rows(
    rule: StatusRule, first_index: int, leaves: Sequence[bytes]
) -> list[tuple[bytes, int]]:
    """(subject, leaf index) for each subject the rule names in each leaf, leaf by leaf."""
    rows = []
    for offset, leaf in enumerate(leaves):
        for subject in sorted(set(rule(leaf))):
            if len(subject) != KEY_SIZE:
                raise ConfigurationError(
                    f"the status rule named a {len(subject)}-byte subject for leaf "
                    f"{first_index + offset}; subjects are {KEY_SIZE} bytes"
                )
            rows.append((subject, first_index + offset))
    return rows


def _index_from(connection: Connection, rule: StatusRule, start: int, end: int) -> int:
    """Index leaves [start, end) already in the log; returns how many rows it added."""
    added = 0
    for low in range(start, end, CATCH_UP_CHUNK):
        high = min(end, low + CATCH_UP_CHUNK)
        rows = subject_rows(rule, low, read_entries(connection, low, high))
        insert_rows(connection, log_status_entries, rows)
        added += len(rows)
    return added


def _caught_up(connection: Connection, rule: StatusRule, size: int) -> tuple[int | None, int]:
    """Bring the index up to `size` leaves: (the state row's old value, rows added)."""
    indexed = read_status_indexed_size(connection)
    if (indexed or 0) > size:
        raise StorageError(f"the status index covers {indexed} leaves, more than the log's {size}")
    return indexed, _index_from(connection, rule, indexed or 0, size)


def _set_indexed(connection: Connection, old: int | None, size: int) -> None:
    if old is None:
        connection.execute(insert(log_status_state).values(id=1, indexed_size=size))
    elif old != size:
        connection.execute(update(log_status_state).values(indexed_size=size))


def _store_note(
    connection: Connection, signer: Signer, checkpoint: Checkpoint, root: bytes
) -> None:
    commitment = StatusCommitment(checkpoint.origin, checkpoint.size, checkpoint.root_hash, root)
    note = sign_status(commitment, signer)
    connection.execute(
        insert(log_status_notes).values(tree_size=checkpoint.size, status_root=root, note=note)
    )


def stored_status_root(connection: Connection, size: int) -> bytes | None:
    root = connection.execute(_STORED_ROOT, {"size": size}).scalar()
    return None if root is None else bytes(root)


def commit_batch(
    connection: Connection,
    rule: StatusRule,
    signer: Signer,
    old_size: int,
    leaves: Sequence[bytes],
    checkpoint: Checkpoint,
) -> None:
    """Index the batch `leaves` appended at `old_size` (catching up on older leaves first) and
    sign the status note of its `checkpoint`."""
    indexed, added = _caught_up(connection, rule, old_size)
    rows = subject_rows(rule, old_size, leaves)
    insert_rows(connection, log_status_entries, rows)
    _set_indexed(connection, indexed, checkpoint.size)
    # No new rows: the map is the previous checkpoint's, and so is its root (O(1)).
    root = None if added or rows else stored_status_root(connection, old_size)
    if root is None:
        root = status_root(read_status_items(connection, checkpoint.size))
    _store_note(connection, signer, checkpoint, root)


def commit_latest(
    connection: Connection, rule: StatusRule, signer: Signer, checkpoint: Checkpoint
) -> None:
    """Catch the index up to `checkpoint` (the log's latest) and sign its status note if it
    has none: a log written before the index gets one at once."""
    indexed, _ = _caught_up(connection, rule, checkpoint.size)
    _set_indexed(connection, indexed, checkpoint.size)
    if stored_status_root(connection, checkpoint.size) is None:
        root = status_root(read_status_items(connection, checkpoint.size))
        _store_note(connection, signer, checkpoint, root)
