"""Issue 15 part 2: the `firmware` a capture claim names. A device signs it in a capture/v1
claim; for a C2PA capture the registry reads it from the camera-signed claim_generator_info,
and the audit re-derives it. Stored in reg_captures.firmware, rebuilt by reindex."""

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from ledger import MalformedError, Signer, VerificationError
from registry import Registry
from registry.admission.indexer import capture_firmware_of
from registry.admission.schema import reg_captures
from registry.audit.replay import replay_log
from registry.bundle.build import build_bundle
from registry.bundle.verify import verify_bundle
from registry.c2pa.evidence import check_entry, evidence_from_store
from registry.c2pa.firmware import capture_firmware, claim_firmware
from registry.c2pa.jumbf import manifest_store_from_jpeg
from registry.entries.codec import C2PA_CAPTURE, encode_entry
from registry.entries.formats import C2paEvidence
from registry.entries.sdk import device_id, sign_capture
from registry.imaging.hashing import hash_image
from registry.open import registry_sequencer
from testkit.pki import DevicePKI
from tests.support.c2pa_camera import Camera
from tests.support.c2pa_forgery import only_manifest
from tests.support.clocks import FixedClock
from tests.support.in_process import served
from tests.support.registry_fixtures import TOKEN, picture, signed_claim

BOTH = pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)

BAD_FIRMWARE = [
    pytest.param("2.00\x00", id="nul"),
    pytest.param("2.00\n", id="newline"),
    pytest.param("\x1b[31m2.00", id="escape"),
    pytest.param("2.00\x7f", id="del"),
    pytest.param("a" * 101, id="too-long"),
    pytest.param("", id="empty"),
    pytest.param(200, id="integer"),
    pytest.param(None, id="null"),
    pytest.param(["2.00"], id="list"),
    pytest.param("2.00\u202e", id="bidi-override"),
    pytest.param("2.0\u0030\u200d", id="zero-width-joiner"),
]


def firmware_column(registry: Registry) -> dict[int, str | None]:
    with registry.store.engine.connect() as connection:
        rows = connection.execute(select(reg_captures.c.leaf_index, reg_captures.c.firmware))
        return {index: firmware for index, firmware in rows}


@BOTH
def test_a_claim_with_firmware_is_signed_logged_stored_and_reindexed(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock
) -> None:
    device = enrolled.device
    with_firmware = sign_capture(
        picture(1), device.private_key, device.certificate, 1, clock.now_ms, firmware="2.00"
    )
    without = sign_capture(picture(2), device.private_key, device.certificate, 2, clock.now_ms)
    results = registry.submit_captures([with_firmware, without])
    assert [r.code for r in results] == [None, None]
    first, second = (r.receipt.index for r in results if r.receipt is not None)
    logged = json.loads(registry.store.entry(first))
    assert logged["claim"]["firmware"] == "2.00"
    assert "firmware" not in json.loads(registry.store.entry(second))["claim"]
    stored = firmware_column(registry)
    assert (stored[first], stored[second]) == ("2.00", None)
    with registry.store.engine.connect() as connection:
        assert capture_firmware_of(connection, [second, first, 999]) == {
            first: "2.00",
            second: None,
        }
    registry.reindex(chunk=1)
    assert firmware_column(registry) == stored


def test_firmware_edited_after_signing_is_refused(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock
) -> None:
    device = enrolled.device
    record: Any = sign_capture(
        picture(1), device.private_key, device.certificate, 1, clock.now_ms, firmware="2.00"
    )
    record["claim"]["firmware"] = "2.01"  # the fixed release, claimed for a flawed one's picture
    added: Any = sign_capture(picture(2), device.private_key, device.certificate, 2, clock.now_ms)
    added["claim"]["firmware"] = "2.01"  # named by someone other than the device
    dropped: Any = sign_capture(
        picture(3), device.private_key, device.certificate, 3, clock.now_ms, firmware="2.00"
    )
    del dropped["claim"]["firmware"]  # a release a revocation names, left out
    results = registry.submit_captures([record, added, dropped])
    assert [(r.accepted, r.code) for r in results] == [(False, "bad_signature")] * 3
    assert firmware_column(registry) == {}


@pytest.mark.parametrize("firmware", BAD_FIRMWARE)
def test_a_signed_claim_with_bad_firmware_is_refused(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock, firmware: object
) -> None:
    result = registry.submit_captures(
        [signed_claim(enrolled.device, 1, 1, clock.now_ms, firmware=firmware)]
    )[0]
    assert (result.accepted, result.code) == (False, "bad_firmware")
    assert "'firmware' must be a string of 1 to 100 printable ASCII characters" in (
        result.reason or ""
    )
    assert firmware_column(registry) == {}


@pytest.mark.parametrize("firmware", ["2.00", "a" * 100, "Ver.1.10 (build 4711) ~!"])
def test_firmware_of_printable_ascii_up_to_100_characters_is_taken(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock, firmware: str
) -> None:
    result = registry.submit_captures(
        [signed_claim(enrolled.device, 1, 1, clock.now_ms, firmware=firmware)]
    )[0]
    assert result.receipt is not None, result.reason
    assert firmware_column(registry) == {result.receipt.index: firmware}


