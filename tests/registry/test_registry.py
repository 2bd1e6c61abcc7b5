"""The registry's write side on real databases (SQLite and PostgreSQL): vendors, devices,
captures, revocations, generators and reindex. Every rejection asserts its code and message."""

import base64
import hashlib
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from ledger import (
    LogConfig,
    LogStore,
    MalformedError,
    NotFoundError,
    Signer,
    VerificationError,
    hash_leaf,
    open_checkpoint,
    verify_inclusion,
)
from registry import Receipt, Registry, RegistrySettings
from registry.admission.schema import DERIVED_TABLES
from registry.entries.codec import b64, capture_message, parse_entry
from registry.entries.sdk import device_id, sign_capture, sign_message, sign_revocation
from registry.errors import NotAuthorizedError
from registry.imaging.hashing import hash_image
from registry.open import registry_sequencer
from testkit.pki import DevicePKI, IssuedCert, KeyType, make_device, make_pki, make_root
from tests.support.clocks import FixedClock
from tests.support.registry_fixtures import TOKEN, now_of, picture, record


def assert_receipt(registry: Registry, receipt: Receipt, signer: Signer) -> dict[str, Any]:
    """The receipt's proof verifies against its signed checkpoint; returns the logged entry."""
    checkpoint = open_checkpoint(receipt.checkpoint, signer.verifier)
    leaf = registry.store.entry(receipt.index)
    assert hash_leaf(leaf) == receipt.leaf_hash
    verify_inclusion(
        receipt.leaf_hash,
        receipt.index,
        checkpoint.size,
        receipt.inclusion_proof,
        checkpoint.root_hash,
    )
    return dict(parse_entry(leaf))


# --- vendors ---


def test_vendor_is_logged_with_its_root(registry: Registry, pki: DevicePKI, signer: Signer) -> None:
    receipt = registry.add_vendor("Example Camera Co.", "camera", pki.root.der, TOKEN)
    entry = assert_receipt(registry, receipt, signer)
    assert entry["kind"] == "vendor/v1" and entry["role"] == "camera"
    assert base64.b64decode(entry["root"]) == pki.root.der
    assert isinstance(entry["logged_at"], int)


def test_same_vendor_root_twice_returns_the_existing_entry(
    registry: Registry, pki: DevicePKI
) -> None:
    first = registry.add_vendor("Example Camera Co.", "camera", pki.root.der, TOKEN)
    again = registry.add_vendor("Example Camera Co.", "camera", pki.root.der, TOKEN)
    assert (again.index, again.duplicate, first.duplicate) == (first.index, True, False)
    assert registry.store.latest_checkpoint().size == 1


@pytest.mark.parametrize("token", [None, "", "operator-secreT", "operator-secret-and-more"])
def test_vendor_needs_the_admin_token(
    registry: Registry, pki: DevicePKI, token: str | None
) -> None:
    with pytest.raises(NotAuthorizedError, match="admin token is missing or wrong") as info:
        registry.add_vendor("X", "camera", pki.root.der, token)
    assert info.value.code == "bad_admin_token"


def test_vendors_are_disabled_without_a_configured_token(
    store: LogStore, signer: Signer, clock: FixedClock, tmp_path: Path, pki: DevicePKI
) -> None:
    settings = RegistrySettings(
        log=LogConfig(tmp_path, "sqlite://", tmp_path / "k"), admin_token=None
    )
    registry = Registry(store, registry_sequencer(store, signer, clock), settings, clock)
    with pytest.raises(NotAuthorizedError, match="PROV_ADMIN_TOKEN") as info:
        registry.add_vendor("X", "camera", pki.root.der, TOKEN)
    assert info.value.code == "admin_disabled"


def test_vendor_role_must_be_camera_or_generator(registry: Registry, pki: DevicePKI) -> None:
    with pytest.raises(MalformedError, match="vendor role must be one of") as info:
        registry.add_vendor("X", "printer", pki.root.der, TOKEN)
    assert info.value.code == "bad_role"


