"""The status index (ledger.status): log_status_entries, log_status_state, log_status_notes.

Nothing is filled here: the sequencer catches the index up from the leaves the next time it
runs (it reads the registry's rule for which leaves name which subject), and signs the status
note of the latest checkpoint then. A log written before this change therefore gets status
notes from its first checkpoint after the upgrade on; its older checkpoints have none.

Revision ID: 0008_status_index
Revises: 0007_revocation_cautions
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_status_index"
down_revision: str | None = "0007_revocation_cautions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As ledger.schema._RowKey: on SQLite only INTEGER PRIMARY KEY aliases the rowid.
_RowKey = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "log_status_entries",
        sa.Column("subject", sa.LargeBinary(length=32), nullable=False),
        sa.Column("leaf_index", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("subject", "leaf_index"),
    )
    op.create_table(
        "log_status_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("indexed_size", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "log_status_notes",
        sa.Column("tree_size", _RowKey, autoincrement=False, nullable=False),
        sa.Column("status_root", sa.LargeBinary(length=32), nullable=False),
        sa.Column("note", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("tree_size"),
    )


def downgrade() -> None:
    op.drop_table("log_status_notes")
    op.drop_table("log_status_state")
    op.drop_table("log_status_entries")
