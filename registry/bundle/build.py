"""Building proof bundles from the log (server side: reads the reg_* tables).

The format, and what each part proves, is in `registry.bundle.verify`, which checks a bundle
offline. A bundle is always against the log's latest checkpoint, with the cosignatures its
witnesses returned for it so far: the revocation status it proves (registry.bundle.status) is
then the newest the log can give. Its status proofs are for the subjects the verifier will
require (`required_subjects`, one function for both), and its revocations exactly the entries
those proofs list, each with its inclusion proof against the same checkpoint. A log that has no
status note for its latest checkpoint yet (one written before status notes, until its sequencer
next starts) gets a bundle without `status`, as bundles were before it.
"""

import base64
import json

from sqlalchemy import select

from ledger import LogStore, SignedCheckpoint, TlogProof
from ledger.errors import NotFoundError
from ledger.witnessing import cosigned_note
from registry.admission.caution_rule import Revocation, capture_cautions, revocation_from_entry
from registry.admission.schema import reg_captures, reg_devices, reg_revocations, reg_vendors
from registry.bundle.format import FORMAT, PARTS, REVOCATIONS, STATUS, ProvenPart
from registry.bundle.status import required_subjects, status_part, unproven_status
from registry.c2pa.firmware import entry_firmware
from registry.cautions import Caution
from registry.entries.codec import DEVICE, VENDOR, parse_capture, parse_entry_as

__all__ = ["build_bundle", "build_bundle_with_cautions"]


def build_bundle(store: LogStore, capture_index: int) -> bytes:
    """The bundle for the capture at `capture_index`, against the log's latest checkpoint."""
    return build_bundle_with_cautions(store, capture_index)[0]


def build_bundle_with_cautions(store: LogStore, capture_index: int) -> tuple[bytes, list[Caution]]:
    """The bundle, and the per-capture cautions that its own entries show (what
    `verify_bundle` will report), for servers that say so beside the bundle."""
    device_index, vendor_index, device_id = _capture_row(store, capture_index)
    indexes = [capture_index, device_index, vendor_index]
    checkpoint = store.latest_checkpoint()
    note = cosigned_note(store, checkpoint)
    status = _status(store, checkpoint, device_index, vendor_index)
    revocations = (
        status[1] if status is not None else _revocation_indexes(store, device_id, checkpoint.size)
    )
    receipts = store.receipts(indexes + revocations, checkpoint.size)
    proven: list[ProvenPart] = [
        {
            "index": index,
            "entry": base64.b64encode(store.entry(index)).decode(),
            "proof": TlogProof(index, tuple(proof), note).encode().decode(),
        }
        for index, (_leaf_hash, proof) in zip(indexes + revocations, receipts, strict=True)
    ]
    bundle: dict[str, object] = {
        "format": FORMAT,
        "log": checkpoint.checkpoint.origin,
        "checkpoint": note.decode(),
        **dict(zip(PARTS, proven, strict=False)),
    }
    if revocations:
        bundle[REVOCATIONS] = proven[len(PARTS) :]
    if status is not None:
        bundle[STATUS] = status[0]
    capture = parse_capture(store.entry(capture_index))
    cautions = capture_cautions(
        capture_index,
        capture["claim"]["captured_at"],
        capture["logged_at"],
        _revocations(store, revocations),
        entry_firmware(capture),
    )
    if status is None:  # as verify_bundle will report it: never clean without a status proof
        cautions.insert(0, unproven_status(checkpoint.size)[2])
    return json.dumps(bundle, separators=(",", ":"), sort_keys=True).encode(), cautions


def _status(
    store: LogStore, checkpoint: SignedCheckpoint, device_index: int, vendor_index: int
) -> tuple[dict[str, object], list[int]] | None:
    """The `status` part at the checkpoint and the revocations its proofs list; None if the
    log has no status note for it."""
    note = store.status_note(checkpoint.size)
    if note is None:
        return None
    subjects = required_subjects(
        dict(parse_entry_as(store.entry(device_index), DEVICE)),
        dict(parse_entry_as(store.entry(vendor_index), VENDOR)),
    )
    proofs = store.status_proofs(checkpoint.size, [bytes.fromhex(s) for s in subjects])
    listed = {
        index
        for subject, proof in proofs.items()
        if proof.terminal_key == subject
        for index in proof.terminal_indexes
    }
    return status_part(note, {s.hex(): p for s, p in proofs.items()}), sorted(listed)


def _revocations(store: LogStore, indexes: list[int]) -> list[Revocation]:
    """The revocations at `indexes` as the caution rule reads them (the verifier checks their
    signatures; one the log holds malformed is left out of the server's courtesy cautions)."""
    found = []
    for index in indexes:
        entry = json.loads(store.entry(index))
        try:
            found.append(revocation_from_entry(index, entry))
        except (KeyError, TypeError, AssertionError):
            continue
    return found


def _capture_row(store: LogStore, capture_index: int) -> tuple[int, int, str]:
    """The capture's device leaf, vendor leaf and device id; NotFoundError if it is none."""
    missing = NotFoundError(
        f"log entry {capture_index} is not a registered capture", code="not_a_capture"
    )
    # Checked before the query: an index past the tree cannot be a capture, and one past 2**63
    # would overflow the database's integer column (an error, not an answer).
    if not 0 <= capture_index < store.latest_checkpoint().size:
        raise missing
    with store.engine.connect() as connection:
        row = connection.execute(
            select(
                reg_devices.c.leaf_index,
                reg_vendors.c.leaf_index.label("vendor_index"),
                reg_captures.c.device_id,
            )
            .select_from(reg_captures)
            .join(reg_devices, reg_devices.c.device_id == reg_captures.c.device_id)
            .join(reg_vendors, reg_vendors.c.vendor_id == reg_devices.c.vendor_id)
            .where(reg_captures.c.leaf_index == capture_index)
        ).first()
    if row is None:
        raise missing
    return row.leaf_index, row.vendor_index, row.device_id


def _revocation_indexes(store: LogStore, device_id: str, size: int) -> list[int]:
    """Every revocation of the device a tree of `size` holds - logged before or after the
    capture: a later one can still date the compromise before it."""
    with store.engine.connect() as connection:
        return list(
            connection.execute(
                select(reg_revocations.c.leaf_index)
                .where(
                    reg_revocations.c.device_id == device_id,
                    reg_revocations.c.leaf_index < size,
                )
                .order_by(reg_revocations.c.leaf_index)
            ).scalars()
        )
