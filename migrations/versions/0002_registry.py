"""The registry's derived indexes: vendors, devices, revocations, captures.

Revision ID: 0002_registry
Revises: 0001_log
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_registry"
down_revision: str | None = "0001_log"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reg_vendors",
        sa.Column("vendor_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("leaf_index", sa.BigInteger(), nullable=False),
        sa.Column("logged_at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("vendor_id"),
        sa.UniqueConstraint("leaf_index"),
    )
    op.create_table(
        "reg_devices",
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("vendor_id", sa.String(length=64), nullable=False),
        sa.Column("issuer_id", sa.String(length=64), nullable=False),
        sa.Column("algorithm", sa.String(length=16), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("not_before_ms", sa.BigInteger(), nullable=False),
        sa.Column("not_after_ms", sa.BigInteger(), nullable=False),
        sa.Column("leaf_index", sa.BigInteger(), nullable=False),
        sa.Column("logged_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("max_counter", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("device_id"),
        sa.UniqueConstraint("leaf_index"),
    )
    op.create_index("ix_reg_devices_vendor_id", "reg_devices", ["vendor_id"])
    op.create_table(
        "reg_revocations",
        sa.Column("leaf_index", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("compromised_since_ms", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("signer_id", sa.String(length=64), nullable=False),
        sa.Column("logged_at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("leaf_index"),
    )
    op.create_index("ix_reg_revocations_device_id", "reg_revocations", ["device_id"])
    op.create_table(
        "reg_captures",
        sa.Column("leaf_index", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("record_id", sa.LargeBinary(length=32), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("counter", sa.BigInteger(), nullable=False),
        sa.Column("counter_status", sa.String(length=16), nullable=False),
        sa.Column("captured_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("logged_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.LargeBinary(length=32), nullable=False),
        sa.Column("pdq", sa.LargeBinary(length=32), nullable=False),
        sa.Column("pdq_quality", sa.SmallInteger(), nullable=False),
        sa.Column("phash", sa.LargeBinary(length=8), nullable=False),
        sa.Column("media_type", sa.String(length=100), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("leaf_index"),
        sa.UniqueConstraint("record_id"),
    )
    op.create_index("ix_reg_captures_sha256", "reg_captures", ["sha256"])
    op.create_index("ix_reg_captures_device_time", "reg_captures", ["device_id", "captured_at_ms"])
    op.create_index("ix_reg_captures_device_counter", "reg_captures", ["device_id", "counter"])
    op.create_table(
        "reg_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("indexed_size", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("reg_state")
    op.drop_index("ix_reg_captures_device_counter", table_name="reg_captures")
    op.drop_index("ix_reg_captures_device_time", table_name="reg_captures")
    op.drop_index("ix_reg_captures_sha256", table_name="reg_captures")
    op.drop_table("reg_captures")
    op.drop_index("ix_reg_revocations_device_id", table_name="reg_revocations")
    op.drop_table("reg_revocations")
    op.drop_index("ix_reg_devices_vendor_id", table_name="reg_devices")
    op.drop_table("reg_devices")
    op.drop_table("reg_vendors")
