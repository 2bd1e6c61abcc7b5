"""Devices: a device certificate that chains to a registered vendor root, as a device/v1 entry."""

import base64
import hashlib
import json
from collections.abc import Sequence
from typing import Any

from cryptography import x509
from sqlalchemy import Connection, select

from ledger.errors import LedgerError, MalformedError, NotFoundError, VerificationError
from registry.admission import indexer, rules
from registry.admission.capture_cautions import revocations_of
from registry.admission.certs import DeviceCertificate
from registry.admission.context import Writer, logged_index
from registry.admission.device_ids import FULL_LENGTH, normalize_device_id, resolve_device_id
from registry.admission.results import Receipt, receipts
from registry.admission.schema import reg_captures, reg_devices, reg_revocations, reg_vendors
from registry.admission.vendors import vendor_ids, vendor_root
from registry.entries.codec import DEVICE, b64, encode_entry, parse_entry_as


def device_id_of(cert_der: bytes) -> str:
    """A device's id: the hex SHA-256 of its certificate's DER."""
    return hashlib.sha256(cert_der).hexdigest()


def enroll_device(writer: Writer, cert_der: bytes, chain_der: Sequence[bytes]) -> Receipt:
    """Enroll a device certificate that chains to a registered vendor root; a device enrolled
    already is answered with its first receipt, before its chain is checked again."""
    writer.sequencer_or_refuse()  # a server without the log key says so before anything else
    device_id = device_id_of(cert_der)
    with writer.store.engine.connect() as connection:
        found = logged_index(connection, reg_devices.c.device_id, device_id)
    if found is not None:
        return receipts(writer.store, [found], writer.store.latest_checkpoint(), {found})[0]
    vendor_id, device = _find_vendor(writer, cert_der, chain_der)

    def find(connection: Connection) -> int | None:
        return logged_index(connection, reg_devices.c.device_id, device.device_id)

    def make(connection: Connection, index: int, now: int) -> bytes:
        entry = {
            "kind": DEVICE,
            "logged_at": now,
            "cert": b64(cert_der),
            "chain": [b64(c) for c in rules.path_chain(device)],
            "vendor": vendor_id,
        }
        indexer.apply_device(connection, index, entry, device)
        return encode_entry(entry)

    return writer.append_one(find, make)


def _find_vendor(
    writer: Writer, cert_der: bytes, chain_der: Sequence[bytes]
) -> tuple[str, DeviceCertificate]:
    """The registered vendor whose root the X.509 verifier builds a path to, and that path.

    Every root named as the issuer of a submitted certificate is tried (a chain may hold
    strays, and two vendors' roots may share a name); the vendor is the one a path verifies
    to, never merely the one the top of the submitted chain names."""
    try:
        issuers = [x509.load_der_x509_certificate(d).issuer for d in (cert_der, *chain_der)]
    except ValueError as exc:
        raise MalformedError(
            f"device certificate or chain is not DER X.509: {exc}", code="cert_malformed"
        ) from None
    candidates = [
        vendor_id
        for vendor_id in vendor_ids(writer)
        if vendor_root(writer, vendor_id).certificate.subject in issuers
    ]
    failure: LedgerError | None = None
    for vendor_id in candidates:
        try:
            root = vendor_root(writer, vendor_id)
            return vendor_id, rules.check_device(cert_der, chain_der, root, writer.now())
        except LedgerError as exc:
            failure = failure or exc
    if failure is not None:
        raise failure
    if not chain_der:  # the commonest slip: a device issued by an intermediate CA, alone
        raise VerificationError(
            f"the device certificate is issued by {issuers[0].rfc4514_string()!r}, which is "
            "not a registered vendor root, and no chain was given: did you forget "
            "`--chain intermediate.pem` (the API's `chain`)?",
            code="cert_untrusted_chain",
        )
    raise VerificationError(
        "chain does not lead to a registered vendor root: no registered root is named "
        f"{issuers[-1].rfc4514_string()!r}",
        code="cert_untrusted_chain",
    )


