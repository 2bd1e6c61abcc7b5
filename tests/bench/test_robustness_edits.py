"""The edit classes of bench.robustness stay inside the bounds issue 18 gives them, whatever
the seed draws: measured on the edited pictures where that can be done (sizes, changed
pixels), read from the parameters drawn otherwise (angles, a screenshot's coverage)."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
from PIL import Image

from tests.support.edit_classes import BY_NAME, variants
from tests.support.image_edits import ASPECTS

SEEDS = range(12)


def _photo() -> Image.Image:
    """A 3:2 picture with structure everywhere (so any change to a pixel shows)."""
    y, x = np.mgrid[0:192, 0:288]
    pixels = np.stack([(x * 7 + y) % 256, (y * 5 + x * 2) % 256, (x * y) % 256], axis=2)
    return Image.fromarray(pixels.astype(np.uint8), "RGB")


def _edited(name: str, seed: int) -> tuple[Image.Image, str]:
    ((data, params),) = variants(BY_NAME[name], seed, "photo", _photo(), 1)
    with Image.open(io.BytesIO(data)) as img:
        return img.convert("RGB"), params


@pytest.mark.parametrize("seed", SEEDS)
def test_crops_keep_80_to_95_percent_of_each_side(seed: int) -> None:
    img, _ = _edited("crop 80-95%", seed)
    assert 0.79 <= img.width / 288 <= 0.96 and 0.79 <= img.height / 192 <= 0.96


@pytest.mark.parametrize("seed", SEEDS)
def test_aspect_crops_reach_one_of_the_platform_ratios(seed: int) -> None:
    img, _ = _edited("aspect crop", seed)
    assert min(abs(img.width / img.height - r) for r in ASPECTS.values()) < 0.02
    assert img.height == 192 or img.width == 288  # centred crops keep one whole side


@pytest.mark.parametrize("seed", SEEDS)
def test_rotations_turn_by_1_to_7_degrees(seed: int) -> None:
    _, params = _edited("rotate 1-7deg", seed)
    match = re.match(r"rotate ([+-][0-9.]+)", params)
    assert match and 1.0 <= abs(float(match.group(1))) <= 7.0


@pytest.mark.parametrize("seed", SEEDS)
def test_pads_add_at_most_a_quarter_of_each_side(seed: int) -> None:
    img, _ = _edited("pad", seed)
    assert 288 < img.width <= 288 * 1.5 + 1 or 192 < img.height <= 192 * 1.5 + 1
    assert img.width <= 288 * 1.5 + 1 and img.height <= 192 * 1.5 + 1


@pytest.mark.parametrize("seed", SEEDS)
def test_captions_cover_at_most_a_fifth(seed: int) -> None:
    img, params = _edited("caption", seed)
    if "added" in params:
        assert 192 < img.height <= 192 * 1.2 + 2
    else:
        changed = (np.asarray(img) != np.asarray(_photo())).any(axis=2)
        assert 0 < changed.mean() <= 0.21


@pytest.mark.parametrize("seed", SEEDS)
def test_stickers_cover_at_most_a_tenth(seed: int) -> None:
    img, _ = _edited("stickers", seed)
    changed = (np.asarray(img) != np.asarray(_photo())).any(axis=2)
    assert 0 < changed.mean() <= 0.10


@pytest.mark.parametrize("seed", SEEDS)
def test_screenshots_show_the_picture_on_5_to_70_percent_of_the_screen(seed: int) -> None:
    img, params = _edited("screenshot", seed)
    match = re.search(r"covering ([0-9.]+)", params)
    assert match and 0.05 <= float(match.group(1)) <= 0.70
    assert img.width * img.height >= 1024 * 768  # a real screen, larger than the picture
