"""What a lookup reads from the registry's tables (registry.admission.schema), one statement
each, on the caller's connection: a lookup answers from a single read transaction.

The statements are built once, as ledger.store's proof statements are: building and compiling
a select costs more than PostgreSQL takes to answer it.
"""

from typing import Protocol

from sqlalchemy import Connection, bindparam, select

from registry.admission.capture_cautions import revocations_of
from registry.admission.caution_rule import Revocation
from registry.admission.schema import (
    reg_capture_features,
    reg_captures,
    reg_devices,
    reg_vendors,
)


class CaptureRow(Protocol):
    """A row of `_CAPTURES`: a capture (registry.admission.schema.reg_captures) with its vendor."""

    leaf_index: int
    pdq: bytes
    pdq_quality: int
    phash: bytes
    device_id: str
    origin_id: str  # registry.admission.capture_origin
    vendor_id: str
    vendor_name: str
    role: str
    captured_at_ms: int
    logged_at_ms: int
    counter_status: str
    firmware: str | None  # the release its signed claim names


# Features by name: the leaf indexes that have one, and its hash at each (CaptureIndex.add).
NewFeatures = dict[str, tuple[list[int], list[bytes]]]

_EXACT = select(reg_captures.c.leaf_index).where(reg_captures.c.sha256 == bindparam("sha256"))
# The features ride along on the captures' rows (a row per feature, or one with NULLs), which
# saves a round trip.
_CAPTURES = (
    select(
        reg_captures,
        reg_devices.c.origin_id,
        reg_devices.c.vendor_id,
        reg_vendors.c.name.label("vendor_name"),
        reg_vendors.c.role,
        reg_capture_features.c.name.label("feature_name"),
        reg_capture_features.c.hash.label("feature_hash"),
    )
    .join(reg_devices, reg_devices.c.device_id == reg_captures.c.device_id)
    .join(reg_vendors, reg_vendors.c.vendor_id == reg_devices.c.vendor_id)
    .outerjoin(reg_capture_features, reg_capture_features.c.leaf_index == reg_captures.c.leaf_index)
    .where(reg_captures.c.leaf_index.in_(bindparam("leaves", expanding=True)))
)


def new_captures(connection: Connection, since: int) -> tuple[list[int], list[bytes], NewFeatures]:
    """The captures at leaf indexes >= `since`, in leaf order: their leaf indexes, PDQ hashes
    and claim features, for registry.imaging.matching.CaptureIndex.add."""
    rows = connection.execute(
        select(reg_captures.c.leaf_index, reg_captures.c.pdq)
        .where(reg_captures.c.leaf_index >= since)
        .order_by(reg_captures.c.leaf_index)
    ).all()
    features: NewFeatures = {}
    # Bounded by the last capture read: the next refresh starts after it, and would add the
    # features of any later capture a second time.
    for leaf, name, value in connection.execute(
        select(reg_capture_features).where(
            reg_capture_features.c.leaf_index >= since,
            reg_capture_features.c.leaf_index <= (rows[-1].leaf_index if rows else -1),
        )
    ):
        leaves, hashes = features.setdefault(name, ([], []))
        leaves.append(leaf)
        hashes.append(bytes(value))
    return [r.leaf_index for r in rows], [bytes(r.pdq) for r in rows], features


def exact_leaves(connection: Connection, sha256: bytes) -> set[int]:
    """The leaf indexes of the captures of exactly these file bytes."""
    return set(connection.execute(_EXACT, {"sha256": sha256}).scalars())


def captures(
    connection: Connection, leaves: list[int]
) -> tuple[list[CaptureRow], dict[int, dict[str, str]]]:
    """The captures at `leaves` with their devices' vendors, and their features by leaf."""
    if not leaves:  # most not-found lookups: no candidate, nothing to read
        return [], {}
    rows: dict[int, CaptureRow] = {}
    features: dict[int, dict[str, str]] = {}
    for row in connection.execute(_CAPTURES, {"leaves": leaves}):
        rows.setdefault(row.leaf_index, row)
        if row.feature_name is not None:
            features.setdefault(row.leaf_index, {})[row.feature_name] = bytes(
                row.feature_hash
            ).hex()
    return list(rows.values()), features


def revoked(connection: Connection, devices: set[str]) -> dict[str, list[Revocation]]:
    """The revocations naming each device, a CA on its path or its vendor root, in log order,
    whatever firmware they are limited to (`capture_cautions.revocations_of`)."""
    return revocations_of(connection, devices)
