"""Image bytes -> the exact and perceptual hashes a capture claim carries (docs/design.md §4.6-4.7).

`hash_image` returns the SHA-256 of the file bytes, the oriented pixel size, the media type, the
PDQ hash with its quality, and the imagehash pHash. `pdq_dihedral` returns the eight PDQ
variants (rotations and flips) a near-duplicate lookup searches.

Decoding is defensive:

* Only the formats in `FORMATS` are opened (no EPS/PSD/ICO/... plugins on untrusted bytes).
* A pixel limit, `max_pixels` (default: Pillow's decompression-bomb limit of 89,478,485; the
  server's PROV_MAX_IMAGE_PIXELS), is checked from the header, before any pixel data is
  decoded: a file with more pixels raises `TooLargeError(code="image_too_large")`, and so does
  one Pillow itself refuses to open (`DecompressionBombError`, over twice its
  `Image.MAX_IMAGE_PIXELS`).
* Every image is fully decoded (`load()`), with `ImageFile.LOAD_TRUNCATED_IMAGES` False (we
  refuse to run if some other code switched it on), so a truncated file raises
  `MalformedError(code="image_unreadable")` instead of hashing a half-grey picture.
* The EXIF orientation is applied (`ImageOps.exif_transpose`) before hashing, so a photo hashes
  as it is displayed; `width`/`height` are the displayed size of the full image.

Preprocessing ("prep-v1", named in `ALGORITHMS`): the first frame, EXIF orientation applied,
reduced by a power-of-two factor s in {1, 2, 4, 8} - the largest with both sides still >= 512
pixels, i.e. s <= min(w // 512, h // 512) - then converted to 8-bit RGB (16-bit greyscale is
scaled by 1/256, alpha is dropped). JPEG (and MPO, the multi-picture JPEG many cameras write)
get the reduction from libjpeg's DCT scaling through Pillow's draft mode, which skips most of
the inverse DCT and colour conversion; other formats decode fully and use `Image.reduce(s)`
(box average). PDQ then downsamples to 64x64 (Jarosz tent filter) and keeps a 16x16 DCT, and
pHash resizes to 32x32 and keeps an 8x8 DCT, so a >= 512-pixel short side (>= 8 source pixels
per PDQ cell) keeps what both hashes look at.

Why a 512-pixel floor: against a full-resolution decode, draft mode changes a few PDQ bits
(at most a quarter of the match radius of 31; pHash none) and makes the decode an order of
magnitude faster; a lower floor changes more bits for little time, since the decode is bound by
entropy decoding. Figures: docs/benchmarks.md, "Hashing an image".

PDQ facts (pdqhash 0.2.8, the Cython binding of Meta's C++ reference):

* Bit order: `pdqhash.compute` returns a 256-element 0/1 vector whose element i is bit 255 - i
  of the C++ `Hash256` (bit k = bit k % 16 of word w[k // 16]). The reference `Hash256::format`
  prints w[15] first, each word as 4 hex digits, i.e. bit 255 first. So packing the vector
  most-significant-bit first (`numpy.packbits`) gives exactly the conventional 64-hex PDQ string.
* The binding declares its input as `char`: an int8 array is accepted and silently hashed wrong.
  We pass only C-contiguous uint8 RGB (HxWx3).
* Every PDQ hash has exactly 128 one-bits (a median threshold), so PDQ distances are even.
* Quality is 0 for flat (single-colour) pictures and anything smaller than 5x5; the bits of a flat
  picture are then floating-point noise (e.g. mid-grey is not all zeros), so such hashes must never
  decide a near-duplicate alone (docs/design.md §4.7: quality < 50).
"""

from __future__ import annotations

import functools
import hashlib
import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final, NotRequired, TypedDict

import imagehash
import numpy as np
import numpy.typing as npt
import pdqhash
from PIL import ExifTags, Image, ImageFile, ImageOps, UnidentifiedImageError

from ledger.errors import ConfigurationError, MalformedError
from registry.errors import TooLargeError
from registry.imaging.features import FEATURE_REGIONS, TRIMMED, crop_region, trim_uniform_border

__all__ = [
    "ALGORITHMS",
    "DIHEDRAL_NAMES",
    "FORMATS",
    "ImageHashes",
    "ProbeHash",
    "hash_image",
    "pdq_dihedral",
    "query_hashes",
]

