"""The leaf-hash index: which leaf indexes have a given leaf hash.

It is a derived index, like the registry's tables: built from the level 0 tiles (which hold
every leaf hash) after entries are sequenced, never inside the sequencer's transaction, so
appends do not pay for a random-order B-tree insert per leaf. `catch_up` brings it up to the
latest checkpoint; anyone can rebuild it from the log.
"""

import struct

from sqlalchemy import Connection, Engine, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from ledger.database import locked_transaction
from ledger.errors import StorageError
from ledger.merkle import HASH_SIZE
from ledger.schema import log_checkpoints, log_leaf_index, log_leaf_index_state, log_tiles
from ledger.tiles import TILE_WIDTH

# Rows are keyed (segment = leaf_index >> 16, hash prefix), so each catch-up inserts into the
# newest segments' pages only; keyed by hash alone, every batch would dirty pages across an
# index that grows with the log. A lookup probes each segment once.
SEGMENT_BITS = 16
CHUNK = 1 << SEGMENT_BITS  # leaves indexed per transaction
INDEXER_LOCK = int.from_bytes(b"providx\x00", "big", signed=True)


def hash_prefix(leaf_hash: bytes) -> int:
    """The first 8 bytes of a leaf hash as a signed 64-bit integer (the index key)."""
    return int.from_bytes(leaf_hash[:8], "big", signed=True)


def _prefixes(concatenated_hashes: bytes) -> list[int]:
    return [prefix for (prefix,) in struct.iter_unpack(">q24x", concatenated_hashes)]


def catch_up(engine: Engine) -> int:
    """Index every leaf up to the latest checkpoint; returns the indexed size."""
    while True:
        with locked_transaction(engine, INDEXER_LOCK) as connection:
            done = connection.execute(select(log_leaf_index_state.c.indexed_size)).scalar()
            size = connection.execute(select(func.max(log_checkpoints.c.tree_size))).scalar()
            if size is None or (done or 0) >= size:
                return done or 0
            start, end = done or 0, min(size, (done or 0) + CHUNK)
            _index_range(connection, start, end)
            if done is None:
                connection.execute(log_leaf_index_state.insert().values(id=1, indexed_size=end))
            else:
                connection.execute(update(log_leaf_index_state).values(indexed_size=end))


def _index_range(connection: Connection, start: int, end: int) -> None:
    rows = connection.execute(
        select(log_tiles.c.tile_index, log_tiles.c.hashes)
        .where(log_tiles.c.level == 0)
        .where(log_tiles.c.tile_index.between(start // TILE_WIDTH, (end - 1) // TILE_WIDTH))
        .order_by(log_tiles.c.tile_index)
    ).all()
    hashes = b"".join(bytes(row.hashes) for row in rows)
    offset = (start - (start // TILE_WIDTH) * TILE_WIDTH) * HASH_SIZE
    prefixes = _prefixes(hashes[offset : offset + (end - start) * HASH_SIZE])
    if len(prefixes) != end - start:
        raise StorageError(f"level 0 tiles do not cover leaves [{start}, {end})")
    _insert(connection, prefixes, start)


def _insert(connection: Connection, prefixes: list[int], first_index: int) -> None:
    """One row per leaf, straight to the driver: unnest() on PostgreSQL, executemany on SQLite."""
    if connection.dialect.name == postgresql.dialect.name:
        connection.exec_driver_sql(
            "INSERT INTO log_leaf_index (segment, hash_prefix, leaf_index) "
            "SELECT (%(first)s + ordinal - 1) >> %(bits)s, prefix, %(first)s + ordinal - 1 "
            "FROM unnest(%(prefixes)s::bigint[]) WITH ORDINALITY AS batch(prefix, ordinal)",
            {"prefixes": prefixes, "first": first_index, "bits": SEGMENT_BITS},
        )
        return
    assert connection.dialect.name == sqlite.dialect.name
    indexes = range(first_index, first_index + len(prefixes))
    connection.exec_driver_sql(
        "INSERT INTO log_leaf_index (segment, hash_prefix, leaf_index) VALUES (?, ?, ?)",
        [(i >> SEGMENT_BITS, p, i) for p, i in zip(prefixes, indexes, strict=True)],
    )


def candidates(connection: Connection, leaf_hash: bytes, indexed_size: int) -> list[int]:
    """Leaf indexes below `indexed_size` whose hash starts like `leaf_hash`, in log order."""
    segments = range(((indexed_size - 1) >> SEGMENT_BITS) + 1) if indexed_size else range(0)
    found = connection.execute(
        select(log_leaf_index.c.leaf_index)
        .where(log_leaf_index.c.segment.in_(segments))
        .where(log_leaf_index.c.hash_prefix == hash_prefix(leaf_hash))
        .order_by(log_leaf_index.c.leaf_index)
    )
    return list(found.scalars())
