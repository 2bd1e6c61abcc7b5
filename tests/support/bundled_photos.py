"""The photographs: every real one the installed wheels carry, read from disk, and tiles of them.

Nothing is downloaded. The files are the ones shipped *inside* the wheels: scikit-image's
`skimage/data/` (not what `skimage.data` fetches with pooch), scikit-learn's
`sklearn/datasets/images/`, matplotlib's `mpl-data/sample_data/`, and PyWavelets' `pywt/data/`
(installed with ImageHash; 8-bit arrays in .npz files). A missing optional package is skipped
and named in the report, so a run says which set it measured.

A photo big enough for two or more tiles is cut into non-overlapping tiles of a photo's usual
shape - 3:2 (288x192) or 4:3 (256x192), alternating from file to file so the aspect-ratio crops
have both - and the rest of it dropped; a smaller one is used whole. Never both: a whole photo
and its own tile are the same picture, and a lookup finding one for the other is not wrong.

Tiles whose PDQ quality is below MIN_QUALITY (dark, near-uniform: the black corners of the
retina photo, the night sky of the hubble field) are not *goals* - a lookup cannot be expected to
find them - but they are registered and looked up all the same as distractors, since the
registry indexes every capture and they are exactly where false matches came from.

More distractors of that kind come from a finer grid: the half-size tiles (144x96, 128x96) of
every photo that are mostly uniform (at least UNIFORM_SHARE of their pixels within
UNIFORM_LEVELS of the tile's median colour, in every channel): black corners, night skies,
empty backgrounds. A tile whose pixels equal another's (two all-black corners) is the same
image, not a distinct one, and is kept once.
"""

from __future__ import annotations

import hashlib
import importlib.util
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
from PIL import Image

TILE_SHAPES: Final = ((288, 192), (256, 192))  # 3:2 and 4:3, landscape
IMAGE_SUFFIXES: Final = (".jpg", ".jpeg", ".png", ".webp")
UNIFORM_SHARE: Final = 0.5
UNIFORM_LEVELS: Final = 16

# (package, directory inside it, files). Left out on purpose: synthetic drawings (chessboard,
# color, logo, horse, phantom), motorcycle_right (the same scene as motorcycle_left, a true
# near-duplicate), pywt's camera (skimage's camera.png again), and tiny or multi-frame files.
SOURCES: Final[tuple[tuple[str, str, tuple[str, ...]], ...]] = (
    (
        "skimage",
        "data",
        (
            "astronaut.png",
            "brick.png",
            "camera.png",
            "cell.png",
            "chelsea.png",
            "clock_motion.png",
            "coffee.png",
            "coins.png",
            "grass.png",
            "gravel.png",
            "hubble_deep_field.jpg",
            "ihc.png",
            "microaneurysms.png",
            "moon.png",
            "motorcycle_left.png",
            "page.png",
            "retina.jpg",
            "rocket.jpg",
            "text.png",
        ),
    ),
    ("sklearn", "datasets/images", ("china.jpg", "flower.jpg")),
    ("matplotlib", "mpl-data/sample_data", ("grace_hopper.jpg",)),
    ("pywt", "data", ("ascent.npz", "aero.npz")),
)


@dataclass(frozen=True)
class Sample:
    name: str  # e.g. "retina.jpg[2,3]" (tile column, row) or "chelsea.png"
    image: Image.Image  # RGB


@dataclass(frozen=True)
class PhotoSet:
    files: tuple[str, ...]  # "package/file" of every file read
    missing_packages: tuple[str, ...]
    samples: tuple[Sample, ...]
    distractors: tuple[Sample, ...]  # mostly uniform half-size tiles


def _package_dir(package: str) -> Path | None:
    """The directory of an installed top-level package, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _read(path: Path) -> Image.Image:
    if path.suffix == ".npz":
        with np.load(path) as arrays:
            pixels = np.asarray(arrays[arrays.files[0]], dtype=np.uint8)
        return Image.fromarray(pixels).convert("RGB")
    with Image.open(path) as img:
        return img.convert("RGB")


def tiles(name: str, rgb: Image.Image, shape: tuple[int, int]) -> list[Sample]:
    tile_w, tile_h = shape
    width, height = rgb.size
    cols, rows = width // tile_w, height // tile_h
    if cols * rows < 2:
        return [Sample(name, rgb)]
    out = []
    for row, col in itertools.product(range(rows), range(cols)):
        box = (col * tile_w, row * tile_h, (col + 1) * tile_w, (row + 1) * tile_h)
        out.append(Sample(f"{name}[{col},{row}]", rgb.crop(box)))
    return out


def uniform_share(img: Image.Image) -> float:
    pixels = np.asarray(img, dtype=np.int16)
    median = np.median(pixels.reshape(-1, 3), axis=0)
    near = (np.abs(pixels - median) <= UNIFORM_LEVELS).all(axis=2)
    return float(near.mean())


def _distinct(samples: list[Sample], seen: set[bytes]) -> list[Sample]:
    out = []
    for sample in samples:
        digest = hashlib.sha256(sample.image.tobytes()).digest()
        if digest not in seen:
            seen.add(digest)
            out.append(sample)
    return out


def load_photos() -> PhotoSet:
    files: list[str] = []
    missing: list[str] = []
    samples: list[Sample] = []
    halves: list[Sample] = []
    for package, folder, names in SOURCES:
        root = _package_dir(package)
        if root is None:
            missing.append(package)
            continue
        for name in names:
            path = root / folder / name
            if not path.is_file():
                raise SystemExit(f"{path} is not in the installed {package} (never downloaded)")
            shape = TILE_SHAPES[len(files) % len(TILE_SHAPES)]
            files.append(f"{package}/{name}")
            rgb = _read(path)
            samples += tiles(name, rgb, shape)
            half = tiles(f"{name}/2", rgb, (shape[0] // 2, shape[1] // 2))
            halves += [t for t in half if uniform_share(t.image) >= UNIFORM_SHARE]
    seen: set[bytes] = set()
    samples = _distinct(samples, seen)
    return PhotoSet(tuple(files), tuple(missing), tuple(samples), tuple(_distinct(halves, seen)))


def photos_in(folder: Path) -> list[Sample]:
    """Every JPEG, PNG or WebP file in `folder`, tiled like the bundled ones (3:2 tiles)."""
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise SystemExit(f"{folder} holds no JPEG, PNG or WebP file: add photos or drop --add")
    return [t for path in paths for t in tiles(path.name, _read(path), TILE_SHAPES[0])]


def spread(samples: Sequence[Sample], limit: int | None) -> list[Sample]:
    """`limit` samples evenly spaced through the list (so across files, not the first few)."""
    if limit is None or limit >= len(samples):
        return list(samples)
    picks = sorted({round(i) for i in np.linspace(0, len(samples) - 1, limit)})
    return [samples[i] for i in picks]
