"""Revocations: a CA-signed revocation of a device, dated by its compromise, as revocation/v1."""

import base64

from sqlalchemy import Connection, select

from ledger.store import read_entries
from registry.admission import indexer, rules
from registry.admission.context import Writer
from registry.admission.devices import device_info
from registry.admission.results import Receipt
from registry.admission.schema import reg_revocations
from registry.admission.vendors import vendor_root
from registry.entries.codec import DEVICE, b64, encode_entry, parse_entry, parse_entry_as


def revoke(writer: Writer, revocation: object) -> Receipt:
    """Log a CA-signed revocation of a device, dated by its compromise; the same signed body
    logged already is answered with its first receipt."""
    writer.sequencer_or_refuse()
    body, signature = rules.parse_revocation(revocation)
    _check_signer(writer, body, signature)
    device, since, signer = body["device"], body["compromised_since"], body["signer"]

    def find(connection: Connection) -> int | None:
        for row in connection.execute(
            select(reg_revocations.c.leaf_index).where(
                reg_revocations.c.device_id == device,
                reg_revocations.c.compromised_since_ms == since,
                reg_revocations.c.signer_id == signer,
            )
        ):
            logged = parse_entry(read_entries(connection, row.leaf_index, row.leaf_index + 1)[0])
            # The same signed body is the same revocation whatever its signature bytes
            # (ECDSA signatures are malleable and randomized): never logged twice.
            if logged.get("reason") == body["reason"]:
                found: int = row.leaf_index
                return found
        return None

    def make(connection: Connection, index: int, now: int) -> bytes:
        entry = {**body, "logged_at": now, "sig": b64(signature)}
        indexer.apply_revocation(connection, index, entry)
        return encode_entry(entry)

    return writer.append_one(find, make)


def _check_signer(writer: Writer, body: rules.RevocationBody, signature: bytes) -> None:
    """Raise unless `signature` over `body` is by a CA on the device's verified path.

    The signer is judged against the path the verifier builds from the logged entry now, not
    against its chain or the derived issuer_id (either may predate this rule)."""
    info = device_info(writer, body["device"])  # NotFoundError for a device not enrolled
    entry = parse_entry_as(writer.store.entry(info["leaf_index"]), DEVICE)
    verified = rules.check_device(
        base64.b64decode(entry["cert"]),
        [base64.b64decode(c) for c in entry["chain"]],
        vendor_root(writer, info["vendor_id"]),
        entry["logged_at"],
    )
    ca = rules.ca_certificate(body["signer"], body["device"], verified.path_der)
    rules.check_revocation(body, signature, ca)
