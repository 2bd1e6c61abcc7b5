"""Hostile image files through the hashing path (`registry.imaging.hashing.hash_image`, `query_hashes`,
`pdq_dihedral`, all of which decode with `registry.imaging.decode.decode`).

Every file, however broken, gives either hashes or a MalformedError whose code says why
("image_unreadable", "image_too_large"); never another exception, a crash or a hang. The corpus is
made here with Pillow (and by hand where Pillow would refuse to write the header), and
hypothesis mutates valid JPEG, PNG, WebP, GIF, TIFF and BMP files byte by byte. Each call runs
under a wall-clock bound, so a decoder that loops fails the test instead of stalling CI.
"""

import io
import struct
import threading
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from PIL import ExifTags, Image, ImageFile

from ledger.errors import LedgerError, MalformedError
from registry.imaging.hashing import ImageHashes, hash_image, pdq_dihedral, query_hashes

# Pillow warns about the corrupt metadata and oversized headers it is fed here on purpose.
pytestmark = [
    pytest.mark.filterwarnings("ignore::UserWarning:PIL"),
    pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning"),
]
HANG_BOUND_S = 10.0  # a generous bound on one call; the files here hash in milliseconds
IMAGE_CODES = {"image_unreadable", "image_too_large"}
Hasher = Callable[[bytes, str], Any]


def bounded(function: Hasher, data: bytes, bound_s: float = HANG_BOUND_S) -> Any:
    """`function(data, "fuzzed")` in a daemon thread: its result, or its exception re-raised;
    fails if it takes longer than HANG_BOUND_S. A thread, not SIGALRM, because pytest-timeout
    owns that signal."""
    outcome: dict[str, Any] = {}

    def call() -> None:
        try:
            outcome["value"] = function(data, "fuzzed")
        except BaseException as exc:  # handed to the test thread, which judges it
            outcome["error"] = exc

    worker = threading.Thread(target=call, daemon=True)
    worker.start()
    worker.join(bound_s)
    if worker.is_alive():
        pytest.fail(f"{function.__name__} still running after {bound_s} s on {data[:64]!r}")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def hashes_or_refusal(function: Hasher, data: bytes) -> Any:
    """The result, or None for a clear refusal; anything else fails the test."""
    try:
        result = bounded(function, data)
    except MalformedError as exc:
        event(f"refused: {exc.code}")
        assert exc.code in IMAGE_CODES, (exc.code, str(exc))
        assert str(exc).startswith("fuzzed: "), str(exc)  # names the file it is about
        return None
    except LedgerError as exc:
        pytest.fail(f"{type(exc).__name__} ({exc.code}) is not a refusal of the file: {exc}")
    event("hashed")
    return result


def assert_valid_hashes(hashes: ImageHashes) -> None:
    assert len(hashes.sha256) == 64 and len(hashes.pdq) == 64 and len(hashes.phash) == 16
    assert 0 <= hashes.pdq_quality <= 100
    assert hashes.width >= 1 and hashes.height >= 1
    assert hashes.media_type.startswith("image/")


# --- the corpus ---


