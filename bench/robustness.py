"""Near-duplicate robustness benchmark: recall and false matches on real photographs.

The photos are the ones bundled *inside* two PyPI wheels (nothing is downloaded at run time):

* scikit-image's `skimage/data/` directory - only the files that ship in the wheel (the ones
  `skimage.data` fetches with pooch are never touched): the photographs and microscope/telescope
  pictures listed in `SKIMAGE_PHOTOS`, read from disk with Pillow;
* scikit-learn's `sklearn/datasets/images/` (china.jpg, flower.jpg: what
  `sklearn.datasets.load_sample_images()` returns), read the same way.

Images with a side of at least 2 * TILE are cut into non-overlapping TILE x TILE tiles (the rest
of the picture is dropped), smaller ones are used whole. Images whose PDQ quality is below 50
(near-uniform tiles, e.g. the black corners of the retina photo) are dropped from the registered
set, and counted.

Each registered image is hashed as PNG bytes with `registry.hashing.hash_image`, and its PDQ goes
into a `NearDuplicateIndex` under leaf index = image number. Then every image goes through every
transform in `TRANSFORMS` (JPEG/WebP re-encodes produce those bytes; every other transform is
saved as PNG so only the transform itself is measured), and the query is hashed like a lookup
does (`hash_image` + `pdq_dihedral`, all 8 variants searched at radius 31). The acceptance rule
is `registry.lookup.Lookup._decisive`: a PDQ match counts alone when both qualities are >= 50,
otherwise the pHash distance must be <= 10. Accepted matches are ranked as `Lookup.lookup` ranks
them (PDQ distance, then pHash distance, then leaf index).

* hit: the correct original is the top accepted match;
* distance: min over the query's 8 PDQ variants of the Hamming distance to the correct original
  (computed directly, so it is known beyond the radius too); the table shows the median;
* false match: a query with at least one accepted match that is not its original; and over all
  unordered pairs of distinct registered images {a, b}, a pair is a false match if a lookup of
  a's registered bytes accepts b or a lookup of b's accepts a.

Configurations (columns): "baseline" (what the registry does today), "trim" (an optional
preprocessing, `trim_uniform_border`, applied to both registered and query pixels before
hashing: strips near-uniform rows and columns from the edges - a pad, a screenshot canvas and
its title bar), and "trim+dihedral" (trim, and the 8 query variants are the exact PDQs of the
8 pixel transposes instead of pdqhash's approximate dihedral hashes).

    .venv/bin/python -m bench.robustness [--out bench/results/robustness.json] [--tile 256]
        [--configs baseline trim trim+dihedral]

Goals: >= 99% recall on re-encodes, resizes, 90-degree rotations and flips; >= 90% on a 5% crop,
a text banner and a screenshot; zero false matches.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import itertools
import json
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from registry.hashing import hash_image, pdq_dihedral
from registry.lookup import MIN_QUALITY, PDQ_RADIUS, PHASH_CONFIRM
from registry.neardup import NearDuplicateIndex

RESULTS: Final = Path(__file__).parent / "results" / "robustness.json"
TILE: Final = 256
SEED: Final = 1

# Files shipped inside the scikit-image wheel (skimage/data/) that are photographs (including
# microscope, fundus and telescope pictures). Synthetic drawings (chessboard, color, logo,
# horse, phantom), a stereo twin (motorcycle_right: the same scene as motorcycle_left, a true
# near-duplicate) and tiny or multi-frame files are left out.
SKIMAGE_PHOTOS: Final = (
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
    "moon.png",
    "motorcycle_left.png",
    "page.png",
    "retina.jpg",
    "rocket.jpg",
    "text.png",
)
SKLEARN_PHOTOS: Final = ("china.jpg", "flower.jpg")

# Recall goals by transform (percent); transforms without a goal are measured only.
GOAL_REENCODE: Final = 99.0
GOAL_EDIT: Final = 90.0

Pixels = npt.NDArray[np.uint8]
Prep = Callable[[Image.Image], Image.Image]


# ---------------------------------------------------------------------------------------------
# Images


@dataclass(frozen=True)
class Sample:
    name: str  # e.g. "retina.jpg[2,3]" (tile column, row) or "chelsea.png"
    image: Image.Image  # RGB


def _package_dir(package: str) -> Path:
    """The directory of an installed top-level package, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"{package} is not installed: pip install -e '.[bench]'")
    return Path(next(iter(spec.submodule_search_locations)))


