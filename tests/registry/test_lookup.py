"""Looking images up: verdicts, ranked matches with proofs, on both databases."""

import base64
import io
import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from cli.main import main
from ledger import LogConfig, MalformedError, Signer, open_checkpoint, verify_inclusion
from ledger.note import write_private_key_file
from registry import Registry, RegistrySettings
from registry.entries.sdk import sign_capture, sign_revocation
from registry.lookup.query import (
    DISCLOSED_SYNTHETIC,
    NEAR_DUPLICATE,
    NOT_FOUND,
    REGISTERED,
    Lookup,
    Query,
    query_from_image,
    query_from_json,
)
from testkit.pki import DevicePKI, make_pki
from tests.support.clocks import FixedClock
from tests.support.registry_fixtures import TOKEN, cropped, now_of, picture, screenshot, with_banner

SIZE = (320, 240)


def reencode(data: bytes, scale: float = 0.75, quality: int = 70) -> bytes:
    image = Image.open(io.BytesIO(data)).convert("RGB")
    image = image.resize((int(image.width * scale), int(image.height * scale)))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()


def rotate(data: bytes) -> bytes:
    out = io.BytesIO()
    Image.open(io.BytesIO(data)).transpose(Image.Transpose.ROTATE_90).save(out, "PNG")
    return out.getvalue()


def register(
    registry: Registry, pki: DevicePKI, image: bytes, counter: int, captured_at: int
) -> int:
    record = sign_capture(
        image, pki.device.private_key, pki.device.certificate, counter, captured_at
    )
    result = registry.submit_captures([record])[0]
    assert result.receipt is not None, result
    return result.receipt.index


@pytest.fixture
def photos(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock
) -> dict[str, tuple[bytes, int]]:
    images = {
        name: picture(seed, SIZE)
        for name, seed in [("harbour", 11), ("market", 23), ("street", 37)]
    }
    return {
        name: (image, register(registry, enrolled, image, n + 1, clock.now_ms - 60_000))
        for n, (name, image) in enumerate(images.items())
    }


def test_same_bytes_are_registered_with_a_verifying_proof(
    registry: Registry, photos: dict[str, tuple[bytes, int]], signer: Signer
) -> None:
    image, index = photos["market"]
    result = Lookup(registry.store).lookup(query_from_image(image))
    assert result.verdict == REGISTERED
    best = result.matches[0]
    assert (best.leaf_index, best.exact, best.pdq_distance, best.role) == (index, True, 0, "camera")
    assert best.delay_ms == best.logged_at_ms - best.captured_at_ms > 0
    checkpoint = open_checkpoint(result.checkpoint.encode(), signer.verifier)
    assert best.proof is not None
    proof = [base64.b64decode(h) for h in best.proof["inclusion_proof"]]
    verify_inclusion(
        base64.b64decode(best.proof["leaf_hash"]),
        index,
        checkpoint.size,
        proof,
        checkpoint.root_hash,
    )


def test_reencoded_copy_is_a_near_duplicate(
    registry: Registry, photos: dict[str, tuple[bytes, int]]
) -> None:
    image, index = photos["harbour"]
    result = Lookup(registry.store).lookup(query_from_image(reencode(image)))
    assert result.verdict == NEAR_DUPLICATE
    best = result.matches[0]
    assert best.leaf_index == index and not best.exact and best.pdq_distance <= 31
    assert best.phash_distance is not None
    assert all(m.leaf_index != photos["street"][1] for m in result.matches)


def test_rotated_copy_matches_through_a_dihedral_variant(
    registry: Registry, photos: dict[str, tuple[bytes, int]]
) -> None:
    image, index = photos["street"]
    result = Lookup(registry.store).lookup(query_from_image(rotate(image)))
    assert result.verdict == NEAR_DUPLICATE
    assert result.matches[0].leaf_index == index and result.matches[0].variant != 0


@pytest.mark.parametrize(
    ("edit", "probe", "matched_hash"),
    [
        (cropped, "original", "pdq-center95-v1"),
        (with_banner, "top80", "pdq-top80-v1"),
        (screenshot, "trimmed", "pdq"),
    ],
)
def test_crops_banners_and_screenshots_match_through_features(
    registry: Registry,
    photos: dict[str, tuple[bytes, int]],
    edit: Callable[[bytes], bytes],
    probe: str,
    matched_hash: str,
) -> None:
    image, index = photos["harbour"]
    # The edit defeats the global PDQ on its own...
    plain = query_from_image(edit(image))
    as_given = plain.probes[0]
    stored = query_from_image(image).probes[0]
    assert (int(as_given.pdq, 16) ^ int(stored.pdq, 16)).bit_count() > 31
    # ...and a lookup still finds the capture, saying how.
    result = Lookup(registry.store).lookup(plain)
    assert result.verdict == NEAR_DUPLICATE
    best = result.matches[0]
    assert (best.leaf_index, best.probe, best.matched_hash) == (index, probe, matched_hash)
    assert all(m.leaf_index == index for m in result.matches)


