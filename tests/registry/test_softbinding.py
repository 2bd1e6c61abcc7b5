"""The C2PA soft-binding resolution API (/v1/c2pa) and `prov c2pa receipt`, on SQLite and
PostgreSQL: captures registered through the registry fixtures are found by their PDQ binding
value and by a re-encoded copy of their image, and each match's manifest is a proof bundle that
verifies offline."""

import base64
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from cli.main import main
from ledger import LogConfig, Signer
from ledger.note import write_private_key_file
from registry import Registry, RegistrySettings
from registry.bundle.verify import verify_bundle
from registry.entries.sdk import sign_capture
from registry.imaging.hashing import hash_image, query_hashes
from testkit.pki import DevicePKI
from tests.support.clocks import FixedClock
from tests.support.registry_fixtures import as_json, picture, record, reencoded, serving_app

SIZE = (320, 240)
PDQ = "org.provenance-ledger.pdq.1"
PHASH = "org.provenance-ledger.phash.1"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def flip_bits(pdq_hex: str, bits: list[int]) -> bytes:
    value = int(pdq_hex, 16)
    for bit in bits:
        value ^= 1 << bit
    return value.to_bytes(32, "big")


def error_of(response: httpx.Response, status: int, kind: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert set(error) == {"type", "message"} and error["type"] == kind, error
    message: str = error["message"]
    return message


def sign(pki: DevicePKI, image: bytes, counter: int, clock: FixedClock) -> dict[str, Any]:
    return as_json(
        sign_capture(
            image,
            pki.device.private_key,
            pki.device.certificate,
            counter,
            clock.now_ms - 60_000,
        )
    )


@pytest.fixture
def photo(registry: Registry, enrolled: DevicePKI, clock: FixedClock) -> tuple[bytes, int]:
    """A registered picture between two other captures, and its leaf index."""
    image = picture(11, SIZE)
    results = registry.submit_captures(
        [
            record(enrolled.device, 3, 1, clock.now_ms - 60_000),
            sign(enrolled, image, 2, clock),
            record(enrolled.device, 5, 3, clock.now_ms - 60_000),
        ]
    )
    receipt = results[1].receipt
    assert receipt is not None, results[1]
    return image, receipt.index


@pytest.fixture
def key_file(tmp_path: Path, signer: Signer) -> Path:
    path = tmp_path / "log.key"
    write_private_key_file(path, signer.to_string(), "log")
    return path


@pytest.fixture
def client(
    registry: Registry, migrated_url: str, tmp_path: Path, key_file: Path
) -> Iterator[TestClient]:
    with serving_app(
        RegistrySettings(log=LogConfig(tmp_path, migrated_url, key_file), verify_workers=0)
    ) as test_client:
        yield test_client


def by_binding(client: TestClient, value: bytes, **params: Any) -> list[dict[str, Any]]:
    response = client.get(
        "/v1/c2pa/matches/byBinding", params={"alg": PDQ, "value": b64(value), **params}
    )
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["matches"]
    return found


def test_supported_algorithms_are_ours(client: TestClient) -> None:
    response = client.get("/v1/c2pa/services/supportedAlgorithms")

    assert response.status_code == 200, response.text
    assert response.json() == {"watermarks": [], "fingerprints": [{"alg": PDQ}, {"alg": PHASH}]}


def test_by_binding_finds_the_capture_by_its_pdq(
    client: TestClient, photo: tuple[bytes, int]
) -> None:
    image, index = photo
    pdq = bytes.fromhex(hash_image(image).pdq)

    assert by_binding(client, pdq) == [{"manifestId": f"capture-{index}", "similarityScore": 100}]
    posted = client.post("/v1/c2pa/matches/byBinding", json={"alg": PDQ, "value": b64(pdq)})
    assert posted.status_code == 200, posted.text
    assert posted.json() == {
        "matches": [{"manifestId": f"capture-{index}", "similarityScore": 100}]
    }


def test_a_near_pdq_scores_lower_and_a_random_one_finds_nothing(
    client: TestClient, photo: tuple[bytes, int]
) -> None:
    image, index = photo
    pdq = hash_image(image).pdq

    near = by_binding(client, flip_bits(pdq, [0, 17, 100, 201, 255]))
    assert near == [{"manifestId": f"capture-{index}", "similarityScore": 100 * 251 // 256}]
    # 31 bits off is the edge of the PDQ rule; 32 would need the image's pHash to agree.
    edge = by_binding(client, flip_bits(pdq, list(range(0, 248, 8))[:31]))
    assert edge == [{"manifestId": f"capture-{index}", "similarityScore": 100 * 225 // 256}]
    assert by_binding(client, flip_bits(pdq, list(range(0, 256, 8)))) == []
    assert by_binding(client, random.Random(8).randbytes(32)) == []


def test_max_results_keeps_the_best(
    registry: Registry,
    enrolled: DevicePKI,
    clock: FixedClock,
    client: TestClient,
    photo: tuple[bytes, int],
) -> None:
    image, index = photo
    # The same picture registered again (a second counter): two captures, one PDQ.
    again = registry.submit_captures([sign(enrolled, image, 9, clock)])[0].receipt
    assert again is not None
    pdq = bytes.fromhex(hash_image(image).pdq)

    ids = [m["manifestId"] for m in by_binding(client, pdq)]
    assert ids == [f"capture-{index}", f"capture-{again.index}"]
    assert [m["manifestId"] for m in by_binding(client, pdq, maxResults=1)] == ids[:1]
    assert [m["manifestId"] for m in by_binding(client, pdq, maxResults=10**6)] == ids
    zero = client.get(
        "/v1/c2pa/matches/byBinding", params={"alg": PDQ, "value": b64(pdq), "maxResults": 0}
    )
    error_of(zero, 400, "malformed")


def test_by_content_finds_a_reencoded_copy_and_the_same_file(
    client: TestClient, photo: tuple[bytes, int]
) -> None:
    image, index = photo
    copy = reencoded(image)
    assert hash_image(copy).sha256 != hash_image(image).sha256

    found = client.post(
        "/v1/c2pa/matches/byContent", content=copy, headers={"Content-Type": "image/jpeg"}
    )
    assert found.status_code == 200, found.text
    best = found.json()["matches"][0]
    assert best["manifestId"] == f"capture-{index}"
    assert 75 <= best["similarityScore"] < 100
    same = client.post(
        "/v1/c2pa/matches/byContent",
        content=image,
        headers={"Content-Type": "image/png"},
        params={"alg": PDQ},
    )
    assert same.json()["matches"][0] == {"manifestId": f"capture-{index}", "similarityScore": 100}
    other = client.post(
        "/v1/c2pa/matches/byContent",
        content=picture(98, SIZE),
        headers={"Content-Type": "image/png"},
    )
    assert other.json() == {"matches": []}


def test_by_content_wants_an_image(client: TestClient, photo: tuple[bytes, int]) -> None:
    image, _ = photo
    as_json = client.post("/v1/c2pa/matches/byContent", json={"pdq": "00"})
    assert "image/*" in error_of(as_json, 415, "unsupported_media_type")
    not_image = client.post(
        "/v1/c2pa/matches/byContent", content=b"hello", headers={"Content-Type": "image/png"}
    )
    error_of(not_image, 400, "image_unreadable")
    wrong_alg = client.post(
        "/v1/c2pa/matches/byContent",
        content=image,
        headers={"Content-Type": "image/png"},
        params={"alg": "com.adobe.trustmark.P"},
    )
    assert PDQ in error_of(wrong_alg, 400, "unknown_alg")


def test_the_manifest_is_a_bundle_that_verifies_offline(
    client: TestClient, photo: tuple[bytes, int], signer: Signer
) -> None:
    image, index = photo
    [match] = by_binding(client, bytes.fromhex(hash_image(image).pdq))

    response = client.get(f"/v1/c2pa/manifests/{match['manifestId']}")

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    report = verify_bundle(response.content, signer.verifier, query_hashes(reencoded(image)))
    assert report.ok, report
    assert response.content == client.get(f"/v1/bundles/{index}").content


def test_unknown_manifests_are_404(client: TestClient, photo: tuple[bytes, int]) -> None:
    _, index = photo
    device_entry = 1  # vendor at 0, device at 1: log entries, not captures
    for manifest_id in [
        f"capture-{index + 100}",
        f"capture-{device_entry}",
        f"capture-0{index}",
        f"capture-{2**64}",
        "urn:c2pa:3fad1ead-8ed5-44d0-873b-ea5f58adea82",
        str(index),
    ]:
        response = client.get(f"/v1/c2pa/manifests/{manifest_id}")
        error_of(response, 404, "manifest_not_found")


@pytest.mark.parametrize(
    ("alg", "value", "kind"),
    [
        ("com.adobe.trustmark.P", b64(bytes(32)), "unknown_alg"),
        (PDQ, "not base64!", "bad_base64"),
        (PDQ, b64(bytes(32))[:-1], "bad_base64"),
        (PDQ, b64(bytes(31)), "bad_value_length"),
        (PDQ, b64(bytes(33)), "bad_value_length"),
        (PHASH, b64(bytes(7)), "bad_value_length"),
        (PHASH, b64(bytes(8)), "phash_alone"),
    ],
)
def test_bad_binding_queries_are_400(client: TestClient, alg: str, value: str, kind: str) -> None:
    got = client.get("/v1/c2pa/matches/byBinding", params={"alg": alg, "value": value})
    error_of(got, 400, kind)
    posted = client.post("/v1/c2pa/matches/byBinding", json={"alg": alg, "value": value})
    error_of(posted, 400, kind)


def test_a_binding_query_needs_alg_and_value(client: TestClient) -> None:
    error_of(client.get("/v1/c2pa/matches/byBinding", params={"alg": PDQ}), 400, "malformed")
    error_of(client.post("/v1/c2pa/matches/byBinding", json={"value": "AA=="}), 400, "malformed")


def test_prov_c2pa_receipt_writes_a_sidecar_once(
    photo: tuple[bytes, int],
    migrated_url: str,
    tmp_path: Path,
    key_file: Path,
    signer: Signer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    image, index = photo
    monkeypatch.chdir(tmp_path)
    runner = CliRunner(env={"PROV_LOG_KEY_FILE": str(key_file), "PROV_SERVER": None})
    base = ["--data-dir", str(tmp_path), "--database", migrated_url]

    written = runner.invoke(main, [*base, "c2pa", "receipt", str(index)])

    assert written.exit_code == 0, written.output
    sidecar = tmp_path / f"capture-{index}.bundle.json"
    assert verify_bundle(sidecar.read_bytes(), signer.verifier).ok
    found = tmp_path / "found.jpg"
    found.write_bytes(reencoded(image))
    verified = runner.invoke(
        main, ["verify", str(sidecar), "--log-key", signer.verifier.vkey, "--image", str(found)]
    )
    assert verified.exit_code == 0, verified.output
    # Never overwritten by accident; --force replaces it.
    sidecar.write_bytes(b"kept")
    again = runner.invoke(main, [*base, "c2pa", "receipt", str(index)])
    assert again.exit_code == 2 and "--force" in again.output
    assert sidecar.read_bytes() == b"kept"
    forced = runner.invoke(main, [*base, "c2pa", "receipt", str(index), "--force"])
    assert forced.exit_code == 0, forced.output
    assert verify_bundle(sidecar.read_bytes(), signer.verifier).ok
    elsewhere = tmp_path / "receipts" / "photo.c2pa-receipt.json"
    elsewhere.parent.mkdir()
    named = runner.invoke(main, [*base, "c2pa", "receipt", str(index), "--out", str(elsewhere)])
    assert named.exit_code == 0, named.output
    assert elsewhere.read_bytes() == sidecar.read_bytes()
    missing = runner.invoke(main, [*base, "c2pa", "receipt", str(index + 100)])
    assert missing.exit_code == 1 and "not a registered capture" in missing.output
    assert not (tmp_path / f"capture-{index + 100}.bundle.json").exists()
