"""Building proof bundles from the log (server side: reads the reg_* tables).

The format, and what each part proves, is in `registry.bundle.verify`, which checks a bundle
offline. The three tlog-proofs (and each revocation's) are against the same signed checkpoint:
the newest one a witness cosigned if one covers the capture, else the latest.
"""

import base64
import json

from sqlalchemy import select

from ledger import LogStore, TlogProof
from ledger.errors import NotFoundError
from ledger.witnessing import cosigned_note, latest_cosigned
from registry.admission.caution_rule import Revocation, capture_cautions
from registry.admission.schema import reg_captures, reg_devices, reg_revocations, reg_vendors
from registry.bundle.format import FORMAT, PARTS, REVOCATIONS, ProvenPart
from registry.cautions import Caution
from registry.entries.codec import REVOCATION, parse_capture, parse_entry_as

__all__ = ["build_bundle", "build_bundle_with_cautions"]


def build_bundle(store: LogStore, capture_index: int) -> bytes:
    """The bundle for the capture at `capture_index`, against the log's latest checkpoint."""
    return build_bundle_with_cautions(store, capture_index)[0]


def build_bundle_with_cautions(store: LogStore, capture_index: int) -> tuple[bytes, list[Caution]]:
    """The bundle, and the per-capture cautions that its own entries show (what
    `verify_bundle` will report), for servers that say so beside the bundle."""
    device_index, vendor_index, device_id = _capture_row(store, capture_index)
    indexes = [capture_index, device_index, vendor_index]
    # The newest checkpoint a witness cosigned, if one covers the capture: its cosignatures are
    # the third-party evidence of when the capture existed. Otherwise the latest, unwitnessed.
    checkpoint = latest_cosigned(store, max(indexes) + 1) or store.latest_checkpoint()
    note = cosigned_note(store, checkpoint)
    revocations = _revocation_indexes(store, device_id, checkpoint.size)
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
    capture = parse_capture(store.entry(capture_index))
    cautions = capture_cautions(
        capture_index,
        capture["claim"]["captured_at"],
        capture["logged_at"],
        [
            Revocation(r["index"], entry["device"], entry["compromised_since"])
            for r in proven[len(PARTS) :]
            for entry in [parse_entry_as(store.entry(r["index"]), REVOCATION)]
        ],
    )
    return json.dumps(bundle, separators=(",", ":"), sort_keys=True).encode(), cautions


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
