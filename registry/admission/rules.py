"""The admission rules, once: what makes a vendor, device, capture or revocation acceptable.

`registry.admission` applies them when an entry is submitted, and `registry.audit.auditor`
applies them again when an auditor replays the log from its tiles - the same functions, so an
auditor checks exactly what the log promised to check. They take what they need as arguments
(a root, an enrolled device, the log's time) and touch no database.
"""

import base64
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypedDict

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ledger.errors import MalformedError, VerificationError
from registry.admission.capture_origin import check_certificates
from registry.admission.certs import (
    DeviceCertificate,
    VendorRoot,
    load_vendor_root,
    validate_device,
)
from registry.entries.codec import (
    CAPTURE_CONTEXT,
    REVOCATION,
    ROLES,
    b64_field,
    hex_field,
    int_field,
    revocation_message,
    str_field,
)
from registry.entries.signatures import is_high_s_es256, verify_with_certificate
from registry.wording import duration, iso_utc

__all__ = [
    "EnrolledDevice",
    "Problem",
    "RevocationBody",
    "SignatureJob",
    "ca_certificate",
    "capture_signature_job",
    "check_device",
    "off_path_problem",
    "path_chain",
    "check_revocation",
    "check_vendor",
    "claim_problem",
    "enrolled_device",
    "high_s_problem",
    "parse_revocation",
]

Problem = tuple[str, str]  # (machine-readable code, the reason a person reads)
SignatureJob = tuple[str, bytes, bytes, bytes]  # registry.entries.signatures.verify_batch job
Fields = Mapping[str, Any]  # a parsed entry or claim (registry.entries.codec)


class RevocationBody(TypedDict):
    """What a revocation/v1's CA signs (registry.entries.codec.revocation_message)."""

    kind: str
    device: str
    compromised_since: int
    reason: str
    signer: str


@dataclass(frozen=True)
class EnrolledDevice:
    """What the log knows of an enrolled device, from its device/v1 entry."""

    device_id: str
    vendor_id: str
    issuer_id: (
        str  # the CA that issued it on the verified path: an intermediate's id, or the vendor's
    )
    algorithm: str  # "ES256" or "Ed25519"
    public_key: bytes  # SubjectPublicKeyInfo DER
    not_before_ms: int
    not_after_ms: int


def check_vendor(name: str, role: str, root_der: bytes, certificates: object = None) -> VendorRoot:
    """A vendor/v1 entry's fields: a name, a known role, a root CA that passes
    `registry.admission.certs.load_vendor_root`, and `certificates` if present (None: absent;
    registry.admission.capture_origin.check_certificates)."""
    if certificates is not None:
        check_certificates(certificates)
    if role not in ROLES:
        raise MalformedError(
            f"vendor role must be one of {list(ROLES)}, not {role!r}", code="bad_role"
        )
    str_field({"name": name}, "name", "vendor")
    return load_vendor_root(root_der)


def check_device(
    cert_der: bytes, chain_der: Sequence[bytes], root: VendorRoot, at_ms: int
) -> DeviceCertificate:
    """The device profile and the chain to `root`, judged at the log's time `at_ms`."""
    return validate_device(cert_der, chain_der, root, datetime.fromtimestamp(at_ms / 1000, UTC))


def path_chain(device: DeviceCertificate) -> tuple[bytes, ...]:
    """The intermediates of the path the X.509 verifier built, issuer first (the root, which
    the vendor/v1 entry holds, left out): the chain a device/v1 entry logs.

    Admission drops every other submitted certificate rather than refusing the enrolment: the
    device certificate is public, so whoever enrolls it first decides what its entry holds, and
    a refusal would let a stranger's junk certificates keep an honest enrolment out; dropping
    them makes the first enrolment the same whoever sends it. The entry format is unchanged."""
    return device.path_der[:-1]


def off_path_problem(chain_der: Sequence[bytes], device: DeviceCertificate) -> Problem | None:
    """A logged chain certificate that is not on the verified path (the root may be repeated):
    admission drops those (`path_chain`), so an entry holding one was not admitted as it is."""
    on_path = set(device.path_der)
    stray = [number for number, der in enumerate(chain_der, 1) if bytes(der) not in on_path]
    if stray:
        return (
            "chain_off_path",
            f"chain certificate(s) {stray} of device {device.device_id} are not on the path to "
            "the vendor root: nothing may be taken from them",
        )
    return None


