"""A small certificate factory for tests and the demo: vendor roots, intermediates, device certs.

It lives in the package (not under tests/) because `prov demo` is an installed entry point and
must not import from the test tree. It depends on nothing
but cryptography and never reads the clock: every validity window is relative to the `now` the
caller passes, so the certificates (apart from their keys and serial numbers) are reproducible.

Defaults produce certificates that registry.admission.certs accepts; keyword knobs produce each rejection:

    root = make_root(now)
    device = make_device(root, now)                          # ES256, C2PA EKU, digitalSignature
    make_device(root, now, key="Ed25519")                    # the other accepted device key
    make_device(root, now, eku=None)                         # no EKU extension
    make_device(root, now, eku=(SERVER_AUTH,))               # wrong EKU
    make_device(root, now, ca=True)                          # CA:TRUE leaf
    make_device(root, now, validity="expired")               # or "not_yet_valid"
    make_device(root, now, digital_signature=False)
    make_device(root, now, key="RSA-1024")                   # or "P-384"
    make_device(make_root(now), now)                         # issued by an unregistered root
    pki = make_pki(now, intermediate=True); pki.chain_der    # omit it for "missing intermediate"

This is test tooling: the keys are generated in memory and returned in the clear.
"""

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "C2PA_CLAIM_SIGNING",
    "DOCUMENT_SIGNING",
    "SERVER_AUTH",
    "DevicePKI",
    "IssuedCert",
    "KeyType",
    "PrivateKey",
    "Validity",
    "generate_key",
    "make_device",
    "make_intermediate",
    "make_pki",
    "make_root",
]

# The same OIDs as registry.admission.certs, repeated so this module stands alone.
C2PA_CLAIM_SIGNING = x509.ObjectIdentifier("1.3.6.1.4.1.62558.2.1")
DOCUMENT_SIGNING = x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36")
SERVER_AUTH = ExtendedKeyUsageOID.SERVER_AUTH

KeyType = Literal["ES256", "Ed25519", "P-384", "RSA-1024", "RSA-2048"]
"""ES256 is an ECDSA P-256 key (signing with SHA-256); P-384 an ECDSA P-384 key."""

Validity = Literal["valid", "expired", "not_yet_valid"]

PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey

ROOT_LIFETIME = dt.timedelta(days=3650)
INTERMEDIATE_LIFETIME = dt.timedelta(days=1825)
DEVICE_LIFETIME = dt.timedelta(days=365)
BACKDATE = dt.timedelta(days=1)
"""Every valid certificate starts one day before `now`, so `now` itself is inside its window."""


@dataclass(frozen=True)
class IssuedCert:
    """One certificate with its DER and private key."""

    certificate: x509.Certificate
    der: bytes
    private_key: PrivateKey

    @property
    def pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def not_before(self) -> dt.datetime:
        return self.certificate.not_valid_before_utc

    @property
    def not_after(self) -> dt.datetime:
        return self.certificate.not_valid_after_utc

    def sign(self, message: bytes) -> bytes:
        """Sign as a device does: ES256 as raw r || s (64 bytes), Ed25519 as is."""
        key = self.private_key
        if isinstance(key, ed25519.Ed25519PrivateKey):
            return key.sign(message)
        if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
            r, s = decode_dss_signature(key.sign(message, ec.ECDSA(hashes.SHA256())))
            return r.to_bytes(32, "big") + s.to_bytes(32, "big")
        raise ValueError("only ES256 (ECDSA P-256) and Ed25519 keys sign device messages")


@dataclass(frozen=True)
class DevicePKI:
    """A vendor root, the intermediates between it and the device (issuer first), the device."""

    root: IssuedCert
    intermediates: tuple[IssuedCert, ...]
    device: IssuedCert

    @property
    def chain_der(self) -> tuple[bytes, ...]:
        """The intermediates' DER, as a device enrollment carries them (issuer first)."""
        return tuple(c.der for c in self.intermediates)


