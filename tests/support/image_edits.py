"""Edit classes: each turns a registered picture into the bytes a fact-checker would look up,
with its parameters drawn from a numpy Generator - so a class is a family of edits, and a seed
picks one instance of each for each photo.

`CLASSES` lists them in report order: today's classes ("found today", goal 99%) and issue 18's
(goals from the issue). Every edit but a re-encode is saved as PNG, so only the edit itself is
measured; a chain that ends with its JPEG step is looked up as those JPEG bytes.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from typing import Final

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter

from tests.support.image_overlays import Rng, colour

Edit = Callable[[Image.Image, Rng], tuple[Image.Image, str]]

ANCHORS: Final = {
    "centre": (0.5, 0.5),
    "top-left": (0.0, 0.0),
    "top": (0.5, 0.0),
    "top-right": (1.0, 0.0),
    "right": (1.0, 0.5),
    "bottom-right": (1.0, 1.0),
    "bottom": (0.5, 1.0),
    "bottom-left": (0.0, 1.0),
    "left": (0.0, 0.5),
}
ASPECTS: Final = {"1:1": 1.0, "4:5": 0.8, "9:16": 9 / 16, "16:9": 16 / 9}
FOUND_TODAY: Final = "found today"
ISSUE_18: Final = "issue 18"


def png(img: Image.Image) -> bytes:
    out = io.BytesIO()
    img.save(out, format="PNG", compress_level=1)
    return out.getvalue()


def encoded(img: Image.Image, fmt: str, quality: int) -> bytes:
    out = io.BytesIO()
    img.save(out, format=fmt, quality=quality)
    return out.getvalue()


def decoded(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as img:
        return img.convert("RGB")


def _crop_box(
    size: tuple[int, int], keep: tuple[float, float], anchor: str
) -> tuple[int, int, int, int]:
    width, height = size
    new_w, new_h = max(8, round(width * keep[0])), max(8, round(height * keep[1]))
    ax, ay = ANCHORS[anchor]
    left, top = round((width - new_w) * ax), round((height - new_h) * ay)
    return (left, top, left + new_w, top + new_h)


def cropper(low: float, high: float) -> Edit:
    """Keeps low..high of each side (each side drawn on its own), at any of the 9 anchors."""

    def crop(img: Image.Image, rng: Rng) -> tuple[Image.Image, str]:
        keep = (float(rng.uniform(low, high)), float(rng.uniform(low, high)))
        anchor = str(rng.choice(list(ANCHORS)))
        box = _crop_box(img.size, keep, anchor)
        return img.crop(box), f"crop {keep[0]:.2f}x{keep[1]:.2f} at {anchor}"

    return crop


def aspect(img: Image.Image, rng: Rng) -> tuple[Image.Image, str]:
    """A centred crop to 1:1, 4:5, 9:16 or 16:9 (one the picture does not already have)."""
    width, height = img.size
    ratio = width / height
    choices = [name for name, r in ASPECTS.items() if abs(math.log(r / ratio)) > 0.05]
    name = str(rng.choice(choices))
    target = ASPECTS[name]
    keep = (target / ratio, 1.0) if target < ratio else (1.0, ratio / target)
    return img.crop(_crop_box(img.size, keep, "centre")), f"aspect {name} from {ratio:.2f}"


def _inscribed(width: int, height: int, angle: float) -> tuple[float, float]:
    """The largest axis-aligned rectangle inside a width x height picture turned by `angle`."""
    sin, cos = abs(math.sin(math.radians(angle))), abs(math.cos(math.radians(angle)))
    long, short = max(width, height), min(width, height)
    if short <= 2 * sin * cos * long or abs(sin - cos) < 1e-10:
        x = 0.5 * short
        w, h = (x / sin, x / cos) if width >= height else (x / cos, x / sin)
    else:
        cos2 = cos * cos - sin * sin
        w, h = (width * cos - height * sin) / cos2, (height * cos - width * sin) / cos2
    return w, h


def rotate(img: Image.Image, rng: Rng) -> tuple[Image.Image, str]:
    """1-7 degrees either way; then the corners cropped away, or kept filled with a colour
    (the picture's size kept, or the canvas grown to hold all of it)."""
    angle = float(rng.uniform(1.0, 7.0) * rng.choice([-1.0, 1.0]))
    mode = str(rng.choice(["cropped", "filled", "expanded"]))
    fill = colour(rng)
    turned = img.rotate(angle, Image.Resampling.BICUBIC, expand=mode == "expanded", fillcolor=fill)
    if mode == "cropped":
        w, h = _inscribed(img.width, img.height, angle)
        left, top = (img.width - w) / 2, (img.height - h) / 2
        turned = turned.crop(
            (math.ceil(left), math.ceil(top), math.floor(left + w), math.floor(top + h))
        )
        return turned, f"rotate {angle:+.1f} corners cropped"
    return turned, f"rotate {angle:+.1f} corners {mode} {fill}"


def mirror(img: Image.Image, rng: Rng) -> tuple[Image.Image, str]:
    return img.transpose(Image.Transpose.FLIP_LEFT_RIGHT), "mirror"


def resize(low: float, high: float) -> Edit:
    def edit(img: Image.Image, rng: Rng) -> tuple[Image.Image, str]:
        factor = float(math.exp(rng.uniform(math.log(low), math.log(high))))
        size = (max(8, round(img.width * factor)), max(8, round(img.height * factor)))
        return img.resize(size, Image.Resampling.LANCZOS), f"resize x{factor:.2f}"

    return edit


def jpeg(low: int, high: int) -> Edit:
    def edit(img: Image.Image, rng: Rng) -> tuple[Image.Image, str]:
        quality = int(rng.integers(low, high + 1))
        return decoded(encoded(img, "JPEG", quality)), f"jpeg q{quality}"

    return edit


def turn(img: Image.Image, rng: Rng) -> tuple[Image.Image, str]:
    degrees = int(rng.choice([90, 180, 270]))
    return img.rotate(degrees, expand=True), f"rotate {degrees}"


def flip(img: Image.Image, rng: Rng) -> tuple[Image.Image, str]:
    if rng.integers(2):
        return img.transpose(Image.Transpose.FLIP_LEFT_RIGHT), "flip horizontal"
    return img.transpose(Image.Transpose.FLIP_TOP_BOTTOM), "flip vertical"


def recolour(img: Image.Image, rng: Rng) -> tuple[Image.Image, str]:
    """Gamma, grayscale, saturation, brightness or contrast."""
    kind = str(rng.choice(["gamma", "grayscale", "saturation", "brightness", "contrast"]))
    if kind == "grayscale":
        return img.convert("L").convert("RGB"), "grayscale"
    if kind == "gamma":
        gamma = float(rng.uniform(0.6, 1.6))
        table = [round(255 * (v / 255) ** gamma) for v in range(256)]
        return img.point(table * 3), f"gamma {gamma:.2f}"
    enhancer = {
        "saturation": ImageEnhance.Color,
        "brightness": ImageEnhance.Brightness,
        "contrast": ImageEnhance.Contrast,
    }[kind]
    factor = float(rng.uniform(0.5, 1.5) if kind == "saturation" else rng.uniform(0.8, 1.2))
    return enhancer(img).enhance(factor), f"{kind} x{factor:.2f}"


def blur(img: Image.Image, rng: Rng) -> tuple[Image.Image, str]:
    radius = float(rng.uniform(0.5, 2.0))
    return img.filter(ImageFilter.GaussianBlur(radius)), f"blur r{radius:.1f}"


def noise(img: Image.Image, rng: Rng) -> tuple[Image.Image, str]:
    sigma = float(rng.uniform(2.0, 8.0))
    pixels = np.asarray(img, dtype=np.float64) + rng.normal(0.0, sigma, (img.height, img.width, 3))
    out = Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8), "RGB")
    return out, f"noise s{sigma:.1f}"
