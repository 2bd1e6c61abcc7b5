"""registry.imaging.hashing: exact and perceptual hashes of image files, decoded defensively.

Every picture here is generated (numpy + Pillow), never downloaded.
"""

from __future__ import annotations

import hashlib
import io
import struct
import zlib
from importlib.metadata import version

import numpy as np
import pdqhash
import pytest
from PIL import ExifTags, Image, ImageDraw, ImageFile

from ledger.errors import ConfigurationError, MalformedError
from registry.errors import TooLargeError
from registry.imaging import hashing
from registry.imaging.decode import decode
from registry.imaging.features import (
    FEATURE_NAMES,
    FEATURE_REGIONS,
    TRIMMED,
    crop_region,
    trim_uniform_border,
)
from registry.imaging.hashing import (
    ALGORITHMS,
    DIHEDRAL_NAMES,
    ImageHashes,
    hash_image,
    pdq_dihedral,
    query_hashes,
)

T = Image.Transpose
# pdq_dihedral's order after the original (docstring of registry.imaging.hashing.pdq_dihedral).
DIHEDRAL = [
    T.ROTATE_90,
    T.ROTATE_180,
    T.ROTATE_270,
    T.FLIP_TOP_BOTTOM,
    T.FLIP_LEFT_RIGHT,
    T.TRANSPOSE,
    T.TRANSVERSE,
]