def generate_key(key: KeyType) -> PrivateKey:
    """A fresh private key of the given type."""
    if key == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if key == "P-384":
        return ec.generate_private_key(ec.SECP384R1())
    if key == "Ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if key == "RSA-1024":
        return rsa.generate_private_key(public_exponent=65537, key_size=1024)
    if key == "RSA-2048":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    raise ValueError(f"unknown key type {key!r}")


def make_root(
    now: dt.datetime,
    *,
    key: KeyType = "ES256",
    private_key: PrivateKey | None = None,
    common_name: str = "Example Camera Co. Root CA",
    organization: str = "Example Camera Co.",
    ca: bool = True,
    basic_constraints: bool = True,
    key_usage: bool = True,
    signing_key: PrivateKey | None = None,
) -> IssuedCert:
    """A self-signed vendor root CA, valid from one day before `now` for ten years.

    Knobs: `ca=False` (basicConstraints CA:FALSE); `basic_constraints=False` (none at all);
    `key_usage=False` (no keyUsage: registry.admission.certs accepts that at registration, but
    cryptography's verifier then refuses the root as an issuer); `signing_key` (sign with
    another key: issuer equals subject but the signature is not the root's own).

    Two roots made with the default names share a subject name, so a device issued by one
    presents the other's issuer name with a signature that does not match its key.
    """
    now = _instant(now)
    private_key = private_key or generate_key(key)
    name = _name(common_name, organization)
    builder = _base(name, name, private_key.public_key(), now - BACKDATE, now + ROOT_LIFETIME)
    if basic_constraints:
        builder = builder.add_extension(
            x509.BasicConstraints(ca=ca, path_length=None), critical=True
        )
    if key_usage:
        builder = builder.add_extension(_ca_key_usage(), critical=True)
    builder = builder.add_extension(
        x509.SubjectKeyIdentifier.from_public_key(private_key.public_key()), critical=False
    )
    return _issue(builder, private_key, signing_key or private_key)


def make_intermediate(
    issuer: IssuedCert,
    now: dt.datetime,
    *,
    key: KeyType = "ES256",
    private_key: PrivateKey | None = None,
    common_name: str = "Example Camera Co. Device CA",
    organization: str = "Example Camera Co.",
    path_length: int | None = 0,
    eku: Sequence[x509.ObjectIdentifier] | None = None,
) -> IssuedCert:
    """An intermediate CA issued by `issuer`, valid from one day before `now` for five years.

    `eku` adds an extendedKeyUsage to the CA certificate (C2PA trust lists often constrain their
    intermediates that way); by default it has none, which means "any".
    """
    now = _instant(now)
    private_key = private_key or generate_key(key)
    builder = _base(
        _name(common_name, organization),
        issuer.certificate.subject,
        private_key.public_key(),
        now - BACKDATE,
        now + INTERMEDIATE_LIFETIME,
    )
    builder = builder.add_extension(
        x509.BasicConstraints(ca=True, path_length=path_length), critical=True
    )
    builder = builder.add_extension(_ca_key_usage(), critical=True)
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
    builder = builder.add_extension(
        x509.SubjectKeyIdentifier.from_public_key(private_key.public_key()), critical=False
    )
    builder = builder.add_extension(_aki(issuer), critical=False)
    return _issue(builder, private_key, issuer.private_key)


