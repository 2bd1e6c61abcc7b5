"""The transparency log: tiles, entry bundles, leaf index, checkpoints.

Revision ID: 0001_log
Revises:
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_log"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_RowKey = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "log_tiles",
        sa.Column("level", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("tile_index", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hashes", sa.LargeBinary(), nullable=False),
        sa.Column("interior", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("level", "tile_index"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "log_entry_bundles",
        sa.Column("bundle_index", _RowKey, autoincrement=False, nullable=False),
        sa.Column("entries", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("bundle_index"),
    )
    op.create_table(
        "log_leaf_index",
        sa.Column("segment", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash_prefix", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("leaf_index", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("segment", "hash_prefix", "leaf_index"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "log_leaf_index_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("indexed_size", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "log_checkpoints",
        sa.Column("tree_size", _RowKey, autoincrement=False, nullable=False),
        sa.Column("root_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("note", sa.LargeBinary(), nullable=False),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tree_size"),
    )

    if op.get_bind().dialect.name == "postgresql":
        # Store large values out of line but uncompressed: hashes are random and do not
        # compress, and compressing bundles costs the sequencer more than the disk it saves.
        op.execute("ALTER TABLE log_tiles ALTER COLUMN hashes SET STORAGE EXTERNAL")
        op.execute("ALTER TABLE log_tiles ALTER COLUMN interior SET STORAGE EXTERNAL")
        op.execute("ALTER TABLE log_entry_bundles ALTER COLUMN entries SET STORAGE EXTERNAL")


def downgrade() -> None:
    op.drop_table("log_checkpoints")
    op.drop_table("log_leaf_index_state")
    op.drop_table("log_leaf_index")
    op.drop_table("log_entry_bundles")
    op.drop_table("log_tiles")
