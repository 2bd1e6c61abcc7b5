"""Image bytes -> the oriented, reduced 8-bit RGB pixels every hash is taken from ("prep-v1").

Decoding is defensive:

* Only the formats in `FORMATS` are opened (no EPS/PSD/ICO/... plugins on untrusted bytes).
* A pixel limit, `max_pixels` (default: Pillow's decompression-bomb limit of 89,478,485; the
  server's PROV_MAX_IMAGE_PIXELS), is checked from the header, before any pixel data is
  decoded: a file with more pixels raises `TooLargeError(code="image_too_large")`, and so does
  one Pillow itself refuses to open (`DecompressionBombError`, over twice its
  `Image.MAX_IMAGE_PIXELS`).
* A second, optional limit, `max_decoded_pixels` (lookups: PROV_LOOKUP_MAX_PIXELS), is on the
  pixels actually decoded: for JPEG and MPO those of the draft-reduced picture libjpeg decodes
  (a 48 MP camera JPEG decodes 1/8 scale, 0.75 MP), for every other format the full image,
  since Pillow has no reduced decode for them that gives prep-v1's pixels (`Image.draft` is a
  no-op for PNG, WebP, AVIF, HEIF, TIFF, GIF and BMP; `reduce()` needs the full decode first). It is
  checked after draft mode has set the decode size, before any pixel data is decoded.
* Every image is fully decoded (`load()`), with `ImageFile.LOAD_TRUNCATED_IMAGES` False (we
  refuse to run if some other code switched it on), so a truncated file raises
  `MalformedError(code="image_unreadable")` instead of hashing a half-grey picture.
* The EXIF orientation is applied (`ImageOps.exif_transpose`) before hashing, so a photo hashes
  as it is displayed; `width`/`height` are the displayed size of the full image. HEIF states
  its orientation in the container (irot/imir), which libheif applies while decoding and
  pillow-heif then reports as EXIF orientation 1, so a phone's HEIC is turned once, as shown.

Preprocessing ("prep-v1", named in `registry.imaging.hashing.ALGORITHMS`): the first frame, EXIF
orientation applied, reduced by a power-of-two factor s in {1, 2, 4, 8} - the largest with both
sides still >= 512 pixels, i.e. s <= min(w // 512, h // 512) - then converted to 8-bit RGB
(16-bit greyscale is scaled by 1/256, alpha is dropped). JPEG (and MPO, the multi-picture JPEG
many cameras write) get the reduction from libjpeg's DCT scaling through Pillow's draft mode,
which skips most of the inverse DCT and colour conversion; other formats decode fully and use
`Image.reduce(s)` (box average). PDQ then downsamples to 64x64 (Jarosz tent filter) and keeps a
16x16 DCT, and pHash resizes to 32x32 and keeps an 8x8 DCT, so a >= 512-pixel short side (>= 8
source pixels per PDQ cell) keeps what both hashes look at.

Why a 512-pixel floor: against a full-resolution decode, draft mode changes a few PDQ bits
(at most a quarter of the match radius of 31; pHash none) and makes the decode an order of
magnitude faster; a lower floor changes more bits for little time, since the decode is bound by
entropy decoding. Figures: docs/benchmarks.md, "Hashing an image".
"""

from __future__ import annotations

import functools
import io
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

import numpy as np
import pillow_heif
from PIL import ExifTags, Image, ImageFile, ImageOps, UnidentifiedImageError

from ledger.errors import ConfigurationError, MalformedError
from registry.errors import TooLargeError

__all__ = ["DEFAULT_MAX_PIXELS", "FORMATS", "MIN_SIDE", "Decoded", "decode"]

# Pillow format name -> media type. MPO is a JPEG with a multi-picture index (many cameras and
# phones write it): the file is a JPEG, its primary picture is what is hashed.
FORMATS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "JPEG": "image/jpeg",
        "MPO": "image/jpeg",
        "PNG": "image/png",
        "WEBP": "image/webp",
        "AVIF": "image/avif",
        # HEIC/HEIF, what phones write: pillow-heif's plugin (libheif), registered by _openers.
        "HEIF": "image/heif",
        "TIFF": "image/tiff",
        "GIF": "image/gif",
        "BMP": "image/bmp",
    }
)

# The short side PDQ and pHash get (at least): see the module docstring for the measurements.
MIN_SIDE: Final = 512
# Pillow's default MAX_IMAGE_PIXELS: the default of every `max_pixels` here.
DEFAULT_MAX_PIXELS: Final = 89_478_485

_JPEG_LIKE: Final = frozenset({"JPEG", "MPO"})
_SWAPPING_ORIENTATIONS: Final = frozenset({5, 6, 7, 8})  # transpose, rotate 90/270, transverse
_SIXTEEN_BIT_MODES: Final = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I"})


@dataclass(frozen=True)
class Decoded:
    """One decoded image: the pixels to hash, and the facts a claim states of the file."""

    rgb: Image.Image  # oriented, reduced, mode RGB, loaded
    width: int  # displayed size of the full image
    height: int
    media_type: str


