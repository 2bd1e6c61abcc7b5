"""Scoped revocations (revocation/v2) and per-capture certificates.

reg_revocations gains the revocation's subject (a device, a CA or the vendor root), its scope,
its vendor and the firmware releases it is limited to; device_id stays, now NULL for a
revocation of a CA or a root. reg_vendors gains `certificates` ("per-capture" for a vendor whose
devices sign each capture with a one-time certificate), reg_devices `origin_id` (the device,
or its issuing CA for such a vendor). Existing rows are filled as what they were: device
revocations, one certificate per device. Derived like every reg_* table: `prov reindex`
rebuilds them from the log.

Revision ID: 0009_scoped_revocations
Revises: 0008_status_index
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_scoped_revocations"
down_revision: str | None = "0008_status_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("reg_revocations", sa.Column("subject_id", sa.String(length=64), nullable=True))
    op.add_column("reg_revocations", sa.Column("scope", sa.String(length=16), nullable=True))
    op.add_column("reg_revocations", sa.Column("vendor_id", sa.String(length=64), nullable=True))
    op.add_column("reg_revocations", sa.Column("firmware", sa.Text(), nullable=True))
    op.execute("UPDATE reg_revocations SET subject_id = device_id, scope = 'device'")
    # batch mode: SQLite cannot ALTER a column's nullability in place, so Alembic copies the table.
    with op.batch_alter_table("reg_revocations") as batch:
        batch.alter_column("subject_id", existing_type=sa.String(length=64), nullable=False)
        batch.alter_column("scope", existing_type=sa.String(length=16), nullable=False)
        batch.alter_column("device_id", existing_type=sa.String(length=64), nullable=True)
    op.create_index("ix_reg_revocations_subject_id", "reg_revocations", ["subject_id"])

    op.add_column("reg_vendors", sa.Column("certificates", sa.String(length=16), nullable=True))
    op.add_column("reg_devices", sa.Column("origin_id", sa.String(length=64), nullable=True))
    op.execute("UPDATE reg_devices SET origin_id = device_id")
    with op.batch_alter_table("reg_devices") as batch:
        batch.alter_column("origin_id", existing_type=sa.String(length=64), nullable=False)
    op.create_index("ix_reg_devices_origin_id", "reg_devices", ["origin_id"])


def downgrade() -> None:
    op.drop_index("ix_reg_devices_origin_id", table_name="reg_devices")
    with op.batch_alter_table("reg_devices") as batch:
        batch.drop_column("origin_id")
    with op.batch_alter_table("reg_vendors") as batch:
        batch.drop_column("certificates")
    op.drop_index("ix_reg_revocations_subject_id", table_name="reg_revocations")
    op.execute("DELETE FROM reg_revocations WHERE device_id IS NULL")
    with op.batch_alter_table("reg_revocations") as batch:
        batch.alter_column("device_id", existing_type=sa.String(length=64), nullable=False)
        batch.drop_column("firmware")
        batch.drop_column("vendor_id")
        batch.drop_column("scope")
        batch.drop_column("subject_id")
