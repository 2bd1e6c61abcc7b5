"""Reading the log from its database: checkpoints, tiles, entries and proofs.

Every read that combines several rows (a proof, a root) runs on one connection, and checks the
requested tree size against the latest checkpoint first. Tiles only ever grow by appending, so
hashes read for an older size stay valid while a sequencer extends the tree.
"""

from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, bindparam, func, select, tuple_

from ledger import leafindex
from ledger.checkpoint import Checkpoint, parse_checkpoint
from ledger.database import translate_database_errors
from ledger.errors import MalformedError, NotFoundError, StorageError
from ledger.merkle import (
    HASH_SIZE,
    Node,
    prove_consistency,
    prove_inclusion,
    prove_inclusions,
    root_hash,
)
from ledger.note import parse_note
from ledger.schema import (
    log_checkpoints,
    log_entry_bundles,
    log_status_entries,
    log_status_notes,
    log_status_state,
    log_tiles,
)
from ledger.status import StatusProof, prove_status
from ledger.tiles import TILE_WIDTH, Tile, TileKey, decode_entry_bundle, hashes_from_tiles


@dataclass(frozen=True)
class SignedCheckpoint:
    checkpoint: Checkpoint
    note: bytes
    created_at_ms: int

    @property
    def size(self) -> int:
        return self.checkpoint.size


# Built once: proofs run these on every request, and constructing them costs more than
# SQLite takes to answer.
_TILES_BY_KEY = select(
    log_tiles.c.level, log_tiles.c.tile_index, log_tiles.c.hashes, log_tiles.c.interior
).where(tuple_(log_tiles.c.level, log_tiles.c.tile_index).in_(bindparam("keys", expanding=True)))
# Tree sizes, leaf and tile indexes are BIGINT columns: a number past them exists in no log,
# and PostgreSQL refuses to compare a column with it (a 500 instead of a 404).
MAX_STORED_INT = 2**63 - 1

_LATEST_SIZE = select(func.max(log_checkpoints.c.tree_size))
_LATEST_CHECKPOINT = (
    select(log_checkpoints.c.note, log_checkpoints.c.created_at_ms)
    .order_by(log_checkpoints.c.tree_size.desc())
    .limit(1)
)


def read_tiles(connection: Connection, keys: Sequence[TileKey]) -> dict[TileKey, Tile]:
    if not keys:
        return {}
    rows = connection.execute(_TILES_BY_KEY, {"keys": [(k.level, k.index) for k in keys]})
    return {
        TileKey(level, index): Tile(bytes(hashes), bytes(interior))
        for level, index, hashes, interior in rows
    }


def read_latest_checkpoint(connection: Connection) -> SignedCheckpoint | None:
    row = connection.execute(_LATEST_CHECKPOINT).first()
    if row is None:
        return None
    note = bytes(row.note)
    return SignedCheckpoint(parse_checkpoint(parse_note(note).text), note, row.created_at_ms)


_STATUS_ROWS = (
    select(log_status_entries.c.subject, log_status_entries.c.leaf_index)
    .where(log_status_entries.c.leaf_index < bindparam("size"))
    .order_by(log_status_entries.c.subject, log_status_entries.c.leaf_index)
)
_STATUS_NOTE = select(log_status_notes.c.note).where(
    log_status_notes.c.tree_size == bindparam("size")
)
_STATUS_INDEXED = select(log_status_state.c.indexed_size)


def read_root_at(connection: Connection, size: int) -> bytes | None:
    """The root hash of the checkpoint the log signed at exactly `size`, if it signed one."""
    root = connection.execute(
        select(log_checkpoints.c.root_hash).where(log_checkpoints.c.tree_size == size)
    ).scalar()
    return None if root is None else bytes(root)


def read_status_items(connection: Connection, size: int) -> dict[bytes, list[int]]:
    """The status index's map below `size`: subject -> its leaf indexes, ascending. The rows
    are few (only entries that name a subject, such as revocations), so this reads them all."""
    items: dict[bytes, list[int]] = {}
    for subject, leaf_index in connection.execute(_STATUS_ROWS, {"size": size}):
        items.setdefault(bytes(subject), []).append(leaf_index)
    return items


def read_status_indexed_size(connection: Connection) -> int | None:
    """How many leaves the status index covers; None if it was never built (no state row)."""
    indexed: int | None = connection.execute(_STATUS_INDEXED).scalar()
    return indexed