def decode(
    data: bytes,
    name: str,
    *,
    min_side: int | None = MIN_SIDE,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_decoded_pixels: int | None = None,
) -> Decoded:
    """Open, check, fully decode, orient and reduce to a short side >= `min_side`. `name` (a file
    name or label) appears in every error message. `max_decoded_pixels`, if given, bounds the
    pixels the decode itself produces (see the module docstring).

    Other `min_side` values are for the benchmark and its measurements only: None decodes at
    full size (no draft mode, no reduction). Stored hashes always use MIN_SIDE ("prep-v1").
    Raises the errors `registry.imaging.hashing.hash_image` documents.
    """
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        raise ConfigurationError(
            "PIL.ImageFile.LOAD_TRUNCATED_IMAGES is on: truncated images would be hashed as if "
            "whole; switch it off to hash images"
        )
    with _open(data, name) as img:
        full_width, full_height = img.size
        _check_size(full_width, full_height, name, max_pixels)
        fmt = img.format or ""
        with _unreadable(name):
            scale = _draft(img, min_side)
        if max_decoded_pixels is not None:
            _check_decoded_size(img, name, max_decoded_pixels)
        with _unreadable(name):
            rgb, swapped = _prepare(img, scale, (full_width, full_height))
    if swapped:
        full_width, full_height = full_height, full_width
    return Decoded(rgb=rgb, width=full_width, height=full_height, media_type=FORMATS[fmt])


def _open(data: bytes, name: str) -> Image.Image:
    """Image.open restricted to FORMATS, which reads only the header; its errors as ours."""
    try:
        return Image.open(io.BytesIO(data), formats=_openers())
    except Image.DecompressionBombError as exc:
        raise TooLargeError(
            f"{name}: image too large ({exc}); send a smaller image", code="image_too_large"
        ) from exc
    except UnidentifiedImageError as exc:
        raise MalformedError(
            f"{name}: not an image in a supported format ({', '.join(sorted(FORMATS))})",
            code="image_unreadable",
        ) from exc
    except Exception as exc:  # Pillow's header parsers raise many types on hostile input
        raise MalformedError(f"{name}: unreadable image ({exc})", code="image_unreadable") from exc


def _check_size(width: int, height: int, name: str, max_pixels: int) -> None:
    """Refuse from the header's size, before load() allocates the pixels."""
    pixels = width * height
    if pixels > max_pixels:
        raise TooLargeError(
            f"{name}: image too large ({width}x{height} = {pixels} pixels, "
            f"limit {max_pixels}); send a smaller image",
            code="image_too_large",
        )
    if width < 1 or height < 1:
        raise MalformedError(f"{name}: image has no pixels", code="image_unreadable")


def _check_decoded_size(img: Image.Image, name: str, max_decoded_pixels: int) -> None:
    """Refuse from the size the decode will produce (img.size, after any draft), before load()."""
    width, height = img.size
    if width * height > max_decoded_pixels:
        raise TooLargeError(
            f"{name}: image too large to look up ({width}x{height} = {width * height} pixels "
            f"decoded, limit {max_decoded_pixels}, PROV_LOOKUP_MAX_PIXELS); send a smaller "
            "image, or a JPEG, which decodes at up to 1/8 scale",
            code="image_too_large",
        )


@contextmanager
def _unreadable(name: str) -> Iterator[None]:
    """Any exception from a decoder means the file is unreadable, truncated or corrupt."""
    try:
        yield
    except Exception as exc:  # decoders raise OSError, SyntaxError, ValueError, EOFError...
        raise MalformedError(
            f"{name}: unreadable, truncated or corrupt image ({exc})", code="image_unreadable"
        ) from exc


def _draft(img: Image.Image, min_side: int | None) -> int:
    """The prep-v1 reduction factor; for JPEG, switch on draft mode for it, which sets img.size
    to what libjpeg will decode (nothing is decoded yet)."""
    scale = 1 if min_side is None else _reduction(*img.size, min_side)
    if min_side is not None and scale > 1 and img.format in _JPEG_LIKE:
        img.draft("RGB", (min_side, min_side))  # same scale rule as _reduction
    return scale


def _prepare(img: Image.Image, scale: int, full_size: tuple[int, int]) -> tuple[Image.Image, bool]:
    """Decode an opened (and drafted) image fully to prep-v1 RGB; and whether its EXIF
    orientation swaps the sides."""
    img.load()  # the full decode: a truncated or corrupt file fails here
    # Not drafted (a format without draft mode, or a draft Pillow refused): reduce below.
    needs_reduce = scale > 1 and img.size == full_size
    orientation = img.getexif().get(ExifTags.Base.Orientation, 1)
    rgb = _to_rgb(ImageOps.exif_transpose(img))
    if needs_reduce:
        rgb = rgb.reduce(scale)
    return rgb, orientation in _SWAPPING_ORIENTATIONS


@functools.cache
def _openers() -> tuple[str, ...]:
    """The Pillow plugins to try: FORMATS without MPO (the JPEG plugin opens MPO files) and
    without plugins this Pillow build lacks (AVIF needs libavif). Registers the HEIF plugin,
    once: Pillow has none of its own."""
    Image.init()
    # Thumbnails off: a file's own thumbnail is not what is hashed, and not decoded either.
    pillow_heif.register_heif_opener(thumbnails=False)
    return tuple(fmt for fmt in FORMATS if fmt in Image.OPEN)


def _reduction(width: int, height: int, min_side: int) -> int:
    """The power-of-two factor (1, 2, 4 or 8) that keeps both sides >= min_side: the same rule
    Pillow's JPEG draft mode applies to a (min_side, min_side) request."""
    most = min(width // min_side, height // min_side)
    for scale in (8, 4, 2):
        if most >= scale:
            return scale
    return 1


def _to_rgb(img: Image.Image) -> Image.Image:
    """8-bit RGB. Pillow clips 16-bit greyscale to 255 on convert, so scale it down first."""
    if img.mode == "RGB":
        return img
    if img.mode in _SIXTEEN_BIT_MODES:
        wide = np.asarray(img, dtype=np.uint32)
        grey = (np.minimum(wide, 65535) >> 8).astype(np.uint8)
        return Image.fromarray(grey, "L").convert("RGB")
    return img.convert("RGB")
