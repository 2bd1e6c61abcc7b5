"""Registry fixtures shared by the registry, bundle and lookup tests (a pytest plugin, loaded
from conftest.py): a Registry on each database, a vendor PKI, an enrolled device, and signed
captures of generated pictures."""

import io
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageDraw

from api import create_app
from ledger import LogConfig, LogStore, Signer
from ledger.note import write_private_key_file
from registry import Registry, RegistrySettings
from registry.entries.codec import CAPTURE, b64, capture_message, encode_entry
from registry.entries.formats import CaptureRecord
from registry.entries.sdk import device_id, sign_capture, sign_message
from registry.imaging.hashing import hash_image
from registry.open import registry_sequencer
from testkit.pki import DevicePKI, IssuedCert, make_pki
from tests.support.clocks import FixedClock

TOKEN = "operator-secret"
DAY_MS = 86_400_000


def picture(seed: int, size: tuple[int, int] = (160, 120)) -> bytes:
    """A distinct PNG with enough texture for a full-quality PDQ hash: shapes placed by the
    seed, a seeded wave pattern, and seeded noise."""
    image = Image.new("RGB", size, (seed * 37 % 256, seed * 91 % 256, seed * 53 % 256))
    draw = ImageDraw.Draw(image)
    for i in range(6):
        x, y = (seed * 13 + i * 29) % size[0], (seed * 7 + i * 17) % size[1]
        fill = ((i * 40) % 256, 255 - i * 30, seed % 256)
        draw.ellipse((x, y, x + 30 + i * 5, y + 20 + i * 3), fill=fill)
    pixels = np.asarray(image).astype(np.int16)
    y, x = np.mgrid[0 : size[1], 0 : size[0]]
    wave = (40 * np.sin(x / (7 + seed % 5)) * np.cos(y / (9 + seed % 3)))[..., None]
    noise = np.random.default_rng(seed).integers(-20, 20, pixels.shape)
    out = io.BytesIO()
    Image.fromarray(np.clip(pixels + wave + noise, 0, 255).astype(np.uint8)).save(out, "PNG")
    return out.getvalue()


