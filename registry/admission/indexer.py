"""Derived indexes: turning log entries into registry rows.

The live path (registry.Registry, inside the sequencer's transaction) and `prov reindex` (a
replay of the whole log) call the same `apply_*` functions in log order, so a rebuild yields
exactly the rows the live path wrote.
"""

import base64
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

from sqlalchemy import Connection, and_, bindparam, delete, insert, or_, select, update

from ledger.database import insert_named, insert_rows
from ledger.errors import StorageError
from registry.admission import capture_cautions, rules
from registry.admission.capture_origin import origin_id
from registry.admission.certs import DeviceCertificate
from registry.admission.revocation_index import apply_revocation, record_path, verified_device
from registry.admission.schema import (
    DERIVED_TABLES,
    reg_capture_features,
    reg_captures,
    reg_devices,
    reg_state,
    reg_vendors,
)
from registry.c2pa.firmware import entry_firmware
from registry.entries.claim_identity import claim_id
from registry.entries.codec import (
    C2PA_CAPTURE,
    CAPTURE,
    DEVICE,
    REVOCATION_KINDS,
    VENDOR,
    canonical,
    capture_record_id,
)
from registry.imaging.features import FEATURE_NAMES

COUNTER_OK = "ok"
COUNTER_REPEATED = "repeated"  # the device already logged a capture with this counter
COUNTER_BACKWARDS = "backwards"  # lower than a counter the device already logged
COUNTER_NONE = "none"  # a c2pa-capture/v1: C2PA claims carry no capture counter
# The same claim as an earlier capture, signed differently (registry.entries.claim_identity): a copy,
# not a new capture - never a counter repeat. Admission never logs one; an older log may hold it.
COUNTER_DUPLICATE = "duplicate"
DOUBTFUL_CHUNK = 250  # (device, counter) pairs looked up per statement

Entry = Mapping[str, Any]
"""A parsed log entry (registry.entries.codec.parse_entry) or a claim in one."""


def record_id(entry: Entry) -> bytes:
    """Identity of a capture record: SHA-256 of JCS({claim, sig}), where a c2pa-capture/v1's
    sig is its COSE signature. ECDSA signatures are randomized, so re-signing the same claim
    makes a different record (and, for capture/v1, a repeated counter)."""
    sig = entry["sig"] if entry["kind"] == CAPTURE else entry["c2pa"]["signature"]
    return capture_record_id(canonical(entry["claim"]), sig)


def apply_vendor(connection: Connection, index: int, entry: Entry) -> None:
    der = base64.b64decode(entry["root"])
    connection.execute(
        insert(reg_vendors).values(
            vendor_id=hashlib.sha256(der).hexdigest(),
            name=entry["name"],
            role=entry["role"],
            certificates=entry.get("certificates"),
            leaf_index=index,
            logged_at_ms=entry["logged_at"],
        )
    )


def apply_device(
    connection: Connection,
    index: int,
    entry: Entry,
    verified: DeviceCertificate | None = None,
) -> None:
    """`verified`: admission's check of the entry; a rebuild verifies it again
    (`verified_device`). Its origin is the device, or for a per-capture vendor the issuer on
    that verified path; its CA path (for revocations of a CA or root) is that verified path,
    or the vendor root alone if it does not verify."""
    verified = verified or verified_device(connection, entry)
    device = rules.enrolled_device(entry, verified)
    certificates = connection.execute(
        select(reg_vendors.c.certificates).where(reg_vendors.c.vendor_id == device.vendor_id)
    ).scalar()
    connection.execute(
        insert(reg_devices).values(
            device_id=device.device_id,
            vendor_id=device.vendor_id,
            issuer_id=device.issuer_id,
            origin_id=origin_id(device.device_id, device.issuer_id, certificates),
            algorithm=device.algorithm,
            public_key=device.public_key,
            not_before_ms=device.not_before_ms,
            not_after_ms=device.not_after_ms,
            leaf_index=index,
            logged_at_ms=entry["logged_at"],
            max_counter=None,
        )
    )
    path = verified.chain_ids if verified is not None else (device.vendor_id,)
    record_path(connection, device.device_id, path)


@dataclass(frozen=True)
class CaptureRow:
    index: int
    counter_status: str