def read_entries(connection: Connection, start: int, end: int) -> list[bytes]:
    """The exact leaf bytes of entries [start, end), on the caller's connection."""
    if not 0 <= start <= end:
        raise MalformedError(f"entry range [{start}, {end}) is reversed or negative")
    if start == end:
        return []
    first_bundle, last_bundle = start // TILE_WIDTH, (end - 1) // TILE_WIDTH
    rows = connection.execute(
        select(log_entry_bundles.c.bundle_index, log_entry_bundles.c.entries)
        .where(log_entry_bundles.c.bundle_index.between(first_bundle, last_bundle))
        .order_by(log_entry_bundles.c.bundle_index)
    ).all()
    if [row.bundle_index for row in rows] != list(range(first_bundle, last_bundle + 1)):
        raise StorageError(f"entry bundles {first_bundle}..{last_bundle} are not all stored")
    found = [entry for row in rows for entry in decode_entry_bundle(bytes(row.entries))]
    offset = start - first_bundle * TILE_WIDTH
    wanted = found[offset : offset + end - start]
    if len(wanted) != end - start:
        raise StorageError(f"entry bundles hold fewer entries than [{start}, {end}) needs")
    return wanted


def read_receipts(
    connection: Connection, indexes: Sequence[int], size: int
) -> list[tuple[bytes, list[bytes]]]:
    """(leaf hash, inclusion proof at `size`) for each index, reading each tile once.

    `size` must be one the log has reached (see LogStore.receipts, which checks it)."""
    reader = _Reader(connection)
    proofs = prove_inclusions(indexes, size, reader)  # first: it checks the indexes
    leaf_hashes = reader([Node(0, index) for index in indexes])
    return list(zip(leaf_hashes, proofs, strict=True))