# The name and version of everything that makes a stored hash, so a record says what produced it
# and a later change of algorithm, library or preprocessing can never silently mix with old ones.
# tests/test_hashing.py checks that the library versions named here are the ones installed.
ALGORITHMS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "sha256": "sha256",  # FIPS 180-4 over the exact file bytes
        "prep": "prep-v1",  # first frame, EXIF orientation, power-of-two reduction to >= 512 px, RGB
        "pdq": "pdqhash-0.2.8/pdq-v1/prep-v1",  # Meta PDQ, 256 bits, conventional hex (MSB first)
        "phash": "imagehash-4.3.2/phash-8x8/prep-v1",  # imagehash.phash(hash_size=8), str(hash)
        # claim "features" (registry.imaging.features): PDQ of fixed sub-regions of the prep-v1 pixels
        **{
            name: f"pdqhash-0.2.8/pdq-v1/prep-v1/region{box}"
            for name, box in FEATURE_REGIONS.items()
        },
        TRIMMED: "pdqhash-0.2.8/pdq-v1/prep-v1/uniform-border-trim-v1",
    }
)

# Pillow format name -> media type. MPO is a JPEG with a multi-picture index (many cameras and
# phones write it): the file is a JPEG, its primary picture is what is hashed.
FORMATS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "JPEG": "image/jpeg",
        "MPO": "image/jpeg",
        "PNG": "image/png",
        "WEBP": "image/webp",
        "AVIF": "image/avif",
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


class ClaimFields(TypedDict):
    """What a capture claim says of its image (registry.entries.formats.Claim adds who and when)."""

    sha256: str
    width: int
    height: int
    media_type: str
    pdq: str
    pdq_quality: int
    phash: str
    features: NotRequired[dict[str, str]]


@dataclass(frozen=True)
class ImageHashes:
    """The hashes and facts of one image file that a `capture/v1` claim carries."""

    sha256: str  # lowercase hex SHA-256 of the exact file bytes
    width: int  # displayed size (EXIF orientation applied) of the full image
    height: int
    media_type: str  # from Pillow's format, e.g. "image/jpeg"
    pdq: str  # 64 lowercase hex chars, conventional PDQ order (bit 255 first)
    pdq_quality: int  # 0..100
    phash: str  # 16 lowercase hex chars, imagehash.phash(img, hash_size=8)
    # registry.imaging.features name -> PDQ hex of that region; regions of PDQ quality < 50 are left out
    features: Mapping[str, str] = field(default_factory=dict)

    def claim_fields(self) -> ClaimFields:
        """The fields as they appear in a capture claim (docs/design.md §4.6)."""
        fields: ClaimFields = {
            "sha256": self.sha256,
            "width": self.width,
            "height": self.height,
            "media_type": self.media_type,
            "pdq": self.pdq,
            "pdq_quality": self.pdq_quality,
            "phash": self.phash,
        }
        if self.features:
            fields["features"] = dict(self.features)
        return fields


@dataclass(frozen=True)
class ProbeHash:
    """One hash a lookup searches with: the query as given, turned, trimmed or cut to a region."""

    name: str  # a DIHEDRAL_NAMES entry, "trimmed", or a region probe (registry.imaging.features)
    pdq: str
    quality: int
    phash: str  # pHash of the whole query as this probe sees it (turned, or trimmed)


@dataclass(frozen=True)
class _Decoded:
    rgb: Image.Image  # oriented, reduced, mode RGB, loaded
    width: int  # displayed size of the full image
    height: int
    media_type: str


def hash_image(
    data: bytes, name: str = "image", *, max_pixels: int = DEFAULT_MAX_PIXELS
) -> ImageHashes:
    """Hash one image file. `name` (a file name or label) appears in every error message.

    Raises MalformedError with code "image_unreadable" (not an image, an unsupported format,
    truncated or corrupt), TooLargeError "image_too_large" (over `max_pixels`), and
    ConfigurationError if PIL.ImageFile.LOAD_TRUNCATED_IMAGES was switched on.
    """
    sha256 = hashlib.sha256(data).hexdigest()
    decoded = _decode(data, name, max_pixels=max_pixels)
    pdq, quality = _pdq(_rgb_array(decoded.rgb))
    return ImageHashes(
        sha256=sha256,
        width=decoded.width,
        height=decoded.height,
        media_type=decoded.media_type,
        pdq=pdq,
        pdq_quality=quality,
        phash=_phash(decoded.rgb),
        features=_features(decoded.rgb),
    )


