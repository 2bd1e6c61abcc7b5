"""Image hashing benchmark: `hash_image` (SHA-256 + PDQ + pHash + claim features) on 12-MP JPEGs.

Generates realistic 4000x3000 photos in memory (smooth lighting gradients, shapes, blur,
mid-frequency texture, sensor noise), saves them as JPEG quality 90 (4:2:0, as cameras do), and
measures:

* `hash_image` p50/p90 per photo and overall (goal, issue 4: p50 <= 100 ms on 2 cores);
* the same hashes through a full-resolution decode (no draft mode), for comparison;
* the share of time in SHA-256, decoding (draft, orient, RGB), PDQ and pHash;
* how many PDQ and pHash bits the reduction changes against a full decode, at the 512-pixel
  target hash_image uses and at a 256-pixel one, and, for scale, the distance after a real edit
  (re-encoded at JPEG quality 70 and halved).

    .venv/bin/python -m bench.hash_bench [--runs 30] [--full-runs 8] [--photos 3] [--compare 6]

Prints a table and writes bench/results/hash_bench.json.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import io
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from registry.imaging import hashing
from registry.imaging.decode import MIN_SIDE, decode
from registry.imaging.hashing import hash_image

WIDTH, HEIGHT = 4000, 3000
RESULTS = Path(__file__).parent / "results" / "hash_bench.json"


# ---------------------------------------------------------------------------------------------
# Test photos


def make_photo(seed: int, width: int = WIDTH, height: int = HEIGHT) -> Image.Image:
    """A photo-like RGB picture: lighting gradients, objects, optical blur, texture, noise."""
    rng = np.random.default_rng(seed)
    yy = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
    xx = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :]
    base = np.empty((height, width, 3), np.float32)
    for channel in range(3):
        fx, fy, phase = rng.uniform(0.5, 3.0), rng.uniform(0.5, 3.0), rng.uniform(0, 6.3)
        slope_x, slope_y = rng.uniform(-60, 60, 2)
        base[..., channel] = (
            110
            + rng.uniform(-30, 30)
            + slope_x * xx
            + slope_y * yy
            + 45 * np.sin(fx * 6.28 * xx + phase) * np.cos(fy * 6.28 * yy)
        )
    img = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8), "RGB")

    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(10, 25))):
        x0, y0 = int(rng.integers(-width // 8, width)), int(rng.integers(-height // 8, height))
        w, h = (
            int(rng.integers(width // 30, width // 3)),
            int(rng.integers(height // 30, height // 3)),
        )
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        kind = rng.integers(0, 3)
        if kind == 0:
            draw.ellipse([x0, y0, x0 + w, y0 + h], fill=colour)
        elif kind == 1:
            draw.rectangle([x0, y0, x0 + w, y0 + h], fill=colour)
        else:
            points = [
                (int(x0 + rng.integers(0, w)), int(y0 + rng.integers(0, h))) for _ in range(5)
            ]
            draw.polygon(points, fill=colour)

    # Texture at every scale (foliage, fabric, gravel): 1/f-like luminance noise, as in photos.
    detail = np.zeros((height, width), np.float32)
    for step, amplitude in ((2, 7.0), (6, 9.0), (24, 12.0), (96, 14.0)):
        coarse = rng.standard_normal((height // step + 2, width // step + 2), dtype=np.float32)
        field = Image.fromarray(coarse, "F").resize((width, height), Image.Resampling.BICUBIC)
        detail += amplitude * np.asarray(field, dtype=np.float32)
    pixels = np.asarray(img, dtype=np.float32) + detail[:, :, None]
    img = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")

    img = img.filter(ImageFilter.GaussianBlur(0.8))  # lens softness
    noise = rng.standard_normal((height, width, 3), dtype=np.float32) * 3.5  # sensor noise
    noisy = np.asarray(img, dtype=np.float32) + noise
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8), "RGB")


def jpeg_bytes(img: Image.Image, quality: int = 90) -> bytes:
    out = io.BytesIO()
    img.save(out, "JPEG", quality=quality)
    return out.getvalue()


# ---------------------------------------------------------------------------------------------
# Measurement helpers


def percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round((len(ordered) - 1) * pct / 100))]


def time_ms(call: Callable[[], object], runs: int) -> list[float]:
    call()  # warm-up: imports, scipy's FFT plans, page faults
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return times


def summary(times: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(statistics.median(times), 2),
        "p90_ms": round(percentile(times, 90), 2),
        "min_ms": round(min(times), 2),
        "runs": len(times),
    }


def hashes_at(data: bytes, min_side: int | None) -> tuple[str, str]:
    """(pdq, phash) of `data` prepared at another reduction target (None: full decode)."""
    decoded = decode(data, "bench", min_side=min_side)
    pdq, _ = hashing._pdq(hashing._rgb_array(decoded.rgb))
    return pdq, hashing._phash(decoded.rgb)


def full_decode_hash(data: bytes) -> None:
    hashlib.sha256(data).hexdigest()
    hashes_at(data, None)


def hamming(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def stage_shares(data: bytes, runs: int) -> dict[str, float]:
    """Median milliseconds of each stage of hash_image, timed one after the other."""
    stages: dict[str, list[float]] = {
        "sha256": [], "decode": [], "pdq": [], "phash": [], "features": [],
    }  # fmt: skip
    for _ in range(runs + 1):
        t0 = time.perf_counter()
        hashlib.sha256(data).hexdigest()
        t1 = time.perf_counter()
        decoded = decode(data, "bench")
        t2 = time.perf_counter()
        hashing._pdq(hashing._rgb_array(decoded.rgb))
        t3 = time.perf_counter()
        hashing._phash(decoded.rgb)
        t4 = time.perf_counter()
        hashing._features(decoded.rgb)
        t5 = time.perf_counter()
        for key, ms in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4), strict=True):
            stages[key].append(ms * 1000)
    return {key: round(statistics.median(times[1:]), 2) for key, times in stages.items()}


# ---------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=30, help="hash_image runs per photo")
    parser.add_argument("--full-runs", type=int, default=8, help="full-decode runs per photo")
    parser.add_argument("--photos", type=int, default=3, help="photos timed")
    parser.add_argument("--compare", type=int, default=6, help="photos for the bit comparison")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    count = max(args.photos, args.compare)
    print(f"generating {count} photos {WIDTH}x{HEIGHT} (JPEG quality 90) ...", flush=True)
    photos = [make_photo(seed) for seed in range(count)]
    files = [jpeg_bytes(photo) for photo in photos]

    timing: list[dict[str, Any]] = []
    all_fast: list[float] = []
    all_full: list[float] = []
    all_lookup: list[float] = []
    for seed, data in enumerate(files[: args.photos]):
        fast = time_ms(functools.partial(hash_image, data), args.runs)
        full = time_ms(functools.partial(full_decode_hash, data), args.full_runs)
        lookup = time_ms(functools.partial(hashing.query_hashes, data), max(5, args.runs // 3))
        all_fast += fast
        all_full += full
        all_lookup += lookup
        timing.append(
            {
                "photo": seed,
                "bytes": len(data),
                "hash_image": summary(fast),
                "full_decode": summary(full),
                "query_hashes": summary(lookup),
                "stages_ms": stage_shares(data, max(5, args.runs // 3)),
            }
        )

    comparison: list[dict[str, Any]] = []
    for seed, (photo, data) in enumerate(zip(photos[: args.compare], files, strict=False)):
        full_pdq, full_phash = hashes_at(data, None)
        at512 = hashes_at(data, MIN_SIDE)
        at256 = hashes_at(data, 256)
        edited = photo.resize((WIDTH // 2, HEIGHT // 2), Image.Resampling.LANCZOS)
        edited_hashes = hash_image(jpeg_bytes(edited, quality=70))
        comparison.append(
            {
                "photo": seed,
                "pdq_quality": hash_image(data).pdq_quality,
                "draft512_pdq_bits": hamming(full_pdq, at512[0]),
                "draft512_phash_bits": hamming(full_phash, at512[1]),
                "draft256_pdq_bits": hamming(full_pdq, at256[0]),
                "draft256_phash_bits": hamming(full_phash, at256[1]),
                "q70_half_pdq_bits": hamming(at512[0], edited_hashes.pdq),
                "q70_half_phash_bits": hamming(at512[1], edited_hashes.phash),
            }
        )

    stages = {
        key: round(statistics.median(t["stages_ms"][key] for t in timing), 2)
        for key in ("sha256", "decode", "pdq", "phash", "features")
    }
    stage_total = sum(stages.values())
    result: dict[str, Any] = {
        "benchmark": "hash_bench",
        "image": f"{WIDTH}x{HEIGHT} JPEG q90 generated",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "algorithms": dict(hashing.ALGORITHMS),
        "min_side": MIN_SIDE,
        "hash_image": summary(all_fast),
        "full_decode": summary(all_full),
        "query_hashes": summary(all_lookup),
        "stages_ms": stages,
        "stage_share": {k: round(v / stage_total, 3) for k, v in stages.items()},
        "goal_p50_ms": 100,
        "per_photo": timing,
        "draft_vs_full": comparison,
    }

    print()
    print(f"{'photo':>5} {'bytes':>9} {'hash p50':>9} {'p90':>7} {'full p50':>9} {'p90':>7}")
    for t in timing:
        print(
            f"{t['photo']:>5} {t['bytes']:>9} {t['hash_image']['p50_ms']:>9.1f}"
            f" {t['hash_image']['p90_ms']:>7.1f} {t['full_decode']['p50_ms']:>9.1f}"
            f" {t['full_decode']['p90_ms']:>7.1f}"
        )
    fast_s, full_s = result["hash_image"], result["full_decode"]
    print(
        f"{'all':>5} {'':>9} {fast_s['p50_ms']:>9.1f} {fast_s['p90_ms']:>7.1f}"
        f" {full_s['p50_ms']:>9.1f} {full_s['p90_ms']:>7.1f}   (ms; goal p50 <= 100)"
    )
    print(
        f"query_hashes (a lookup: 8 variants, trim, regions) p50 {result['query_hashes']['p50_ms']} ms"
    )
    print()
    print("stage    median ms  share")
    for key, ms in stages.items():
        print(f"{key:<8} {ms:>9.1f}  {ms / stage_total:>5.0%}")
    print()
    print("bits changed against a full decode (PDQ of 256, pHash of 64); q70/2 = a real edit")
    print(
        f"{'photo':>5} {'quality':>7} {'pdq@512':>7} {'ph@512':>6} {'pdq@256':>7} {'ph@256':>6}"
        f" {'pdq q70/2':>9} {'ph q70/2':>8}"
    )
    for c in comparison:
        print(
            f"{c['photo']:>5} {c['pdq_quality']:>7} {c['draft512_pdq_bits']:>7}"
            f" {c['draft512_phash_bits']:>6} {c['draft256_pdq_bits']:>7}"
            f" {c['draft256_phash_bits']:>6} {c['q70_half_pdq_bits']:>9}"
            f" {c['q70_half_phash_bits']:>8}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