def enrolled_device(entry: Fields, verified: DeviceCertificate | None) -> EnrolledDevice:
    """The facts of a device/v1 entry the other rules need. The issuer comes from `verified`,
    `check_device` of the entry (the path the X.509 verifier built), never from the submitted
    chain: a certificate there may carry the issuer's name with a stranger's key. Without a
    verified path (an entry whose chain does not verify, which only a log the audit reports can
    hold) the issuer is the vendor root, so no chain certificate can ever revoke the device."""
    der = base64.b64decode(entry["cert"])
    cert = x509.load_der_x509_certificate(der)
    key = cert.public_key()
    return EnrolledDevice(
        device_id=hashlib.sha256(der).hexdigest(),
        vendor_id=entry["vendor"],
        issuer_id=verified.chain_ids[0] if verified is not None else entry["vendor"],
        algorithm="Ed25519" if isinstance(key, Ed25519PublicKey) else "ES256",
        public_key=key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo),
        not_before_ms=_to_ms(cert.not_valid_before_utc),
        not_after_ms=_to_ms(cert.not_valid_after_utc),
    )


def claim_problem(
    claim: Fields, device: EnrolledDevice | None, now_ms: int, max_skew_ms: int
) -> Problem | None:
    """Why a well-formed capture claim cannot be logged at `now_ms`, before its signature is
    checked: an unknown device, a capture from the future, or one outside the certificate's
    validity."""
    device_id, captured_at = claim["device"], claim["captured_at"]
    if device is None:
        return "unknown_device", f"device {device_id} is not enrolled"
    if captured_at > now_ms + max_skew_ms:
        return (
            "captured_in_future",
            f"captured at {iso_utc(captured_at)}, more than {duration(max_skew_ms)} after the "
            f"log's clock ({iso_utc(now_ms)}): check the device's clock",
        )
    if not device.not_before_ms <= captured_at <= device.not_after_ms:
        return (
            "captured_outside_validity",
            f"captured at {iso_utc(captured_at)}, outside the device certificate's validity "
            f"({iso_utc(device.not_before_ms)} to {iso_utc(device.not_after_ms)})",
        )
    return None


def capture_signature_job(
    device: EnrolledDevice, claim_jcs: bytes, signature: bytes
) -> SignatureJob:
    """The check that the device signed "provenance-ledger/capture/v1\\n" || JCS(claim)."""
    return device.algorithm, device.public_key, CAPTURE_CONTEXT + claim_jcs, signature


def high_s_problem(device: EnrolledDevice, signature: bytes) -> Problem | None:
    """An ES256 capture signature must be low-S: its high-S twin (r, n - s) is a valid signature
    anyone can make from a public capture, and a second record of the same claim."""
    if device.algorithm == "ES256" and is_high_s_es256(signature):
        return (
            "high_s_signature",
            f"the ES256 signature of this capture by device {device.device_id} is high-S; "
            "the log takes only low-S signatures (s <= n/2): replace s with n - s and resubmit",
        )
    return None


def parse_revocation(revocation: object) -> tuple[RevocationBody, bytes]:
    """A submitted revocation's fields: the signed body (kind, device, compromised_since,
    reason, signer) and the signature."""
    if not isinstance(revocation, dict):
        raise MalformedError("a revocation must be a JSON object", code="bad_revocation")
    where = "revocation"
    allowed = {"kind", "device", "compromised_since", "reason", "signer", "sig"}
    if set(revocation) - allowed:
        raise MalformedError(
            f"revocation has unknown fields {sorted(set(revocation) - allowed)}",
            code="unknown_field",
        )
    if revocation.get("kind", REVOCATION) != REVOCATION:
        raise MalformedError(f"revocation kind must be {REVOCATION!r}", code="bad_kind")
    body = RevocationBody(
        kind=REVOCATION,
        device=hex_field(revocation, "device", where, 64),
        compromised_since=int_field(revocation, "compromised_since", where),
        reason=str_field(revocation, "reason", where, 500),
        signer=hex_field(revocation, "signer", where, 64),
    )
    return body, b64_field(revocation, "sig", where)


def ca_certificate(signer: str, device_id: str, path_der: Sequence[bytes]) -> x509.Certificate:
    """The CA certificate a revocation of a device names as its signer: the vendor root (the
    last of `path_der`) or the CA that issued the device (the first). `path_der` must be the
    verified path (`DeviceCertificate.path_der`), never the chain as submitted or logged."""
    by_id = {hashlib.sha256(der).hexdigest(): der for der in (path_der[0], path_der[-1])}
    if signer not in by_id:
        raise VerificationError(
            f"revocation signer {signer} is neither the vendor root nor the CA that issued "
            f"device {device_id}",
            code="revocation_bad_signer",
        )
    return x509.load_der_x509_certificate(by_id[signer])


def check_revocation(body: RevocationBody, signature: bytes, ca: x509.Certificate) -> None:
    """The CA signed "provenance-ledger/revocation/v1\\n" || JCS(body)."""
    if not verify_with_certificate(ca, signature, revocation_message(dict(body))):
        raise VerificationError(
            f"revocation signature does not verify with the key of CA {body['signer']}",
            code="revocation_bad_signature",
        )


def _to_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)
