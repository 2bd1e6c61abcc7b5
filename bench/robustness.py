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

Each registered image is hashed as PNG bytes with `registry.imaging.hashing.hash_image` (its PDQ, pHash
and claim features) and added to a `registry.imaging.matching.CaptureIndex` under leaf index = image
number. Then every image goes through every transform in `TRANSFORMS` (JPEG/WebP re-encodes
produce those bytes; every other transform is saved as PNG so only the transform itself is
measured), the copy is hashed as a lookup hashes it (`registry.imaging.hashing.query_hashes`: 8 dihedral
variants, the trimmed picture, 3 regions), the index's candidates are judged by
`registry.imaging.matching.judge` and ranked by `registry.imaging.matching.rank` - the registry's own code, as
`registry.lookup.query.Lookup` runs it.

* hit: the correct original is the top accepted match;
* distance: min over the query's 8 dihedral PDQs of the Hamming distance to the correct
  original's global PDQ (computed directly, so it is known beyond the radius too; it shows how
  far a global PDQ alone is); the table shows the median;
* false match: a query with at least one accepted match that is not its original; and over all
  unordered pairs of distinct registered images {a, b}, a pair is a false match if a lookup of
  a's registered bytes accepts b or a lookup of b's accepts a.

Configurations (columns), to show what each step adds:
* "global": the dihedral probes against the captures' global PDQ only, distance <= 31 (a
  low-quality PDQ confirmed by pHash) - plain PDQ with exact rotations and flips;
* "global+phash": also PDQ 32..63 when the pHash agrees (<= 8 of 64);
* "registry": everything the registry does - also the trimmed and region probes against the
  claim features.

    .venv/bin/python -m bench.robustness [--out bench/results/robustness.json] [--tile 256]
        [--configs global global+phash registry]

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
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path
from typing import Any, Final

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from registry.imaging.hashing import DIHEDRAL_NAMES, ProbeHash, hash_image, query_hashes
from registry.imaging.matching import (
    MIN_QUALITY,
    PDQ_RADIUS,
    CaptureIndex,
    Evidence,
    Registered,
    judge,
    rank,
)

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
# Hashing and matching: the registry's own code (registry.imaging.hashing, registry.imaging.matching)


@dataclass(frozen=True)
class Config:
    name: str
    probes: frozenset[str] | None  # the query probes used (None: all of them)
    features: bool  # registered captures carry their claim features
    far: bool  # accept PDQ 32..63 confirmed by pHash (registry.imaging.matching)


CONFIGS: Final = {
    "global": Config("global", frozenset(DIHEDRAL_NAMES), features=False, far=False),
    "global+phash": Config("global+phash", frozenset(DIHEDRAL_NAMES), features=False, far=True),
    "registry": Config("registry", None, features=True, far=True),
}


@dataclass(frozen=True)
class Query:
    probes: tuple[ProbeHash, ...]


def register(data: bytes, config: Config) -> Registered:
    hashes = hash_image(data)
    features = dict(hashes.features) if config.features else {}
    return Registered(hashes.pdq, hashes.pdq_quality, hashes.phash, features)


def query(data: bytes, config: Config) -> Query:
    _, probes = query_hashes(data)
    return Query(tuple(p for p in probes if config.probes is None or p.name in config.probes))


def accepted(
    index: CaptureIndex, q: Query, registered: Sequence[Registered], config: Config
) -> list[tuple[tuple[int, int, int], int, Evidence]]:
    """(rank, leaf, evidence) of every capture a lookup would accept, best first - the
    candidates of `CaptureIndex`, judged by `registry.imaging.matching.judge` and ranked as
    `Lookup.lookup` ranks them."""
    out = []
    for leaf in index.candidates(q.probes):
        evidence = judge(q.probes, registered[leaf])
        if evidence is None or (not config.far and evidence.pdq_distance > PDQ_RADIUS):
            continue
        out.append((rank(evidence), leaf, evidence))
    return sorted(out, key=lambda item: (item[0], item[1]))


def _hamming(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


@dataclass
class Tally:
    queries: int = 0
    hits: int = 0
    accepted_original: int = 0  # accepted at all (maybe not on top)
    false_queries: int = 0  # queries accepting some other image
    distances: list[int] | None = None
    evidence: Counter[str] = dataclass_field(default_factory=Counter)  # of the hits
    missed: list[str] = dataclass_field(default_factory=list)  # samples whose original lost

    def row(self) -> dict[str, Any]:
        distances = self.distances or []
        return {
            "queries": self.queries,
            "hits": self.hits,
            "recall_pct": round(100 * self.hits / self.queries, 2) if self.queries else None,
            "original_accepted": self.accepted_original,
            "false_match_queries": self.false_queries,
            "median_distance": statistics.median(distances) if distances else None,
            "hits_by_evidence": dict(self.evidence.most_common()),
            "missed": self.missed,
            "p90_distance": (
                sorted(distances)[int(0.9 * (len(distances) - 1))] if distances else None
            ),
        }


def run_config(
    config: Config,
    samples: Sequence[Sample],
    registered_bytes: Sequence[bytes],
    transforms: Sequence[Transform] = TRANSFORMS,
) -> dict[str, Any]:
    started = time.perf_counter()
    registered = [register(data, config) for data in registered_bytes]
    index = CaptureIndex()
    index.add_registered(list(range(len(registered))), registered)

    # Distinct registered pairs: a lookup of each registered image's own bytes.
    false_pairs: set[tuple[int, int]] = set()
    for leaf, data in enumerate(registered_bytes):
        for _, other, _ in accepted(index, query(data, config), registered, config):
            if other != leaf:
                false_pairs.add((min(leaf, other), max(leaf, other)))

    per_transform: dict[str, dict[str, Any]] = {}
    false_examples: list[dict[str, Any]] = []
    for transform in transforms:
        tally = Tally(distances=[])
        for leaf, sample in enumerate(samples):
            q = query(transform.apply(sample.image), config)
            assert tally.distances is not None
            original = registered[leaf].pdq
            tally.distances.append(
                min(_hamming(p.pdq, original) for p in q.probes if p.name in DIHEDRAL_NAMES)
            )
            matches = accepted(index, q, registered, config)
            tally.queries += 1
            hit = bool(matches) and matches[0][1] == leaf
            tally.hits += hit
            if not hit:
                tally.missed.append(sample.name)
            tally.accepted_original += any(m[1] == leaf for m in matches)
            if matches and matches[0][1] == leaf:
                tally.evidence[matches[0][2].target + "/" + matches[0][2].rule] += 1
            wrong = [m for m in matches if m[1] != leaf]
            if wrong:
                tally.false_queries += 1
                if len(false_examples) < 20:
                    evidence = wrong[0][2]
                    false_examples.append(
                        {
                            "transform": transform.name,
                            "query": sample.name,
                            "matched": samples[wrong[0][1]].name,
                            "pdq_distance": evidence.pdq_distance,
                            "phash_distance": evidence.phash_distance,
                            "probe": evidence.probe,
                            "target": evidence.target,
                        }
                    )
        per_transform[transform.name] = tally.row()

    n = len(registered)
    return {
        "config": config.name,
        "registered": n,
        "index_hashes": index.entries(),
        "index_bytes": index.memory_bytes(),
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
        if transform.name not in results[0]["transforms"]:
            continue
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
        "--transforms", nargs="+", metavar="NAME", help="Only these transforms (for quick runs)."
    )
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

    transforms = [t for t in TRANSFORMS if not args.transforms or t.name in args.transforms]
    results = [
        run_config(CONFIGS[name], samples, registered_bytes, transforms) for name in args.configs
    ]
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
