"""Each device's verified CA path, so that a revocation of a CA or vendor root reaches it.

reg_device_path: one row per device and CA on its verified path (issuer at position 0, the
vendor root last). Existing devices get their issuer and their vendor root here; a deeper
intermediate needs the X.509 path the indexer builds, so after upgrading a registry whose
devices sit under more than one CA, run `prov reindex` (docs/operations.md). Derived like every
reg_* table.

Revision ID: 0011_device_paths
Revises: 0010_capture_firmware
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_device_paths"
down_revision: str | None = "0010_capture_firmware"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reg_device_path",
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("position", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("ca_id", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("device_id", "position"),
    )
    op.create_index("ix_reg_device_path_ca_id", "reg_device_path", ["ca_id"])
    op.execute(
        "INSERT INTO reg_device_path (device_id, position, ca_id) "
        "SELECT device_id, 0, issuer_id FROM reg_devices"
    )
    op.execute(
        "INSERT INTO reg_device_path (device_id, position, ca_id) "
        "SELECT device_id, 1, vendor_id FROM reg_devices WHERE vendor_id <> issuer_id"
    )


def downgrade() -> None:
    op.drop_index("ix_reg_device_path_ca_id", table_name="reg_device_path")
    op.drop_table("reg_device_path")
