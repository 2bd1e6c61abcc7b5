"""C2PA ingest (issue 8): a camera's signed JPEG becomes a c2pa-capture/v1 entry that anyone can
re-verify from the log alone, that lookups find after the manifest is stripped and the picture
re-encoded, and that is refused with c2pa's own validation code when it was tampered with."""

import base64
import hashlib
import io
import json
import os
from pathlib import Path
from typing import Any

import c2pa
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.serialization import Encoding

from cli.errors import EXIT_CAUTION
from cli.main import main
from ledger import Signer
from ledger.errors import MalformedError, VerificationError
from ledger.note import write_private_key_file
from registry import Registry
from registry.audit.replay import replay_log
from registry.bundle.build import build_bundle
from registry.bundle.verify import verify_bundle
from registry.c2pa.evidence import check_entry, evidence_from_store
from registry.c2pa.jumbf import manifest_store_from_jpeg
from registry.c2pa.reader import offline_settings
from registry.cautions import LOGGED_LATE
from registry.entries.codec import C2PA_CAPTURE, DEVICE, encode_entry, parse_entry
from registry.imaging.hashing import query_hashes
from registry.lookup.query import Lookup, query_from_image
from registry.open import registry_sequencer
from tests.support.c2pa_camera import Camera, jpeg
from tests.support.clocks import FixedClock
from tests.support.in_process import api_client, served
from tests.support.registry_fixtures import TOKEN, picture, reencoded


@pytest.fixture
def camera(registry: Registry, clock: FixedClock) -> Camera:
    camera = Camera(clock)
    registry.add_vendor("C2PA Camera Co.", "camera", camera.root.der, TOKEN)
    return camera


def logged(registry: Registry, index: int) -> dict[str, Any]:
    return dict(parse_entry(registry.store.entry(index)))


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_a_signed_jpeg_is_logged_with_evidence_an_auditor_can_recheck(
    registry: Registry, camera: Camera
) -> None:
    signed = camera.shoot(1)
    result = registry.ingest_c2pa(signed, "photo.jpg")
    assert result.receipt is not None and not result.receipt.duplicate
    entry = logged(registry, result.receipt.index)
    assert entry["kind"] == C2PA_CAPTURE
    # The signer was enrolled first, as a device/v1 entry chaining to the vendor.
    device_entry = logged(registry, result.receipt.index - 1)
    assert device_entry["kind"] == DEVICE
    assert base64.b64decode(device_entry["cert"]) == camera.device.der
    # The claim: the camera's signed facts, and the registry's measurements of the file.
    claim = entry["claim"]
    assert claim["captured_at"] == int(camera.captured_at.timestamp() * 1000)
    assert claim["media_type"] == "image/jpeg" and (claim["width"], claim["height"]) == (640, 480)
    assert claim["sha256"] == hashlib.sha256(signed).hexdigest()
    assert "counter" not in claim
    # The evidence re-verifies from the entry alone, and is the file's own manifest.
    evidence = check_entry(entry)
    assert evidence.chain[0] == camera.device.der
    assert evidence.hard_binding == "c2pa.hash.data"
    store = manifest_store_from_jpeg(signed)
    assert evidence_from_store(store, entry["c2pa"]["manifest"]) == entry["c2pa"]
    assert result.counter_status == "none"


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_the_same_file_twice_is_one_entry(registry: Registry, camera: Camera) -> None:
    signed = camera.shoot(2)
    first = registry.ingest_c2pa(signed)
    again = registry.ingest_c2pa(signed)
    assert first.receipt is not None and again.receipt is not None
    assert again.receipt.duplicate and again.receipt.index == first.receipt.index
    assert registry.store.latest_checkpoint().size == first.receipt.index + 1


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_a_tampered_file_is_refused_with_c2pas_own_code(registry: Registry, camera: Camera) -> None:
    signed = bytearray(camera.shoot(3))
    signed[-300] ^= 0xFF  # a byte of the picture, covered by the hard binding
    size = registry.store.latest_checkpoint().size
    with pytest.raises(VerificationError) as refused:
        registry.ingest_c2pa(bytes(signed), "tampered.jpg")
    assert refused.value.code == "assertion.dataHash.mismatch"
    assert "tampered.jpg" in str(refused.value)
    assert registry.store.latest_checkpoint().size == size  # nothing logged


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_a_signer_outside_the_registered_vendors_is_untrusted(
    registry: Registry, camera: Camera, clock: FixedClock
) -> None:
    stranger = Camera(clock)  # its own root, never registered
    with pytest.raises(VerificationError) as refused:
        registry.ingest_c2pa(stranger.shoot(4), "stranger.jpg")
    assert refused.value.code == "signingCredential.untrusted"


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_files_without_a_manifest_or_not_jpeg_are_bad_input(
    registry: Registry, camera: Camera
) -> None:
    with pytest.raises(MalformedError) as plain:
        registry.ingest_c2pa(jpeg(5), "plain.jpg")
    assert plain.value.code == "c2pa_no_manifest"
    with pytest.raises(MalformedError) as png:
        registry.ingest_c2pa(picture(5), "picture.png")
    assert png.value.code == "c2pa_unsupported"


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_a_stripped_reencoded_copy_is_found(registry: Registry, camera: Camera) -> None:
    signed = camera.shoot(6)
    result = registry.ingest_c2pa(signed)
    assert result.receipt is not None
    found = Lookup(registry.store).lookup(query_from_image(reencoded(signed)))
    assert found.verdict == "near-duplicate"
    assert [m.leaf_index for m in found.matches] == [result.receipt.index]
    exact = Lookup(registry.store).lookup(query_from_image(signed))
    assert exact.verdict == "registered"


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_its_bundle_verifies_offline_and_says_who_vouches_for_what(
    registry: Registry, camera: Camera, signer: Signer
) -> None:
    signed = camera.shoot(7)
    result = registry.ingest_c2pa(signed)
    assert result.receipt is not None
    bundle = build_bundle(registry.store, result.receipt.index)
    copy = reencoded(signed)
    report = verify_bundle(bundle, signer.verifier, image_hashes=_hashes(copy))
    assert report.ok, report
    signature = next(c for c in report.checks if c.name == "device signature on the claim")
    assert "C2PA claim" in signature.detail and "the registry's" in signature.detail


