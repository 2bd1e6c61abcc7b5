"""Captures get a claim id (registry.entries.claim_identity): the same claim whatever its signature.

Admission answers a claim already logged as a duplicate by this id (issue 13: a malleated or
re-signed copy was logged as a new capture with a repeated counter). Existing rows are filled
from their log entries here; run `prov reindex` afterwards so that re-signed copies an older
log already holds are marked `duplicate` instead of `repeated`, and device issuers are taken
from the verified path.

Revision ID: 0006_claim_dedup
Revises: 0005_c2pa_captures
Create Date: 2026-12-10
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ledger.store import read_entries
from registry.entries.claim_identity import claim_id

revision: str = "0006_claim_dedup"
down_revision: str | None = "0005_c2pa_captures"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CHUNK = 4096


def upgrade() -> None:
    op.add_column("reg_captures", sa.Column("claim_id", sa.LargeBinary(length=32), nullable=True))
    _fill_claim_ids(op.get_bind())
    # batch mode: SQLite cannot ALTER a column's nullability in place, so Alembic copies the table.
    with op.batch_alter_table("reg_captures") as batch:
        batch.alter_column("claim_id", existing_type=sa.LargeBinary(length=32), nullable=False)
    op.create_index("ix_reg_captures_claim_id", "reg_captures", ["claim_id"])


def _fill_claim_ids(connection: sa.Connection) -> None:
    captures = sa.table("reg_captures", sa.column("leaf_index"), sa.column("claim_id"))
    indexes = list(
        connection.execute(sa.select(captures.c.leaf_index).order_by(captures.c.leaf_index))
        .scalars()
        .all()
    )
    for start in range(0, len(indexes), _CHUNK):
        chunk = indexes[start : start + _CHUNK]
        leaves = read_entries(connection, chunk[0], chunk[-1] + 1)
        updates = [
            {"index": index, "claim": claim_id(json.loads(leaves[index - chunk[0]]))}
            for index in chunk
        ]
        connection.execute(
            sa.update(captures)
            .where(captures.c.leaf_index == sa.bindparam("index"))
            .values(claim_id=sa.bindparam("claim")),
            updates,
        )


def downgrade() -> None:
    op.drop_index("ix_reg_captures_claim_id", table_name="reg_captures")
    with op.batch_alter_table("reg_captures") as batch:
        batch.drop_column("claim_id")