def query_hashes(
    data: bytes, name: str = "image", *, max_pixels: int = DEFAULT_MAX_PIXELS
) -> tuple[str, list[ProbeHash]]:
    """What a lookup of this file searches with: its SHA-256, and probes - the eight dihedral
    variants first (in `pdq_dihedral`'s order, named by DIHEDRAL_NAMES), then the picture with
    its uniform borders trimmed ("trimmed", only when it has such borders) and the regions of
    registry.imaging.features (probe names "center95", "top80", "bottom80"). An image of more than
    `max_pixels` pixels raises TooLargeError before it is decoded."""
    sha256 = hashlib.sha256(data).hexdigest()
    rgb = _decode(data, name, max_pixels=max_pixels).rgb
    pixels = _rgb_array(rgb)
    probes = []
    for probe_name, transpose in zip(DIHEDRAL_NAMES, _DIHEDRAL, strict=True):
        turned = np.ascontiguousarray(transpose(pixels))
        pdq, quality = _pdq(turned)
        probes.append(ProbeHash(probe_name, pdq, quality, _phash(Image.fromarray(turned, "RGB"))))
    trimmed = trim_uniform_border(rgb)
    if trimmed is not None:
        pdq, quality = _pdq(_rgb_array(trimmed))
        probes.append(ProbeHash("trimmed", pdq, quality, _phash(trimmed)))
    whole_phash = probes[0].phash
    for feature, box in FEATURE_REGIONS.items():
        pdq, quality = _pdq(_rgb_array(crop_region(rgb, box)))
        probes.append(ProbeHash(feature_probe_name(feature), pdq, quality, whole_phash))
    return sha256, probes


def feature_probe_name(feature: str) -> str:
    """ "pdq-top80-v1" -> "top80": the query probe that is searched against a region feature."""
    return feature.removeprefix("pdq-").rsplit("-", 1)[0]


def pdq_dihedral(data: bytes, name: str = "image") -> list[tuple[str, int]]:
    """The eight PDQ hashes of the image and of its rotations and flips, with the quality.

    Order (pdqhash's documented order; the C++ names are in brackets), as Pillow transposes of
    the displayed image - `Image.Transpose.ROTATE_90` turns counter-clockwise:

        0 original                               [Original]
        1 rotated 90 degrees counter-clockwise   [Rotate90]    Transpose.ROTATE_90
        2 rotated 180 degrees                    [Rotate180]   Transpose.ROTATE_180
        3 rotated 90 degrees clockwise           [Rotate270]   Transpose.ROTATE_270
        4 flipped top to bottom                  [FlipX]       Transpose.FLIP_TOP_BOTTOM
        5 flipped left to right                  [FlipY]       Transpose.FLIP_LEFT_RIGHT
        6 mirrored on the main diagonal          [FlipPlus1]   Transpose.TRANSPOSE
        7 mirrored on the anti-diagonal          [FlipMinus1]  Transpose.TRANSVERSE

    Entry i is the PDQ of the prepared pixels transposed by transform i, hashed afresh. pdqhash's
    own `compute_dihedral` derives the eight from one DCT, but its variants are only approximate:
    bench/robustness.py measured 10-48 bits off on 256-pixel photographs, and recall of rotated
    and flipped copies of 16-81%; exact transposes bring it to 98.5-100%, for 8 hashes a query.
    Entry 0 equals `hash_image(...).pdq`. A query that is transform T of a registered picture
    matches that picture's PDQ through the entry of T's inverse.
    """
    rgb = _rgb_array(_decode(data, name).rgb)
    return [_pdq(np.ascontiguousarray(transpose(rgb))) for transpose in _DIHEDRAL]


# ---------------------------------------------------------------------------------------------
# Decoding