def _hashes(image: bytes) -> Any:
    return query_hashes(image)


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_audit_replay_reverifies_the_c2pa_signature_from_the_entry(
    registry: Registry, camera: Camera, signer: Signer, clock: FixedClock, tmp_path: Path
) -> None:
    result = registry.ingest_c2pa(camera.shoot(8))
    assert result.receipt is not None
    other = registry.ingest_c2pa(camera.shoot(9))
    assert other.receipt is not None
    honest = logged(registry, result.receipt.index)
    other_c2pa = logged(registry, other.receipt.index)["c2pa"]
    # What a dishonest operator could append: the time changed, the signature broken, the
    # assertions swapped for another file's.
    broken_sig = bytearray(base64.b64decode(honest["c2pa"]["signature"]))
    broken_sig[-5] ^= 0x01
    later = {**honest, "logged_at": clock(), "claim": {**honest["claim"], "captured_at": 1}}
    broken = {
        **honest,
        "logged_at": clock(),
        "c2pa": {**honest["c2pa"], "signature": base64.b64encode(bytes(broken_sig)).decode()},
    }
    swapped = {
        **honest,
        "logged_at": clock(),
        "c2pa": {**honest["c2pa"], "assertions": other_c2pa["assertions"]},
    }
    first = (
        registry_sequencer(registry.store, signer, clock)
        .append([encode_entry(e) for e in (later, broken, swapped)])
        .first_index
    )
    with served(registry, signer, tmp_path) as remote:
        report = replay_log(remote, signer.verifier, workers=1)
    assert report.counts[C2PA_CAPTURE] == 5, (report.counts, report.invalid)
    assert {(i.index, i.code) for i in report.invalid} == {
        (first, "c2pa_time_mismatch"),
        (first + 1, "claimSignature.mismatch"),
        (first + 2, "assertion.hashedURI.mismatch"),
    }


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_reindex_rebuilds_c2pa_captures(registry: Registry, camera: Camera) -> None:
    result = registry.ingest_c2pa(camera.shoot(10))
    assert result.receipt is not None
    before = Lookup(registry.store).lookup(query_from_image(camera.shoot(10)))
    registry.reindex()
    after = Lookup(registry.store).lookup(query_from_image(camera.shoot(10)))
    assert [m.leaf_index for m in before.matches] == [m.leaf_index for m in after.matches]
    assert after.matches[0].counter_status == "none"


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_post_c2pa_ingest(
    registry: Registry, camera: Camera, signer: Signer, tmp_path: Path
) -> None:
    signed = camera.shoot(11)
    tampered = bytearray(signed)
    tampered[-300] ^= 0xFF
    with api_client(registry, signer, tmp_path) as client:
        accepted = client.post(
            "/v1/c2pa/ingest", content=signed, headers={"content-type": "image/jpeg"}
        )
        refused = client.post(
            "/v1/c2pa/ingest", content=bytes(tampered), headers={"content-type": "image/jpeg"}
        )
        empty = client.post("/v1/c2pa/ingest", content=b"")
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["accepted"] and accepted.json()["counter_status"] == "none"
    assert logged(registry, accepted.json()["index"])["kind"] == C2PA_CAPTURE
    assert refused.status_code == 422
    assert refused.json()["error"]["type"] == "assertion.dataHash.mismatch"
    assert empty.status_code == 400 and empty.json()["error"]["type"] == "no_image"


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_prov_c2pa_ingest_then_prov_lookup_of_a_stripped_copy(
    registry: Registry,
    camera: Camera,
    signer: Signer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in [n for n in os.environ if n.startswith("PROV_")]:
        monkeypatch.delenv(name)
    write_private_key_file(tmp_path / "log.key", signer.to_string(), "log")
    url = registry.store.engine.url.render_as_string(hide_password=False)
    where = ["--data-dir", str(tmp_path), "--database", url]
    signed = camera.shoot(12)
    (tmp_path / "photo.jpg").write_bytes(signed)
    tampered = bytearray(signed)
    tampered[-300] ^= 0xFF
    (tmp_path / "tampered.jpg").write_bytes(bytes(tampered))
    (tmp_path / "found.jpg").write_bytes(reencoded(signed))
    runner = CliRunner()

    both = runner.invoke(
        main,
        [*where, "c2pa", "ingest", str(tmp_path / "photo.jpg"), str(tmp_path / "tampered.jpg")],
    )
    assert both.exit_code == 1, both.output  # one refused by validation, the other logged
    assert "logged" in both.output and "assertion.dataHash.mismatch" in both.output
    ingested = json.loads(
        runner.invoke(
            main, [*where, "c2pa", "ingest", str(tmp_path / "photo.jpg"), "--json"]
        ).stdout
    )
    assert ingested[0]["accepted"] and ingested[0]["duplicate"]

    found = runner.invoke(main, [*where, "lookup", str(tmp_path / "found.jpg"), "--json"])
    # The CLI logs on the wall clock, the test camera shot on the tests' fixed clock, months
    # earlier: the log says so, and a script is told by the exit code.
    assert found.exit_code == EXIT_CAUTION, found.output
    answer = json.loads(found.stdout)
    assert answer["verdict"] == "near-duplicate"
    assert [c["code"] for c in answer["cautions"]] == [LOGGED_LATE]
    assert [m["leaf_index"] for m in answer["matches"]] == [ingested[0]["index"]]

    not_signed = runner.invoke(main, [*where, "c2pa", "ingest", str(tmp_path / "found.jpg")])
    assert not_signed.exit_code == 2 and "c2pa_no_manifest" in not_signed.output


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_soft_binding_by_content_finds_the_ingested_capture(
    registry: Registry, camera: Camera, signer: Signer, tmp_path: Path
) -> None:
    signed = camera.shoot(13)
    result = registry.ingest_c2pa(signed)
    assert result.receipt is not None
    with api_client(registry, signer, tmp_path) as client:
        response = client.post(
            "/v1/c2pa/matches/byContent",
            content=reencoded(signed),
            headers={"content-type": "image/jpeg"},
        )
        assert response.status_code == 200, response.text
        matches = response.json()["matches"]
        assert [m["manifestId"] for m in matches] == [f"capture-{result.receipt.index}"]
        manifest = client.get(f"/v1/c2pa/manifests/{matches[0]['manifestId']}")
        bundle = client.get(f"/v1/bundles/{result.receipt.index}")
    assert verify_bundle(bundle.content, signer.verifier).ok
    # The manifest is the camera's own, rebuilt from the log entry: a C2PA validator confirms
    # the signature and its trust; it misses the thumbnail the public log does not keep, and,
    # given no image, cannot check the hard binding.
    assert manifest.status_code == 200
    assert manifest.headers["content-type"].startswith("application/c2pa")
    pem = camera.root.certificate.public_bytes(Encoding.PEM).decode()
    context = c2pa.Context(c2pa.Settings.from_dict(offline_settings(pem)))
    with c2pa.Reader("application/c2pa", io.BytesIO(manifest.content), context=context) as reader:
        codes = {
            kind: {item["code"] for item in items}
            for kind, items in reader.get_validation_results()["activeManifest"].items()
        }
        assert (
            reader.get_active_manifest()["label"]
            == logged(registry, result.receipt.index)["c2pa"]["manifest"]
        )
    assert {"claimSignature.validated", "signingCredential.trusted"} <= codes["success"]
    assert codes["failure"] <= {"assertion.missing", "assertion.dataHash.mismatch"}