def test_unrelated_image_is_not_found(
    registry: Registry, photos: dict[str, tuple[bytes, int]]
) -> None:
    result = Lookup(registry.store).lookup(query_from_image(picture(99, SIZE)))
    assert (result.verdict, result.matches) == (NOT_FOUND, [])


def test_generator_disclosure_is_disclosed_synthetic(registry: Registry, clock: FixedClock) -> None:
    model = make_pki(now_of(clock), device_key="Ed25519")
    registry.add_vendor("Example Diffusion Labs", "generator", model.root.der, TOKEN)
    registry.enroll_device(model.device.der, [])
    image = picture(5, SIZE)
    register(registry, model, image, 1, clock.now_ms)
    result = Lookup(registry.store).lookup(query_from_image(reencode(image)))
    assert result.verdict == DISCLOSED_SYNTHETIC and result.matches[0].role == "generator"


def test_new_captures_are_found_without_a_rebuild(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock
) -> None:
    finder = Lookup(registry.store)
    image = picture(61, SIZE)
    assert finder.lookup(query_from_image(image)).verdict == NOT_FOUND
    index = register(registry, enrolled, image, 9, clock.now_ms)
    assert finder.lookup(query_from_image(reencode(image))).matches[0].leaf_index == index


def test_low_quality_pdq_never_decides_alone(
    registry: Registry, photos: dict[str, tuple[bytes, int]]
) -> None:
    image, index = photos["harbour"]
    stored = query_from_image(image)
    # The same PDQ hashes, claimed with quality 10 and a pHash that disagrees completely.
    opposite = f"{int(stored.probes[0].phash, 16) ^ (2**64 - 1):016x}"
    weak = Query(None, tuple(replace(p, quality=10, phash=opposite) for p in stored.probes))
    assert Lookup(registry.store).lookup(weak).verdict == NOT_FOUND
    confirmed = Query(None, tuple(replace(p, quality=10) for p in stored.probes))
    best = Lookup(registry.store).lookup(confirmed).matches[0]
    assert (best.leaf_index, best.evidence) == (index, "pdq+phash")


def test_matches_say_whether_the_device_was_compromised(
    registry: Registry, enrolled: DevicePKI, photos: dict[str, tuple[bytes, int]], clock: FixedClock
) -> None:
    image, index = photos["market"]
    ca = enrolled.intermediates[0]
    device = Lookup(registry.store).lookup(query_from_image(image)).matches[0].device_id
    captured_at = Lookup(registry.store).lookup(query_from_image(image)).matches[0].captured_at_ms
    # Revoked twice: first dated before the capture, then (another finding) after it. The
    # earlier compromise date decides, whatever order the rows come back in.
    for since in (captured_at - 60_000, captured_at + 60_000):
        registry.revoke(
            sign_revocation(device, since, "key extracted", ca.private_key, ca.certificate)
        )
    match = Lookup(registry.store).lookup(query_from_image(image)).matches[0]
    assert match.leaf_index == index and match.in_compromise_window


GOOD_PROBE = {"name": "original", "pdq": "ab" * 32, "quality": 90, "phash": "cd" * 8}


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"pdq": "zz" * 32, "pdq_quality": 90}, "bad_pdq"),
        ({"pdq": "ab" * 31, "pdq_quality": 90}, "bad_pdq"),
        ({"pdq": ["ab" * 32] * 9, "pdq_quality": 90}, "bad_pdq"),
        ({"pdq": "ab" * 32, "pdq_quality": 101}, "bad_pdq_quality"),
        ({"pdq": "ab" * 32, "pdq_quality": True}, "bad_pdq_quality"),
        ({"pdq": "ab" * 32}, "bad_pdq_quality"),
        ({"pdq": "ab" * 32, "pdq_quality": 90, "colour": 1}, "bad_query"),
        ({"pdq": "ab" * 32, "pdq_quality": 90, "sha256": "ab"}, "bad_sha256"),
        ({"probes": []}, "bad_query"),
        ({"probes": [GOOD_PROBE] * 17}, "bad_query"),
        ({"probes": [{**GOOD_PROBE, "name": "sideways"}]}, "bad_probe"),
        ({"probes": [{**GOOD_PROBE, "extra": 1}]}, "bad_probe"),
        ({"probes": [{**GOOD_PROBE, "phash": "cd"}]}, "bad_phash"),
        ({"probes": [GOOD_PROBE], "pdq": "ab" * 32}, "bad_query"),
        (["not", "an", "object"], "bad_query"),
    ],
)
def test_malformed_json_queries_name_the_problem(body: object, code: str) -> None:
    with pytest.raises(MalformedError) as caught:
        query_from_json(body)
    assert caught.value.code == code


