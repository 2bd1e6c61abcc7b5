"""The derived side of revocations: reg_revocations, each device's CA path (reg_device_path),
and the re-judging of the captures a newly logged revocation reaches.

Called by the indexer in log order, live and on `prov reindex`, so a rebuild writes the same
rows. A revocation the rules refuse (registry.admission.revocation_rules; only an older or
tampered log holds one, and `prov audit replay` reports it) gets no row: a stranger's
revocation must not brick devices once the tables are rebuilt.
"""

import base64
import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, insert, select

from ledger.database import insert_rows
from ledger.errors import LedgerError
from ledger.store import read_entries
from registry.admission import capture_cautions, rules
from registry.admission.certs import DeviceCertificate, load_vendor_root
from registry.admission.revocation_rules import check_scoped_revocation, parse_scoped_revocation
from registry.admission.schema import reg_device_path, reg_devices, reg_revocations, reg_vendors
from registry.entries.codec import REVOCATION

__all__ = ["apply_revocation", "devices_under", "record_path", "verified_device"]

Entry = Mapping[str, Any]


def record_path(connection: Connection, device_id: str, path_ids: Sequence[str]) -> None:
    """The device's CA path, issuer first, root last (`DeviceCertificate.chain_ids`)."""
    insert_rows(
        connection,
        reg_device_path,
        [(device_id, position, ca) for position, ca in enumerate(path_ids)],
    )


def devices_under(connection: Connection, subject: str) -> list[str]:
    """The enrolled devices with `subject` on their CA path, or `subject` itself."""
    rows = connection.execute(
        select(reg_device_path.c.device_id).where(reg_device_path.c.ca_id == subject)
    ).scalars()
    return sorted({*rows, subject})


def _logged_root(connection: Connection, vendor_id: str) -> bytes | None:
    index = connection.execute(
        select(reg_vendors.c.leaf_index).where(reg_vendors.c.vendor_id == vendor_id)
    ).scalar()
    if index is None:
        return None
    vendor = json.loads(read_entries(connection, index, index + 1)[0])
    return base64.b64decode(vendor["root"])


def verified_device(connection: Connection, entry: Entry) -> DeviceCertificate | None:
    """A logged device's verified path, checked again against its vendor's root at the entry's
    logged_at as admission did; None if it does not verify (only a log that `prov audit replay`
    reports holds such an entry)."""
    root_der = _logged_root(connection, entry["vendor"])
    if root_der is None:
        return None
    try:
        chain = [base64.b64decode(c) for c in entry["chain"]]
        return rules.check_device(
            base64.b64decode(entry["cert"]), chain, load_vendor_root(root_der), entry["logged_at"]
        )
    except LedgerError:
        return None


def _device_path(connection: Connection, device_id: str) -> tuple[bytes, ...]:
    """The device's verified CA path, or () if not enrolled or not verifying."""
    index = connection.execute(
        select(reg_devices.c.leaf_index).where(reg_devices.c.device_id == device_id)
    ).scalar()
    if index is None:
        return ()
    entry = json.loads(read_entries(connection, index, index + 1)[0])
    verified = verified_device(connection, entry)
    return () if verified is None else verified.path_der


def _admissible(connection: Connection, entry: Entry) -> bool:
    """Would admission have taken this logged revocation/v2 (signature included)?"""
    root_der = _logged_root(connection, str(entry.get("vendor")))
    if root_der is None:
        return False
    try:
        body, signature = parse_scoped_revocation(
            {k: v for k, v in entry.items() if k != "logged_at"}
        )
        device_path = _device_path(connection, body["subject"]) if body["scope"] == "device" else ()
        check_scoped_revocation(body, signature, root_der, device_path)
    except LedgerError:
        return False
    return True


def apply_revocation(connection: Connection, index: int, entry: Entry) -> None:
    if entry["kind"] == REVOCATION:
        _apply_device_revocation(connection, index, entry)
        return
    if not _admissible(connection, entry):
        return
    subject, scope, firmware = entry["subject"], entry["scope"], entry.get("firmware")
    connection.execute(
        insert(reg_revocations).values(
            leaf_index=index,
            device_id=subject if scope == "device" else None,
            subject_id=subject,
            scope=scope,
            vendor_id=entry["vendor"],
            firmware=None if firmware is None else json.dumps(firmware),
            compromised_since_ms=entry["compromised_since"],
            reason=entry["reason"],
            signer_id=entry["signer"],
            logged_at_ms=entry["logged_at"],
        )
    )
    devices = devices_under(connection, subject)
    capture_cautions.rejudge_devices(connection, devices, entry["compromised_since"], firmware)


def _apply_device_revocation(connection: Connection, index: int, entry: Entry) -> None:
    # Only the vendor root or the issuer on the device's verified path may revoke it. Admission
    # checks this (and the signature); an older log can hold a revocation signed by a stranger's
    # certificate smuggled into the device's chain (`prov audit replay` reports it as
    # revocation_bad_signer).
    device = connection.execute(
        select(reg_devices.c.vendor_id, reg_devices.c.issuer_id).where(
            reg_devices.c.device_id == entry["device"]
        )
    ).first()
    if device is None or entry["signer"] not in (device.vendor_id, device.issuer_id):
        return
    connection.execute(
        insert(reg_revocations).values(
            leaf_index=index,
            device_id=entry["device"],
            subject_id=entry["device"],
            scope="device",
            compromised_since_ms=entry["compromised_since"],
            reason=entry["reason"],
            signer_id=entry["signer"],
            logged_at_ms=entry["logged_at"],
        )
    )
    # A revocation logged after a capture can still date the compromise before it.
    capture_cautions.rejudge_devices(connection, [entry["device"]], entry["compromised_since"])