class CaptureColumns(TypedDict):
    """A reg_captures row by column name (registry/admission/schema.py)."""

    leaf_index: int
    record_id: bytes
    device_id: str
    counter: int | None
    counter_status: str
    captured_at_ms: int
    logged_at_ms: int
    sha256: bytes
    pdq: bytes
    pdq_quality: int
    phash: bytes
    media_type: str
    width: int
    height: int
    claim_id: bytes
    firmware: str | None


def apply_captures(
    connection: Connection,
    first_index: int,
    entries: Sequence[Entry],
    record_ids: Sequence[bytes] | None = None,
    claim_ids: Sequence[bytes] | None = None,
) -> list[CaptureRow]:
    """Insert rows for consecutive capture entries; counters are judged in log order.
    `record_ids` and `claim_ids`, if the caller computed them already, must be record_id() and
    claim_identity.claim_id() of each entry."""
    if not entries:
        return []
    if record_ids is None:
        record_ids = [record_id(entry) for entry in entries]
    if claim_ids is None:
        claim_ids = [claim_id(entry) for entry in entries]
    claims = [entry["claim"] for entry in entries]
    devices = sorted({claim["device"] for claim in claims})
    highest: dict[str, int | None] = dict(
        connection.execute(
            select(reg_devices.c.device_id, reg_devices.c.max_counter).where(
                reg_devices.c.device_id.in_(devices)
            )
        ).all()
    )
    seen, seen_claims = _counters_seen(connection, claims, highest)
    results: list[CaptureRow] = []
    rows: list[CaptureColumns] = []
    rows_in = zip(entries, claims, record_ids, claim_ids, strict=True)
    for offset, (entry, claim, rid, cid) in enumerate(rows_in):
        status = _counter_status(claim, cid, highest, seen, seen_claims)
        index = first_index + offset
        results.append(CaptureRow(index, status))
        rows.append(
            {
                "leaf_index": index,
                "record_id": rid,
                "device_id": claim["device"],
                "counter": claim.get("counter"),
                "counter_status": status,
                "captured_at_ms": claim["captured_at"],
                "logged_at_ms": entry["logged_at"],
                "sha256": bytes.fromhex(claim["sha256"]),
                "pdq": bytes.fromhex(claim["pdq"]),
                "pdq_quality": claim["pdq_quality"],
                "phash": bytes.fromhex(claim["phash"]),
                "media_type": claim["media_type"],
                "width": claim["width"],
                "height": claim["height"],
                "claim_id": cid,
                "firmware": entry_firmware(entry),
            }
        )
    _insert_captures(connection, first_index, claims, rows, {d: highest[d] for d in devices})
    return results


def _counters_seen(
    connection: Connection, claims: Sequence[Entry], highest: Mapping[str, int | None]
) -> tuple[set[tuple[str, int]], set[bytes]]:
    """The (device, counter) pairs of `claims` already logged, and the claim ids logged with
    them. Only a counter at or below the device's highest can have been seen before: those are
    looked up (one indexed probe each); the usual, increasing counters need no query at all."""
    doubtful = sorted(
        {
            (claim["device"], claim["counter"])
            for claim in claims
            if claim.get("counter") is not None
            and highest.get(claim["device"]) is not None
            and claim["counter"] <= highest[claim["device"]]
        }
    )
    seen: set[tuple[str, int]] = set()
    # A claim logged before has the same (device, counter), so it is among the doubtful ones.
    seen_claims: set[bytes] = set()
    # In chunks: SQLite refuses an expression nested deeper than 1,000, and a chain of ORs nests
    # one level per term - a batch of late uploads (all counters below the device's highest)
    # failed whole.
    for start in range(0, len(doubtful), DOUBTFUL_CHUNK):
        matches = or_(
            *(
                and_(reg_captures.c.device_id == device, reg_captures.c.counter == counter)
                for device, counter in doubtful[start : start + DOUBTFUL_CHUNK]
            )
        )
        for d, c, known in connection.execute(
            select(reg_captures.c.device_id, reg_captures.c.counter, reg_captures.c.claim_id).where(
                matches
            )
        ):
            seen.add((d, c))
            seen_claims.add(bytes(known))
    return seen, seen_claims


