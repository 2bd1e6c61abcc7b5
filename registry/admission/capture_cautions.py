"""Per-capture cautions: what the log's revocations and clock say against one capture.

One pure rule (`capture_cautions`), applied by the indexer to fill reg_capture_cautions (live and
on `prov reindex`, in log order: a revocation logged later re-judges the device's earlier
captures), by `registry.bundle.bundle.verify_bundle` to the revocations a bundle carries, and by the
auditor (`registry.audit.auditor`) as it replays. Cautions computed across matches (who registered
first) live elsewhere; these depend on the capture, its device and the revocations alone.

A revocation applies to a capture when it names the capture's device or - once revocations of
CAs exist - a CA on the device's chain (`applies`): the callers gather the revocations by
`subject`, so a CA revocation slots in as one more subject per device.
"""

import json
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, bindparam, delete, select

from ledger.database import insert_rows
from registry.admission.schema import reg_capture_cautions, reg_captures, reg_revocations
from registry.cautions import (
    CAPTURED_IN_COMPROMISE_WINDOW,
    LATE_LOGGING_MS,
    LOGGED_AFTER_REVOCATION,
    LOGGED_LATE,
    Caution,
)

__all__ = [
    "Revocation",
    "applies",
    "capture_cautions",
    "judge_new_captures",
    "read_cautions",
    "rejudge_device",
    "revocations_of",
    "write_cautions",
]


@dataclass(frozen=True)
class Revocation:
    """A logged revocation: its leaf index, whom it names, and the compromise date."""

    index: int
    subject: str  # the device id (revocation/v1), or later the id of a CA on the chain
    compromised_since: int


def applies(subject: str, device_id: str, chain_ids: Collection[str] = ()) -> bool:
    """Does a revocation naming `subject` revoke this device (or a CA on its chain)?"""
    return subject == device_id or subject in chain_ids


def _iso(ms: int) -> str:
    try:
        return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds")
    except (ValueError, OverflowError, OSError):
        return f"{ms} ms after 1970"


def capture_cautions(
    index: int, captured_at: int, logged_at: int, revocations: Iterable[Revocation]
) -> list[Caution]:
    """The cautions of the capture at `index` against the revocations that apply to its device
    (all those the log holds at the answer's tree size, before or after the capture)."""
    revocations = list(revocations)
    cautions: list[Caution] = []
    revocations.sort(key=lambda r: r.index)
    window = [r for r in revocations if captured_at >= r.compromised_since]
    earlier = [r for r in revocations if r.index < index]
    if window:
        since = min(r.compromised_since for r in window)
        cautions.append(
            Caution(
                CAPTURED_IN_COMPROMISE_WINDOW,
                f"captured {_iso(captured_at)}, after the device's key was reported compromised "
                f"(since {_iso(since)}, revocation at log entry {window[0].index}): anyone "
                "holding the key could have signed it",
                tuple(r.index for r in window),
            )
        )
    if earlier:
        cautions.append(
            Caution(
                LOGGED_AFTER_REVOCATION,
                f"logged after the log already held a revocation of its device (log entry "
                f"{earlier[0].index}): its capture time {_iso(captured_at)} is only the word of a "
                "key that was reported compromised, and may be backdated",
                tuple(r.index for r in earlier),
            )
        )
    if logged_at - captured_at > LATE_LOGGING_MS:
        hours = (logged_at - captured_at) // 3_600_000
        cautions.append(
            Caution(
                LOGGED_LATE,
                f"logged {hours} hours after the time the device claims: for that long, the "
                "capture time is only the device's word",
                (index,),
            )
        )
    return cautions


# --- storage: reg_capture_cautions, derived by registry.admission.indexer ---


def revocations_of(connection: Connection, devices: Collection[str]) -> dict[str, list[Revocation]]:
    """The logged revocations that apply to each device, in log order."""
    found: dict[str, list[Revocation]] = defaultdict(list)
    if not devices:
        return found
    rows = connection.execute(
        select(
            reg_revocations.c.leaf_index,
            reg_revocations.c.device_id,
            reg_revocations.c.compromised_since_ms,
        )
        .where(reg_revocations.c.device_id.in_(sorted(devices)))
        .order_by(reg_revocations.c.leaf_index)
    )
    for index, device, since in rows:
        found[device].append(Revocation(index, device, since))
    return found


def write_cautions(connection: Connection, cautions: Mapping[int, Sequence[Caution]]) -> None:
    """Replace the stored cautions of these captures by `cautions` (leaf index -> cautions)."""
    if not cautions:
        return
    connection.execute(
        delete(reg_capture_cautions).where(reg_capture_cautions.c.leaf_index.in_(sorted(cautions)))
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
    connection: Connection, captures: Sequence[tuple[int, str, int, int]]
) -> None:
    """Store the cautions of newly indexed captures, each (index, device, captured_at,
    logged_at), against the revocations logged so far (one query for the batch)."""
    revoked = revocations_of(connection, {device for _, device, _, _ in captures})
    insert_rows(
        connection,
        reg_capture_cautions,
        [
            (index, c.code, c.message, json.dumps(list(c.evidence)))
            for index, device, captured_at, logged_at in captures
            for c in capture_cautions(index, captured_at, logged_at, revoked.get(device, ()))
        ],
    )


def rejudge_device(connection: Connection, device: str, since: int) -> None:
    """After a revocation of `device` compromised since `since` is logged: the device's captures
    claimed at or after that date were logged before it and are now in its window."""
    rows = connection.execute(
        select(
            reg_captures.c.leaf_index, reg_captures.c.captured_at_ms, reg_captures.c.logged_at_ms
        ).where(reg_captures.c.device_id == device, reg_captures.c.captured_at_ms >= since)
    ).all()
    if not rows:
        return
    revocations = revocations_of(connection, {device})[device]
    write_cautions(
        connection,
        {r.leaf_index: capture_cautions(r.leaf_index, r.captured_at_ms, r.logged_at_ms, revocations)
         for r in rows},
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
