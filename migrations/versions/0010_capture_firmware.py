"""Capture firmware: reg_captures.firmware, the release a capture's claim names.

capture/v1 and c2pa-capture/v1 claims may carry `firmware` (vendor-defined, 1-100 printable
ASCII); the indexer copies it here so that a firmware-scoped revocation can find the captures
it covers without parsing their entries. NULL: the claim names none, as every claim logged
before this revision. Derived like every reg_* table: `prov reindex` fills it from the log.

Revision ID: 0010_capture_firmware
Revises: 0009_scoped_revocations
Create Date: 2026-12-09
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_capture_firmware"
down_revision: str | None = "0009_scoped_revocations"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("reg_captures", sa.Column("firmware", sa.String(length=100), nullable=True))


def downgrade() -> None:
    # batch mode: SQLite before 3.35 cannot DROP COLUMN in place, so Alembic copies the table.
    with op.batch_alter_table("reg_captures") as batch:
        batch.drop_column("firmware")