class LogStore:
    """Read access to one log stored in one database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # Reads are single statements or tolerate concurrent appends (tiles only grow), so on
        # PostgreSQL they skip BEGIN/ROLLBACK: a proof costs one round trip, not three.
        self._reads: Engine = engine
        if engine.dialect.name == "postgresql":
            self._reads = engine.execution_options(isolation_level="AUTOCOMMIT")
        # The log never shrinks, so any size up to one already seen stays valid.
        self._known_size = -1

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with translate_database_errors(self.engine), self._reads.connect() as connection:
            yield connection

    def reading(self) -> AbstractContextManager[Connection]:
        """A connection for reads that need no snapshot across statements (rows only appended):
        on PostgreSQL without BEGIN and ROLLBACK, two round trips fewer."""
        return self._read()

    def latest_checkpoint(self) -> SignedCheckpoint:
        with self._read() as connection:
            return self.latest_checkpoint_on(connection)

    def latest_checkpoint_on(self, connection: Connection) -> SignedCheckpoint:
        """The latest checkpoint, read on the caller's connection (from `reading`)."""
        latest = read_latest_checkpoint(connection)
        if latest is None:
            raise NotFoundError("the log has no checkpoint yet: run `prov init` to create it")
        return latest

    def checkpoint_at(self, size: int) -> SignedCheckpoint:
        """The checkpoint the log signed at exactly `size`, if it signed one."""
        if not 0 <= size <= MAX_STORED_INT:
            raise NotFoundError(f"the log signed no checkpoint at tree size {size}")
        with self._read() as connection:
            row = connection.execute(
                select(log_checkpoints.c.note, log_checkpoints.c.created_at_ms).where(
                    log_checkpoints.c.tree_size == size
                )
            ).first()
        if row is None:
            raise NotFoundError(f"the log signed no checkpoint at tree size {size}")
        note = bytes(row.note)
        return SignedCheckpoint(parse_checkpoint(parse_note(note).text), note, row.created_at_ms)

    def _check_size(self, connection: Connection, size: int, what: str) -> None:
        if 0 <= size <= self._known_size:
            return
        current = connection.execute(_LATEST_SIZE).scalar()
        if current is None:
            raise NotFoundError("the log has no checkpoint yet: run `prov init` to create it")
        self._known_size = max(self._known_size, current)
        if not 0 <= size <= current:
            raise MalformedError(f"{what} {size} is beyond the log's current size {current}")

    def root_at(self, size: int) -> bytes:
        with self._read() as connection:
            self._check_size(connection, size, "tree size")
            return root_hash(size, _Reader(connection))

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        with self._read() as connection:
            self._check_size(connection, size, "tree size")
            return prove_inclusion(index, size, _Reader(connection))

    def receipts(self, indexes: Sequence[int], size: int) -> list[tuple[bytes, list[bytes]]]:
        """(leaf hash, inclusion proof at `size`) for each index, reading each tile once."""
        with self._read() as connection:
            self._check_size(connection, size, "tree size")
            return read_receipts(connection, indexes, size)

    def leaf_hash(self, index: int) -> bytes:
        with self._read() as connection:
            self._check_size(connection, index + 1, "leaf index + 1")
            return _Reader(connection)([Node(0, index)])[0]

    def consistency_proof(self, old: int, new: int) -> list[bytes]:
        with self._read() as connection:
            self._check_size(connection, new, "second tree size")
            return prove_consistency(old, new, _Reader(connection))

    def tile(self, level: int, index: int, width: int) -> bytes:
        """The hashes of tile (level, index) at `width`, if the log has that many yet."""
        if not 0 <= index <= MAX_STORED_INT:
            raise NotFoundError(f"tile {level}/{index} does not exist: no log is that large")
        with self._read() as connection:
            tile = read_tiles(connection, [TileKey(level, index)]).get(TileKey(level, index))
        if tile is None or tile.width < width:
            raise NotFoundError(f"tile {level}/{index} does not have {width} hashes yet")
        return tile.hashes[: width * HASH_SIZE]

    def entry_bundle(self, index: int, width: int) -> bytes:
        """The first `width` entries of bundle `index`, length-prefixed as tlog-tiles serves them."""
        if not 0 <= index <= MAX_STORED_INT:
            raise NotFoundError(f"entry bundle {index} does not exist: no log is that large")
        with self._read() as connection:
            data = connection.execute(
                select(log_entry_bundles.c.entries).where(log_entry_bundles.c.bundle_index == index)
            ).scalar()
        if data is None:
            raise NotFoundError(f"entry bundle {index} does not exist yet")
        data = bytes(data)
        pos = 0
        for count in range(width):
            if pos >= len(data):
                raise NotFoundError(f"entry bundle {index} has only {count} entries, not {width}")
            pos += 2 + int.from_bytes(data[pos : pos + 2], "big")
        return data[:pos]

    def entries(self, start: int, end: int) -> list[bytes]:
        """The exact leaf bytes of entries [start, end)."""
        with self._read() as connection:
            self._check_size(connection, end, "end index")
            return read_entries(connection, start, end)

    def entry(self, index: int) -> bytes:
        with self._read() as connection:
            size = self.latest_checkpoint_on(connection).size
        if not 0 <= index < size:
            raise NotFoundError(f"entry {index} does not exist: the log has {size} entries")
        return self.entries(index, index + 1)[0]

    def status_note(self, size: int) -> bytes | None:
        """The status note (ledger.status_note) the log signed beside its checkpoint at `size`;
        None if it signed none there (a checkpoint older than the index, or a log without one)."""
        if not 0 <= size <= MAX_STORED_INT:
            return None
        with self._read() as connection:
            note = connection.execute(_STATUS_NOTE, {"size": size}).scalar()
        return None if note is None else bytes(note)

    def status_items(self, size: int) -> dict[bytes, list[int]]:
        """The status index over leaves [0, size): subject -> ascending leaf indexes."""
        with self._read() as connection:
            return self._status_items_on(connection, size)

    def status_proofs(self, size: int, subjects: Collection[bytes]) -> dict[bytes, StatusProof]:
        """Each subject's status proof in the index over leaves [0, size), from one read."""
        items = self.status_items(size)
        return {subject: prove_status(items, subject) for subject in subjects}

    def _status_items_on(self, connection: Connection, size: int) -> dict[bytes, list[int]]:
        self._check_size(connection, size, "tree size")
        indexed = read_status_indexed_size(connection) or 0
        if indexed < size:
            # Partial rows would prove a revoked subject clean: refuse rather than answer.
            raise NotFoundError(
                f"the status index covers leaves below {indexed} only, not {size}: the log's "
                "sequencer builds it when it runs with the registry's status rule"
            )
        return read_status_items(connection, size)

    def find_leaf(self, leaf_hash: bytes) -> list[int]:
        """Indexes of the entries whose leaf hash is `leaf_hash`, in log order.

        Brings the derived leaf-hash index up to the latest checkpoint first (a write).
        """
        if len(leaf_hash) != HASH_SIZE:
            raise MalformedError(f"leaf hash is {len(leaf_hash)} bytes, not {HASH_SIZE}")
        with translate_database_errors(self.engine):
            indexed = leafindex.catch_up(self.engine)
        with self._read() as connection:
            candidates = leafindex.candidates(connection, leaf_hash, indexed)
            hashes = _Reader(connection)([Node(0, index) for index in candidates])
        return [i for i, h in zip(candidates, hashes, strict=True) if h == leaf_hash]


class _Reader:
    """A HashReader over one connection's view of the tiles."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        # A receipt reads a leaf's hash after its proof, from a tile the proof has just read:
        # kept, that is one round trip fewer per receipt.
        self._read: dict[TileKey, Tile] = {}

    def _tiles(self, keys: Sequence[TileKey]) -> Mapping[TileKey, Tile]:
        self._read.update(read_tiles(self._connection, [k for k in keys if k not in self._read]))
        return self._read

    def __call__(self, nodes: Sequence[Node]) -> list[bytes]:
        return hashes_from_tiles(nodes, self._tiles)
