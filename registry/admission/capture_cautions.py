"""Per-capture cautions: what the log's revocations and clock say against one capture.

One pure rule (`capture_cautions`, kept in `registry.admission.caution_rule` so that the offline
verifier needs no database), applied by the indexer to fill reg_capture_cautions (live and on
`prov reindex`, in log order: a revocation logged later re-judges the device's earlier captures),
by `registry.bundle.verify.verify_bundle` to the revocations a bundle carries, and by the
auditor (`registry.audit.auditor`) as it replays. Cautions computed across matches (who registered
first) live elsewhere; these depend on the capture, its device and the revocations alone.

A revocation applies to a capture when it names the capture's device, a CA on its verified
path or its vendor root (reg_device_path; `revocations_of` gathers them in one statement).
"""

import json
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence

from sqlalchemy import ColumnElement, Connection, bindparam, delete, select, true, union_all

from ledger.database import insert_rows
from registry.admission.caution_rule import Revocation, capture_cautions
from registry.admission.schema import (
    reg_capture_cautions,
    reg_captures,
    reg_device_path,
    reg_revocations,
)
from registry.cautions import Caution

__all__ = [
    "Revocation",
    "capture_cautions",
    "judge_new_captures",
    "read_revocations",
    "read_cautions",
    "rejudge_devices",
    "revocations_of",
    "write_cautions",
]


_DEVICE_CHUNK = 500
_LEAF_CHUNK = 5_000

# --- storage: reg_capture_cautions, derived by registry.admission.indexer ---


def read_revocations(where: ColumnElement[bool], connection: Connection) -> list[Revocation]:
    """The reg_revocations rows matching `where`, as the caution rule reads them."""
    rows = connection.execute(select(*_COLUMNS).where(where).order_by(reg_revocations.c.leaf_index))
    return [_revocation(*row) for row in rows]


_COLUMNS = (
    reg_revocations.c.leaf_index,
    reg_revocations.c.subject_id,
    reg_revocations.c.compromised_since_ms,
    reg_revocations.c.scope,
    reg_revocations.c.firmware,
)
# One round trip for a lookup's devices: the revocations naming a device, and those naming a CA
# or root on its path. Built once (as registry.lookup.rows' statements are).
_APPLYING = union_all(
    select(reg_revocations.c.subject_id.label("device"), *_COLUMNS).where(
        reg_revocations.c.subject_id.in_(bindparam("devices", expanding=True))
    ),
    select(reg_device_path.c.device_id.label("device"), *_COLUMNS)
    .join(reg_device_path, reg_device_path.c.ca_id == reg_revocations.c.subject_id)
    .where(reg_device_path.c.device_id.in_(bindparam("devices", expanding=True))),
)


def revocations_of(connection: Connection, devices: Collection[str]) -> dict[str, list[Revocation]]:
    """The logged revocations that apply to each device - naming it, a CA on its path or its
    vendor root (reg_device_path) - in log order, whatever firmware they are limited to."""
    found: dict[str, list[Revocation]] = defaultdict(list)
    if not devices:
        return found
    for device, *fields in connection.execute(_APPLYING, {"devices": sorted(devices)}):
        found[device].append(_revocation(*fields))
    for applying in found.values():
        applying.sort(key=lambda r: r.index)
    return found


def _revocation(
    index: int, subject: str, since: int, scope: str, firmware: str | None
) -> Revocation:
    releases = None if firmware is None else tuple(json.loads(firmware))
    return Revocation(index, subject, since, scope, releases)


def write_cautions(connection: Connection, cautions: Mapping[int, Sequence[Caution]]) -> None:
    """Replace the stored cautions of these captures by `cautions` (leaf index -> cautions)."""
    leaves = sorted(cautions)
    # Bounded IN lists: a CA's revocation re-judges tens of thousands of captures, past the
    # bind parameters one statement may carry (PostgreSQL 65,535; SQLite builds vary).
    for start in range(0, len(leaves), _LEAF_CHUNK):
        chunk = leaves[start : start + _LEAF_CHUNK]
        connection.execute(
            delete(reg_capture_cautions).where(reg_capture_cautions.c.leaf_index.in_(chunk))
        )
    insert_rows(
        connection,
        reg_capture_cautions,
        [
            (index, c.code, c.message, json.dumps(list(c.evidence)))
            for index, found in sorted(cautions.items())
            for c in found
        ],
    )


def judge_new_captures(
    connection: Connection, captures: Sequence[tuple[int, str, int, int, str | None]]
) -> None:
    """Store the cautions of newly indexed captures, each (index, device, captured_at,
    logged_at, firmware), against the revocations logged so far (one query for the batch)."""
    revoked = revocations_of(connection, {device for _, device, _, _, _ in captures})
    insert_rows(
        connection,
        reg_capture_cautions,
        [
            (index, c.code, c.message, json.dumps(list(c.evidence)))
            for index, device, captured_at, logged_at, firmware in captures
            for c in capture_cautions(
                index, captured_at, logged_at, revoked.get(device, ()), firmware
            )
        ],
    )


def rejudge_devices(
    connection: Connection,
    devices: Collection[str],
    since: int,
    firmware: Sequence[str] | None = None,
) -> None:
    """After a revocation compromised since `since` that reaches `devices` is logged: their
    captures claimed at or after that date were logged before it and may now be in its
    window. For one limited to `firmware` releases, only captures naming one of them can
    change, and only they are read (a vendor-wide release revocation touches that release)."""
    ordered = sorted(devices)
    for start in range(0, len(ordered), _DEVICE_CHUNK):  # bounded IN lists for a whole vendor
        chunk = ordered[start : start + _DEVICE_CHUNK]
        revocations = revocations_of(connection, chunk)
        rows = connection.execute(
            select(
                reg_captures.c.leaf_index,
                reg_captures.c.device_id,
                reg_captures.c.captured_at_ms,
                reg_captures.c.logged_at_ms,
                reg_captures.c.firmware,
            ).where(
                reg_captures.c.device_id.in_(chunk),
                reg_captures.c.captured_at_ms >= since,
                true() if firmware is None else reg_captures.c.firmware.in_(list(firmware)),
            )
        ).all()
        write_cautions(
            connection,
            {r.leaf_index: capture_cautions(
                r.leaf_index, r.captured_at_ms, r.logged_at_ms,
                revocations.get(r.device_id, ()), r.firmware,
            ) for r in rows},
        )  # fmt: skip


_READ = select(reg_capture_cautions).where(
    reg_capture_cautions.c.leaf_index.in_(bindparam("leaves", expanding=True))
)


def read_cautions(connection: Connection, leaves: Collection[int]) -> dict[int, list[Caution]]:
    """The stored cautions of these captures (leaf index -> cautions, in code order)."""
    found: dict[int, list[Caution]] = defaultdict(list)
    if not leaves:
        return found
    rows = connection.execute(_READ, {"leaves": sorted(leaves)}).all()
    for row in sorted(rows, key=lambda r: (r.leaf_index, r.code)):
        evidence = tuple(int(i) for i in json.loads(row.evidence))
        found[row.leaf_index].append(Caution(row.code, row.message, evidence))
    return found