def test_vendor_root_that_is_not_a_ca_is_rejected(registry: Registry, clock: FixedClock) -> None:
    leaf_like = make_root(now_of(clock), ca=False)
    with pytest.raises(VerificationError, match="vendor root is not a CA certificate") as info:
        registry.add_vendor("X", "camera", leaf_like.der, TOKEN)
    assert info.value.code == "root_not_ca"


# --- devices ---


@pytest.mark.parametrize("key", ["ES256", "Ed25519"])
def test_device_enrolls_under_its_vendor(
    registry: Registry, signer: Signer, clock: FixedClock, key: KeyType
) -> None:
    pki = make_pki(now_of(clock), intermediate=True, device_key=key)
    vendor = registry.add_vendor("Example Camera Co.", "camera", pki.root.der, TOKEN)
    receipt = registry.enroll_device(pki.device.der, pki.chain_der)
    entry = assert_receipt(registry, receipt, signer)
    assert entry["kind"] == "device/v1"
    assert base64.b64decode(entry["cert"]) == pki.device.der
    info = registry.device(receipt_device_id(pki.device))
    assert info["vendor_id"] == entry["vendor"]
    assert info["algorithm"] == key
    assert info["leaf_index"] == receipt.index > vendor.index


def receipt_device_id(device: IssuedCert) -> str:
    return hashlib.sha256(device.der).hexdigest()


def test_same_certificate_twice_returns_the_existing_entry(
    registry: Registry, enrolled: DevicePKI
) -> None:
    size = registry.store.latest_checkpoint().size
    again = registry.enroll_device(enrolled.device.der, enrolled.chain_der)
    assert again.duplicate and again.index == size - 1
    assert registry.store.latest_checkpoint().size == size


@pytest.mark.parametrize(
    ("kwargs", "code", "message"),
    [
        (
            {"eku": None},
            "cert_no_eku",
            "certificate has no C2PA claim-signing or document-signing EKU",
        ),
        (
            {"ca": True},
            "cert_not_end_entity",
            "certificate is a CA certificate, not an end-entity certificate",
        ),
        ({"validity": "expired"}, "cert_expired", "certificate expired at "),
        (
            {"key": "RSA-1024"},
            "cert_bad_key",
            "certificate key is RSA-1024; devices must use ECDSA P-256 or Ed25519",
        ),
        (
            {"digital_signature": False},
            "cert_no_digital_signature",
            "certificate key usage does not include digitalSignature",
        ),
    ],
)
def test_bad_device_certificates_are_rejected_with_the_reason(
    registry: Registry,
    pki: DevicePKI,
    clock: FixedClock,
    kwargs: dict[str, Any],
    code: str,
    message: str,
) -> None:
    registry.add_vendor("Example Camera Co.", "camera", pki.root.der, TOKEN)
    bad = make_device(pki.intermediates[0], now_of(clock), **kwargs)
    with pytest.raises(VerificationError) as info:
        registry.enroll_device(bad.der, pki.chain_der)
    assert info.value.code == code
    assert str(info.value).startswith(message)


def test_device_of_an_unregistered_root_is_rejected(
    registry: Registry, pki: DevicePKI, clock: FixedClock
) -> None:
    registry.add_vendor("Example Camera Co.", "camera", pki.root.der, TOKEN)
    stranger = make_device(make_root(now_of(clock)), now_of(clock))  # same names, other key
    with pytest.raises(
        VerificationError, match="^chain does not lead to a registered vendor root"
    ) as info:
        registry.enroll_device(stranger.der, [])
    assert info.value.code == "cert_untrusted_chain"


def test_device_without_any_vendor_is_rejected(registry: Registry, pki: DevicePKI) -> None:
    with pytest.raises(VerificationError, match="^chain does not lead to a registered vendor root"):
        registry.enroll_device(pki.device.der, pki.chain_der)


def test_device_missing_its_intermediate_is_rejected(registry: Registry, pki: DevicePKI) -> None:
    registry.add_vendor("Example Camera Co.", "camera", pki.root.der, TOKEN)
    with pytest.raises(VerificationError, match="did you forget `--chain intermediate.pem`"):
        registry.enroll_device(pki.device.der, [])