@pytest.mark.parametrize("firmware", ["2.00\x00", "", "a" * 101])
def test_the_sdk_refuses_to_sign_bad_firmware(
    pki: DevicePKI, clock: FixedClock, firmware: str
) -> None:
    with pytest.raises(MalformedError) as refused:
        sign_capture(
            picture(1), pki.device.private_key, pki.device.certificate, 1, clock.now_ms,
            firmware=firmware,
        )  # fmt: skip
    assert refused.value.code == "bad_firmware"


# --- C2PA captures: the version of the camera-signed claim_generator_info ---


@pytest.fixture
def camera(registry: Registry, clock: FixedClock) -> Camera:
    camera = Camera(clock)
    registry.add_vendor("C2PA Camera Co.", "camera", camera.root.der, TOKEN)
    return camera


def evidence_of(signed: bytes) -> C2paEvidence:
    return evidence_from_store(manifest_store_from_jpeg(signed), only_manifest(signed).label)


def test_claim_firmware_reads_c2pa_2_and_1_claims() -> None:
    assert claim_firmware({"claim_generator_info": {"name": "X1", "version": "2.00"}}) == "2.00"
    v1 = {"claim_generator": "X1/2.00", "claim_generator_info": [{"name": "X1", "version": "3"}]}
    assert claim_firmware(v1) == "3"
    assert claim_firmware({"claim_generator": "X1/2.00"}) is None  # free-form: not parsed
    assert claim_firmware({"claim_generator_info": []}) is None
    assert claim_firmware({"claim_generator_info": {"name": "X1"}}) is None
    assert claim_firmware({"claim_generator_info": {"version": 2}}) is None
    assert claim_firmware({"claim_generator_info": {"version": "2\x00"}}) is None


@BOTH
def test_a_c2pa_capture_logs_the_firmware_its_camera_signed(
    registry: Registry, camera: Camera, signer: Signer, tmp_path: Path
) -> None:
    signed = {
        "2.00": camera.shoot(1, firmware="2.00"),
        None: camera.shoot(2, firmware=None),
        "too long": camera.shoot(3, firmware="v" * 101),  # not a valid firmware: none logged
    }
    indexes = {}
    for name, data in signed.items():
        receipt = registry.ingest_c2pa(data, "photo.jpg").receipt
        assert receipt is not None
        indexes[name] = receipt.index
    entries = {name: json.loads(registry.store.entry(i)) for name, i in indexes.items()}
    assert entries["2.00"]["claim"]["firmware"] == "2.00"
    assert "firmware" not in entries[None]["claim"]
    assert "firmware" not in entries["too long"]["claim"]
    for entry in entries.values():
        check_entry(entry)  # an auditor derives the same firmware from the evidence alone
    stored = firmware_column(registry)
    assert [stored[i] for i in indexes.values()] == ["2.00", None, None]
    registry.reindex()
    assert firmware_column(registry) == stored
    with served(registry, signer, tmp_path) as remote:
        report = replay_log(remote, signer.verifier, workers=1)
    assert report.ok and report.invalid == []


@BOTH
def test_the_audit_reports_a_c2pa_firmware_the_camera_did_not_sign(
    registry: Registry, camera: Camera, signer: Signer, clock: FixedClock, tmp_path: Path
) -> None:
    # An operator logging a flawed release's picture as the fixed one's (so a firmware-scoped
    # revocation passes it by), or naming a release the camera never stated.
    assert registry.ingest_c2pa(camera.shoot(1, firmware="2.00"), "honest.jpg").receipt
    relabelled, unstated, legacy = (
        camera.shoot(2, firmware="2.00"),
        camera.shoot(3, firmware=None),
        camera.shoot(4, firmware="2.00"),
    )

    def entry(data: bytes, **firmware: str) -> dict[str, Any]:
        evidence = evidence_of(data)
        claim = {
            "device": device_id(camera.device.certificate),
            "captured_at": int(camera.captured_at.timestamp() * 1000),
            **hash_image(data).claim_fields(),
            **firmware,
        }
        return {"kind": C2PA_CAPTURE, "logged_at": clock(), "claim": claim, "c2pa": evidence}

    forged = [entry(relabelled, firmware="2.01"), entry(unstated, firmware="2.00")]
    assert capture_firmware(forged[0]["c2pa"]) == "2.00"
    for e in forged:
        with pytest.raises(VerificationError) as refused:
            check_entry(e)
        assert refused.value.code == "c2pa_firmware_mismatch"
    # Logged before the field existed: no firmware, whatever the evidence says; still clean.
    old = entry(legacy)
    check_entry(old)
    first = (
        registry_sequencer(registry.store, signer, clock)
        .append([encode_entry(e) for e in [*forged, old]])
        .first_index
    )
    with served(registry, signer, tmp_path) as remote:
        report = replay_log(remote, signer.verifier, workers=1)
    assert {(i.index, i.code) for i in report.invalid} == {
        (first, "c2pa_firmware_mismatch"),
        (first + 1, "c2pa_firmware_mismatch"),
    }
    reason = next(i.reason for i in report.invalid if i.index == first)
    assert "'2.01'" in reason and "names firmware '2.00'" in reason
    # A bundle of the forged entry fails verification too: its check is the same.
    registry.reindex()
    verified = verify_bundle(build_bundle(registry.store, first), signer.verifier)
    assert not verified.ok
    (failed,) = [c for c in verified.checks if not c.ok]
    assert failed.detail == reason
