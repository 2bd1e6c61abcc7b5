"""registry.admission.certs: vendor roots, device certificate validation, device signatures."""

import datetime as dt
import hashlib
from collections.abc import Callable

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from ledger.errors import LedgerError, MalformedError, VerificationError
from registry.admission.certs import (
    C2PA_CLAIM_SIGNING,
    DOCUMENT_SIGNING,
    DeviceCertificate,
    VendorRoot,
    load_vendor_root,
    validate_device,
    verify_signature,
)
from testkit.pki import (
    SERVER_AUTH,
    IssuedCert,
    KeyType,
    generate_key,
    make_device,
    make_intermediate,
    make_pki,
    make_root,
)

NOW = dt.datetime(2026, 3, 1, 12, 0, 0, tzinfo=dt.UTC)
UNTRUSTED = "chain does not lead to a registered vendor root: "


def sha(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


@pytest.fixture(scope="module")
def root() -> IssuedCert:
    return make_root(NOW)


@pytest.fixture(scope="module")
def vendor(root: IssuedCert) -> VendorRoot:
    return load_vendor_root(root.der)


@pytest.fixture(scope="module")
def intermediate(root: IssuedCert) -> IssuedCert:
    return make_intermediate(root, NOW)


def expect(
    exc_type: type[LedgerError], code: str, message: str, call: Callable[[], object]
) -> LedgerError:
    with pytest.raises(exc_type) as info:
        call()
    assert str(info.value) == message
    assert info.value.code == code
    return info.value


def expect_untrusted(call: Callable[[], object]) -> str:
    with pytest.raises(VerificationError) as info:
        call()
    assert info.value.code == "cert_untrusted_chain"
    message = str(info.value)
    assert message.startswith(UNTRUSTED)
    return message[len(UNTRUSTED) :]


# --- load_vendor_root --------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["ES256", "P-384", "RSA-2048"])
def test_vendor_root_accepted(key: KeyType) -> None:
    root = make_root(NOW, key=key)
    vendor = load_vendor_root(root.der)
    assert vendor.vendor_id == sha(root.der)
    assert vendor.vendor_id == vendor.vendor_id.lower() and len(vendor.vendor_id) == 64
    assert vendor.der == root.der
    assert vendor.certificate == root.certificate


@pytest.mark.parametrize(
    "der",
    [b"", b"not a certificate", b"\x30\x03\x02\x01\x01"],
    ids=["empty", "garbage", "short-sequence"],
)
def test_vendor_root_malformed(der: bytes) -> None:
    with pytest.raises(MalformedError) as info:
        load_vendor_root(der)
    assert info.value.code == "cert_malformed"
    assert str(info.value).startswith("vendor root is not a DER X.509 certificate: ")


def test_vendor_root_pem_and_truncated_der_are_malformed(root: IssuedCert) -> None:
    for der in (root.pem, root.der[:-1], root.der + b"\x00"):
        with pytest.raises(MalformedError) as info:
            load_vendor_root(der)
        assert info.value.code == "cert_malformed"


def test_vendor_root_not_self_signed_issuer_differs(root: IssuedCert) -> None:
    issued = make_intermediate(root, NOW)  # a CA, but issued by someone else
    expect(
        VerificationError,
        "root_not_self_signed",
        "vendor root is not self-signed",
        lambda: load_vendor_root(issued.der),
    )


def test_vendor_root_not_self_signed_signature_from_other_key() -> None:
    forged = make_root(NOW, signing_key=generate_key("ES256"))
    assert forged.certificate.issuer == forged.certificate.subject
    expect(
        VerificationError,
        "root_not_self_signed",
        "vendor root is not self-signed",
        lambda: load_vendor_root(forged.der),
    )


@pytest.mark.parametrize("kwargs", [{"ca": False}, {"basic_constraints": False}])
def test_vendor_root_not_ca(kwargs: dict[str, bool]) -> None:
    root = make_root(NOW, **kwargs)  # type: ignore[arg-type]
    expect(
        VerificationError,
        "root_not_ca",
        "vendor root is not a CA certificate (basicConstraints CA:TRUE missing)",
        lambda: load_vendor_root(root.der),
    )


def test_vendor_root_weak_key() -> None:
    root = make_root(NOW, key="RSA-1024")
    expect(
        VerificationError,
        "root_weak_key",
        "vendor root key is RSA-1024; roots must use ECDSA P-256 or P-384, "
        "or RSA of at least 2048 bits",
        lambda: load_vendor_root(root.der),
    )


def test_vendor_root_self_signature_checked_before_ca_and_key() -> None:
    forged = make_root(NOW, key="RSA-1024", ca=False, signing_key=generate_key("ES256"))
    with pytest.raises(VerificationError) as info:
        load_vendor_root(forged.der)
    assert info.value.code == "root_not_self_signed"
    weak_leaf_like = make_root(NOW, key="RSA-1024", ca=False)
    with pytest.raises(VerificationError) as info:
        load_vendor_root(weak_leaf_like.der)
    assert info.value.code == "root_not_ca"


# --- validate_device: happy paths -----------------------------------------------------------


@pytest.mark.parametrize("key", ["ES256", "Ed25519"])
def test_device_directly_under_root(key: KeyType, root: IssuedCert, vendor: VendorRoot) -> None:
    device = make_device(root, NOW, key=key)
    result = validate_device(device.der, [], vendor, NOW)
    assert isinstance(result, DeviceCertificate)
    assert result.algorithm == key
    assert result.device_id == sha(device.der)
    assert result.der == device.der
    assert result.certificate == device.certificate
    assert result.chain_ids == (vendor.vendor_id,)
    assert result.not_before == NOW - dt.timedelta(days=1)
    assert result.not_after == NOW + dt.timedelta(days=365)
    assert result.not_before.tzinfo is not None and result.not_after.utcoffset() == dt.timedelta(0)


@pytest.mark.parametrize("key", ["ES256", "Ed25519"])
def test_device_via_intermediate(
    key: KeyType, root: IssuedCert, vendor: VendorRoot, intermediate: IssuedCert
) -> None:
    device = make_device(intermediate, NOW, key=key)
    result = validate_device(device.der, [intermediate.der], vendor, NOW)
    assert result.algorithm == key
    assert result.chain_ids == (sha(intermediate.der), vendor.vendor_id)
    assert result.device_id not in result.chain_ids


def test_chain_ids_two_intermediates_issuer_first(root: IssuedCert, vendor: VendorRoot) -> None:
    upper = make_intermediate(root, NOW, common_name="Upper CA", path_length=1)
    lower = make_intermediate(upper, NOW, common_name="Lower CA")
    device = make_device(lower, NOW)
    # The enrollment may list the intermediates in any order, with extras: the verifier builds
    # the path and chain_ids reports the one it used.
    unrelated = make_intermediate(make_root(NOW, common_name="Other Root"), NOW)
    for chain in ([lower.der, upper.der], [upper.der, lower.der, unrelated.der, root.der]):
        result = validate_device(device.der, chain, vendor, NOW)
        assert result.chain_ids == (sha(lower.der), sha(upper.der), vendor.vendor_id)


def test_make_pki_bundles() -> None:
    pki = make_pki(NOW, intermediate=True, device_key="Ed25519")
    result = validate_device(pki.device.der, pki.chain_der, load_vendor_root(pki.root.der), NOW)
    assert result.chain_ids == (sha(pki.intermediates[0].der), sha(pki.root.der))
    assert result.algorithm == "Ed25519"


def test_document_signing_eku_accepted(root: IssuedCert, vendor: VendorRoot) -> None:
    device = make_device(root, NOW, eku=(SERVER_AUTH, DOCUMENT_SIGNING))
    assert validate_device(device.der, [], vendor, NOW).algorithm == "ES256"


def test_c2pa_eku_alongside_others_accepted(root: IssuedCert, vendor: VendorRoot) -> None:
    device = make_device(root, NOW, eku=(SERVER_AUTH, C2PA_CLAIM_SIGNING))
    validate_device(device.der, [], vendor, NOW)


def test_subject_alt_name_is_allowed_not_required(root: IssuedCert, vendor: VendorRoot) -> None:
    device = make_device(root, NOW, subject_alt_name="urn:example:camera:0001")
    validate_device(device.der, [], vendor, NOW)


def test_intermediate_with_c2pa_eku_accepted(root: IssuedCert, vendor: VendorRoot) -> None:
    constrained = make_intermediate(root, NOW, eku=[C2PA_CLAIM_SIGNING])
    device = make_device(constrained, NOW)
    validate_device(device.der, [constrained.der], vendor, NOW)


def test_root_keys_accepted_as_issuers() -> None:
    for key in ("P-384", "RSA-2048"):
        pki = make_pki(NOW, root_key=key, intermediate=True)
        validate_device(pki.device.der, pki.chain_der, load_vendor_root(pki.root.der), NOW)


def test_validity_bounds_inclusive(root: IssuedCert, vendor: VendorRoot) -> None:
    device = make_device(root, NOW)
    start, end = device.not_before, device.not_after
    validate_device(device.der, [], vendor, start)
    validate_device(device.der, [], vendor, end)
    with pytest.raises(VerificationError, match="expired"):
        validate_device(device.der, [], vendor, end + dt.timedelta(seconds=1))
    with pytest.raises(VerificationError, match="not valid until"):
        validate_device(device.der, [], vendor, start - dt.timedelta(seconds=1))


def test_any_aware_timezone_accepted_naive_refused(root: IssuedCert, vendor: VendorRoot) -> None:
    device = make_device(root, NOW)
    plus_five = dt.timezone(dt.timedelta(hours=5))
    end = device.not_after.astimezone(plus_five)
    validate_device(device.der, [], vendor, end)
    with pytest.raises(VerificationError, match="expired"):
        validate_device(device.der, [], vendor, end + dt.timedelta(seconds=1))
    with pytest.raises(ValueError, match="timezone-aware"):
        validate_device(device.der, [], vendor, NOW.replace(tzinfo=None))


# --- validate_device: rejections, each with its exact message and code ------------------------


def test_device_malformed(root: IssuedCert, vendor: VendorRoot, intermediate: IssuedCert) -> None:
    device = make_device(intermediate, NOW)
    for bad in (b"", b"garbage", device.pem, device.der[:-3]):
        with pytest.raises(MalformedError) as info:
            validate_device(bad, [intermediate.der], vendor, NOW)
        assert info.value.code == "cert_malformed"
        assert str(info.value).startswith("device certificate is not a DER X.509 certificate: ")


def test_chain_certificate_malformed_is_numbered_from_one(
    vendor: VendorRoot, intermediate: IssuedCert
) -> None:
    device = make_device(intermediate, NOW)
    with pytest.raises(MalformedError) as info:
        validate_device(device.der, [intermediate.der, b"\x30\x00"], vendor, NOW)
    assert info.value.code == "cert_malformed"
    assert str(info.value).startswith("chain certificate 2 is not a DER X.509 certificate: ")


def test_malformed_reported_before_any_profile_rule(root: IssuedCert, vendor: VendorRoot) -> None:
    ca_leaf = make_device(root, NOW, ca=True)
    with pytest.raises(MalformedError) as info:
        validate_device(ca_leaf.der, [b"junk"], vendor, NOW)
    assert str(info.value).startswith("chain certificate 1 is not a DER X.509 certificate: ")


def test_ca_leaf(root: IssuedCert, vendor: VendorRoot) -> None:
    device = make_device(root, NOW, ca=True)
    expect(
        VerificationError,
        "cert_not_end_entity",
        "certificate is a CA certificate, not an end-entity certificate",
        lambda: validate_device(device.der, [], vendor, NOW),
    )


def test_intermediate_presented_as_device(vendor: VendorRoot, intermediate: IssuedCert) -> None:
    expect(
        VerificationError,
        "cert_not_end_entity",
        "certificate is a CA certificate, not an end-entity certificate",
        lambda: validate_device(intermediate.der, [], vendor, NOW),
    )


@pytest.mark.parametrize(
    ("key", "desc"),
    [("RSA-1024", "RSA-1024"), ("P-384", "ECDSA P-384"), ("RSA-2048", "RSA-2048")],
)
def test_bad_device_key(key: KeyType, desc: str, root: IssuedCert, vendor: VendorRoot) -> None:
    device = make_device(root, NOW, key=key)
    expect(
        VerificationError,
        "cert_bad_key",
        f"certificate key is {desc}; devices must use ECDSA P-256 or Ed25519",
        lambda: validate_device(device.der, [], vendor, NOW),
    )


@pytest.mark.parametrize("kwargs", [{"digital_signature": False}, {"key_usage": False}])
def test_no_digital_signature(
    kwargs: dict[str, bool], root: IssuedCert, vendor: VendorRoot
) -> None:
    device = make_device(root, NOW, **kwargs)  # type: ignore[arg-type]
    expect(
        VerificationError,
        "cert_no_digital_signature",
        "certificate key usage does not include digitalSignature",
        lambda: validate_device(device.der, [], vendor, NOW),
    )


@pytest.mark.parametrize("eku", [None, (SERVER_AUTH,)], ids=["no-eku", "server-auth-only"])
def test_no_eku(
    eku: tuple[x509.ObjectIdentifier, ...] | None, root: IssuedCert, vendor: VendorRoot
) -> None:
    device = make_device(root, NOW, eku=eku)
    expect(
        VerificationError,
        "cert_no_eku",
        "certificate has no C2PA claim-signing or document-signing EKU",
        lambda: validate_device(device.der, [], vendor, NOW),
    )


def test_expired(root: IssuedCert, vendor: VendorRoot) -> None:
    device = make_device(root, NOW, validity="expired")
    expect(
        VerificationError,
        "cert_expired",
        "certificate expired at 2026-01-25T12:00:00Z",
        lambda: validate_device(device.der, [], vendor, NOW),
    )


def test_not_yet_valid(root: IssuedCert, vendor: VendorRoot) -> None:
    device = make_device(root, NOW, validity="not_yet_valid")
    expect(
        VerificationError,
        "cert_not_yet_valid",
        "certificate is not valid until 2026-03-31T12:00:00Z",
        lambda: validate_device(device.der, [], vendor, NOW),
    )


def test_signed_by_unregistered_root(vendor: VendorRoot) -> None:
    # Same subject name as the registered root, different key: only the signature differs.
    other = make_root(NOW)
    assert other.certificate.subject == vendor.certificate.subject
    device = make_device(other, NOW)
    expect_untrusted(lambda: validate_device(device.der, [], vendor, NOW))


def test_unregistered_root_via_intermediate(vendor: VendorRoot) -> None:
    pki = make_pki(NOW, intermediate=True)
    expect_untrusted(lambda: validate_device(pki.device.der, pki.chain_der, vendor, NOW))
    # Presenting the unregistered root itself as an "intermediate" does not help.
    chain = [*pki.chain_der, pki.root.der]
    expect_untrusted(lambda: validate_device(pki.device.der, chain, vendor, NOW))


def test_missing_intermediate(vendor: VendorRoot, intermediate: IssuedCert) -> None:
    device = make_device(intermediate, NOW)
    expect_untrusted(lambda: validate_device(device.der, [], vendor, NOW))


def test_intermediate_constrained_to_other_eku(root: IssuedCert, vendor: VendorRoot) -> None:
    tls_ca = make_intermediate(root, NOW, eku=[SERVER_AUTH])
    device = make_device(tls_ca, NOW)
    reason = expect_untrusted(lambda: validate_device(device.der, [tls_ca.der], vendor, NOW))
    assert "CA EKU allows neither C2PA claim signing nor document signing" in reason


def test_intermediate_expired_at_validation_time(root: IssuedCert, vendor: VendorRoot) -> None:
    # cryptography checks every CA's validity at `at` too: a device valid now, issued by an
    # intermediate that has expired by then, is refused.
    short_lived = make_intermediate(root, NOW - dt.timedelta(days=6 * 365))
    later = NOW + dt.timedelta(days=30)
    device = make_device(short_lived, later)
    reason = expect_untrusted(lambda: validate_device(device.der, [short_lived.der], vendor, later))
    assert "not valid at validation time" in reason


def test_device_without_authority_key_identifier(root: IssuedCert, vendor: VendorRoot) -> None:
    # Required by cryptography's default end-entity policy (CA/B Forum); kept on purpose.
    device = make_device(root, NOW, authority_key_identifier=False)
    reason = expect_untrusted(lambda: validate_device(device.der, [], vendor, NOW))
    assert "2.5.29.35" in reason


def test_root_without_key_usage_loads_but_cannot_issue() -> None:
    root = make_root(NOW, key_usage=False)
    vendor = load_vendor_root(root.der)
    device = make_device(root, NOW)
    reason = expect_untrusted(lambda: validate_device(device.der, [], vendor, NOW))
    assert "2.5.29.15" in reason


def test_ed25519_root_is_refused_at_registration() -> None:
    # cryptography's verifier accepts only RSA and ECDSA CA keys (CA/B Forum 7.1.3), so an
    # Ed25519 root could never validate a device: refuse it up front, with the reason.
    root = make_root(NOW, key="Ed25519")
    expect(
        VerificationError,
        "root_weak_key",
        "vendor root key is Ed25519; roots must use ECDSA P-256 or P-384, "
        "or RSA of at least 2048 bits",
        lambda: load_vendor_root(root.der),
    )


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        (
            {"ca": True, "key": "RSA-1024", "eku": None, "validity": "expired"},
            "cert_not_end_entity",
        ),
        ({"key": "RSA-1024", "digital_signature": False, "eku": None}, "cert_bad_key"),
        (
            {"digital_signature": False, "eku": None, "validity": "expired"},
            "cert_no_digital_signature",
        ),
        ({"eku": (SERVER_AUTH,), "validity": "not_yet_valid"}, "cert_no_eku"),
        ({"validity": "expired", "other_root": True}, "cert_expired"),
        ({"validity": "not_yet_valid", "authority_key_identifier": False}, "cert_not_yet_valid"),
    ],
)
def test_first_failing_rule_is_reported(
    kwargs: dict[str, object], code: str, root: IssuedCert, vendor: VendorRoot
) -> None:
    issuer = make_root(NOW) if kwargs.pop("other_root", False) else root
    device = make_device(issuer, NOW, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(VerificationError) as info:
        validate_device(device.der, [], vendor, NOW)
    assert info.value.code == code


# --- verify_signature --------------------------------------------------------------------------

MESSAGE = b"provenance-ledger/capture/v1\n{}"


def flip(signature: bytes, bit: int) -> bytes:
    out = bytearray(signature)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


@pytest.fixture(scope="module", params=["ES256", "Ed25519"])
def signer(
    request: pytest.FixtureRequest, root: IssuedCert, vendor: VendorRoot
) -> tuple[IssuedCert, DeviceCertificate]:
    device = make_device(root, NOW, key=request.param)
    return device, validate_device(device.der, [], vendor, NOW)


def test_verify_signature_good(signer: tuple[IssuedCert, DeviceCertificate]) -> None:
    issued, device = signer
    signature = issued.sign(MESSAGE)
    assert len(signature) == 64
    assert verify_signature(device, signature, MESSAGE) is True
    assert verify_signature(device.certificate, signature, MESSAGE) is True


@pytest.mark.parametrize("bit", [0, 7, 255, 256, 511])
def test_verify_signature_flipped_bit(
    bit: int, signer: tuple[IssuedCert, DeviceCertificate]
) -> None:
    issued, device = signer
    assert verify_signature(device, flip(issued.sign(MESSAGE), bit), MESSAGE) is False


def test_verify_signature_wrong_lengths_and_junk(
    signer: tuple[IssuedCert, DeviceCertificate],
) -> None:
    issued, device = signer
    signature = issued.sign(MESSAGE)
    for bad in (
        signature[:63],
        signature + b"\x00",
        b"",
        bytes(64),
        b"\xff" * 64,
        b"\x00" * 32 + signature[32:],
    ):
        assert verify_signature(device, bad, MESSAGE) is False


def test_verify_signature_wrong_message_or_key(
    root: IssuedCert, signer: tuple[IssuedCert, DeviceCertificate]
) -> None:
    issued, device = signer
    assert verify_signature(device, issued.sign(MESSAGE), MESSAGE + b" ") is False
    other = make_device(root, NOW, key=device.algorithm)
    assert verify_signature(device, other.sign(MESSAGE), MESSAGE) is False


def test_es256_signature_is_raw_not_der(root: IssuedCert, vendor: VendorRoot) -> None:
    issued = make_device(root, NOW)
    device = validate_device(issued.der, [], vendor, NOW)
    key = issued.private_key
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    der_signature = key.sign(MESSAGE, ec.ECDSA(hashes.SHA256()))
    assert verify_signature(device, der_signature, MESSAGE) is False
    raw = issued.sign(MESSAGE)
    assert verify_signature(device, raw, MESSAGE) is True


def test_cross_algorithm_signature_refused(root: IssuedCert, vendor: VendorRoot) -> None:
    es = make_device(root, NOW)
    ed = make_device(root, NOW, key="Ed25519")
    es_device = validate_device(es.der, [], vendor, NOW)
    ed_device = validate_device(ed.der, [], vendor, NOW)
    assert verify_signature(es_device, ed.sign(MESSAGE), MESSAGE) is False
    assert verify_signature(ed_device, es.sign(MESSAGE), MESSAGE) is False


def test_verify_signature_refuses_non_device_key(root: IssuedCert) -> None:
    rsa_cert = make_device(root, NOW, key="RSA-1024").certificate
    expect(
        VerificationError,
        "cert_bad_key",
        "certificate key is RSA-1024; devices must use ECDSA P-256 or Ed25519",
        lambda: verify_signature(rsa_cert, bytes(64), MESSAGE),
    )
