"""Vendor roots and device certificates (docs/design.md §4.6).

A camera vendor registers a self-signed root CA; anyone may enroll a device certificate, with its
intermediates, that chains to it. The device profile is checked here first, one rule at a time,
so the first failing rule is the one reported; path building and validation is then left entirely
to cryptography's X.509 verifier (`cryptography.x509.verification`), configured for this profile:

- the end-entity policy starts from cryptography's Web PKI defaults and changes only what a
  camera certificate is not: subjectAltName is optional (a camera has no host name), the EKU
  must be present and hold C2PA claim signing or document signing (instead of clientAuth), and
  keyUsage must be present with digitalSignature;
- the CA policy is the Web PKI default except that a CA's EKU, if present, may constrain it to
  C2PA claim signing or document signing (instead of demanding clientAuth or anyEKU).

Caveats that come from cryptography's verifier, not from this module: every CA certificate
(the vendor root included) must be valid at the verification time, have keyUsage keyCertSign and a
critical basicConstraints, and have an ECDSA P-256/P-384/P-521 or RSA (>= 2048 bits) key: a CA key
of any other type, Ed25519 included, is rejected as an issuer. Device certificates must carry an
authorityKeyIdentifier. Serial numbers must be positive and at most 20 octets.
"""

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509 import verification
from cryptography.x509.oid import ExtendedKeyUsageOID

from ledger.errors import MalformedError, VerificationError

__all__ = [
    "C2PA_CLAIM_SIGNING",
    "DOCUMENT_SIGNING",
    "DeviceCertificate",
    "VendorRoot",
    "load_vendor_root",
    "validate_device",
    "verify_signature",
]

C2PA_CLAIM_SIGNING = x509.ObjectIdentifier("1.3.6.1.4.1.62558.2.1")
DOCUMENT_SIGNING = x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36")

DEVICE_EKUS = frozenset({C2PA_CLAIM_SIGNING, DOCUMENT_SIGNING})
"""A device certificate needs at least one of these."""

CA_EKUS = DEVICE_EKUS | {ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE}
"""A CA certificate that carries an EKU must allow at least one of these."""

Algorithm = Literal["ES256", "Ed25519"]

ES256_SIGNATURE_SIZE = 64
ED25519_SIGNATURE_SIZE = 64


@dataclass(frozen=True)
class VendorRoot:
    vendor_id: str
    """Lowercase hex SHA-256 of the root DER."""
    certificate: x509.Certificate
    der: bytes


@dataclass(frozen=True)
class DeviceCertificate:
    device_id: str
    """Lowercase hex SHA-256 of the device certificate DER."""
    certificate: x509.Certificate
    der: bytes
    algorithm: Algorithm
    not_before: dt.datetime
    """Aware, UTC."""
    not_after: dt.datetime
    """Aware, UTC."""
    chain_ids: tuple[str, ...]
    """Hex SHA-256 of each CA certificate in the verified chain: issuer first, root last."""
    path_der: tuple[bytes, ...] = ()
    """DER of each CA certificate in the verified chain (as `chain_ids`): issuer first, root
    last. Only these are trusted facts about the device; the submitted chain is a hint."""


def load_vendor_root(der: bytes) -> VendorRoot:
    """Parse and check a vendor's root CA certificate: self-signed, a CA, a strong key."""
    cert = _parse(der, "vendor root")
    if cert.issuer != cert.subject or not _signed_by_itself(cert):
        raise VerificationError("vendor root is not self-signed", code="root_not_self_signed")
    basic = _extension(cert, x509.BasicConstraints)
    if basic is None or not basic.ca:
        raise VerificationError(
            "vendor root is not a CA certificate (basicConstraints CA:TRUE missing)",
            code="root_not_ca",
        )
    key = _public_key(cert)
    # Ed25519 is fine for devices, but cryptography's X.509 verifier (like the Web PKI) accepts
    # only ECDSA and RSA issuers: a root it can never chain to is refused at registration.
    strong = (isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name in _ROOT_CURVES) or (
        isinstance(key, rsa.RSAPublicKey) and key.key_size >= 2048
    )
    if not strong:
        raise VerificationError(
            f"vendor root key is {_describe_key(key)}; roots must use ECDSA P-256 or P-384, "
            "or RSA of at least 2048 bits",
            code="root_weak_key",
        )
    return VendorRoot(vendor_id=_sha256_hex(der), certificate=cert, der=bytes(der))


