"""Signature checks: device capture signatures (in batches, possibly in worker processes) and
CA signatures on revocations.

ES256 signatures are raw r || s (64 bytes), as in JOSE and C2PA; ECDSA P-384 ones are r || s
(96 bytes) with SHA-384; Ed25519 is plain; RSA is PKCS #1 v1.5 with SHA-256.
"""

from collections.abc import Sequence
from functools import lru_cache

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import load_der_public_key

PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey


@lru_cache(maxsize=65_536)
def _load_key(spki_der: bytes) -> PublicKey:
    key = load_der_public_key(spki_der)
    if not isinstance(key, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey):
        raise ValueError(f"unsupported key type {type(key).__name__}")
    return key


def verify_key(key: PublicKey, signature: bytes, message: bytes) -> bool:
    try:
        if isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, message)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            size = (key.curve.key_size + 7) // 8
            if len(signature) != 2 * size:
                return False
            digest: hashes.HashAlgorithm = hashes.SHA384() if size > 32 else hashes.SHA256()
            der = encode_dss_signature(
                int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big")
            )
            key.verify(der, message, ec.ECDSA(digest))
        else:
            key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def verify_batch(jobs: Sequence[tuple[str, bytes, bytes, bytes]]) -> list[bool]:
    """(algorithm, SPKI DER, message, signature) -> verified? Picklable for worker processes."""
    return [verify_key(_load_key(spki), sig, message) for _alg, spki, message, sig in jobs]


def verify_with_certificate(cert: x509.Certificate, signature: bytes, message: bytes) -> bool:
    key = cert.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey):
        return False
    return verify_key(key, signature, message)


# --- ECDSA malleability ---------------------------------------------------------------------

# The group orders of the curves whose keys sign here (SEC 2): for a valid (r, s) anyone can
# compute the equally valid (r, n - s) without the key, so only the low half, s <= n / 2, is
# accepted from devices (as Bitcoin's BIP 62/146 and Ethereum do) and signed by the SDK.
CURVE_ORDERS = {
    "secp256r1": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    "secp384r1": 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973,
}
P256_ORDER = CURVE_ORDERS["secp256r1"]


def low_s(s: int, order: int) -> int:
    """The low-S form of an ECDSA signature's s: the same signature, made canonical."""
    return order - s if s > order // 2 else s


def is_high_s_es256(signature: bytes) -> bool:
    """Whether a raw r || s ES256 signature (64 bytes) has s in the high half of the order."""
    return len(signature) == 64 and int.from_bytes(signature[32:], "big") > P256_ORDER // 2
