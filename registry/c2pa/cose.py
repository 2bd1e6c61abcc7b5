"""COSE_Sign1 with a detached payload, as C2PA signs a claim (RFC 9052, RFC 9360).

The signature a C2PA manifest carries is a CBOR COSE_Sign1 message (RFC 9052 §4.2), optionally
tagged 18:

    COSE_Sign1 = [
        protected:   bstr,          ; a CBOR map, encoded: the headers the signature covers
        unprotected: map,           ; headers the signature does not cover
        payload:     nil,           ; detached: the claim's CBOR is signed but not carried
        signature:   bstr,          ; ES256: r || s, 32 bytes each; EdDSA: 64 bytes
    ]

The signed bytes are the Sig_structure (RFC 9052 §4.4), CBOR-encoded:

    Sig_structure = ["Signature1", protected (the bstr as carried), external_aad: h'', payload]

where the payload is the detached claim. The signer's certificates are the x5chain header
(label 33, RFC 9360 §2): one bstr, or an array of them with the signer first; C2PA requires it
in the protected header. The algorithm is the alg header (label 1, RFC 9052 §3.1): ES256 (-7)
or EdDSA (-8), the device keys the registry accepts. Pure functions: no clock, no I/O.
"""

import typing
from collections.abc import Mapping

import cbor2
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from ledger.errors import MalformedError, VerificationError

# CBOR the camera wrote, or JSON the C2PA SDK reports: no shape is promised, so every read of
# one checks the type it needs (or catches the KeyError/TypeError) and names what was missing.
Decoded = typing.Any

_COSE_SIGN1_TAG = 18  # RFC 9052 §4.2
_ALG = 1  # header label, RFC 9052 §3.1
_X5CHAIN = 33  # header label, RFC 9360 §2
_ES256, _EDDSA = -7, -8  # COSE algorithm ids: the device keys the registry accepts


def decode_cbor(data: bytes, what: str) -> Decoded:
    """`data` decoded, or a MalformedError naming `what` it should have been."""
    try:
        return cbor2.loads(data)
    except (cbor2.CBORDecodeError, ValueError, TypeError, RecursionError, OverflowError) as exc:
        raise MalformedError(f"{what} is not CBOR ({exc})", code="c2pa_malformed") from None


def verify_detached(signature: bytes, payload: bytes) -> tuple[bytes, ...]:
    """Check the COSE_Sign1 `signature` over the detached `payload` with the leaf of its
    protected x5chain; returns the x5chain (DER, the signer first). Raises MalformedError for
    a message that is not a detached COSE_Sign1 with a protected x5chain, VerificationError
    for one that does not verify or uses a key the registry does not accept."""
    protected_bytes, protected, unprotected, signature_value = _sign1_fields(signature)
    chain = _x5chain(protected, unprotected)
    try:
        leaf = x509.load_der_x509_certificate(chain[0])
    except ValueError as exc:
        raise MalformedError(
            f"x5chain leaf is not DER X.509: {exc}", code="c2pa_malformed"
        ) from None
    to_be_signed = sig_structure(protected_bytes, payload)
    try:
        _verify(leaf.public_key(), protected.get(_ALG), signature_value, to_be_signed)
    except InvalidSignature:
        raise VerificationError(
            "the C2PA claim signature does not verify with its certificate",
            code="claimSignature.mismatch",
        ) from None
    return chain


def sig_structure(protected: bytes, payload: bytes) -> bytes:
    """The bytes a COSE_Sign1 signs (RFC 9052 §4.4), with no external AAD."""
    return cbor2.dumps(["Signature1", protected, b"", payload])


def _sign1_fields(
    signature: bytes,
) -> tuple[bytes, Mapping[Decoded, Decoded], Mapping[Decoded, Decoded], bytes]:
    """A detached COSE_Sign1's (protected bstr, protected map, unprotected map, signature)."""
    message = decode_cbor(signature, "the C2PA signature")
    if isinstance(message, cbor2.CBORTag):
        if message.tag != _COSE_SIGN1_TAG:
            raise MalformedError("the C2PA signature is not a COSE_Sign1", code="c2pa_malformed")
        message = message.value
    if not (isinstance(message, list | tuple) and len(message) == 4):
        raise MalformedError("the C2PA signature is not a COSE_Sign1 array", code="c2pa_malformed")
    protected_bytes, unprotected, payload, signature_value = message
    if not isinstance(protected_bytes, bytes) or not isinstance(signature_value, bytes):
        raise MalformedError("malformed COSE_Sign1 fields", code="c2pa_malformed")
    if payload is not None:
        raise MalformedError(
            "C2PA signs a detached claim; this one is attached", code="c2pa_malformed"
        )
    # An empty protected bstr stands for an empty map (RFC 9052 §3).
    protected = decode_cbor(protected_bytes, "the COSE protected header") if protected_bytes else {}
    if not isinstance(protected, Mapping) or not isinstance(unprotected, Mapping):
        raise MalformedError("COSE headers must be maps", code="c2pa_malformed")
    return protected_bytes, protected, unprotected, signature_value


def _x5chain(
    protected: Mapping[Decoded, Decoded], unprotected: Mapping[Decoded, Decoded]
) -> tuple[bytes, ...]:
    """The protected x5chain: one certificate or a non-empty array of them (RFC 9360 §2)."""
    if _X5CHAIN in unprotected:
        # The signature covers only the protected header: a chain outside it could be swapped
        # for any certificate without breaking the signature (C2PA 2.x §14.6: x5chain is
        # protected). Refused, not ignored, wherever it sits beside a protected one too.
        raise VerificationError(
            "the COSE signature carries its x5chain in the unprotected header, which the "
            "signature does not cover",
            code="c2pa_x5chain_unprotected",
        )
    value = protected.get(_X5CHAIN)
    if isinstance(value, bytes):
        chain = [value]
    else:
        chain = list(value) if isinstance(value, list | tuple) else []
    if not chain or not all(isinstance(c, bytes) for c in chain):
        raise MalformedError("the COSE signature carries no x5chain", code="c2pa_malformed")
    return tuple(chain)


def _verify(key: object, algorithm: object, signature: bytes, to_be_signed: bytes) -> None:
    """Raise InvalidSignature unless `signature` verifies; VerificationError for a key or an
    algorithm the registry does not accept as a device's."""
    if algorithm == _ES256 and isinstance(key, ec.EllipticCurvePublicKey):
        # COSE carries ECDSA as r || s (RFC 9053 §2.1), not DER.
        if len(signature) != 64 or key.curve.name != "secp256r1":
            raise InvalidSignature
        r, s = (int.from_bytes(signature[i : i + 32], "big") for i in (0, 32))
        key.verify(encode_dss_signature(r, s), to_be_signed, ec.ECDSA(hashes.SHA256()))
    elif algorithm == _EDDSA and isinstance(key, ed25519.Ed25519PublicKey):
        key.verify(signature, to_be_signed)
    else:
        raise VerificationError(
            f"COSE algorithm {algorithm!r} with a {type(key).__name__} is not a device "
            "signature this registry accepts (ES256 or EdDSA)",
            code="algorithm.unsupported",
        )