def bundled_files() -> list[Path]:
    """The photo files inside the installed scikit-image and scikit-learn packages."""
    skimage_dir = _package_dir("skimage") / "data"
    sklearn_dir = _package_dir("sklearn") / "datasets" / "images"
    paths = [skimage_dir / name for name in SKIMAGE_PHOTOS]
    paths += [sklearn_dir / name for name in SKLEARN_PHOTOS]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise SystemExit(f"bundled images missing (never downloaded): {', '.join(missing)}")
    return paths


def load_samples(tile: int) -> list[Sample]:
    samples = []
    for path in bundled_files():
        with Image.open(path) as img:
            rgb = img.convert("RGB")
        width, height = rgb.size
        if width < 2 * tile and height < 2 * tile:
            samples.append(Sample(path.name, rgb))
            continue
        for row, col in itertools.product(range(height // tile), range(width // tile)):
            box = (col * tile, row * tile, (col + 1) * tile, (row + 1) * tile)
            samples.append(Sample(f"{path.name}[{col},{row}]", rgb.crop(box)))
    return samples


# ---------------------------------------------------------------------------------------------
# Transforms: RGB image -> the bytes a fact-checker would look up


def _png(img: Image.Image) -> bytes:
    out = io.BytesIO()
    img.save(out, format="PNG", compress_level=1)
    return out.getvalue()


def _encoded(fmt: str, quality: int) -> Callable[[Image.Image], bytes]:
    def encode(img: Image.Image) -> bytes:
        out = io.BytesIO()
        img.save(out, format=fmt, quality=quality)
        return out.getvalue()

    return encode


def _as_png(edit: Callable[[Image.Image], Image.Image]) -> Callable[[Image.Image], bytes]:
    return lambda img: _png(edit(img))


def _resize(factor: float) -> Callable[[Image.Image], Image.Image]:
    def resize(img: Image.Image) -> Image.Image:
        width, height = img.size
        size = (max(1, round(width * factor)), max(1, round(height * factor)))
        return img.resize(size, Image.Resampling.LANCZOS)

    return resize


def _center_crop(keep: float) -> Callable[[Image.Image], Image.Image]:
    def crop(img: Image.Image) -> Image.Image:
        width, height = img.size
        new_w, new_h = round(width * keep), round(height * keep)
        left, top = (width - new_w) // 2, (height - new_h) // 2
        return img.crop((left, top, left + new_w, top + new_h))

    return crop


def _pad(fraction: float) -> Callable[[Image.Image], Image.Image]:
    def pad(img: Image.Image) -> Image.Image:
        width, height = img.size
        dx, dy = round(width * fraction), round(height * fraction)
        canvas = Image.new("RGB", (width + 2 * dx, height + 2 * dy), (255, 255, 255))
        canvas.paste(img, (dx, dy))
        return canvas

    return pad


def _transpose(method: Image.Transpose) -> Callable[[Image.Image], Image.Image]:
    return lambda img: img.transpose(method)


def _gamma(gamma: float) -> Callable[[Image.Image], Image.Image]:
    table = [round(255 * (v / 255) ** gamma) for v in range(256)]
    return lambda img: img.point(table * 3)


def _noise(sigma: float) -> Callable[[Image.Image], Image.Image]:
    def noise(img: Image.Image) -> Image.Image:
        rng = np.random.default_rng(SEED)
        pixels = np.asarray(img, dtype=np.float64)
        noisy = pixels + rng.normal(0.0, sigma, pixels.shape)
        return Image.fromarray(np.clip(np.rint(noisy), 0, 255).astype(np.uint8), "RGB")

    return noise


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=max(8, size))


def _banner(img: Image.Image) -> Image.Image:
    """A solid bar with white text across the bottom 15%, as news and meme edits add."""
    out = img.copy()
    width, height = out.size
    bar = max(1, round(height * 0.15))
    draw = ImageDraw.Draw(out)
    draw.rectangle((0, height - bar, width, height), fill=(180, 20, 30))
    draw.text(
        (round(width * 0.04), height - bar + bar // 6),
        "BREAKING: SEEN ONLINE",
        fill=(255, 255, 255),
        font=_font(round(bar * 0.6)),
    )
    return out


SCREEN: Final = (1280, 800)
SCREEN_SHARE: Final = 0.6
TITLE_BAR: Final = 32


def _screenshot(img: Image.Image) -> Image.Image:
    """The picture scaled to fill 60% of a 1280x800 screen (the binding side), centred on a
    light-grey canvas under a dark title bar with a window title and three buttons."""
    screen_w, screen_h = SCREEN
    width, height = img.size
    scale = SCREEN_SHARE * min(screen_w / width, (screen_h - TITLE_BAR) / height)
    shown = img.resize(
        (max(1, round(width * scale)), max(1, round(height * scale))), Image.Resampling.LANCZOS
    )
    canvas = Image.new("RGB", SCREEN, (236, 236, 236))
    draw = ImageDraw.Draw(canvas)
    draw.rectangle((0, 0, screen_w, TITLE_BAR - 1), fill=(52, 52, 58))
    for i, colour in enumerate(((237, 106, 94), (245, 191, 79), (98, 197, 84))):
        x = 14 + 22 * i
        draw.ellipse((x, 10, x + 12, 22), fill=colour)
    draw.text((110, 8), "photo.jpg - Image Viewer", fill=(230, 230, 230), font=_font(16))
    left = (screen_w - shown.width) // 2
    top = TITLE_BAR + (screen_h - TITLE_BAR - shown.height) // 2
    canvas.paste(shown, (left, top))
    return canvas


@dataclass(frozen=True)
class Transform:
    name: str
    apply: Callable[[Image.Image], bytes]
    goal: float | None  # recall goal in percent


T = Image.Transpose
TRANSFORMS: Final[tuple[Transform, ...]] = (
    Transform("jpeg q95", _encoded("JPEG", 95), GOAL_REENCODE),
    Transform("jpeg q75", _encoded("JPEG", 75), GOAL_REENCODE),
    Transform("jpeg q50", _encoded("JPEG", 50), GOAL_REENCODE),
    Transform("jpeg q30", _encoded("JPEG", 30), GOAL_REENCODE),
    Transform("webp q80", _encoded("WEBP", 80), GOAL_REENCODE),
    Transform("resize x0.5", _as_png(_resize(0.5)), GOAL_REENCODE),
    Transform("resize x0.25", _as_png(_resize(0.25)), GOAL_REENCODE),
    Transform("resize x2", _as_png(_resize(2.0)), GOAL_REENCODE),
    Transform("crop 95%", _as_png(_center_crop(0.95)), GOAL_EDIT),
    Transform("crop 90%", _as_png(_center_crop(0.90)), None),
    Transform("pad 10% white", _as_png(_pad(0.10)), None),
    Transform("rotate 90", _as_png(_transpose(T.ROTATE_90)), GOAL_REENCODE),
    Transform("rotate 180", _as_png(_transpose(T.ROTATE_180)), GOAL_REENCODE),
    Transform("rotate 270", _as_png(_transpose(T.ROTATE_270)), GOAL_REENCODE),
    Transform("flip horizontal", _as_png(_transpose(T.FLIP_LEFT_RIGHT)), GOAL_REENCODE),
    Transform("flip vertical", _as_png(_transpose(T.FLIP_TOP_BOTTOM)), GOAL_REENCODE),
    Transform("rotate 4deg", _as_png(lambda img: img.rotate(4, Image.Resampling.BICUBIC)), None),
    Transform("gamma 0.7", _as_png(_gamma(0.7)), None),
    Transform("gamma 1.5", _as_png(_gamma(1.5)), None),
    Transform("blur r2", _as_png(lambda img: img.filter(ImageFilter.GaussianBlur(2))), None),
    Transform("noise s8", _as_png(_noise(8.0)), None),
    Transform("grayscale", _as_png(lambda img: img.convert("L")), None),
    Transform("text banner", _as_png(_banner), GOAL_EDIT),
    Transform("screenshot", _as_png(_screenshot), GOAL_EDIT),
)


# ---------------------------------------------------------------------------------------------
# Optional preprocessing (measured here only; the registry's "prep-v1" does not do it)

TRIM_TOLERANCE: Final = 10  # max channel difference from a line's median colour
TRIM_UNIFORM_SHARE: Final = 0.97  # a line is uniform when this share of it is within tolerance
TRIM_MIN_KEEP: Final = 0.25  # never keep less than this share of a side


def _uniform_lines(pixels: npt.NDArray[np.int16]) -> npt.NDArray[np.bool_]:
    """For each row of an (h, w, 3) array: are >= 97% of its pixels near its median colour?"""
    median = np.median(pixels, axis=1, keepdims=True)
    near = np.max(np.abs(pixels - median), axis=2) <= TRIM_TOLERANCE
    return np.asarray(near.mean(axis=1) >= TRIM_UNIFORM_SHARE)


def _kept_span(uniform: npt.NDArray[np.bool_]) -> tuple[int, int]:
    """The longest run of non-uniform lines (the whole span if it is under TRIM_MIN_KEEP, or if
    no line is uniform)."""
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


def trim_uniform_border(img: Image.Image) -> Image.Image:
    """Keep the longest run of non-uniform rows, then of non-uniform columns within it: strips
    pads, letterboxes, and a screenshot's canvas and title bar (a bar with text is a short run
    of its own). A uniform row or column is one where >= 97% of the pixels are within 10 levels
    of its median colour, which real photo content almost never is."""
    rgb = img.convert("RGB")
    pixels = np.asarray(rgb, dtype=np.int16)
    top, bottom = _kept_span(_uniform_lines(pixels))
    left, right = _kept_span(_uniform_lines(pixels[top:bottom].transpose(1, 0, 2)))
    if (left, top, right, bottom) == (0, 0, rgb.width, rgb.height):
        return rgb
    return rgb.crop((left, top, right, bottom))


# ---------------------------------------------------------------------------------------------
# Hashing and matching


@dataclass(frozen=True)
class Hashes:
    variants: tuple[bytes, ...]  # PDQ of the image as given first, then the dihedral variants
    quality: int
    phash: int


@dataclass(frozen=True)
class Config:
    name: str
    prep: Prep | None  # applied to the decoded pixels before hashing, both sides
    exact_dihedral: bool  # query variants = PDQ of the 8 pixel transposes


CONFIGS: Final = {
    "baseline": Config("baseline", None, False),
    "trim": Config("trim", trim_uniform_border, False),
    "trim+dihedral": Config("trim+dihedral", trim_uniform_border, True),
}

# registry.hashing.pdq_dihedral's order, as Pillow transposes (None = as given).
DIHEDRAL: Final[tuple[Image.Transpose | None, ...]] = (
    None,
    T.ROTATE_90,
    T.ROTATE_180,
    T.ROTATE_270,
    T.FLIP_TOP_BOTTOM,
    T.FLIP_LEFT_RIGHT,
    T.TRANSPOSE,
    T.TRANSVERSE,
)


def hash_bytes(data: bytes, config: Config) -> Hashes:
    """The hashes a lookup of `data` would use under `config`."""
    if config.prep is not None:
        with Image.open(io.BytesIO(data)) as img:
            data = _png(config.prep(img.convert("RGB")))
    base = hash_image(data)
    if config.exact_dihedral:
        with Image.open(io.BytesIO(data)) as img:
            rgb = img.convert("RGB")
        variants = [bytes.fromhex(base.pdq)]
        variants += [
            bytes.fromhex(hash_image(_png(rgb.transpose(t))).pdq) for t in DIHEDRAL if t is not None
        ]
    else:
        variants = [bytes.fromhex(pdq) for pdq, _ in pdq_dihedral(data)]
    return Hashes(tuple(variants), base.pdq_quality, int(base.phash, 16))


def _hamming(a: bytes, b: bytes) -> int:
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).bit_count()


def accepted(
    index: NearDuplicateIndex, query: Hashes, registered: Sequence[Hashes]
) -> list[tuple[int, int, int]]:
    """(PDQ distance, pHash distance, leaf) of the matches a lookup would accept, best first
    (registry.lookup: `_decisive`, and the sort of `Lookup.lookup`)."""
    out = []
    for candidate in index.search(list(query.variants), PDQ_RADIUS):
        record = registered[candidate.leaf_index]
        phash_distance = (query.phash ^ record.phash).bit_count()
        good = query.quality >= MIN_QUALITY and record.quality >= MIN_QUALITY
        if good or phash_distance <= PHASH_CONFIRM:
            out.append((candidate.distance, phash_distance, candidate.leaf_index))
    return sorted(out)


@dataclass
class Tally:
    queries: int = 0
    hits: int = 0
    accepted_original: int = 0  # accepted at all (maybe not on top)
    false_queries: int = 0  # queries accepting some other image
    distances: list[int] | None = None

    def row(self) -> dict[str, Any]:
        distances = self.distances or []
        return {
            "queries": self.queries,
            "hits": self.hits,
            "recall_pct": round(100 * self.hits / self.queries, 2) if self.queries else None,
            "original_accepted": self.accepted_original,
            "false_match_queries": self.false_queries,
            "median_distance": statistics.median(distances) if distances else None,
            "p90_distance": (
                sorted(distances)[int(0.9 * (len(distances) - 1))] if distances else None
            ),
        }


def run_config(
    config: Config, samples: Sequence[Sample], registered_bytes: Sequence[bytes]
) -> dict[str, Any]:
    started = time.perf_counter()
    registered = [hash_bytes(data, config) for data in registered_bytes]
    index = NearDuplicateIndex()
    index.add(list(range(len(registered))), [h.variants[0] for h in registered])

    # Distinct registered pairs: a lookup of each registered image's own bytes.
    false_pairs: set[tuple[int, int]] = set()
    for leaf, record in enumerate(registered):
        for _, _, other in accepted(index, record, registered):
            if other != leaf:
                false_pairs.add((min(leaf, other), max(leaf, other)))

    per_transform: dict[str, dict[str, Any]] = {}
    false_examples: list[dict[str, Any]] = []
    for transform in TRANSFORMS:
        tally = Tally(distances=[])
        for leaf, sample in enumerate(samples):
            query = hash_bytes(transform.apply(sample.image), config)
            original = registered[leaf].variants[0]
            assert tally.distances is not None
            tally.distances.append(min(_hamming(v, original) for v in query.variants))
            matches = accepted(index, query, registered)
            tally.queries += 1
            tally.hits += bool(matches) and matches[0][2] == leaf
            tally.accepted_original += any(m[2] == leaf for m in matches)
            wrong = [m for m in matches if m[2] != leaf]
            if wrong:
                tally.false_queries += 1
                if len(false_examples) < 20:
                    false_examples.append(
                        {
                            "transform": transform.name,
                            "query": sample.name,
                            "matched": samples[wrong[0][2]].name,
                            "pdq_distance": wrong[0][0],
                            "phash_distance": wrong[0][1],
                        }
                    )
        per_transform[transform.name] = tally.row()

    n = len(registered)
    return {
        "config": config.name,
        "registered": n,
        "transforms": per_transform,
        "false_pairs": len(false_pairs),
        "pairs": n * (n - 1) // 2,
        "false_pair_examples": [[samples[a].name, samples[b].name] for a, b in sorted(false_pairs)],
        "false_query_examples": false_examples,
        "false_match_queries": sum(r["false_match_queries"] for r in per_transform.values()),
        "queries": sum(r["queries"] for r in per_transform.values()),
        "seconds": round(time.perf_counter() - started, 1),
    }


# ---------------------------------------------------------------------------------------------
# Report


def _print_table(results: Sequence[dict[str, Any]]) -> None:
    names = [r["config"] for r in results]
    header = f"{'transform':<16} {'goal':>5}" + "".join(
        f" | {name[:13]:>13} {'med d':>5}" for name in names
    )
    print(header)
    print("-" * len(header))
    for transform in TRANSFORMS:
        goal = f"{transform.goal:.0f}%" if transform.goal else ""
        line = f"{transform.name:<16} {goal:>5}"
        for result in results:
            row = result["transforms"][transform.name]
            mark = "" if transform.goal is None or row["recall_pct"] >= transform.goal else "*"
            recall = f"{row['recall_pct']:.1f}%{mark}"
            line += f" | {recall:>13} {row['median_distance']:>5}"
        print(line)
    print("-" * len(header))
    for result in results:
        print(
            f"{result['config']}: false matches: {result['false_pairs']} of {result['pairs']} "
            f"distinct registered pairs; {result['false_match_queries']} of "
            f"{result['queries']} transformed queries accepted a wrong image "
            f"({result['seconds']} s)"
        )
    print("(* = below its goal; med d = median PDQ distance of the correct original, radius 31)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--tile", type=int, default=TILE)
    parser.add_argument(
        "--configs", nargs="+", choices=sorted(CONFIGS), default=list(CONFIGS), metavar="NAME"
    )
    args = parser.parse_args()

    candidates = load_samples(args.tile)
    encoded = [_png(s.image) for s in candidates]
    qualities = [hash_image(data).pdq_quality for data in encoded]
    samples = [s for s, q in zip(candidates, qualities, strict=True) if q >= MIN_QUALITY]
    registered_bytes = [d for d, q in zip(encoded, qualities, strict=True) if q >= MIN_QUALITY]
    dropped = [s.name for s, q in zip(candidates, qualities, strict=True) if q < MIN_QUALITY]
    files = sorted({s.name.split("[")[0] for s in candidates})
    print(
        f"{len(candidates)} images ({len(files)} bundled files, {args.tile}px tiles); "
        f"{len(dropped)} dropped with PDQ quality < {MIN_QUALITY}; {len(samples)} registered"
    )

    results = [run_config(CONFIGS[name], samples, registered_bytes) for name in args.configs]
    _print_table(results)

    report = {
        "python": platform.python_version(),
        "tile": args.tile,
        "files": files,
        "images": len(candidates),
        "dropped_low_quality": dropped,
        "registered": [s.name for s in samples],
        "radius": PDQ_RADIUS,
        "goals": {t.name: t.goal for t in TRANSFORMS if t.goal is not None},
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