def test_unknown_device_lookup(registry: Registry) -> None:
    with pytest.raises(NotFoundError, match="is not enrolled"):
        registry.device("ab" * 32)
    with pytest.raises(MalformedError):
        registry.device("not-hex")


# --- captures ---


def test_batch_of_captures_is_logged_with_proofs(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock, signer: Signer
) -> None:
    records = [record(enrolled.device, seed, seed, clock.now_ms - 1000) for seed in range(1, 6)]
    results = registry.submit_captures(records)
    assert [r.accepted for r in results] == [True] * 5
    indexes = [r.receipt.index for r in results if r.receipt]
    assert indexes == list(range(indexes[0], indexes[0] + 5))
    for result, sent in zip(results, records, strict=True):
        assert result.receipt is not None and result.counter_status == "ok"
        entry = assert_receipt(registry, result.receipt, signer)
        assert entry["kind"] == "capture/v1"
        assert entry["claim"] == sent["claim"] and entry["sig"] == sent["sig"]
    assert registry.device(receipt_device_id(enrolled.device))["captures"] == 5


def test_exact_replay_returns_the_existing_entry(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock
) -> None:
    one = record(enrolled.device, 1, 1, clock.now_ms)
    first = registry.submit_captures([one])[0]
    size = registry.store.latest_checkpoint().size
    again = registry.submit_captures([one, one])
    assert first.receipt is not None
    for result in again:
        assert result.receipt is not None and result.receipt.duplicate
        assert result.receipt.index == first.receipt.index
    assert registry.store.latest_checkpoint().size == size


def test_repeated_and_backwards_counters_are_stored_and_marked(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock
) -> None:
    t = clock.now_ms
    batch = [
        record(enrolled.device, 1, 10, t),
        record(enrolled.device, 2, 10, t),
        record(enrolled.device, 3, 4, t),
        record(enrolled.device, 4, 11, t),
    ]
    statuses = [r.counter_status for r in registry.submit_captures(batch)]
    assert statuses == ["ok", "repeated", "backwards", "ok"]
    later = registry.submit_captures([record(enrolled.device, 5, 11, t)])
    assert later[0].counter_status == "repeated"


def test_bad_records_never_sink_the_good_ones(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock
) -> None:
    good = record(enrolled.device, 1, 1, clock.now_ms)
    bad_pdq = json.loads(json.dumps(good))
    bad_pdq["claim"]["pdq"] = "zz" * 32
    forged = json.loads(json.dumps(record(enrolled.device, 2, 2, clock.now_ms)))
    forged["claim"]["counter"] = 999  # the signature no longer covers the claim
    future = record(enrolled.device, 3, 3, clock.now_ms + 10 * 60 * 1000)
    stranger = record(make_pki(now_of(clock)).device, 4, 4, clock.now_ms)
    before = record(enrolled.device, 5, 5, int(enrolled.device.not_before.timestamp() * 1000) - 1)
    results = registry.submit_captures(
        [bad_pdq, good, forged, future, stranger, before, "not an object"]
    )
    assert [r.accepted for r in results] == [False, True, False, False, False, False, False]
    assert [r.code for r in results] == [
        "bad_pdq",
        None,
        "bad_signature",
        "captured_in_future",
        "unknown_device",
        "captured_outside_validity",
        "bad_record",
    ]
    assert "'pdq' must be 64 lowercase hex characters" in (results[0].reason or "")
    assert "signature does not verify with the enrolled key of device" in (results[2].reason or "")
    assert "is not enrolled" in (results[4].reason or "")


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("sha256", "AB" * 32, "bad_sha256"),
        ("phash", "00" * 7, "bad_phash"),
        ("pdq_quality", 101, "bad_pdq_quality"),
        ("counter", -1, "bad_counter"),
        ("width", 0, "bad_width"),
        ("features", ["ab" * 32], "bad_features"),
        ("features", {"pdq-top80-v1": "ab" * 31}, "bad_features"),
        ("features", {"pdq-top80-v1": "AB" * 32}, "bad_features"),
        ("features", {"Top 80": "ab" * 32}, "bad_features"),
        ("features", {f"extra-{i}": "ab" for i in range(17)}, "bad_features"),
    ],
)
def test_malformed_claim_fields_name_the_field(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock, field: str, value: Any, code: str
) -> None:
    bad = record(enrolled.device, 1, 1, clock.now_ms)
    bad["claim"][field] = value
    result = registry.submit_captures([bad])[0]
    assert (result.accepted, result.code) == (False, code)
    assert repr(field) in (result.reason or "")


