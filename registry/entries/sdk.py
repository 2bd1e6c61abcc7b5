"""The device side: sign a capture at capture time, and a CA's revocation of a device.

A camera (or a generator release, for disclosures) holds a private key whose certificate is
enrolled in the log. `sign_capture` hashes the image, builds the claim of docs/design.md §4.6 and signs
"provenance-ledger/capture/v1\\n" || JCS(claim). The record it returns is what `POST /v1/captures`
and `prov submit` take.
"""

import hashlib
from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ledger.errors import MalformedError, VerificationError
from registry.entries.codec import (
    CAPTURE,
    REVOCATION,
    REVOCATION_V2,
    b64,
    capture_message,
    check_firmware,
    revocation_message,
)
from registry.entries.formats import CaptureRecord, Claim, RevocationBody
from registry.entries.signatures import CURVE_ORDERS, low_s
from registry.imaging.hashing import ImageHashes, hash_image
from registry.wording import iso_utc

SigningKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey


def sign_message(key: SigningKey, message: bytes) -> bytes:
    """Ed25519 as is; ECDSA as raw r || s, low-S (SHA-256 for P-256, SHA-384 for P-384); RSA
    PKCS #1 v1.5."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(message)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        size = (key.curve.key_size + 7) // 8
        digest: hashes.HashAlgorithm = hashes.SHA384() if size > 32 else hashes.SHA256()
        r, s = decode_dss_signature(key.sign(message, ec.ECDSA(digest)))
        # Low-S: the registry refuses the malleable high-S twin (registry.entries.signatures.low_s).
        s = low_s(s, CURVE_ORDERS[key.curve.name])
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")
    return key.sign(message, padding.PKCS1v15(), hashes.SHA256())


def device_id(device_cert: x509.Certificate) -> str:
    return hashlib.sha256(device_cert.public_bytes(Encoding.DER)).hexdigest()


def key_fingerprint(key: SigningKey) -> str:
    """The hex SHA-256 of the key's public half (its DER SubjectPublicKeyInfo): what a key's
    state (its capture counter) is kept under, wherever its file is copied."""
    spki = key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(spki).hexdigest()


def check_signer(key: SigningKey, cert: x509.Certificate, now_ms: int) -> None:
    """Refuse to sign what the registry would refuse: a key that is not the certificate's, or a
    certificate outside its validity at `now_ms`."""
    ours = key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    theirs = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    if ours != theirs:
        raise MalformedError(
            f"the key is not the key of the certificate {cert.subject.rfc4514_string()!r}: "
            "give the device's own key and certificate together",
            code="key_cert_mismatch",
        )
    not_before = int(cert.not_valid_before_utc.timestamp() * 1000)
    not_after = int(cert.not_valid_after_utc.timestamp() * 1000)
    if now_ms > not_after:
        raise VerificationError(
            f"the device certificate expired at {iso_utc(not_after)}: the registry refuses "
            "captures signed with it; sign with the device's renewed certificate",
            code="cert_expired",
        )
    if now_ms < not_before:
        raise VerificationError(
            f"the device certificate is not valid until {iso_utc(not_before)}: check the "
            "device's clock, or wait until then",
            code="cert_not_yet_valid",
        )


def sign_capture(
    image_bytes: bytes,
    device_key: SigningKey,
    device_cert: x509.Certificate,
    counter: int,
    captured_at: int,
    *,
    name: str = "image",
    meta: str | None = None,
    hashes: ImageHashes | None = None,
    firmware: str | None = None,
) -> CaptureRecord:
    """A signed capture record {kind, claim, sig}, ready to submit. `captured_at` is in ms.
    `hashes`, if the caller already has them, must be hash_image(image_bytes). `firmware`, the
    vendor's name of the release taking the picture, is signed with the rest of the claim
    (MalformedError bad_firmware unless 1-100 printable ASCII characters)."""
    if isinstance(device_key, rsa.RSAPrivateKey):
        raise MalformedError("device keys are ECDSA P-256 or Ed25519, not RSA", code="cert_bad_key")
    if firmware is not None:
        check_firmware(firmware)  # before hashing: refused here, not after a round trip
    measured = (hashes or hash_image(image_bytes, name)).claim_fields()
    claim: Claim = {
        "device": device_id(device_cert),
        "counter": counter,
        "captured_at": captured_at,
        "sha256": measured["sha256"],
        "width": measured["width"],
        "height": measured["height"],
        "media_type": measured["media_type"],
        "pdq": measured["pdq"],
        "pdq_quality": measured["pdq_quality"],
        "phash": measured["phash"],
    }
    if "features" in measured:
        claim["features"] = measured["features"]
    if meta is not None:
        claim["meta"] = meta
    if firmware is not None:
        claim["firmware"] = firmware
    return {
        "kind": CAPTURE,
        "claim": claim,
        "sig": b64(sign_message(device_key, capture_message(claim))),
    }


def sign_revocation(
    device: str,
    compromised_since: int,
    reason: str,
    ca_key: SigningKey,
    ca_cert: x509.Certificate,
) -> dict[str, object]:
    """A revocation of `device` signed by its vendor root or issuing CA (`ca_key`/`ca_cert`):
    a registry.entries.formats.SignedRevocation, typed as the plain JSON object that
    `RegistryClient.revoke` and POST /v1/revocations take."""
    body: RevocationBody = {
        "kind": REVOCATION,
        "device": device,
        "compromised_since": compromised_since,
        "reason": reason,
        "signer": hashlib.sha256(ca_cert.public_bytes(Encoding.DER)).hexdigest(),
    }
    return {**body, "sig": b64(sign_message(ca_key, revocation_message(body)))}


def sign_scoped_revocation(
    *,
    scope: str,
    subject: x509.Certificate | str,
    vendor_root: x509.Certificate,
    compromised_since: int,
    reason: str,
    ca_key: SigningKey,
    ca_cert: x509.Certificate,
    above: Sequence[x509.Certificate] = (),
    firmware: Sequence[str] | None = None,
) -> dict[str, object]:
    """A revocation/v2 (registry.admission.revocation_rules), signed by `ca_key`, the key of
    `ca_cert` (the subject CA itself, one above it, or the vendor root).

    `subject`: the revoked device (its certificate or id) for scope "device", the revoked CA's
    certificate for "ca" (then `above` lists the CAs between it and the root, nearest first),
    the root for "vendor". `firmware`: limit it to captures whose claim names these releases.
    The dict is what `RegistryClient.revoke` and POST /v1/revocations take."""
    subject_der = None if isinstance(subject, str) else subject.public_bytes(Encoding.DER)
    subject_id = subject if subject_der is None else hashlib.sha256(subject_der).hexdigest()
    certs = (
        [b64(der) for der in [subject_der, *(c.public_bytes(Encoding.DER) for c in above)] if der]
        if scope == "ca"
        else []
    )
    body: dict[str, object] = {
        "kind": REVOCATION_V2,
        "scope": scope,
        "subject": subject_id,
        "vendor": hashlib.sha256(vendor_root.public_bytes(Encoding.DER)).hexdigest(),
        "certs": certs,
        "compromised_since": compromised_since,
        "reason": reason,
        "signer": hashlib.sha256(ca_cert.public_bytes(Encoding.DER)).hexdigest(),
    }
    if firmware is not None:
        body["firmware"] = [check_firmware(f) for f in firmware]
    return {**body, "sig": b64(sign_message(ca_key, revocation_message(body)))}