def photo(seed: int, width: int = 480, height: int = 360) -> Image.Image:
    """A small photo-like picture: gradient lighting, textured background, shapes, noise."""
    rng = np.random.default_rng(seed)
    yy = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    xx = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :, None]
    tilt = rng.uniform(-80, 80, (2, 3)).astype(np.float32)
    base = 120 + tilt[0] * xx + tilt[1] * yy
    coarse = rng.standard_normal((height // 16 + 2, width // 16 + 2), dtype=np.float32)
    texture = Image.fromarray(coarse, "F").resize((width, height), Image.Resampling.BICUBIC)
    base = base + 25 * np.asarray(texture, dtype=np.float32)[:, :, None]
    img = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(img)
    for _ in range(12):
        x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
        w, h = (
            int(rng.integers(width // 12, width // 3)),
            int(rng.integers(height // 12, height // 3)),
        )
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        if rng.integers(0, 2):
            draw.ellipse([x0, y0, x0 + w, y0 + h], fill=colour)
        else:
            draw.rectangle([x0, y0, x0 + w, y0 + h], fill=colour)
    noisy = np.asarray(img, dtype=np.int16) + rng.integers(-4, 5, (height, width, 3), np.int16)
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8), "RGB")


def encode(img: Image.Image, fmt: str = "JPEG", **params: object) -> bytes:
    out = io.BytesIO()
    img.save(out, fmt, **params)
    return out.getvalue()


def distance(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


@pytest.fixture(scope="module")
def picture() -> Image.Image:
    return photo(1)


@pytest.fixture(scope="module")
def jpeg(picture: Image.Image) -> bytes:
    return encode(picture, quality=90)


# ---------------------------------------------------------------------------------------------
# The hashes


def test_hash_image_fields(jpeg: bytes) -> None:
    hashes = hash_image(jpeg, "a.jpg")
    assert hashes.sha256 == hashlib.sha256(jpeg).hexdigest()
    assert (hashes.width, hashes.height) == (480, 360)
    assert hashes.media_type == "image/jpeg"
    assert len(hashes.pdq) == 64 and int(hashes.pdq, 16) >= 0 and hashes.pdq == hashes.pdq.lower()
    assert len(hashes.phash) == 16 and int(hashes.phash, 16) >= 0
    assert hashes.phash == hashes.phash.lower()
    assert 50 <= hashes.pdq_quality <= 100
    assert hashes.claim_fields() == {
        "sha256": hashes.sha256,
        "width": 480,
        "height": 360,
        "media_type": "image/jpeg",
        "pdq": hashes.pdq,
        "pdq_quality": hashes.pdq_quality,
        "phash": hashes.phash,
        "features": dict(hashes.features),
    }
    # A photo without borders: the three regions, no trimmed hash.
    assert set(hashes.features) == set(FEATURE_REGIONS)
    assert all(len(v) == 64 and v == v.lower() for v in hashes.features.values())
    assert hash_image(jpeg) == hashes  # deterministic


def test_region_features_are_the_pdq_of_their_region(picture: Image.Image) -> None:
    png = encode(picture, "PNG")
    hashes = hash_image(png)
    for name, box in FEATURE_REGIONS.items():
        region = hash_image(encode(crop_region(picture, box), "PNG"))
        assert hashes.features[name] == region.pdq, name


def test_a_picture_with_borders_also_registers_its_trimmed_hash(picture: Image.Image) -> None:
    framed = Image.new("RGB", (picture.width + 80, picture.height + 60), (255, 255, 255))
    framed.paste(picture, (40, 30))
    hashes = hash_image(encode(framed, "PNG"))
    assert distance(hashes.features[TRIMMED], hash_image(encode(picture, "PNG")).pdq) <= 8
    assert trim_uniform_border(picture) is None


def test_flat_regions_are_left_out_of_the_features() -> None:
    # Texture in the top 20% only: every region but the top strip is nearly flat.
    arr = np.full((400, 400, 3), 128, dtype=np.uint8)
    rng = np.random.default_rng(3)
    arr[:60] = rng.integers(0, 256, size=(60, 400, 3), dtype=np.uint8)
    hashes = hash_image(encode(Image.fromarray(arr, "RGB"), "PNG"))
    assert "pdq-bottom80-v1" not in hashes.features


def test_query_probes(picture: Image.Image) -> None:
    png = encode(picture, "PNG")
    sha256, probes = query_hashes(png)
    assert sha256 == hashlib.sha256(png).hexdigest()
    names = [p.name for p in probes]
    assert names == [*DIHEDRAL_NAMES, "center95", "top80", "bottom80"]  # no borders to trim
    assert [(p.pdq, p.quality) for p in probes[:8]] == pdq_dihedral(png)
    hashes = hash_image(png)
    assert probes[0].phash == hashes.phash
    turned = hash_image(encode(picture.transpose(Image.Transpose.ROTATE_90), "PNG"))
    assert probes[1].phash == turned.phash  # each variant's pHash is in its own orientation
    by_name = {p.name: p for p in probes}
    assert by_name["top80"].pdq == hashes.features["pdq-top80-v1"]
    assert by_name["center95"].pdq == hashes.features["pdq-center95-v1"]
    framed = Image.new("RGB", (picture.width + 80, picture.height + 60), (20, 20, 20))
    framed.paste(picture, (40, 30))
    trimmed = {p.name: p for p in query_hashes(encode(framed, "PNG"))[1]}["trimmed"]
    assert distance(trimmed.pdq, hashes.pdq) <= 8


@pytest.mark.parametrize(
    ("fmt", "media_type", "params"),
    [
        ("PNG", "image/png", {}),
        ("WEBP", "image/webp", {"lossless": True}),
        ("GIF", "image/gif", {}),
        ("TIFF", "image/tiff", {}),
        ("BMP", "image/bmp", {}),
    ],
)
def test_formats_hash_like_the_jpeg(
    picture: Image.Image, jpeg: bytes, fmt: str, media_type: str, params: dict[str, object]
) -> None:
    data = encode(picture, fmt, **params)
    hashes = hash_image(data, f"a.{fmt.lower()}")
    assert hashes.media_type == media_type
    assert (hashes.width, hashes.height) == (480, 360)
    assert distance(hashes.pdq, hash_image(jpeg).pdq) <= 31


def test_mpo_is_a_jpeg(picture: Image.Image) -> None:
    data = encode(picture, "MPO", save_all=True, append_images=[photo(2)])
    assert Image.open(io.BytesIO(data)).format == "MPO"
    assert hash_image(data).media_type == "image/jpeg"


def test_alpha_and_palette_and_16_bit_images(picture: Image.Image) -> None:
    reference = hash_image(encode(picture, "PNG")).pdq
    rgba = picture.convert("RGBA")
    assert distance(hash_image(encode(rgba, "PNG")).pdq, reference) == 0
    grey = picture.convert("L")
    grey_pdq = hash_image(encode(grey, "PNG")).pdq
    wide = Image.fromarray(np.asarray(grey, dtype=np.uint16) * 257)  # 16-bit greyscale
    assert wide.mode == "I;16"
    sixteen = hash_image(encode(wide, "PNG"), "deep.png")
    assert distance(sixteen.pdq, grey_pdq) <= 4  # scaled, not clipped to white
    assert sixteen.pdq_quality >= 50


def test_near_duplicate_and_unrelated(picture: Image.Image, jpeg: bytes) -> None:
    original = hash_image(jpeg)
    half = picture.resize((240, 180), Image.Resampling.LANCZOS)
    edited_bytes = encode(half, quality=70)
    edited = hash_image(edited_bytes)
    assert edited.sha256 != original.sha256
    assert (edited.width, edited.height) == (240, 180)
    assert distance(edited.pdq, original.pdq) <= 31
    assert distance(edited.phash, original.phash) <= 10

    unrelated = hash_image(encode(photo(99), quality=90))
    assert distance(unrelated.pdq, original.pdq) >= 80  # random pairs sit near 128
    assert distance(unrelated.phash, original.phash) > 10


def test_large_jpeg_uses_draft_and_keeps_full_size() -> None:
    img = photo(3, 2400, 1800)  # draft scale 2 (short side 1800 // 512 = 3)
    data = encode(img, quality=90)
    hashes = hash_image(data, "big.jpg")
    assert (hashes.width, hashes.height) == (2400, 1800)
    decoded = decode(data, "big.jpg")
    assert decoded.rgb.size == (1200, 900)
    full = decode(data, "big.jpg", min_side=None)
    assert full.rgb.size == (2400, 1800)
    full_pdq, _ = hashing._pdq(hashing._rgb_array(full.rgb))
    assert distance(full_pdq, hashes.pdq) <= 12  # draft mode moves few bits (docstring)
    # A PNG of the same size is reduced by the same factor, with Image.reduce.
    png = decode(encode(img, "PNG"), "big.png")
    assert png.rgb.size == (1200, 900)
    assert distance(hash_image(encode(img, "PNG")).pdq, hashes.pdq) <= 12


def test_flat_picture_has_low_quality() -> None:
    flat = hash_image(encode(Image.new("RGB", (200, 100), (128, 128, 128)), "PNG"))
    assert flat.pdq_quality < 50
    tiny = hash_image(encode(Image.new("RGB", (3, 2), (10, 200, 30)), "PNG"))
    assert tiny.pdq_quality == 0 and (tiny.width, tiny.height) == (3, 2)


# ---------------------------------------------------------------------------------------------
# PDQ bit order, stability, algorithm labels


def test_pdq_hex_is_most_significant_bit_first() -> None:
    vector = np.zeros(256, dtype=np.int64)
    vector[0] = 1  # pdqhash's element 0 is bit 255 of the C++ Hash256, printed first
    assert hashing._pdq_hex(vector) == "8" + "0" * 63
    vector[:] = 0
    vector[255] = 1
    assert hashing._pdq_hex(vector) == "0" * 63 + "1"
    arr = np.ascontiguousarray(np.asarray(photo(4), dtype=np.uint8))
    bits, _ = pdqhash.compute(arr)
    assert hashing._pdq_hex(bits) == format(int("".join(str(int(b)) for b in bits), 2), "064x")
    # The hash bits are the 16x16 DCT values above their median, in the same order.
    floats, _ = pdqhash.compute_float(arr)
    assert np.array_equal(bits, (floats > np.median(floats)).astype(bits.dtype))
    assert int(bits.sum()) == 128  # a median threshold: every PDQ hash has 128 ones


# Pinned hashes of the picture below (pdqhash 0.2.8, imagehash 4.3.2, x86-64).
PINNED_PDQ = "75dce203f7768803df7628037df6800375de0003d75600035d56ff8ca08ffff4"
PINNED_PHASH = "da177819b5e0b5e0"
PINNED_QUALITY = 100


def test_hashes_are_stable() -> None:
    """Pinned values on a formula-made (RNG-free) lossless picture: if a library upgrade or a
    preprocessing change moves them, stored hashes would change meaning - relabel ALGORITHMS."""
    yy, xx = np.mgrid[0:240, 0:320].astype(np.float64)
    channels = [
        128 + 100 * np.sin(xx / 23.0) * np.cos(yy / 31.0),
        128 + 90 * np.cos((xx + 2 * yy) / 40.0),
        np.where((xx - 160) ** 2 + (yy - 120) ** 2 < 70**2, 230.0, 40.0),
    ]
    arr = np.clip(np.stack(channels, axis=2), 0, 255).astype(np.uint8)
    hashes = hash_image(encode(Image.fromarray(arr, "RGB"), "PNG"), "stable.png")
    # A changed bit order or preprocessing moves ~128 bits; a few bits of slack allow for
    # floating-point differences between platforms (FMA, SIMD) in the DCTs.
    assert distance(hashes.pdq, PINNED_PDQ) <= 4, hashes.pdq
    assert distance(hashes.phash, PINNED_PHASH) <= 2, hashes.phash
    assert abs(hashes.pdq_quality - PINNED_QUALITY) <= 2


def test_algorithm_labels_name_the_installed_libraries() -> None:
    assert ALGORITHMS["pdq"].startswith(f"pdqhash-{version('pdqhash')}/pdq-v1/")
    assert ALGORITHMS["phash"].startswith(f"imagehash-{version('imagehash')}/phash-8x8/")
    assert ALGORITHMS["pdq"].endswith("/" + ALGORITHMS["prep"])
    assert ALGORITHMS["phash"].endswith("/" + ALGORITHMS["prep"])
    for name in FEATURE_NAMES:  # every feature says what made it
        assert ALGORITHMS[name].startswith(ALGORITHMS["pdq"] + "/"), name


# ---------------------------------------------------------------------------------------------
# EXIF orientation and dihedral variants


def with_orientation(img: Image.Image, orientation: int) -> bytes:
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    return encode(img, quality=90, exif=exif.tobytes())


def test_exif_orientation_is_applied(picture: Image.Image, jpeg: bytes) -> None:
    upright = hash_image(jpeg)  # 480x360 as displayed
    # Orientation 6: the stored pixels must be turned 90 degrees clockwise for display, so a
    # camera stores the upright picture turned counter-clockwise.
    stored = picture.transpose(T.ROTATE_90)
    assert stored.size == (360, 480)
    rotated = hash_image(with_orientation(stored, 6), "rotated.jpg")
    assert (rotated.width, rotated.height) == (480, 360)
    assert distance(rotated.pdq, upright.pdq) <= 16
    assert distance(rotated.phash, upright.phash) <= 6
    # Without the tag the same pixels hash as a different picture: the tag really was used.
    assert distance(hash_image(encode(stored, quality=90)).pdq, upright.pdq) > 31


def test_exif_orientation_on_the_draft_path() -> None:
    img = photo(5, 2048, 1536)
    upright = hash_image(encode(img, quality=90))
    rotated = hash_image(with_orientation(img.transpose(T.ROTATE_270), 8), "big-rotated.jpg")
    assert (rotated.width, rotated.height) == (2048, 1536)
    assert distance(rotated.pdq, upright.pdq) <= 16


def test_dihedral_order_matches_the_documentation(picture: Image.Image, jpeg: bytes) -> None:
    variants = pdq_dihedral(jpeg, "a.jpg")
    assert len(variants) == 8
    original = hash_image(jpeg)
    assert variants[0] == (original.pdq, original.pdq_quality)
    assert all(quality == original.pdq_quality and len(h) == 64 for h, quality in variants)
    for index, transform in enumerate(DIHEDRAL, start=1):
        transformed = hash_image(encode(picture.transpose(transform), quality=90)).pdq
        distances = [distance(transformed, h) for h, _ in variants]
        assert distances[index] <= 20, (index, distances)
        assert min(d for i, d in enumerate(distances) if i != index) > 31, (index, distances)


def test_dihedral_finds_a_rotated_copy(picture: Image.Image, jpeg: bytes) -> None:
    registered = hash_image(jpeg).pdq
    query = encode(picture.transpose(T.ROTATE_270), quality=80)  # turned, no EXIF tag
    assert distance(hash_image(query).pdq, registered) > 31
    assert min(distance(h, registered) for h, _ in pdq_dihedral(query)) <= 20


# ---------------------------------------------------------------------------------------------
# Errors


def png_header(width: int, height: int) -> bytes:
    """A PNG that claims `width` x `height` but carries almost no pixel data."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def assert_malformed(data: bytes, name: str, code: str) -> MalformedError:
    with pytest.raises(MalformedError) as caught:
        hash_image(data, name)
    assert caught.value.code == code
    assert name in str(caught.value)
    with pytest.raises(MalformedError):
        pdq_dihedral(data, name)
    return caught.value


def test_not_images() -> None:
    rng = np.random.default_rng(7)
    assert_malformed(b"", "empty.jpg", "image_unreadable")
    assert_malformed(rng.bytes(4096), "noise.bin", "image_unreadable")
    assert_malformed(b"hello, this is a text file\n" * 20, "notes.txt", "image_unreadable")
    assert_malformed(png_header(64, 64), "header-only.png", "image_unreadable")


def test_unsupported_format(picture: Image.Image) -> None:
    error = assert_malformed(encode(picture, "ICO"), "favicon.ico", "image_unreadable")
    assert "supported format" in str(error)


@pytest.mark.parametrize("size", [(480, 360), (2048, 1536)])  # plain and draft-mode decode
def test_truncated_jpeg(size: tuple[int, int]) -> None:
    data = encode(photo(6, *size), quality=90)
    error = assert_malformed(data[: len(data) // 2], "cut.jpg", "image_unreadable")
    assert "truncated" in str(error)


def test_truncated_png(picture: Image.Image) -> None:
    data = encode(picture, "PNG")
    assert_malformed(data[: len(data) * 2 // 3], "cut.png", "image_unreadable")


def test_load_truncated_images_must_stay_off(jpeg: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(ConfigurationError):
        hash_image(jpeg)


def test_decompression_bomb_header() -> None:
    # 100,000 x 100,000 pixels claimed by a 70-byte PNG: Pillow raises, we translate.
    error = assert_malformed(png_header(100_000, 100_000), "bomb.png", "image_too_large")
    assert "too large" in str(error)


def test_the_pixel_limit_is_ours_not_only_pillows(
    jpeg: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 480 x 360 = 172,800 pixels: far under Pillow's own limit, over a max_pixels of 100,000.
    with pytest.raises(TooLargeError) as caught:
        query_hashes(jpeg, "over.jpg", max_pixels=100_000)
    assert caught.value.code == "image_too_large" and "172800 pixels" in str(caught.value)
    assert len(query_hashes(jpeg, "at.jpg", max_pixels=172_800)[1]) >= 8  # at the limit: fine
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)  # Pillow's check off: ours still holds
    error = assert_malformed(png_header(20_000, 20_000), "bomb.png", "image_too_large")
    assert isinstance(error, TooLargeError)


def test_image_hashes_is_frozen(jpeg: bytes) -> None:
    hashes = hash_image(jpeg)
    assert isinstance(hashes, ImageHashes)
    with pytest.raises(AttributeError):
        hashes.pdq = "0" * 64  # type: ignore[misc]
