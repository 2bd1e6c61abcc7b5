"""Where a capture's extra perceptual hashes are taken (docs/design.md §4.6 `features`).

One global PDQ misses the edits fact-checkers meet most after re-encoding: a crop of a few
percent, a banner across the top or bottom, a border or a screenshot's canvas around the picture.
So a claim also carries the PDQ of a few fixed sub-regions of the prepared picture, and a lookup
hashes the same sub-regions of the query, and the query with its uniform borders trimmed.
This module is the geometry only (pixels in, pixels out); `registry.imaging.hashing` hashes the results.

Chosen by measurement (bench/robustness.py, 68 photographs, distances of the correct original):

* `pdq-center95-v1`, the middle 95% of each side: a query cropped to 95% matched its original's
  global PDQ in 3% of cases (median distance 54), and this feature in 98.5% (median 12);
* `pdq-top80-v1` / `pdq-bottom80-v1`, all but the bottom / top 20%: a banner over the bottom 15%
  left 15% recall on the global PDQ (median 50), and 100% here (median 0);
* `pdq-trimmed-v1`, the picture inside its uniform borders, only when it has some: a query's own
  borders are trimmed before it is hashed (a pad or a screenshot's canvas: 0% -> 85-87%), and a
  registered picture that had borders of its own (a dark sky, a black frame) is matched on its
  trimmed PDQ too.

A feature is PDQ over the same prepared pixels as the claim's `pdq` (prep-v1); one whose PDQ
quality is below 50 is left out of the claim, since it could never decide a match.
"""

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

import numpy as np
import numpy.typing as npt
from PIL import Image

__all__ = ["FEATURE_NAMES", "FEATURE_REGIONS", "TRIMMED", "crop_region", "trim_uniform_border"]

Box = tuple[float, float, float, float]  # left, top, right, bottom as fractions of the sides

# Feature name -> the region of the prepared picture it hashes. The names are versioned: a
# change of region is a new name, never a silent change of meaning.
FEATURE_REGIONS: Final[Mapping[str, Box]] = MappingProxyType(
    {
        "pdq-center95-v1": (0.025, 0.025, 0.975, 0.975),
        "pdq-top80-v1": (0.0, 0.0, 1.0, 0.8),
        "pdq-bottom80-v1": (0.0, 0.2, 1.0, 1.0),
    }
)
TRIMMED: Final = "pdq-trimmed-v1"
# Every feature a lookup searches; each value is a PDQ hash (64 hex). Claims may carry others:
# they are logged and signed, but not indexed.
FEATURE_NAMES: Final = (*FEATURE_REGIONS, TRIMMED)

TRIM_TOLERANCE: Final = 10  # a pixel is "background" within this many levels of its line's median
TRIM_UNIFORM_SHARE: Final = 0.97  # a line is uniform when this share of its pixels is background
TRIM_MIN_KEEP: Final = 0.25  # never trim a side to less than this share of its length
MEDIAN_STRIDE: Final = 8  # a line's reference colour is the median of every 8th pixel
QUICK_SIDE: Final = 128  # the reduced copy that tells border-free pictures apart


def crop_region(img: Image.Image, box: Box) -> Image.Image:
    width, height = img.size
    left, top, right, bottom = box
    return img.crop(
        (round(left * width), round(top * height), round(right * width), round(bottom * height))
    )


def trim_uniform_border(img: Image.Image) -> Image.Image | None:
    """The picture inside its uniform borders, or None when it has none.

    Keeps the longest run of non-uniform rows, then the longest run of non-uniform columns within
    it. A line is uniform when >= 97% of its pixels lie within 10 levels (every channel) of the
    line's median colour - a pad, a letterbox, the canvas around a pasted picture; a title bar
    with text is a short non-uniform run of its own, so it loses to the picture. Real photographs
    rarely have such lines, except dark skies and frames: that is why a lookup searches the
    trimmed hash *beside* the untrimmed one, never instead of it.

    Most photographs have no border at all, and they are told apart cheaply: if no row or
    column of a copy reduced to a short side of about QUICK_SIDE pixels is uniform, there is
    nothing to trim (~3 ms for a 1000x750 picture). Otherwise the lines are judged at full
    size (~60 ms): judging them on the reduced copy instead lost 5-10 points of recall on pads
    and screenshots in bench/robustness.py, because averaging makes thin content look uniform.
    """
    rgb = img.convert("RGB")
    if not _may_have_border(rgb):
        return None
    pixels = np.asarray(rgb, dtype=np.uint8)
    top, bottom = _kept_span(_uniform_lines(pixels))
    left, right = _kept_span(_uniform_lines(pixels[top:bottom].transpose(1, 0, 2)))
    if (left, top, right, bottom) == (0, 0, img.width, img.height):
        return None
    return img.crop((left, top, right, bottom))


def _may_have_border(rgb: Image.Image) -> bool:
    """Is any row or column of a reduced copy uniform? (Not only the outermost: the trim keeps
    the longest non-uniform run, so a uniform band inside counts too - checking the edges only
    lost a retina tile with a black band in bench/robustness.py.)"""
    factor = max(1, min(rgb.width, rgb.height) // QUICK_SIDE)
    small = np.asarray(rgb.reduce(factor) if factor > 1 else rgb, dtype=np.uint8)
    return bool(_uniform_lines(small).any() or _uniform_lines(small.transpose(1, 0, 2)).any())


def _uniform_lines(rows: npt.NDArray[np.uint8]) -> npt.NDArray[np.bool_]:
    """For each row of an (h, w, 3) array: are >= 97% of its pixels near its median colour?"""
    pixels = rows.astype(np.int16)
    median = np.median(pixels[:, ::MEDIAN_STRIDE], axis=1, keepdims=True)
    far = (np.abs(pixels - median) > TRIM_TOLERANCE).view(np.uint8)
    # One channel off makes the pixel off; OR-ing the three planes beats a max over axis 2.
    off = far[..., 0] | far[..., 1] | far[..., 2]
    return np.asarray(off.mean(axis=1) <= 1 - TRIM_UNIFORM_SHARE)


def _kept_span(uniform: npt.NDArray[np.bool_]) -> tuple[int, int]:
    """[start, end) of the longest run of non-uniform lines; the whole span when that run is
    shorter than TRIM_MIN_KEEP of it (or when no line is uniform)."""
    size = len(uniform)
    best, start = (0, 0), None
    for i, flat in enumerate([*uniform.tolist(), True]):
        if not flat and start is None:
            start = i
        elif flat and start is not None:
            if i - start > best[1] - best[0]:
                best = (start, i)
            start = None
    if best[1] - best[0] < max(1, round(size * TRIM_MIN_KEEP)):
        return 0, size
    return best
