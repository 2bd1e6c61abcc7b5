"""What the log knows against a capture: reg_capture_cautions (registry.admission.capture_cautions).

Derived like every reg_* table: after upgrading a registry that already holds captures, run
`prov reindex` to fill it from the log.

Revision ID: 0006_revocation_cautions
Revises: 0005_c2pa_captures
Create Date: 2026-12-10
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_revocation_cautions"
down_revision: str | None = "0006_claim_dedup"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reg_capture_cautions",
        sa.Column("leaf_index", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("code", sa.String(length=48), nullable=False),
        sa.Column("message", sa.String(length=1000), nullable=False),
        sa.Column("evidence", sa.String(length=4000), nullable=False),
        sa.PrimaryKeyConstraint("leaf_index", "code"),
    )


def downgrade() -> None:
    op.drop_table("reg_capture_cautions")
