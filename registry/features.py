"""Where a capture's extra perceptual hashes are taken (DESIGN §3.5 `features`).

One global PDQ misses the edits fact-checkers meet most after re-encoding: a crop of a few
percent, a banner across the top or bottom, a border or a screenshot's canvas around the picture.
So a claim also carries the PDQ of a few fixed sub-regions of the prepared picture, and a lookup
hashes the same sub-regions of the query, and the query with its uniform borders trimmed.
This module is the geometry only (pixels in, pixels out); `registry.hashing` hashes the results.

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
TRIM_DETECT_SIDE: Final = 128  # borders are found on a copy reduced to about this short side


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

    The lines are judged on a copy reduced by an integer factor to a short side of about
    TRIM_DETECT_SIDE pixels (a 1000x750 picture in ~5 ms instead of ~200), so up to factor - 1
    pixels of a border may stay; PDQ does not notice a margin of half a percent.
    """
    rgb = img.convert("RGB")
    factor = max(1, min(rgb.width, rgb.height) // TRIM_DETECT_SIDE)
    small = rgb.reduce(factor) if factor > 1 else rgb
    pixels = np.asarray(small, dtype=np.int16)
    top, bottom = _kept_span(_uniform_lines(pixels))
    left, right = _kept_span(_uniform_lines(pixels[top:bottom].transpose(1, 0, 2)))
    if (left, top, right, bottom) == (0, 0, small.width, small.height):
        return None
    box = (
        left * factor,
        top * factor,
        min(rgb.width, right * factor),
        min(rgb.height, bottom * factor),
    )
    return img.crop(box)


def _uniform_lines(pixels: npt.NDArray[np.int16]) -> npt.NDArray[np.bool_]:
    """For each row of an (h, w, 3) array: are >= 97% of its pixels near its median colour?"""
    median = np.median(pixels, axis=1, keepdims=True)
    near = np.max(np.abs(pixels - median), axis=2) <= TRIM_TOLERANCE
    return np.asarray(near.mean(axis=1) >= TRIM_UNIFORM_SHARE)


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