def find_device(writer: Writer, text: str) -> dict[str, Any]:
    """device_info() of the one enrolled device whose id is, or starts with, `text` (a
    prefix of 8 or more hex characters, either case: registry.admission.device_ids)."""
    with writer.store.engine.connect() as connection:
        device_id = resolve_device_id(connection, text)
    return device_info(writer, device_id)


def device_info(writer: Writer, device_id: str) -> dict[str, Any]:
    """What the registry knows of an enrolled device: its vendor, certificate, validity,
    counters, captures and revocations (the JSON of GET /v1/devices/{id})."""
    if normalize_device_id(device_id) != device_id or len(device_id) != FULL_LENGTH:
        raise MalformedError(
            f"device id {device_id!r:.80} must be the {FULL_LENGTH} lowercase hex characters "
            "of the SHA-256 of the device's certificate",
            code="bad_device",
        )
    with writer.store.engine.connect() as connection:
        row = connection.execute(
            select(reg_devices, reg_vendors.c.name, reg_vendors.c.role)
            .join(reg_vendors, reg_vendors.c.vendor_id == reg_devices.c.vendor_id)
            .where(reg_devices.c.device_id == device_id)
        ).first()
        if row is None:
            raise NotFoundError(f"device {device_id} is not enrolled", code="unknown_device")
        applying = revocations_of(connection, {device_id}).get(device_id, [])
        revocations = connection.execute(
            select(reg_revocations)
            .where(reg_revocations.c.leaf_index.in_([r.index for r in applying]))
            .order_by(reg_revocations.c.leaf_index)
        ).all()
        captures = connection.execute(
            select(reg_captures.c.leaf_index).where(reg_captures.c.device_id == device_id)
        ).all()
    certificate = _certificate(writer, row.leaf_index)
    return {
        "device_id": device_id,
        "subject": certificate.subject.rfc4514_string(),
        "issuer": certificate.issuer.rfc4514_string(),
        "vendor_id": row.vendor_id,
        "vendor_name": row.name,
        "role": row.role,
        "algorithm": row.algorithm,
        "issuer_id": row.issuer_id,
        "not_before_ms": row.not_before_ms,
        "not_after_ms": row.not_after_ms,
        "leaf_index": row.leaf_index,
        "logged_at_ms": row.logged_at_ms,
        "max_counter": row.max_counter,
        "captures": len(captures),
        "revocations": [
            {
                "leaf_index": r.leaf_index,
                "compromised_since_ms": r.compromised_since_ms,
                # whom it names: this device ("device"), a CA on its path ("ca"), its root
                "scope": r.scope,
                "subject_id": r.subject_id,
                "firmware": None if r.firmware is None else json.loads(r.firmware),
                "reason": r.reason,
                "signer_id": r.signer_id,
                "logged_at_ms": r.logged_at_ms,
            }
            for r in revocations
        ],
    }


def _certificate(writer: Writer, index: int) -> x509.Certificate:
    """The device certificate its logged entry holds (the derived rows keep only its key)."""
    entry = parse_entry_as(writer.store.entry(index), DEVICE)
    return x509.load_der_x509_certificate(base64.b64decode(entry["cert"]))


def device_keys(writer: Writer, device_ids: set[str]) -> dict[str, rules.EnrolledDevice]:
    """The enrolled key and validity of each of `device_ids` that is enrolled."""
    if not device_ids:
        return {}
    with writer.store.engine.connect() as connection:
        found = connection.execute(
            select(
                reg_devices.c.device_id,
                reg_devices.c.vendor_id,
                reg_devices.c.issuer_id,
                reg_devices.c.algorithm,
                reg_devices.c.public_key,
                reg_devices.c.not_before_ms,
                reg_devices.c.not_after_ms,
            ).where(reg_devices.c.device_id.in_(sorted(device_ids)))
        ).all()
    return {
        row.device_id: rules.EnrolledDevice(
            row.device_id,
            row.vendor_id,
            row.issuer_id,
            row.algorithm,
            bytes(row.public_key),
            row.not_before_ms,
            row.not_after_ms,
        )
        for row in found
    }