def validate_device(
    cert_der: bytes, chain_der: Sequence[bytes], root: VendorRoot, at: dt.datetime
) -> DeviceCertificate:
    """Check a device certificate against the device profile, then its chain to `root` at `at`.

    `chain_der` holds the intermediates (any order; the verifier builds the path). Raises
    MalformedError for DER that does not parse and VerificationError for the first rule broken,
    checked in this order: 1. end entity, 2. key, 3. key usage, 4. EKU, 5. validity at `at`,
    6. a path to `root`.
    """
    if at.tzinfo is None:
        raise ValueError("validate_device needs a timezone-aware datetime")
    cert = _parse(cert_der, "device certificate")
    intermediates = [
        _parse(der, f"chain certificate {number}") for number, der in enumerate(chain_der, 1)
    ]
    algorithm = _check_profile(cert)
    _check_validity(cert, at)
    path_der = _verified_path(cert, intermediates, root, at)
    return DeviceCertificate(
        device_id=_sha256_hex(cert_der),
        certificate=cert,
        der=bytes(cert_der),
        algorithm=algorithm,
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        chain_ids=tuple(_sha256_hex(der) for der in path_der),
        path_der=path_der,
    )


def _check_profile(cert: x509.Certificate) -> Algorithm:
    """Checks 1-4, the device profile; returns the key's algorithm."""
    basic = _extension(cert, x509.BasicConstraints)
    if basic is not None and basic.ca:
        raise VerificationError(
            "certificate is a CA certificate, not an end-entity certificate",
            code="cert_not_end_entity",
        )

    key = _public_key(cert)
    algorithm = _device_algorithm(key)
    if algorithm is None:
        raise VerificationError(
            f"certificate key is {_describe_key(key)}; devices must use ECDSA P-256 or Ed25519",
            code="cert_bad_key",
        )

    key_usage = _extension(cert, x509.KeyUsage)
    if key_usage is None or not key_usage.digital_signature:
        raise VerificationError(
            "certificate key usage does not include digitalSignature",
            code="cert_no_digital_signature",
        )

    eku = _extension(cert, x509.ExtendedKeyUsage)
    if eku is None or not DEVICE_EKUS.intersection(eku):
        raise VerificationError(
            "certificate has no C2PA claim-signing or document-signing EKU", code="cert_no_eku"
        )
    return algorithm


def _check_validity(cert: x509.Certificate, at: dt.datetime) -> None:
    """Check 5: `at` is within the certificate's validity."""
    not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
    if at > not_after:
        raise VerificationError(
            f"certificate expired at {not_after:%Y-%m-%dT%H:%M:%SZ}", code="cert_expired"
        )
    if at < not_before:
        raise VerificationError(
            f"certificate is not valid until {not_before:%Y-%m-%dT%H:%M:%SZ}",
            code="cert_not_yet_valid",
        )


def _verified_path(
    cert: x509.Certificate,
    intermediates: list[x509.Certificate],
    root: VendorRoot,
    at: dt.datetime,
) -> tuple[bytes, ...]:
    """Check 6: the X.509 verifier builds a path to `root`; its CAs below the leaf, as DER."""
    verifier = (
        verification.PolicyBuilder()
        .store(verification.Store([root.certificate]))
        .time(at)
        .extension_policies(ca_policy=_CA_POLICY, ee_policy=_EE_POLICY)
        .build_client_verifier()
    )
    try:
        verified = verifier.verify(cert, intermediates)
    except verification.VerificationError as exc:
        raise VerificationError(
            f"chain does not lead to a registered vendor root: {exc}", code="cert_untrusted_chain"
        ) from exc
    return tuple(ca.public_bytes(serialization.Encoding.DER) for ca in verified.chain[1:])


def verify_signature(
    device: DeviceCertificate | x509.Certificate, signature: bytes, message: bytes
) -> bool:
    """Whether `signature` is the device key's signature over `message`.

    ES256 signatures are raw r || s (64 bytes), Ed25519 signatures as they come. A bad signature,
    of any length, gives False; only a certificate whose key no device may have raises
    (VerificationError, code "cert_bad_key").
    """
    cert = device.certificate if isinstance(device, DeviceCertificate) else device
    key = _public_key(cert)
    if _device_algorithm(key) is None:
        raise VerificationError(
            f"certificate key is {_describe_key(key)}; devices must use ECDSA P-256 or Ed25519",
            code="cert_bad_key",
        )
    try:
        if isinstance(key, ed25519.Ed25519PublicKey):
            if len(signature) != ED25519_SIGNATURE_SIZE:
                return False
            key.verify(signature, message)
            return True
        if not isinstance(key, ec.EllipticCurvePublicKey) or len(signature) != ES256_SIGNATURE_SIZE:
            return False
        half = ES256_SIGNATURE_SIZE // 2
        r = int.from_bytes(signature[:half], "big")
        s = int.from_bytes(signature[half:], "big")
        key.verify(encode_dss_signature(r, s), message, ec.ECDSA(hashes.SHA256()))
        return True
    except (InvalidSignature, ValueError):
        return False