def test_unknown_features_are_logged_but_not_indexed(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock
) -> None:
    hashes = hash_image(picture(8))
    features = {**hashes.features, "vendor-x/edge-hash-v3": "0123abcd"}
    capture = sign_capture(
        picture(8), enrolled.device.private_key, enrolled.device.certificate, 1, clock.now_ms,
        hashes=replace(hashes, features=features),
    )  # fmt: skip
    result = registry.submit_captures([capture])[0]
    assert result.receipt is not None, result.reason
    logged = json.loads(registry.store.entry(result.receipt.index))
    assert logged["claim"]["features"] == features
    indexed = snapshot(registry)["reg_capture_features"]
    assert {row[1] for row in indexed} == set(hashes.features)


def test_batch_size_is_limited(registry: Registry, enrolled: DevicePKI, clock: FixedClock) -> None:
    with pytest.raises(MalformedError, match="at most 50 per submission") as info:
        registry.submit_captures([{}] * 51)
    assert info.value.code == "batch_too_large"
    with pytest.raises(MalformedError, match="no records"):
        registry.submit_captures([])


# --- revocations ---


def test_revocation_by_the_issuing_ca_rejects_later_captures_and_flags_earlier_ones(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock, signer: Signer
) -> None:
    device_id = receipt_device_id(enrolled.device)
    t = clock.now_ms
    before = registry.submit_captures([record(enrolled.device, 1, 1, t - 5000)])[0]
    ca = enrolled.intermediates[0]
    revocation = sign_revocation(
        device_id, t - 3000, "key extracted", ca.private_key, ca.certificate
    )
    receipt = registry.revoke(revocation)
    entry = assert_receipt(registry, receipt, signer)
    assert entry["kind"] == "revocation/v1" and entry["compromised_since"] == t - 3000
    assert registry.revoke(revocation).duplicate

    late = registry.submit_captures(
        [record(enrolled.device, 2, 2, t - 3000), record(enrolled.device, 3, 3, t - 4000)]
    )
    assert (late[0].accepted, late[0].code) == (False, "device_revoked")
    assert late[1].accepted and late[1].flags == ("logged_after_revocation",)
    assert before.accepted
    assert registry.device(device_id)["revocations"][0]["reason"] == "key extracted"


def test_revocation_by_the_vendor_root(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock
) -> None:
    root = enrolled.root
    revocation = sign_revocation(
        receipt_device_id(enrolled.device), clock.now_ms, "lost", root.private_key, root.certificate
    )
    assert not registry.revoke(revocation).duplicate


def test_revocation_by_another_ca_is_rejected(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock
) -> None:
    other = make_root(now_of(clock))
    revocation = sign_revocation(
        receipt_device_id(enrolled.device), clock.now_ms, "x", other.private_key, other.certificate
    )
    with pytest.raises(
        VerificationError, match="neither the vendor root nor the CA that issued"
    ) as info:
        registry.revoke(revocation)
    assert info.value.code == "revocation_bad_signer"


def test_revocation_with_a_bad_signature_is_rejected(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock
) -> None:
    ca = enrolled.intermediates[0]
    revocation = sign_revocation(
        receipt_device_id(enrolled.device), clock.now_ms, "x", ca.private_key, ca.certificate
    )
    revocation["reason"] = "changed after signing"
    with pytest.raises(VerificationError, match="revocation signature does not verify") as info:
        registry.revoke(revocation)
    assert info.value.code == "revocation_bad_signature"


def test_revocation_of_an_unknown_device(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock
) -> None:
    ca = enrolled.intermediates[0]
    with pytest.raises(NotFoundError, match="is not enrolled"):
        registry.revoke(
            sign_revocation("cd" * 32, clock.now_ms, "x", ca.private_key, ca.certificate)
        )


