"""C2PA captures: reg_captures.counter becomes optional (c2pa-capture/v1 entries have none).

Revision ID: 0005_c2pa_captures
Revises: 0004_witnessing
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_c2pa_captures"
down_revision: str | None = "0004_witnessing"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # batch mode: SQLite cannot ALTER a column's nullability in place, so Alembic copies the table.
    with op.batch_alter_table("reg_captures") as batch:
        batch.alter_column("counter", existing_type=sa.BigInteger(), nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("reg_captures") as batch:
        batch.alter_column("counter", existing_type=sa.BigInteger(), nullable=False)
