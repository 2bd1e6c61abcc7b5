"""Offline proof bundles: built from the log, verified with only the log's key, and no byte of
one can change without the verification noticing."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import main
from ledger import LedgerError, MalformedError, NotFoundError, Signer
from ledger.note import write_private_key_file
from registry import Registry
from registry.bundle.build import build_bundle
from registry.bundle.verify import parse_bundle, verify_bundle
from registry.entries.formats import CaptureRecord
from registry.imaging.hashing import ProbeHash, query_hashes
from testkit.pki import DevicePKI
from tests.support.clocks import FixedClock
from tests.support.registry_fixtures import picture, record, reencoded, with_banner

CHECKS = [
    "checkpoint signature",
    "capture inclusion",
    "device inclusion",
    "vendor inclusion",
    "entries refer to each other",
    "device certificate chain",
    "revocation status",
    "device signature on the claim",
    "time evidence",
]


def image_hashes(data: bytes) -> tuple[str, list[ProbeHash]]:
    return query_hashes(data)


@pytest.fixture
def logged(registry: Registry, enrolled: DevicePKI, clock: FixedClock) -> tuple[int, bytes]:
    """A capture in the log (with more entries after it), and its image."""
    image = picture(42, (320, 240))
    results = registry.submit_captures(
        [record(enrolled.device, 1, 1, clock.now_ms)]
        + [_signed(enrolled, image, clock)]
        + [record(enrolled.device, s, s + 2, clock.now_ms) for s in range(2, 6)]
    )
    receipt = results[1].receipt
    assert receipt is not None
    return receipt.index, image


def _signed(pki: DevicePKI, image: bytes, clock: FixedClock) -> CaptureRecord:
    from registry.entries.sdk import sign_capture

    device = pki.device
    return sign_capture(image, device.private_key, device.certificate, 2, clock.now_ms)


def test_bundle_verifies_offline(
    registry: Registry, logged: tuple[int, bytes], signer: Signer
) -> None:
    index, image = logged
    data = build_bundle(registry.store, index)
    report = verify_bundle(data, signer.verifier)
    assert report.ok, report.checks
    assert [c.name for c in report.checks] == CHECKS
    bundle = json.loads(data)
    assert bundle["capture"]["index"] == index
    assert bundle["capture"]["proof"].endswith(bundle["checkpoint"])


def test_bundle_with_the_image_says_registered_or_near_duplicate(
    registry: Registry,
    logged: tuple[int, bytes],
    signer: Signer,
) -> None:
    index, image = logged
    data = build_bundle(registry.store, index)
    same = verify_bundle(data, signer.verifier, image_hashes(image))
    assert same.ok and "same SHA-256" in same.checks[-1].detail
    near = verify_bundle(data, signer.verifier, image_hashes(reencoded(image)))
    assert near.ok and "near-duplicate: PDQ distance" in near.checks[-1].detail
    other = verify_bundle(data, signer.verifier, image_hashes(picture(7, (320, 240))))
    assert not other.ok and "is not the registered one" in other.checks[-1].detail


def test_bundle_accepts_a_bannered_copy_by_the_signed_feature(
    registry: Registry, logged: tuple[int, bytes], signer: Signer
) -> None:
    index, image = logged
    data = build_bundle(registry.store, index)
    report = verify_bundle(data, signer.verifier, image_hashes(with_banner(image)))
    assert report.ok, report.checks[-1].detail
    assert "its top80 hash and the capture's pdq-top80-v1" in report.checks[-1].detail


def test_bundle_for_another_log_key_fails(registry: Registry, logged: tuple[int, bytes]) -> None:
    data = build_bundle(registry.store, logged[0])
    report = verify_bundle(data, Signer.generate("other.example/log").verifier)
    assert not report.ok and report.checks[0].name == "checkpoint signature"


def test_bundle_of_a_non_capture_is_not_found(
    registry: Registry, logged: tuple[int, bytes]
) -> None:
    with pytest.raises(NotFoundError, match="not a registered capture"):
        build_bundle(registry.store, 0)  # the vendor entry


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # offline: one is enough
def test_every_byte_of_a_bundle_matters(
    registry: Registry,
    logged: tuple[int, bytes],
    signer: Signer,
) -> None:
    data = build_bundle(registry.store, logged[0])
    accepted = []
    for position in range(len(data)):
        for flip in (0x01, 0x20):
            tampered = bytearray(data)
            tampered[position] ^= flip
            try:
                report = verify_bundle(bytes(tampered), signer.verifier)
            except LedgerError:
                continue  # not a bundle any more: rejected as malformed
            if report.ok:
                accepted.append((position, flip, data[position : position + 1]))
            else:
                failed = [c for c in report.checks if not c.ok]
                assert len(failed) == 1 and failed[0].detail, (position, flip)
    assert accepted == [], f"tampered bundles that still verify: {accepted[:5]}"


def test_non_bundles_are_malformed() -> None:
    for data in [b"", b"{}", b"[]", b'{"format":"provenance-ledger/bundle/v1"}', b"\xff"]:
        with pytest.raises(MalformedError):
            parse_bundle(data)


def test_prov_bundle_and_verify(
    registry: Registry, logged: tuple[int, bytes], signer: Signer, tmp_path: Path
) -> None:
    index, image = logged
    path = tmp_path / "capture.bundle.json"
    path.write_bytes(build_bundle(registry.store, index))
    (tmp_path / "found.jpg").write_bytes(reencoded(image))
    runner = CliRunner()
    vkey = signer.verifier.vkey
    ok = runner.invoke(
        main, ["verify", str(path), "--log-key", vkey, "--image", str(tmp_path / "found.jpg")]
    )
    assert ok.exit_code == 0, ok.output
    assert "bundle verified" in ok.output and "near-duplicate" in ok.output
    as_json = runner.invoke(main, ["verify", str(path), "--log-key", vkey, "--json"])
    assert json.loads(as_json.output)["ok"] is True
    wrong = runner.invoke(
        main, ["verify", str(path), "--log-key", Signer.generate(signer.name).verifier.vkey]
    )
    assert wrong.exit_code == 1 and "does NOT verify" in wrong.output
    bad_key = runner.invoke(main, ["verify", str(path), "--log-key", "not-a-vkey"])
    assert bad_key.exit_code == 2
    (tmp_path / "junk.json").write_bytes(b"{not json")
    junk = runner.invoke(main, ["verify", str(tmp_path / "junk.json"), "--log-key", vkey])
    assert junk.exit_code == 2 and "not JSON" in junk.output


def test_api_serves_bundles(
    registry: Registry, logged: tuple[int, bytes], signer: Signer, tmp_path: Path, migrated_url: str
) -> None:
    from fastapi.testclient import TestClient

    from api import create_app
    from ledger import LogConfig
    from registry import RegistrySettings

    key_file = tmp_path / "log.key"
    write_private_key_file(key_file, signer.to_string(), "log")
    app = create_app(
        RegistrySettings(log=LogConfig(tmp_path, migrated_url, key_file), verify_workers=0)
    )
    with TestClient(app) as client:
        response = client.get(f"/v1/bundles/{logged[0]}")
        assert response.status_code == 200
        assert verify_bundle(response.content, signer.verifier).ok
        missing = client.get("/v1/bundles/0")
        assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_a_capture"