def large_jpeg(size: tuple[int, int], seed: int = 3) -> bytes:
    """A textured JPEG of `size` (a camera's file stands in): a picture a tenth the size,
    scaled up, so making an 8000 x 6000 one is quick."""
    small = Image.open(io.BytesIO(picture(seed, (size[0] // 10, size[1] // 10))))
    out = io.BytesIO()
    small.resize(size, Image.Resampling.BILINEAR).save(out, "JPEG", quality=85)
    return out.getvalue()


@pytest.fixture
def registry(store: LogStore, signer: Signer, clock: FixedClock, tmp_path: Path) -> Registry:
    registry_sequencer(store, signer, clock).initialize()
    settings = RegistrySettings(
        log=LogConfig(tmp_path, str(store.engine.url), tmp_path / "log.key"),
        admin_token=TOKEN,
        max_batch=50,
        verify_workers=0,
    )
    return Registry(store, registry_sequencer(store, signer, clock), settings, clock)


def now_of(clock: FixedClock) -> datetime:
    return datetime.fromtimestamp(clock.now_ms / 1000, UTC)


@pytest.fixture
def pki(clock: FixedClock) -> DevicePKI:
    return make_pki(now_of(clock), intermediate=True)


@pytest.fixture
def enrolled(registry: Registry, pki: DevicePKI) -> DevicePKI:
    registry.add_vendor("Example Camera Co.", "camera", pki.root.der, TOKEN)
    registry.enroll_device(pki.device.der, pki.chain_der)
    return pki


def as_json(record: CaptureRecord) -> dict[str, Any]:
    """A signed record as the JSON a test may tamper with (any field, any value)."""
    return cast(dict[str, Any], record)


def record(device: IssuedCert, seed: int, counter: int, captured_at: int) -> dict[str, Any]:
    return as_json(
        sign_capture(picture(seed), device.private_key, device.certificate, counter, captured_at)
    )


def signed_claim(
    device: IssuedCert, seed: int, counter: int, captured_at: int, **extra: object
) -> dict[str, Any]:
    """A record whose claim, with the `extra` fields as given (any value), the device really
    signed: what a buggy or hostile device sends, past the SDK's own checks."""
    claim: dict[str, object] = {
        "device": device_id(device.certificate),
        "counter": counter,
        "captured_at": captured_at,
        **hash_image(picture(seed)).claim_fields(),
        **extra,
    }
    signature = sign_message(device.private_key, capture_message(claim))
    return {"kind": CAPTURE, "claim": claim, "sig": b64(signature)}


@pytest.fixture
def writable_settings(
    tmp_path: Path, migrated_url: str, store: LogStore, signer: Signer, clock: FixedClock
) -> RegistrySettings:
    """Settings of a writable server on the test database: the log initialized, its key in the
    key file (0600), the operator token TOKEN, signatures checked in this process."""
    key_file = tmp_path / "log.key"
    write_private_key_file(key_file, signer.to_string(), "log")
    registry_sequencer(store, signer, clock).initialize()
    return RegistrySettings(
        log=LogConfig(tmp_path, migrated_url, key_file), admin_token=TOKEN, verify_workers=0
    )


@contextmanager
def serving_app(settings: RegistrySettings) -> Iterator[TestClient]:
    """The HTTP API in this process; its registry and database engine closed afterwards."""
    app = create_app(settings)
    try:
        with TestClient(app) as client:
            yield client
    finally:
        app.state.prov.registry.close()
        app.state.prov.store.engine.dispose()


# Edits a fact-checker meets: the lookup must see through them.


def reencoded(data: bytes) -> bytes:
    """What a platform serves after stripping the metadata: 3/4 the size, JPEG quality 70
    (Pillow writes no metadata segments, so a C2PA manifest is gone too)."""
    image = Image.open(io.BytesIO(data)).convert("RGB")
    image = image.resize((image.width * 3 // 4, image.height * 3 // 4))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=70)
    return out.getvalue()


def with_banner(data: bytes) -> bytes:
    """A solid bar with text over the bottom 15%, as news and meme edits add."""
    image = Image.open(io.BytesIO(data)).convert("RGB")
    draw = ImageDraw.Draw(image)
    top = int(image.height * 0.85)
    draw.rectangle((0, top, image.width, image.height), fill=(200, 20, 30))
    draw.text((10, top + 5), "SEEN ONLINE TODAY", fill=(255, 255, 255))
    return _png(image)


def cropped(data: bytes, keep: float = 0.95) -> bytes:
    image = Image.open(io.BytesIO(data)).convert("RGB")
    width, height = round(image.width * keep), round(image.height * keep)
    left, top = (image.width - width) // 2, (image.height - height) // 2
    return _png(image.crop((left, top, left + width, top + height)))


def screenshot(data: bytes) -> bytes:
    """The picture shrunk onto a grey 1280x800 'screen' under a dark title bar."""
    image = Image.open(io.BytesIO(data)).convert("RGB").resize((480, 360))
    screen = Image.new("RGB", (1280, 800), (236, 236, 236))
    ImageDraw.Draw(screen).rectangle((0, 0, 1279, 31), fill=(52, 52, 58))
    ImageDraw.Draw(screen).text((100, 8), "photo.jpg - Viewer", fill=(230, 230, 230))
    screen.paste(image, (400, 230))
    return _png(screen)


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def smuggle(
    registry: Registry, signer: Signer, clock: FixedClock, entries: list[dict[str, Any] | bytes]
) -> int:
    """Append entries straight through the sequencer, past every admission check - what a
    dishonest or buggy operator could do. Returns the first index."""
    sequencer = registry_sequencer(registry.store, signer, clock)
    leaves = [e if isinstance(e, bytes) else encode_entry(e) for e in entries]
    return sequencer.append(leaves).first_index
