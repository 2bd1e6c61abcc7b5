"""Revocations, dated by their compromise: revocation/v1 (a device, signed by its issuing CA or
vendor root) and revocation/v2 (a device, a CA or a vendor root, optionally limited to firmware
releases; registry.admission.revocation_rules)."""

import base64
from collections.abc import Mapping

from sqlalchemy import Connection, func, select

from ledger.store import read_entries
from registry.admission import rules
from registry.admission.context import Writer
from registry.admission.devices import device_info
from registry.admission.results import Receipt
from registry.admission.revocation_index import apply_revocation
from registry.admission.revocation_rules import check_scoped_revocation, parse_scoped_revocation
from registry.admission.schema import reg_revocations
from registry.admission.vendors import vendor_root
from registry.entries.codec import (
    DEVICE,
    REVOCATION_V2,
    b64,
    encode_entry,
    parse_entry,
    parse_entry_as,
)
from registry.entries.strings import check_no_nul
from registry.errors import TooLargeError

# A subject's revocations all ride in every bundle under it (registry.bundle.status), and the
# status index holds at most ledger.status.MAX_INDEXES per subject: beyond that no checkpoint
# could be signed. A real incident needs a handful; this bound keeps a vendor from either.
MAX_REVOCATIONS_PER_SUBJECT = 100


def revoke(writer: Writer, revocation: object) -> Receipt:
    """Log a CA-signed revocation, dated by its compromise; the same signed body logged
    already is answered with its first receipt."""
    writer.sequencer_or_refuse()
    # NUL is checked after the fields' own checks, which name a bad firmware (bad_firmware) or
    # field first, and before anything is looked up or logged.
    if isinstance(revocation, dict) and revocation.get("kind") == REVOCATION_V2:
        scoped, signature = parse_scoped_revocation(revocation)
        check_no_nul(revocation, "revocation")
        _check_scoped(writer, dict(scoped), signature)
        body: dict[str, object] = dict(scoped)
    else:
        v1, signature = rules.parse_revocation(revocation)
        check_no_nul(revocation, "revocation")
        _check_signer(writer, v1, signature)
        body = dict(v1)
    subject = str(body.get("subject", body.get("device")))

    def find(connection: Connection) -> int | None:
        for row in connection.execute(
            select(reg_revocations.c.leaf_index).where(
                reg_revocations.c.subject_id == subject,
                reg_revocations.c.compromised_since_ms == body["compromised_since"],
                reg_revocations.c.signer_id == body["signer"],
            )
        ):
            logged = parse_entry(read_entries(connection, row.leaf_index, row.leaf_index + 1)[0])
            # The same signed body is the same revocation whatever its signature bytes
            # (ECDSA signatures are malleable and randomized): never logged twice.
            if _signed_part(logged) == body:
                found: int = row.leaf_index
                return found
        # Only a new revocation counts against the bound: one logged already keeps its receipt.
        named = connection.execute(
            select(func.count()).where(reg_revocations.c.subject_id == subject)
        ).scalar_one()
        if named >= MAX_REVOCATIONS_PER_SUBJECT:
            raise TooLargeError(
                f"{subject} is named by {named} revocations already, the most one subject "
                f"may have ({MAX_REVOCATIONS_PER_SUBJECT}): its status proof lists every one, "
                "in every bundle under it. Revoke the CA above it instead",
                code="too_many_revocations",
            )
        return None

    def make(connection: Connection, index: int, now: int) -> bytes:
        entry = {**body, "logged_at": now, "sig": b64(signature)}
        apply_revocation(connection, index, entry)
        return encode_entry(entry)

    return writer.append_one(find, make)


def _signed_part(entry: Mapping[str, object]) -> dict[str, object]:
    return {k: v for k, v in entry.items() if k not in ("sig", "logged_at")}


def _device_path(writer: Writer, device_id: str) -> tuple[str, tuple[bytes, ...]]:
    """The enrolled device's vendor and its DER, then its verified path (issuer first, root
    last), judged against the path the verifier builds from the logged entry now, not against
    its chain or the derived issuer_id (either may predate the rules)."""
    info = device_info(writer, device_id)  # NotFoundError for a device not enrolled
    entry = parse_entry_as(writer.store.entry(info["leaf_index"]), DEVICE)
    cert = base64.b64decode(entry["cert"])
    verified = rules.check_device(
        cert,
        [base64.b64decode(c) for c in entry["chain"]],
        vendor_root(writer, info["vendor_id"]),
        entry["logged_at"],
    )
    return info["vendor_id"], (cert, *verified.path_der)


def _check_signer(writer: Writer, body: rules.RevocationBody, signature: bytes) -> None:
    """Raise unless `signature` over `body` is by the vendor root or the device's issuer."""
    _vendor, path = _device_path(writer, body["device"])
    ca = rules.ca_certificate(body["signer"], body["device"], path[1:])
    rules.check_revocation(body, signature, ca)


def _check_scoped(writer: Writer, body: dict[str, object], signature: bytes) -> None:
    """Raise unless the revocation/v2 is signed by its subject or a CA above it, under a
    registered vendor (and, for a device, one enrolled under that vendor)."""
    root = vendor_root(writer, str(body["vendor"]))  # NotFoundError for an unknown vendor
    scoped, _ = parse_scoped_revocation({**body, "sig": b64(signature)})
    device_path: tuple[bytes, ...] = ()
    if scoped["scope"] == "device":
        _vendor, device_path = _device_path(writer, scoped["subject"])
    check_scoped_revocation(scoped, signature, root.der, device_path[1:])