# --- generators: the same path discloses generated images ---


def test_generator_vendor_discloses_outputs(
    registry: Registry, clock: FixedClock, signer: Signer
) -> None:
    model = make_pki(now_of(clock), device_key="Ed25519")
    registry.add_vendor("Example Diffusion Labs", "generator", model.root.der, TOKEN)
    registry.enroll_device(model.device.der, [])
    result = registry.submit_captures([record(model.device, 7, 1, clock.now_ms)])[0]
    assert result.receipt is not None
    assert_receipt(registry, result.receipt, signer)
    assert registry.device(receipt_device_id(model.device))["role"] == "generator"


# --- derived indexes ---


def snapshot(registry: Registry) -> dict[str, list[Any]]:
    with registry.store.engine.connect() as connection:
        return {
            table.name: sorted(tuple(row) for row in connection.execute(select(table)))
            for table in DERIVED_TABLES
        }


def test_reindex_rebuilds_the_same_rows(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock
) -> None:
    t = clock.now_ms
    registry.submit_captures(
        [record(enrolled.device, s, c, t) for s, c in [(1, 5), (2, 5), (3, 2), (4, 9)]]
    )
    ca = enrolled.intermediates[0]
    registry.revoke(
        sign_revocation(
            receipt_device_id(enrolled.device), t - 100, "x", ca.private_key, ca.certificate
        )
    )
    registry.submit_captures([record(enrolled.device, 5, 1, t - 200)])
    before = snapshot(registry)
    assert before["reg_captures"] and before["reg_revocations"] and before["reg_state"]
    assert before["reg_capture_features"]
    replayed = registry.reindex(chunk=3)
    assert replayed == registry.store.latest_checkpoint().size
    assert snapshot(registry) == before


def test_a_batch_of_late_uploads_is_admitted(
    store: LogStore, signer: Signer, clock: FixedClock, pki: DevicePKI, tmp_path: Path
) -> None:
    """A camera that was offline uploads its backlog after newer captures: every counter is
    below the device's highest, and each must be looked up - more than SQLite's expression
    depth allows in one statement (found by bench/load_bench.py's concurrent submitters)."""
    settings = RegistrySettings(
        log=LogConfig(tmp_path, str(store.engine.url), tmp_path / "log.key"),
        admin_token=TOKEN,
        max_batch=1100,
        verify_workers=0,
    )
    registry_sequencer(store, signer, clock).initialize()
    registry = Registry(store, registry_sequencer(store, signer, clock), settings, clock)
    registry.add_vendor("Example Camera Co.", "camera", pki.root.der, TOKEN)
    registry.enroll_device(pki.device.der, pki.chain_der)
    device = pki.device

    def signed(counter: int) -> dict[str, Any]:
        claim = {
            "device": device_id(device.certificate),
            "counter": counter,
            "captured_at": clock.now_ms - 10_000 + counter,
            "media_type": "image/jpeg",
            "width": 640,
            "height": 480,
            "sha256": hashlib.sha256(b"sha %d" % counter).hexdigest(),
            "pdq": hashlib.sha256(b"pdq %d" % counter).hexdigest(),
            "pdq_quality": 100,
            "phash": hashlib.sha256(b"phash %d" % counter).hexdigest()[:16],
        }
        signature = sign_message(device.private_key, capture_message(claim))
        return {"claim": claim, "sig": b64(signature)}

    newer = registry.submit_captures([signed(c) for c in range(1101, 2201)])
    assert all(r.accepted and r.counter_status == "ok" for r in newer)
    backlog = registry.submit_captures([signed(c) for c in range(1, 1101)])
    assert all(r.accepted for r in backlog), backlog[0].reason
    assert {r.counter_status for r in backlog} == {"backwards"}
    # Signed anew (ECDSA is randomized): new records, each found by the chunked lookups.
    again = registry.submit_captures([signed(c) for c in range(1, 1101)])
    assert all(r.accepted for r in again)
    assert {r.counter_status for r in again} == {"repeated"}