def _decode(
    data: bytes,
    name: str,
    *,
    min_side: int | None = MIN_SIDE,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> _Decoded:
    """Open, check, fully decode, orient and reduce to a short side >= `min_side`.

    Other `min_side` values are for the benchmark and its measurements only: None decodes at
    full size (no draft mode, no reduction). Stored hashes always use MIN_SIDE ("prep-v1").
    """
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        raise ConfigurationError(
            "PIL.ImageFile.LOAD_TRUNCATED_IMAGES is on: truncated images would be hashed as if "
            "whole; switch it off to hash images"
        )
    try:
        img = Image.open(io.BytesIO(data), formats=_openers())
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

    with img:
        full_width, full_height = img.size
        pixels = full_width * full_height
        # Image.open read only the header: refuse here, before load() allocates the pixels.
        if pixels > max_pixels:
            raise TooLargeError(
                f"{name}: image too large ({full_width}x{full_height} = {pixels} pixels, "
                f"limit {max_pixels}); send a smaller image",
                code="image_too_large",
            )
        if full_width < 1 or full_height < 1:
            raise MalformedError(f"{name}: image has no pixels", code="image_unreadable")
        fmt = img.format or ""
        try:
            scale = 1 if min_side is None else _reduction(full_width, full_height, min_side)
            if min_side is not None and scale > 1 and fmt in _JPEG_LIKE:
                img.draft("RGB", (min_side, min_side))  # same scale rule as _reduction
            img.load()  # the full decode: a truncated or corrupt file fails here
            # Not drafted (a format without draft mode, or a draft Pillow refused): reduce below.
            needs_reduce = scale > 1 and img.size == (full_width, full_height)
            orientation = img.getexif().get(ExifTags.Base.Orientation, 1)
            rgb = _to_rgb(ImageOps.exif_transpose(img))
            if needs_reduce:
                rgb = rgb.reduce(scale)
            if orientation in _SWAPPING_ORIENTATIONS:
                full_width, full_height = full_height, full_width
        except Exception as exc:  # decoders raise OSError, SyntaxError, ValueError, EOFError...
            raise MalformedError(
                f"{name}: unreadable, truncated or corrupt image ({exc})", code="image_unreadable"
            ) from exc

    return _Decoded(rgb=rgb, width=full_width, height=full_height, media_type=FORMATS[fmt])


@functools.cache
def _openers() -> tuple[str, ...]:
    """The Pillow plugins to try: FORMATS without MPO (the JPEG plugin opens MPO files) and
    without plugins this Pillow build lacks (AVIF needs libavif)."""
    Image.init()
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


def _rgb_array(rgb: Image.Image) -> npt.NDArray[np.uint8]:
    arr = np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8))
    if arr.ndim != 3 or arr.shape[2] != 3:  # pdqhash would hash anything it is given
        raise ValueError(f"expected an HxWx3 RGB array, got shape {arr.shape}")
    return arr


# ---------------------------------------------------------------------------------------------
# Hashes


_Array = npt.NDArray[np.uint8]
# Names of the eight dihedral variants, in pdq_dihedral's order (Pillow's transposes).
DIHEDRAL_NAMES: Final = (
    "original",
    "rotate-90",
    "rotate-180",
    "rotate-270",
    "flip-top-bottom",
    "flip-left-right",
    "transpose",
    "transverse",
)
# docs/design.md §4.7, defined here once for the whole registry: a PDQ match is distance <= PDQ_RADIUS
# (of 256 bits), and a PDQ of quality below MIN_QUALITY never decides a match alone.
PDQ_RADIUS: Final = 31
MIN_QUALITY: Final = 50
# The eight dihedral transposes, in pdq_dihedral's order, on HxWx3 arrays (rot90 turns
# counter-clockwise, like Pillow's ROTATE_90).
_DIHEDRAL: Final[tuple[Callable[[_Array], _Array], ...]] = (
    lambda a: a,
    lambda a: np.rot90(a, 1),
    lambda a: np.rot90(a, 2),
    lambda a: np.rot90(a, 3),
    lambda a: a[::-1],
    lambda a: a[:, ::-1],
    lambda a: np.transpose(a, (1, 0, 2)),
    lambda a: np.rot90(a, 2).transpose(1, 0, 2),
)


def _features(rgb: Image.Image) -> dict[str, str]:
    """The claim's `features`: each region's PDQ, and the trimmed picture's when it has uniform
    borders; any of quality < 50 is left out (it could never decide a match)."""
    regions = {name: crop_region(rgb, box) for name, box in FEATURE_REGIONS.items()}
    trimmed = trim_uniform_border(rgb)
    if trimmed is not None:
        regions[TRIMMED] = trimmed
    features = {}
    for name, region in regions.items():
        pdq, quality = _pdq(_rgb_array(region))
        if quality >= MIN_QUALITY:
            features[name] = pdq
    return features


def _pdq(arr: npt.NDArray[np.uint8]) -> tuple[str, int]:
    vector, quality = pdqhash.compute(arr)
    return _pdq_hex(vector), int(quality)


def _pdq_hex(vector: npt.NDArray[np.integer]) -> str:
    """pdqhash's 0/1 vector (element 0 = bit 255) -> the conventional 64-hex PDQ string."""
    bits = np.asarray(vector, dtype=np.uint8)
    if bits.shape != (256,):
        raise ValueError(f"expected 256 PDQ bits, got shape {bits.shape}")
    return np.packbits(bits).tobytes().hex()


def _phash(rgb: Image.Image) -> str:
    return str(imagehash.phash(rgb, hash_size=8))