def make_device(
    issuer: IssuedCert,
    now: dt.datetime,
    *,
    key: KeyType = "ES256",
    private_key: PrivateKey | None = None,
    common_name: str = "Example Camera Co. X100 #0001",
    organization: str = "Example Camera Co.",
    eku: Sequence[x509.ObjectIdentifier] | None = (C2PA_CLAIM_SIGNING,),
    digital_signature: bool = True,
    key_usage: bool = True,
    ca: bool = False,
    validity: Validity = "valid",
    authority_key_identifier: bool = True,
    subject_alt_name: str | None = None,
) -> IssuedCert:
    """A device (end-entity) certificate issued by `issuer` (a root or an intermediate).

    Defaults: an ES256 key, keyUsage digitalSignature (critical), the C2PA claim-signing EKU,
    basicConstraints CA:FALSE, an authorityKeyIdentifier, no subjectAltName, valid from one
    day before `now` for a year. Knobs: `eku=None` (no EKU extension) or any OIDs;
    `digital_signature=False` (keyUsage nonRepudiation only); `key_usage=False` (no keyUsage);
    `ca=True`; `validity="expired"` (ended 35 days before `now`) or `"not_yet_valid"` (starts
    30 days after `now`); `authority_key_identifier=False`; `subject_alt_name` (a URI).
    """
    now = _instant(now)
    private_key = private_key or generate_key(key)
    not_before, not_after = _device_window(now, validity)
    builder = _base(
        _name(common_name, organization),
        issuer.certificate.subject,
        private_key.public_key(),
        not_before,
        not_after,
    )
    builder = builder.add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    if key_usage:
        builder = builder.add_extension(
            _key_usage(digital_signature=digital_signature, content_commitment=True, cert_sign=ca),
            critical=True,
        )
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
    if subject_alt_name is not None:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(subject_alt_name)]),
            critical=False,
        )
    builder = builder.add_extension(
        x509.SubjectKeyIdentifier.from_public_key(private_key.public_key()), critical=False
    )
    if authority_key_identifier:
        builder = builder.add_extension(_aki(issuer), critical=False)
    return _issue(builder, private_key, issuer.private_key)


def make_pki(
    now: dt.datetime,
    *,
    root_key: KeyType = "ES256",
    intermediate: bool = False,
    intermediate_key: KeyType = "ES256",
    device_key: KeyType = "ES256",
) -> DevicePKI:
    """A root, optionally one intermediate, and a default (valid) device certificate."""
    root = make_root(now, key=root_key)
    intermediates = (make_intermediate(root, now, key=intermediate_key),) if intermediate else ()
    issuer = intermediates[-1] if intermediates else root
    return DevicePKI(root, intermediates, make_device(issuer, now, key=device_key))


def _instant(now: dt.datetime) -> dt.datetime:
    if now.tzinfo is None:
        raise ValueError("now must be a timezone-aware datetime")
    # X.509 times have whole seconds; truncating keeps not_before/not_after exactly predictable.
    return now.astimezone(dt.UTC).replace(microsecond=0)


def _device_window(now: dt.datetime, validity: Validity) -> tuple[dt.datetime, dt.datetime]:
    if validity == "valid":
        return now - BACKDATE, now + DEVICE_LIFETIME
    if validity == "expired":
        return now - DEVICE_LIFETIME - dt.timedelta(days=35), now - dt.timedelta(days=35)
    if validity == "not_yet_valid":
        return now + dt.timedelta(days=30), now + dt.timedelta(days=30) + DEVICE_LIFETIME
    raise ValueError(f"unknown validity {validity!r}")


def _name(common_name: str, organization: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _base(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey,
    not_before: dt.datetime,
    not_after: dt.datetime,
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )


def _ca_key_usage() -> x509.KeyUsage:
    return _key_usage(digital_signature=True, content_commitment=False, cert_sign=True)


def _key_usage(
    *, digital_signature: bool, content_commitment: bool, cert_sign: bool
) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=content_commitment,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _aki(issuer: IssuedCert) -> x509.AuthorityKeyIdentifier:
    try:
        ski = issuer.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    except x509.ExtensionNotFound:
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.private_key.public_key())
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski.value)


def _issue(
    builder: x509.CertificateBuilder, subject_key: PrivateKey, issuer_key: PrivateKey
) -> IssuedCert:
    algorithm: hashes.SHA256 | hashes.SHA384 | None
    if isinstance(issuer_key, ed25519.Ed25519PrivateKey):
        algorithm = None
    elif isinstance(issuer_key, ec.EllipticCurvePrivateKey) and issuer_key.curve.key_size > 256:
        algorithm = hashes.SHA384()
    else:
        algorithm = hashes.SHA256()
    certificate = builder.sign(issuer_key, algorithm)
    return IssuedCert(
        certificate, certificate.public_bytes(serialization.Encoding.DER), subject_key
    )