def encoded(image: Image.Image, fmt: str, **options: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def photo(width: int = 48, height: int = 40, seed: int = 1) -> Image.Image:
    """Noise over a gradient: texture enough for a full-quality PDQ, small enough to be quick."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 200, width, dtype=np.float64)[None, :, None]
    pixels = ramp + rng.integers(0, 55, (height, width, 3))
    return Image.fromarray(pixels.astype(np.uint8), "RGB")


def frames(count: int = 3) -> list[Image.Image]:
    return [photo(32, 32, seed) for seed in range(count)]


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header_only(width: int, height: int, depth: int = 8, colour: int = 2) -> bytes:
    """A PNG whose IHDR declares any size (Pillow will not write 0 or 100000), one tiny IDAT."""
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + png_chunk(b"IEND", b"")
    )


def jpeg_with_size(width: int, height: int) -> bytes:
    """A valid small JPEG whose SOF0 is rewritten to declare width x height."""
    data = bytearray(encoded(photo(), "JPEG"))
    sof = data.index(b"\xff\xc0")  # marker, length(2), precision(1), height(2), width(2)
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def gif_with_size(width: int, height: int) -> bytes:
    """A GIF whose screen and image descriptor declare width x height, with one tiny block."""
    screen = b"GIF89a" + struct.pack("<HHBBB", width, height, 0, 0, 0)
    descriptor = b"\x2c" + struct.pack("<HHHHB", 0, 0, width, height, 0)
    return screen + descriptor + b"\x02\x02\x44\x01\x00\x3b"


def bmp_with_size(width: int, height: int) -> bytes:
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 0, 0, 0, 0)
    return b"BM" + struct.pack("<IHHI", 54, 0, 0, 54) + info


def rotated_exif() -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6  # rotate 90 degrees clockwise to display
    return exif


def sixteen_bit_png() -> bytes:
    rng = np.random.default_rng(2)
    grey = rng.integers(0, 65535, (40, 48), dtype=np.uint16)
    return encoded(Image.fromarray(grey), "PNG")


def valid_files() -> dict[str, bytes]:
    """Files that must hash: every mode and container the decoder meets in the wild."""
    rgb = photo()
    palette = rgb.convert("P")
    return {
        "jpeg": encoded(rgb, "JPEG", quality=90),
        "progressive jpeg": encoded(rgb, "JPEG", progressive=True),
        "cmyk jpeg": encoded(rgb.convert("CMYK"), "JPEG"),
        "greyscale jpeg": encoded(rgb.convert("L"), "JPEG"),
        "png": encoded(rgb, "PNG"),
        "16-bit png": sixteen_bit_png(),
        "palette png": encoded(palette, "PNG"),
        "palette png with transparency": encoded(palette, "PNG", transparency=0),
        "rgba png": encoded(rgb.convert("RGBA"), "PNG"),
        "greyscale alpha png": encoded(rgb.convert("LA"), "PNG"),
        "bilevel png": encoded(rgb.convert("1"), "PNG"),
        "webp": encoded(rgb, "WEBP"),
        "lossless rgba webp": encoded(rgb.convert("RGBA"), "WEBP", lossless=True),
        "animated gif": encoded(frames()[0], "GIF", save_all=True, append_images=frames()[1:]),
        "animated webp": encoded(frames()[0], "WEBP", save_all=True, append_images=frames()[1:]),
        "apng": encoded(frames()[0], "PNG", save_all=True, append_images=frames()[1:]),
        "tiff": encoded(rgb, "TIFF"),
        "cmyk tiff": encoded(rgb.convert("CMYK"), "TIFF"),
        "float tiff": encoded(rgb.convert("F"), "TIFF"),
        "bmp": encoded(rgb, "BMP"),
        "exif-rotated jpeg": encoded(rgb, "JPEG", exif=rotated_exif()),
        "1100x1030 jpeg (draft-mode reduction)": encoded(photo(1100, 1030), "JPEG", quality=50),
        "1x1 jpeg": encoded(Image.new("RGB", (1, 1), (9, 9, 9)), "JPEG"),
        "1x1 png": encoded(Image.new("RGB", (1, 1)), "PNG"),
        "1x1 webp": encoded(Image.new("RGB", (1, 1)), "WEBP"),
        "1x1 gif": encoded(Image.new("P", (1, 1)), "GIF"),
        "1x2 png": encoded(Image.new("L", (1, 2)), "PNG"),
        "3000x1 png": encoded(Image.new("RGB", (3000, 1), (1, 2, 3)), "PNG"),
        "1x3000 png": encoded(Image.new("RGB", (1, 3000), (1, 2, 3)), "PNG"),
    }


def broken_files() -> dict[str, tuple[bytes, str]]:
    """Files that must be refused, with the code that says why."""
    jpeg, png, webp = (valid_files()[k] for k in ("jpeg", "png", "webp"))
    return {
        "empty": (b"", "image_unreadable"),
        "one byte": (b"\xff", "image_unreadable"),
        "text": (b"hello, I am not a picture\n", "image_unreadable"),
        "svg": (
            b"<svg xmlns='http://www.w3.org/2000/svg' width='9' height='9'/>",
            "image_unreadable",
        ),
        "png magic on jpeg bytes": (b"\x89PNG\r\n\x1a\n" + jpeg[8:], "image_unreadable"),
        "jpeg magic on png bytes": (b"\xff\xd8\xff\xe0" + png[4:], "image_unreadable"),
        "gif magic on png bytes": (b"GIF89a" + png[6:], "image_unreadable"),
        "jpeg truncated to half": (jpeg[: len(jpeg) // 2], "image_unreadable"),
        "jpeg without its end": (jpeg[:-2][:-200], "image_unreadable"),
        "png truncated to half": (png[: len(png) // 2], "image_unreadable"),
        "png header only": (png[:33], "image_unreadable"),
        "webp truncated to half": (webp[: len(webp) // 2], "image_unreadable"),
        "png 0 wide": (png_header_only(0, 10), "image_unreadable"),
        "png 0 high": (png_header_only(10, 0), "image_unreadable"),
        "jpeg 0 wide": (jpeg_with_size(0, 40), "image_unreadable"),
        "jpeg 0 high": (jpeg_with_size(48, 0), "image_unreadable"),
        "gif 0x0": (gif_with_size(0, 0), "image_unreadable"),
        "png 100000x100000": (png_header_only(100_000, 100_000), "image_too_large"),
        "png 2^31-1 square": (png_header_only(2**31 - 1, 2**31 - 1), "image_too_large"),
        "png 10000x10000 (over the limit, under twice it)": (
            png_header_only(10_000, 10_000),
            "image_too_large",
        ),
        "16-bit png 100000x100000": (png_header_only(100_000, 100_000, 16, 0), "image_too_large"),
        "jpeg 65535x65535": (jpeg_with_size(65535, 65535), "image_too_large"),
        "gif 65535x65535": (gif_with_size(65535, 65535), "image_too_large"),
        "bmp 60000x60000": (bmp_with_size(60_000, 60_000), "image_too_large"),
        "bmp height -2^31": (bmp_with_size(10, -(2**31)), "image_too_large"),
    }


VALID = valid_files()
BROKEN = broken_files()
SEEDS = {
    name: VALID[name]
    for name in (
        "exif-rotated jpeg",
        "1100x1030 jpeg (draft-mode reduction)",
        "jpeg",
        "png",
        "webp",
        "animated gif",
        "apng",
        "tiff",
        "bmp",
        "16-bit png",
        "cmyk jpeg",
    )
}


@pytest.fixture
def no_pixel_decoding(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Records every pixel decode (ImageFile.load) instead of doing it."""
    loads: list[str] = []

    def load(image: ImageFile.ImageFile) -> Any:
        loads.append(f"{image.format} {image.size}")
        raise AssertionError("pixels decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)
    yield loads


# --- tests ---


@pytest.mark.parametrize("name", VALID)
def test_every_kind_of_valid_file_hashes(name: str) -> None:
    hashes = bounded(hash_image, VALID[name])
    assert_valid_hashes(hashes)
    sha256, probes = bounded(query_hashes, VALID[name])
    assert sha256 == hashes.sha256
    assert probes[0].pdq == hashes.pdq and probes[0].phash == hashes.phash
    assert [pdq for pdq, _ in bounded(pdq_dihedral, VALID[name])][0] == hashes.pdq


def test_the_corpus_holds_what_it_says() -> None:
    """The modes and animations the decoder must cope with are really in the files."""
    modes = {name: Image.open(io.BytesIO(VALID[name])).mode for name in VALID}
    assert modes["cmyk jpeg"] == "CMYK"
    assert modes["16-bit png"] in ("I;16", "I")
    assert modes["palette png"] == "P" and modes["palette png with transparency"] == "P"
    assert "transparency" in Image.open(io.BytesIO(VALID["palette png with transparency"])).info
    assert modes["float tiff"] == "F"
    for name in ("animated gif", "animated webp", "apng"):
        assert getattr(Image.open(io.BytesIO(VALID[name])), "n_frames", 1) == 3, name
    rotated = hash_image(VALID["exif-rotated jpeg"])
    assert (rotated.width, rotated.height) == (40, 48)  # as displayed: turned a quarter


def test_an_animation_hashes_its_first_frame() -> None:
    first = encoded(frames()[0], "PNG")
    for name in ("animated gif", "animated webp", "apng"):
        # GIF quantizes to a palette and WebP is lossy: near the first frame, not equal to it.
        distance = (
            int(hash_image(VALID[name]).pdq, 16) ^ int(hash_image(first).pdq, 16)
        ).bit_count()
        assert distance <= 31, (name, distance)


@pytest.mark.parametrize("name", BROKEN)
def test_broken_files_are_refused_with_the_reason(name: str) -> None:
    data, code = BROKEN[name]
    for function in (hash_image, query_hashes, pdq_dihedral):
        with pytest.raises(MalformedError) as refused:
            bounded(function, data)
        assert refused.value.code == code, (function.__name__, str(refused.value))
        assert str(refused.value).startswith("fuzzed: ")


@pytest.mark.parametrize(
    "name", [n for n, (_, code) in BROKEN.items() if code == "image_too_large"]
)
def test_decompression_bombs_are_refused_before_their_pixels_are_decoded(
    name: str, no_pixel_decoding: list[str]
) -> None:
    with pytest.raises(MalformedError) as refused:
        hash_image(BROKEN[name][0], "bomb")
    assert refused.value.code == "image_too_large"
    assert no_pixel_decoding == []


def test_a_hanging_decode_fails_the_test_instead_of_stalling_it() -> None:
    release = threading.Event()

    def hang(data: bytes, name: str) -> None:
        release.wait(30)

    with pytest.raises(pytest.fail.Exception, match="still running after 0.2 s"):
        bounded(hang, b"\x00", bound_s=0.2)
    release.set()


# --- byte mutations of valid files ---


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A seed file with one to four edits: byte flips, overwrites, insertions, deletions, a
    truncation. Positions lean towards the start, where the headers are."""
    data = bytearray(draw(st.sampled_from(sorted(SEEDS.values()))))
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        head = min(len(data) - 1, draw(st.sampled_from([64, 512, len(data) - 1])))
        at = draw(st.integers(0, head))
        edit = draw(st.sampled_from(["flip", "overwrite", "insert", "delete", "truncate"]))
        if edit == "flip":
            data[at] ^= draw(st.integers(1, 255))
        elif edit == "overwrite":
            chunk = draw(
                st.sampled_from([b"\x00\x00", b"\xff\xff", b"\x7f\xff\xff\xff", b"\xff" * 8])
            )
            data[at : at + len(chunk)] = chunk
        elif edit == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif edit == "delete":
            del data[at : at + draw(st.integers(1, 64))]
        else:
            del data[at:]
    return bytes(data)


FUZZ = settings(max_examples=1500, deadline=None, derandomize=True, database=None)


@FUZZ
@given(data=mutated())
def test_mutated_files_hash_or_are_refused(data: bytes) -> None:
    hashes = hashes_or_refusal(hash_image, data)
    if hashes is not None:
        assert_valid_hashes(hashes)


@settings(FUZZ, max_examples=400)
@given(data=mutated())
def test_mutated_files_give_lookup_probes_or_are_refused(data: bytes) -> None:
    probes = hashes_or_refusal(query_hashes, data)
    if probes is not None:
        assert len(probes[1]) >= 8


@settings(FUZZ, max_examples=300)
@given(data=st.binary(max_size=2048))
def test_random_bytes_are_refused(data: bytes) -> None:
    assert hashes_or_refusal(hash_image, data) is None