def test_json_probes_round_trip_an_image_query() -> None:
    query = query_from_image(picture(3, SIZE))
    body = json.loads(json.dumps({"probes": [vars(p) for p in query.probes]}))
    assert query_from_json(body).probes == query.probes


def test_api_lookup_by_image_and_by_hashes(
    registry: Registry,
    photos: dict[str, tuple[bytes, int]],
    signer: Signer,
    tmp_path: Path,
    migrated_url: str,
) -> None:
    from fastapi.testclient import TestClient

    from api import create_app

    key_file = tmp_path / "log.key"
    write_private_key_file(key_file, signer.to_string(), "log")
    app = create_app(
        RegistrySettings(log=LogConfig(tmp_path, migrated_url, key_file), verify_workers=0)
    )
    image, index = photos["harbour"]
    with TestClient(app) as client:
        by_image = client.post(
            "/v1/lookup", files={"image": ("found.jpg", reencode(image), "image/jpeg")}
        )
        assert by_image.status_code == 200, by_image.text
        assert by_image.json()["verdict"] == NEAR_DUPLICATE
        assert by_image.json()["matches"][0]["leaf_index"] == index
        query = query_from_image(image)
        short = query.probes[:8]
        by_hashes = client.post(
            "/v1/lookup",
            json={
                "pdq": [p.pdq for p in short],
                "pdq_quality": short[0].quality,
                "phash": short[0].phash,
            },
        )
        assert by_hashes.json()["matches"][0]["leaf_index"] == index
        banner = query_from_image(with_banner(image))
        by_probes = client.post("/v1/lookup", json={"probes": [vars(p) for p in banner.probes]})
        assert by_probes.status_code == 200, by_probes.text
        best = by_probes.json()["matches"][0]
        assert (best["leaf_index"], best["matched_hash"]) == (index, "pdq-top80-v1")
        bad = client.post("/v1/lookup", json={"pdq": "xyz", "pdq_quality": 90})
        assert bad.status_code == 400 and bad.json()["error"]["type"] == "bad_pdq"
        not_image = client.post("/v1/lookup", files={"image": ("x.txt", b"hello", "text/plain")})
        assert (
            not_image.status_code == 400 and not_image.json()["error"]["type"] == "image_unreadable"
        )


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_prov_lookup_writes_bundles_that_prov_verify_accepts(
    registry: Registry,
    photos: dict[str, tuple[bytes, int]],
    signer: Signer,
    tmp_path: Path,
    migrated_url: str,
) -> None:
    image, index = photos["street"]
    found = tmp_path / "found.jpg"
    found.write_bytes(reencode(image))
    key_file = tmp_path / "log.key"
    write_private_key_file(key_file, signer.to_string(), "log")
    runner = CliRunner(env={"PROV_LOG_KEY_FILE": str(key_file)})
    base = ["--data-dir", str(tmp_path), "--database", migrated_url]
    result = runner.invoke(
        main, [*base, "lookup", str(found), "--bundle-dir", str(tmp_path / "bundles")]
    )
    assert result.exit_code == 0, result.output
    assert "near-duplicate" in result.output.splitlines()[0]
    bundle = tmp_path / "bundles" / f"capture-{index}.bundle.json"
    verified = runner.invoke(
        main, ["verify", str(bundle), "--log-key", signer.verifier.vkey, "--image", str(found)]
    )
    assert verified.exit_code == 0, verified.output
    as_json = runner.invoke(main, [*base, "lookup", str(tmp_path / "found.jpg"), "--json"])
    assert json.loads(as_json.output)["verdict"] == NEAR_DUPLICATE
    (tmp_path / "other.png").write_bytes(picture(98, SIZE))
    missing = runner.invoke(main, [*base, "lookup", str(tmp_path / "other.png")])
    assert missing.exit_code == 1 and "not-found" in missing.output