def _counter_status(
    claim: Entry,
    cid: bytes,
    highest: dict[str, int | None],
    seen: set[tuple[str, int]],
    seen_claims: set[bytes],
) -> str:
    """The counter status of the next capture in log order; records its counter as seen (the
    three collections are updated in place, so a batch is judged as if logged one by one)."""
    device, counter = claim["device"], claim.get("counter")
    top = highest.get(device)
    if counter is None:
        status = COUNTER_NONE
    elif cid in seen_claims:
        status = COUNTER_DUPLICATE
    elif (device, counter) in seen:
        status = COUNTER_REPEATED
    elif top is not None and counter < top:
        status = COUNTER_BACKWARDS
    else:
        status = COUNTER_OK
    if counter is not None:
        seen.add((device, counter))
        seen_claims.add(cid)
        highest[device] = counter if top is None else max(top, counter)
    return status


def _insert_captures(
    connection: Connection,
    first_index: int,
    claims: Sequence[Entry],
    rows: list[CaptureColumns],
    highest: Mapping[str, int | None],
) -> None:
    """Write the reg_captures `rows`, their cautions and features, and the highest counter of
    each device in `highest`."""
    insert_named(connection, reg_captures, rows)
    capture_cautions.judge_new_captures(
        connection,
        [
            (
                row["leaf_index"],
                row["device_id"],
                row["captured_at_ms"],
                row["logged_at_ms"],
                row["firmware"],
            )
            for row in rows
        ],
    )
    insert_rows(
        connection,
        reg_capture_features,
        [
            (first_index + offset, name, bytes.fromhex(value))
            for offset, claim in enumerate(claims)
            for name, value in claim.get("features", {}).items()
            if name in FEATURE_NAMES
        ],
    )
    connection.execute(
        update(reg_devices)
        .where(reg_devices.c.device_id == bindparam("device"))
        .values(max_counter=bindparam("highest")),
        [{"device": device, "highest": highest[device]} for device in highest],
    )


def capture_firmware_of(connection: Connection, leaves: Iterable[int]) -> dict[int, str | None]:
    """The firmware each capture at these leaf indexes names (None: none); captures the index
    does not hold are absent from the answer."""
    wanted = sorted(set(leaves))
    found: dict[int, str | None] = {}
    for start in range(0, len(wanted), DOUBTFUL_CHUNK):  # bounded IN lists, as _counters_seen
        chunk = wanted[start : start + DOUBTFUL_CHUNK]
        rows = connection.execute(
            select(reg_captures.c.leaf_index, reg_captures.c.firmware).where(
                reg_captures.c.leaf_index.in_(chunk)
            )
        )
        found.update((index, firmware) for index, firmware in rows)
    return found


def set_indexed_size(connection: Connection, size: int) -> None:
    updated = connection.execute(update(reg_state).values(indexed_size=size)).rowcount
    if not updated:
        connection.execute(insert(reg_state).values(id=1, indexed_size=size))


def clear(connection: Connection) -> None:
    for table in DERIVED_TABLES:
        connection.execute(delete(table))


def replay(connection: Connection, first_index: int, leaves: Iterable[bytes]) -> int:
    """Apply log entries in order (consecutive captures as one batch); returns the count."""
    pending: list[Entry] = []
    pending_start = first_index
    count = 0
    for index, leaf in enumerate(leaves, start=first_index):
        count += 1
        try:
            entry = json.loads(leaf)
            kind = entry["kind"]
        except (ValueError, TypeError, KeyError, RecursionError):
            raise StorageError(f"log entry {index} is not a registry entry") from None
        if kind in (CAPTURE, C2PA_CAPTURE):
            if not pending:
                pending_start = index
            pending.append(entry)
            continue
        apply_captures(connection, pending_start, pending)
        pending = []
        if kind == VENDOR:
            apply_vendor(connection, index, entry)
        elif kind == DEVICE:
            apply_device(connection, index, entry)
        elif kind in REVOCATION_KINDS:
            apply_revocation(connection, index, entry)
        else:
            raise StorageError(f"log entry {index} has unknown kind {kind!r}")
    apply_captures(connection, pending_start, pending)
    return count
