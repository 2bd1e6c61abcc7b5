"""The registry's tables: derived indexes over the log's entries.

Every row here is computed from log entries by registry.admission.indexer; `prov reindex` drops them and
replays the log to rebuild them, with the same result. Alembic owns the schema
(migrations/versions/0002_registry.py).
"""

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
)

metadata = MetaData()

reg_vendors = Table(
    "reg_vendors",
    metadata,
    Column("vendor_id", String(64), primary_key=True),  # hex SHA-256 of the root DER
    Column("name", String(200), nullable=False),
    Column("role", String(16), nullable=False),
    # "per-capture": the vendor's devices sign each capture with a one-time certificate, so a
    # capture's origin is its issuing CA; NULL: one certificate per device (vendor/v1 default)
    Column("certificates", String(16), nullable=True),
    Column("leaf_index", BigInteger, nullable=False, unique=True),
    Column("logged_at_ms", BigInteger, nullable=False),
)

reg_devices = Table(
    "reg_devices",
    metadata,
    Column("device_id", String(64), primary_key=True),  # hex SHA-256 of the device cert DER
    Column("vendor_id", String(64), nullable=False, index=True),
    Column("issuer_id", String(64), nullable=False),  # the CA that issued the device cert
    # The capture origin: the device itself, or its issuing CA for a per-capture vendor
    Column("origin_id", String(64), nullable=False, index=True),
    Column("algorithm", String(16), nullable=False),  # ES256 or Ed25519
    Column("public_key", LargeBinary, nullable=False),  # DER SubjectPublicKeyInfo
    Column("not_before_ms", BigInteger, nullable=False),
    Column("not_after_ms", BigInteger, nullable=False),
    Column("leaf_index", BigInteger, nullable=False, unique=True),
    Column("logged_at_ms", BigInteger, nullable=False),
    Column("max_counter", BigInteger),  # highest capture counter logged so far
)

# Each device's verified path (registry.admission.rules.check_device): its issuer at position 0,
# each CA above it, the vendor root last; a device whose path does not verify (only a log the
# audit reports holds one) has its vendor root alone. A revocation of a CA or root applies to
# every device with that CA on its path.
reg_device_path = Table(
    "reg_device_path",
    metadata,
    Column("device_id", String(64), primary_key=True),
    Column("position", SmallInteger, primary_key=True, autoincrement=False),
    Column("ca_id", String(64), nullable=False, index=True),  # hex SHA-256 of the CA's DER
)

reg_revocations = Table(
    "reg_revocations",
    metadata,
    Column("leaf_index", BigInteger, primary_key=True, autoincrement=False),
    # revocation/v1 names a device; revocation/v2 a device, a CA or the vendor root: the
    # subject. device_id is the subject of a device revocation, else NULL.
    Column("device_id", String(64), nullable=True, index=True),
    Column("subject_id", String(64), nullable=False, index=True),
    Column("scope", String(16), nullable=False),  # device, ca or vendor
    Column("vendor_id", String(64), nullable=True),  # revocation/v2 only
    Column("firmware", Text, nullable=True),  # JSON list of releases; NULL: every capture
    Column("compromised_since_ms", BigInteger, nullable=False),
    Column("reason", String(500), nullable=False),
    Column("signer_id", String(64), nullable=False),
    Column("logged_at_ms", BigInteger, nullable=False),
)

reg_captures = Table(
    "reg_captures",
    metadata,
    Column("leaf_index", BigInteger, primary_key=True, autoincrement=False),
    Column("record_id", LargeBinary(32), nullable=False, unique=True),  # SHA-256 of JCS(claim, sig)
    Column("device_id", String(64), nullable=False),
    Column("counter", BigInteger),  # None for c2pa-capture/v1 (C2PA has no counter)
    Column("counter_status", String(16), nullable=False),  # ok, repeated, backwards, none
    Column("captured_at_ms", BigInteger, nullable=False),
    Column("logged_at_ms", BigInteger, nullable=False),
    Column("sha256", LargeBinary(32), nullable=False, index=True),
    Column("pdq", LargeBinary(32), nullable=False),
    Column("pdq_quality", SmallInteger, nullable=False),
    Column("phash", LargeBinary(8), nullable=False),
    Column("media_type", String(100), nullable=False),
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    # registry.entries.claim_identity: the same claim, whatever its signature (not unique: an older log
    # can hold a claim twice; admission answers the second as a duplicate).
    Column("claim_id", LargeBinary(32), nullable=False),
    # The firmware release the claim names (registry.entries.codec.check_firmware); NULL: none
    Column("firmware", String(100), nullable=True),
    Index("ix_reg_captures_device_time", "device_id", "captured_at_ms"),
    Index("ix_reg_captures_claim_id", "claim_id"),
    Index("ix_reg_captures_device_counter", "device_id", "counter"),
)

# The claim `features` the lookup knows (registry.imaging.features), one row per capture and feature;
# unknown feature names stay in the log entry only.
reg_capture_features = Table(
    "reg_capture_features",
    metadata,
    Column("leaf_index", BigInteger, primary_key=True, autoincrement=False),
    Column("name", String(64), primary_key=True),
    Column("hash", LargeBinary(32), nullable=False),
)

# What the log knows against a capture (registry.admission.capture_cautions): one row per capture and
# caution code, rewritten when a later revocation re-judges the capture. Derived like the rest.
reg_capture_cautions = Table(
    "reg_capture_cautions",
    metadata,
    Column("leaf_index", BigInteger, primary_key=True, autoincrement=False),
    Column("code", String(48), primary_key=True),  # registry.cautions.CODES
    Column("message", String(1000), nullable=False),
    Column("evidence", String(4000), nullable=False),  # JSON list of leaf indexes
)

# How far the tables above reflect the log: entries [0, indexed_size). One row.
reg_state = Table(
    "reg_state",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("indexed_size", BigInteger, nullable=False),
)

DERIVED_TABLES = (
    reg_capture_cautions,
    reg_capture_features,
    reg_captures,
    reg_revocations,
    reg_device_path,
    reg_devices,
    reg_vendors,
    reg_state,
)
