"""Phone formats (issue 17): HEIC/HEIF and AVIF, with an EXIF orientation, hash as they are
displayed, so a capture signed from a phone's HEIC is found from its PNG or JPEG copy and the
other way round: through the registry, `prov lookup` and POST /v1/lookup."""

import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from cli.main import main
from ledger import LogConfig
from registry import Registry, RegistrySettings
from registry.entries.sdk import sign_capture
from registry.errors import TooLargeError
from registry.imaging.decode import decode
from registry.imaging.hashing import DIHEDRAL_NAMES, hash_image
from registry.lookup.query import Lookup, query_from_upload
from testkit.pki import DevicePKI
from tests.support.clocks import FixedClock
from tests.support.phone_formats import phone_file
from tests.support.registry_fixtures import picture, serving_app

FORMATS = [("HEIF", "image/heif"), ("AVIF", "image/avif")]
SIZE = (320, 240)
TURNED = set(DIHEDRAL_NAMES) - {"original"}


def pdq_distance(one: str, other: str) -> int:
    return (int(one, 16) ^ int(other, 16)).bit_count()


def jpeg(data: bytes) -> bytes:
    out = io.BytesIO()
    Image.open(io.BytesIO(data)).convert("RGB").save(out, "JPEG", quality=90)
    return out.getvalue()


def register(registry: Registry, pki: DevicePKI, image: bytes, clock: FixedClock) -> int:
    record = sign_capture(
        image, pki.device.private_key, pki.device.certificate, 1, clock.now_ms - 5_000
    )
    result = registry.submit_captures([record])[0]
    assert result.receipt is not None, result
    return result.receipt.index


@pytest.mark.parametrize(("fmt", "media_type"), FORMATS)
@pytest.mark.parametrize("orientation", [1, 6, 8])
def test_a_phone_file_hashes_as_displayed(fmt: str, media_type: str, orientation: int) -> None:
    source = picture(4, SIZE)
    phone = phone_file(source, fmt, orientation)
    stored = Image.open(io.BytesIO(phone))
    assert stored.format == fmt

    decoded, hashes = decode(phone, "photo"), hash_image(phone)

    assert (decoded.width, decoded.height, decoded.media_type) == (*SIZE, media_type)
    assert hashes.media_type == media_type
    # As the PNG it was made from, and as that PNG's JPEG: the same picture, re-encoded.
    assert pdq_distance(hashes.pdq, hash_image(source).pdq) <= 10
    assert pdq_distance(hashes.pdq, hash_image(jpeg(source)).pdq) <= 10


@pytest.mark.parametrize(("fmt", "media_type"), FORMATS)
def test_a_capture_signed_from_a_phone_file_is_found_from_its_png(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock, fmt: str, media_type: str
) -> None:
    source = picture(5, SIZE)
    index = register(registry, enrolled, phone_file(source, fmt), clock)
    assert registry.store.entry(index) is not None

    found = Lookup(registry.store).lookup(query_from_upload(registry.settings, jpeg(source)))

    assert found.verdict == "near-duplicate"
    assert found.matches[0].leaf_index == index
    assert found.matches[0].probe not in TURNED  # displayed upright: found without turning it


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("fmt", "media_type"), FORMATS)
def test_prov_lookup_and_post_lookup_find_a_png_capture_from_a_phone_file(
    registry: Registry,
    enrolled: DevicePKI,
    clock: FixedClock,
    writable_settings: RegistrySettings,
    tmp_path: Path,
    fmt: str,
    media_type: str,
) -> None:
    source = picture(6, SIZE)
    index = register(registry, enrolled, source, clock)
    phone = phone_file(source, fmt, orientation=6)
    found = tmp_path / f"found.{fmt.lower()}"
    found.write_bytes(phone)
    log: LogConfig = writable_settings.log
    base = ["--data-dir", str(tmp_path), "--database", log.database_url]

    result = CliRunner().invoke(main, [*base, "lookup", str(found), "--json"])

    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["verdict"] == "near-duplicate"
    assert [m["leaf_index"] for m in answer["matches"]] == [index]
    with serving_app(writable_settings) as client:
        upload = {"image": (found.name, phone, media_type)}
        response = client.post("/v1/lookup", files=upload)
    assert response.status_code == 200, response.text
    assert response.json()["matches"][0]["leaf_index"] == index
    assert response.json()["matches"][0]["probe"] not in TURNED


@pytest.mark.parametrize(("fmt", "media_type"), FORMATS)
def test_a_phone_file_over_the_pixel_limits_is_refused_before_decoding(
    fmt: str, media_type: str
) -> None:
    phone = phone_file(picture(7, SIZE), fmt)
    with pytest.raises(TooLargeError) as caught:
        decode(phone, "photo", max_pixels=SIZE[0] * SIZE[1] - 1)
    assert caught.value.code == "image_too_large"
    with pytest.raises(TooLargeError) as lookup_cap:
        decode(phone, "photo", max_decoded_pixels=1000)
    assert "PROV_LOOKUP_MAX_PIXELS" in str(lookup_cap.value)
