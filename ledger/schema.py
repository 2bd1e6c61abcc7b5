"""The log's tables. Alembic migrations own the schema; these definitions must match them
(tests/test_migrations.py fails if they drift)."""

from sqlalchemy import BigInteger, Column, Integer, LargeBinary, MetaData, SmallInteger, Table

metadata = MetaData()

# On SQLite only INTEGER PRIMARY KEY aliases the rowid, which keeps append-ordered keys cheap.
_RowKey = BigInteger().with_variant(Integer(), "sqlite")

# One row per tile: `hashes` are the concatenated hashes of tree level 8*level, exactly as
# tlog-tiles serves them; `interior` the tile's complete nodes of the seven levels above those
# (ledger.tiles.Tile). A partial tile's row grows until it is full; every narrower width is a
# prefix of it.
log_tiles = Table(
    "log_tiles",
    metadata,
    Column("level", SmallInteger, primary_key=True, autoincrement=False),
    Column("tile_index", BigInteger, primary_key=True, autoincrement=False),
    Column("hashes", LargeBinary, nullable=False),
    Column("interior", LargeBinary, nullable=False),
    sqlite_with_rowid=False,
)

# One row per entry bundle: the exact leaf bytes that were hashed, each prefixed by its
# big-endian uint16 length, as served at tile/entries/<N>.
log_entry_bundles = Table(
    "log_entry_bundles",
    metadata,
    Column("bundle_index", _RowKey, primary_key=True, autoincrement=False),
    Column("entries", LargeBinary, nullable=False),
)

# Leaf hash -> leaf index: a derived index (ledger.leafindex), built from the level 0 tiles
# after sequencing, keyed by the first 8 bytes of the hash (a collision only costs a
# comparison against the tile). The leading `segment` (leaf_index >> 16) keeps each
# batch's inserts inside the newest segment's pages: keyed by hash alone, a batch would dirty
# pages all over an index that grows with the log, and appends would slow down as it grows.
# A lookup probes every segment, one index seek each.
log_leaf_index = Table(
    "log_leaf_index",
    metadata,
    Column("segment", BigInteger, primary_key=True, autoincrement=False),
    Column("hash_prefix", BigInteger, primary_key=True, autoincrement=False),
    Column("leaf_index", BigInteger, primary_key=True, autoincrement=False),
    sqlite_with_rowid=False,
)

# How far log_leaf_index has been built: entries [0, indexed_size) are in it. One row.
log_leaf_index_state = Table(
    "log_leaf_index_state",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("indexed_size", BigInteger, nullable=False),
)

# Every checkpoint the log signed, one per sequenced batch.
log_checkpoints = Table(
    "log_checkpoints",
    metadata,
    Column("tree_size", _RowKey, primary_key=True, autoincrement=False),
    Column("root_hash", LargeBinary(32), nullable=False),
    Column("note", LargeBinary, nullable=False),
    Column("created_at_ms", BigInteger, nullable=False),
)
