"""The edit classes the benchmark reports on, with their recall goals (issue 18).

A class makes one looked-up copy of a picture from a Generator: `make(img, rng)` returns the
bytes and a description of the parameters drawn. `kind` sorts the descriptions of a class into
a few kinds, so the report can break a class down (crops by anchor, rotations by what became
of the corners, screenshots by the share of the screen the picture covers).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
from PIL import Image

from tests.support import image_edits as edits
from tests.support.image_edits import FOUND_TODAY, ISSUE_18, Edit, png
from tests.support.image_overlays import Rng, caption, pad, screenshot, stickers

Make = Callable[[Image.Image, Rng], tuple[bytes, str]]


@dataclass(frozen=True)
class EditClass:
    name: str
    group: str  # FOUND_TODAY or ISSUE_18
    goal: float  # recall goal, percent
    make: Make
    about: str


def _as_png(edit: Edit) -> Make:
    def make(img: Image.Image, rng: Rng) -> tuple[bytes, str]:
        out, params = edit(img, rng)
        return png(out), params

    return make


def reencode(img: Image.Image, rng: Rng) -> tuple[bytes, str]:
    if rng.integers(4) == 0:
        quality = int(rng.integers(60, 96))
        return edits.encoded(img, "WEBP", quality), f"webp q{quality}"
    quality = int(rng.integers(30, 96))
    return edits.encoded(img, "JPEG", quality), f"jpeg q{quality}"


CROP: Final = edits.cropper(0.80, 0.95)
CROP70: Final = edits.cropper(0.70, 0.70)
# What "mirror plus any of the above" draws from.
MIRRORED: Final[dict[str, Edit]] = {
    "crop": CROP,
    "crop70": CROP70,
    "aspect": edits.aspect,
    "rotate": edits.rotate,
    "screenshot": screenshot,
    "pad": pad,
    "caption": caption,
    "stickers": stickers,
}


def mirror_plus(img: Image.Image, rng: Rng) -> tuple[bytes, str]:
    name = str(rng.choice(list(MIRRORED)))
    out, params = MIRRORED[name](img.transpose(Image.Transpose.FLIP_LEFT_RIGHT), rng)
    return png(out), f"mirror+{params}"


def chain(img: Image.Image, rng: Rng) -> tuple[bytes, str]:
    """Resize (x0.4-0.9), JPEG (q50-85) and a crop (80-95%) or a caption, in any order; looked up
    as JPEG bytes when the JPEG step comes last."""
    third: Edit = CROP if rng.integers(2) else caption
    steps: list[Edit] = [edits.resize(0.4, 0.9), edits.jpeg(50, 85), third]
    order = [int(i) for i in rng.permutation(3)]
    done = []
    for i in order:
        if i == 1 and i == order[-1]:
            quality = int(rng.integers(50, 86))
            done.append(f"jpeg q{quality}")
            return edits.encoded(img, "JPEG", quality), "chain " + " > ".join(done)
        img, params = steps[i](img, rng)
        done.append(params)
    return png(img), "chain " + " > ".join(done)


CLASSES: Final[tuple[EditClass, ...]] = (
    EditClass("re-encode", FOUND_TODAY, 99.0, reencode, "JPEG q30-95 or WebP q60-95"),
    EditClass("resize", FOUND_TODAY, 99.0, _as_png(edits.resize(0.25, 2.0)), "x0.25-x2"),
    EditClass("rotate 90s", FOUND_TODAY, 99.0, _as_png(edits.turn), "90, 180 or 270 degrees"),
    EditClass("flip", FOUND_TODAY, 99.0, _as_png(edits.flip), "horizontal or vertical"),
    EditClass("colour", FOUND_TODAY, 99.0, _as_png(edits.recolour), "gamma, grey, saturation, ..."),
    EditClass("blur", FOUND_TODAY, 99.0, _as_png(edits.blur), "gaussian r0.5-2"),
    EditClass("noise", FOUND_TODAY, 99.0, _as_png(edits.noise), "gaussian sigma 2-8"),
    EditClass("crop 80-95%", ISSUE_18, 90.0, _as_png(CROP), "each side, 9 anchors"),
    EditClass("crop 70%", ISSUE_18, 75.0, _as_png(CROP70), "each side, 9 anchors"),
    EditClass("aspect crop", ISSUE_18, 85.0, _as_png(edits.aspect), "to 1:1, 4:5, 9:16, 16:9"),
    EditClass("rotate 1-7deg", ISSUE_18, 85.0, _as_png(edits.rotate), "corners cropped or not"),
    EditClass("screenshot", ISSUE_18, 95.0, _as_png(screenshot), "5-70% of a screen, chrome"),
    EditClass("pad", ISSUE_18, 95.0, _as_png(pad), "any colour, <= 25% each side"),
    EditClass("caption", ISSUE_18, 95.0, _as_png(caption), "<= 20%, top/bottom/both"),
    EditClass("stickers", ISSUE_18, 95.0, _as_png(stickers), "1-3 shapes, <= 10%"),
    EditClass("mirror+", ISSUE_18, 85.0, mirror_plus, "mirror, then any issue-18 edit"),
    EditClass("chain of 3", ISSUE_18, 85.0, chain, "resize, JPEG, crop or caption"),
)
BY_NAME: Final = {c.name: c for c in CLASSES}


def _coverage(params: str) -> str:
    share = float(params.split("covering ")[1].split()[0])
    return (
        "covering < 15%"
        if share < 0.15
        else "covering 15-35%"
        if share < 0.35
        else "covering > 35%"
    )


def _chain(params: str) -> str:
    return " > ".join(step.split()[0] for step in params.removeprefix("chain ").split(" > "))


def _resize(params: str) -> str:
    factor = float(params.removeprefix("resize x"))
    return "down > 2x" if factor < 0.5 else "down" if factor < 1 else "up"


KINDS: Final[dict[str, Callable[[str], str]]] = {
    "crop 80-95%": lambda p: "centred" if p.endswith("centre") else "at an edge or corner",
    "crop 70%": lambda p: "centred" if p.endswith("centre") else "at an edge or corner",
    "aspect crop": lambda p: p.split()[1],
    "rotate 1-7deg": lambda p: "corners " + p.split("corners ")[1].split()[0],
    "screenshot": _coverage,
    "caption": lambda p: " ".join(p.split()[1:4:2]),
    "mirror+": lambda p: p.removeprefix("mirror+").split()[0],
    "chain of 3": _chain,
    "resize": _resize,
    "rotate 90s": lambda p: p,
    "flip": lambda p: p,
}


def kind(edit_class: str, params: str) -> str:
    """The kind of one variant: by default the first word of its description."""
    pick = KINDS.get(edit_class)
    return pick(params) if pick else re.split(r"[ +]", params, maxsplit=1)[0]


def rng_for(seed: int, sample: str, edit_class: str) -> Rng:
    """The Generator of one (photo, class): independent of which photos or classes run."""
    key = [seed, zlib.crc32(sample.encode()), zlib.crc32(edit_class.encode())]
    return np.random.default_rng(key)


def variants(
    edit_class: EditClass, seed: int, sample: str, img: Image.Image, count: int
) -> Sequence[tuple[bytes, str]]:
    rng = rng_for(seed, sample, edit_class.name)
    return [edit_class.make(img, rng) for _ in range(count)]
