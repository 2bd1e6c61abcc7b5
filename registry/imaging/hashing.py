"""Image bytes -> the exact and perceptual hashes a capture claim carries (docs/design.md §4.6-4.7).

`hash_image` returns the SHA-256 of the file bytes, the oriented pixel size, the media type, the
PDQ hash with its quality, and the imagehash pHash. `pdq_dihedral` returns the eight PDQ
variants (rotations and flips) a near-duplicate lookup searches.

Decoding and preprocessing ("prep-v1": limits, EXIF orientation, the power-of-two reduction to
a >= 512-pixel short side) are `registry.imaging.decode`'s; this module hashes its pixels.

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

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final, NotRequired, TypedDict

import imagehash
import numpy as np
import numpy.typing as npt
import pdqhash
from PIL import Image

from registry.imaging.decode import DEFAULT_MAX_PIXELS, FORMATS, decode
from registry.imaging.features import FEATURE_REGIONS, TRIMMED, crop_region, trim_uniform_border

__all__ = [
    "ALGORITHMS",
    "DEFAULT_MAX_PIXELS",
    "DIHEDRAL_NAMES",
    "FORMATS",
    "MIN_QUALITY",
    "PDQ_RADIUS",
    "ImageHashes",
    "ProbeHash",
    "hash_image",
    "pdq_dihedral",
    "query_hashes",
]

# The name and version of everything that makes a stored hash, so a record says what produced it
# and a later change of algorithm, library or preprocessing can never silently mix with old ones.
# tests/registry/test_hashing.py checks that the library versions named here are the ones installed.
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


def hash_image(
    data: bytes, name: str = "image", *, max_pixels: int = DEFAULT_MAX_PIXELS
) -> ImageHashes:
    """Hash one image file. `name` (a file name or label) appears in every error message.

    Raises MalformedError with code "image_unreadable" (not an image, an unsupported format,
    truncated or corrupt), TooLargeError "image_too_large" (over `max_pixels`), and
    ConfigurationError if PIL.ImageFile.LOAD_TRUNCATED_IMAGES was switched on.
    """
    sha256 = hashlib.sha256(data).hexdigest()
    decoded = decode(data, name, max_pixels=max_pixels)
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
    data: bytes,
    name: str = "image",
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_decoded_pixels: int | None = None,
) -> tuple[str, list[ProbeHash]]:
    """What a lookup of this file searches with: its SHA-256, and probes - the eight dihedral
    variants first (in `pdq_dihedral`'s order, named by DIHEDRAL_NAMES), then the picture with
    its uniform borders trimmed ("trimmed", only when it has such borders) and the regions of
    registry.imaging.features (probe names "center95", "top80", "bottom80"). An image of more than
    `max_pixels` pixels, or one whose decode would produce more than `max_decoded_pixels`
    (`registry.imaging.decode`), raises TooLargeError before it is decoded."""
    sha256 = hashlib.sha256(data).hexdigest()
    rgb = decode(data, name, max_pixels=max_pixels, max_decoded_pixels=max_decoded_pixels).rgb
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
    rgb = _rgb_array(decode(data, name).rgb)
    return [_pdq(np.ascontiguousarray(transpose(rgb))) for transpose in _DIHEDRAL]


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