# --- the verifier's policies -------------------------------------------------------------------


def _check_device_eku(
    policy: verification.Policy, cert: x509.Certificate, eku: x509.ExtendedKeyUsage
) -> None:
    if not DEVICE_EKUS.intersection(eku):
        raise ValueError("no C2PA claim-signing or document-signing EKU")


def _check_device_usage(
    policy: verification.Policy, cert: x509.Certificate, usage: x509.KeyUsage
) -> None:
    if not usage.digital_signature:
        raise ValueError("keyUsage lacks digitalSignature")
    if usage.key_cert_sign:
        raise ValueError("an end-entity keyUsage must not assert keyCertSign")


def _check_ca_eku(
    policy: verification.Policy, cert: x509.Certificate, eku: x509.ExtendedKeyUsage | None
) -> None:
    if eku is not None and not CA_EKUS.intersection(eku):
        raise ValueError("CA EKU allows neither C2PA claim signing nor document signing")


# Built once: ExtensionPolicy is immutable (each call returns a new policy).
_EE_POLICY = (
    verification.ExtensionPolicy.webpki_defaults_ee()
    .may_be_present(x509.SubjectAlternativeName, verification.Criticality.AGNOSTIC, None)
    .require_present(x509.ExtendedKeyUsage, verification.Criticality.AGNOSTIC, _check_device_eku)
    .require_present(x509.KeyUsage, verification.Criticality.AGNOSTIC, _check_device_usage)
)
"""Web PKI end-entity defaults (AKI required, basicConstraints not CA, no nameConstraints),
except: subjectAltName optional, EKU required with C2PA or document signing, keyUsage required
with digitalSignature and without keyCertSign."""

_CA_POLICY = verification.ExtensionPolicy.webpki_defaults_ca().may_be_present(
    x509.ExtendedKeyUsage, verification.Criticality.AGNOSTIC, _check_ca_eku
)
"""Web PKI CA defaults (critical basicConstraints CA:TRUE, keyUsage keyCertSign, path length,
AKI format, name constraints), except that a CA's EKU, if any, must allow C2PA claim signing,
document signing or anyExtendedKeyUsage (not clientAuth)."""


# --- helpers -----------------------------------------------------------------------------------

_E = TypeVar("_E", bound=x509.ExtensionType)

_ROOT_CURVES = {"secp256r1", "secp384r1"}
_CURVE_NAMES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}


def _parse(der: bytes, what: str) -> x509.Certificate:
    """Parse DER, extensions included (cryptography parses those lazily)."""
    try:
        cert = x509.load_der_x509_certificate(der)
        _ = cert.extensions
    except (ValueError, TypeError) as exc:
        raise MalformedError(
            f"{what} is not a DER X.509 certificate: {exc}", code="cert_malformed"
        ) from exc
    return cert


def _extension(cert: x509.Certificate, kind: type[_E]) -> _E | None:
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


_PublicKey = (
    ec.EllipticCurvePublicKey
    | ed25519.Ed25519PublicKey
    | ed448.Ed448PublicKey
    | rsa.RSAPublicKey
    | dsa.DSAPublicKey
    | None
)


def _public_key(cert: x509.Certificate) -> _PublicKey:
    """The certificate's signing key; None for a key type cryptography cannot load or sign with."""
    try:
        key = cert.public_key()
    except (UnsupportedAlgorithm, ValueError):
        return None
    if isinstance(
        key,
        ec.EllipticCurvePublicKey
        | ed25519.Ed25519PublicKey
        | ed448.Ed448PublicKey
        | rsa.RSAPublicKey
        | dsa.DSAPublicKey,
    ):
        return key
    return None


def _device_algorithm(key: _PublicKey) -> Algorithm | None:
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519"
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1":
        return "ES256"
    return None


def _describe_key(key: _PublicKey) -> str:
    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA-{key.key_size}"
    if isinstance(key, dsa.DSAPublicKey):
        return f"DSA-{key.key_size}"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"ECDSA {_CURVE_NAMES.get(key.curve.name, key.curve.name)}"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519"
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448"
    return "an unsupported key type"


def _signed_by_itself(cert: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(cert)
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return True


def _sha256_hex(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()
