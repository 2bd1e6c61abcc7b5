"""The log's tables. Alembic migrations own the schema; these definitions must match them
(tests/ledger/test_migrations.py fails if they drift)."""

from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
)

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

# The status index (ledger.status, docs/design.md): which leaves speak about which subject.
# A subject is a 32-byte id the registry's rule reads off a leaf (for a revocation: the id of
# the device, CA or vendor root it names); a leaf may name none. Derived from the leaves alone
# by the sequencer, in the batch's transaction, so it never lags the tree.
log_status_entries = Table(
    "log_status_entries",
    metadata,
    Column("subject", LargeBinary(32), primary_key=True),
    Column("leaf_index", BigInteger, primary_key=True, autoincrement=False),
)

# How far log_status_entries has been built: leaves [0, indexed_size) are in it. One row.
# Behind the tree only in a log written before the status index existed, until it catches up.
log_status_state = Table(
    "log_status_state",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("indexed_size", BigInteger, nullable=False),
)

# The status note the log key signed beside a checkpoint (ledger.status_note): it binds the
# checkpoint's size and root hash to the status index's root over the leaves below that size.
log_status_notes = Table(
    "log_status_notes",
    metadata,
    Column("tree_size", _RowKey, primary_key=True, autoincrement=False),
    Column("status_root", LargeBinary(32), nullable=False),
    Column("note", LargeBinary, nullable=False),
)

# Cosignatures the log's witnesses returned (C2SP tlog-witness, tlog-cosignature), by the
# checkpoint size they cosigned; `line` is the note signature line, served after the log's own.
log_cosignatures = Table(
    "log_cosignatures",
    metadata,
    Column("tree_size", BigInteger, primary_key=True, autoincrement=False),
    Column("key_name", String(255), primary_key=True),
    Column("key_id", LargeBinary(4), primary_key=True),
    Column("timestamp", BigInteger, nullable=False),  # POSIX seconds, from the cosignature
    Column("line", Text, nullable=False),
)

# A witness's own state (`prov witness serve`, its own database): per log origin, the latest
# checkpoint it cosigned. Updated only under the witness lock, after every check passed.
witness_state = Table(
    "witness_state",
    metadata,
    Column("origin", String(255), primary_key=True),
    Column("tree_size", BigInteger, nullable=False),
    Column("root_hash", LargeBinary(32), nullable=False),
    Column("note", LargeBinary, nullable=False),  # the checkpoint as submitted
    Column("updated_ms", BigInteger, nullable=False),
)

# Checkpoints a witness refused although the log's signature verified: possible evidence of
# misbehaviour (a fork, a rollback), kept for anyone to re-verify.
witness_refusals = Table(
    "witness_refusals",
    metadata,
    Column("id", _RowKey, primary_key=True, autoincrement=True),
    Column("origin", String(255), nullable=False),
    Column("received_ms", BigInteger, nullable=False),
    Column("status", SmallInteger, nullable=False),  # the HTTP status returned
    Column("reason", Text, nullable=False),
    Column("request", LargeBinary, nullable=False),  # the add-checkpoint body as received
)
