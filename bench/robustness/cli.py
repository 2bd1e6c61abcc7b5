"""Command line: `python -m bench.robustness [--seed N] [--classes ...] [--limit N] [--quick]
[--variants N] [--out JSON]`. See bench/robustness/__init__.py."""

from __future__ import annotations

import argparse
import json
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from bench.robustness.run import run
from registry.imaging.matching import PDQ_RADIUS
from tests.support.bundled_photos import Sample, load_photos, photos_in, spread
from tests.support.edit_classes import BY_NAME, CLASSES

RESULTS: Final = Path(__file__).parent.parent / "results" / "robustness.json"
TUNE_SEED: Final = 18  # tune on this one ...
REPORT_SEED: Final = 4711  # ... and report on this one, which nobody tunes on
VARIANTS: Final = 3  # per (photo, class) in a full run
QUICK_PHOTOS: Final = 8
QUICK_VARIANTS: Final = 1


def _margin(value: int | None) -> str:
    return "-" if value is None else f"{value:+d}"


def print_report(report: dict[str, Any]) -> None:
    header = (
        f"{'class':<15} {'goal':>5} {'recall':>8} {'n':>5} {'false':>5} "
        f"{'margin':>6} {'phash':>5} {'distr':>5} {'d.ph':>5} {'s':>5}"
    )
    print(header)
    print("-" * len(header))
    for row in report["classes"]:
        recall = "-" if row["recall_pct"] is None else f"{row['recall_pct']:.1f}%"
        mark = "" if row["met"] else "*"
        print(
            f"{row['class']:<15} {row['goal_pct']:>4.0f}% {recall + mark:>8} {row['queries']:>5} "
            f"{row['false_match_queries']:>5} {_margin(row['margin']):>6} "
            f"{_margin(row['phash_margin']):>5} {_margin(row['distractor_margin']):>5} "
            f"{_margin(row['distractor_phash_margin']):>5} {row['seconds']:>5.0f}"
        )
    print("-" * len(header))
    pairs = report["distinct"]
    print(
        f"distinct images: {pairs['false_pairs']} false of {pairs['pairs']} pairs, margin "
        f"{_margin(pairs['margin'])} (distractors {_margin(pairs['distractor_margin'])}); "
        f"false matches in all: {report['false_matches']}; seed {report['seed']}; "
        f"{report['seconds']} s"
    )
    print(
        f"(* below goal; false = queries accepting a wrong image; margin = nearest wrong PDQ "
        f"- {PDQ_RADIUS}; phash = its pHash margin; distr/d.ph = the same over distractors)"
    )


def _chosen(
    names: Sequence[str], samples: Sequence[Sample], distractors: Sequence[Sample]
) -> tuple[list[Sample], list[Sample]]:
    known = {s.name for s in (*samples, *distractors)}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise SystemExit(
            f"no photo or tile named {', '.join(unknown)}: names are as in the report, "
            "e.g. chelsea.png, retina.jpg[0,0], retina.jpg/2[7,0]"
        )
    wanted = set(names)
    return [s for s in samples if s.name in wanted], [s for s in distractors if s.name in wanted]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.robustness", description=__doc__)
    parser.add_argument("--seed", type=int, default=TUNE_SEED, help=f"report seed: {REPORT_SEED}")
    parser.add_argument("--classes", nargs="+", choices=list(BY_NAME), metavar="CLASS")
    parser.add_argument("--limit", type=int, help="at most this many photos (tiles count)")
    parser.add_argument("--variants", type=int, help=f"per photo and class (default {VARIANTS})")
    parser.add_argument("--quick", action="store_true", help="smoke test: 8 photos, 1 variant")
    parser.add_argument("--jobs", type=int, default=1, help="lookup processes (2 cores here)")
    parser.add_argument("--photos", nargs="+", metavar="NAME", help="only these photos/tiles")
    parser.add_argument("--add", type=Path, metavar="DIR", help="your photos too (JPEG, PNG)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    photos = load_photos()
    added = photos_in(args.add) if args.add else []
    limit = args.limit if args.limit is not None else (QUICK_PHOTOS if args.quick else None)
    per_class = args.variants or (QUICK_VARIANTS if args.quick else VARIANTS)
    samples = spread([*photos.samples, *added], limit)
    distractors = spread(photos.distractors, limit)
    if args.photos:
        samples, distractors = _chosen(args.photos, [*photos.samples, *added], photos.distractors)
    classes = [BY_NAME[name] for name in args.classes] if args.classes else list(CLASSES)
    print(
        f"seed {args.seed}: {len(samples)} photos and tiles from {len(photos.files)} files "
        f"and {len(distractors)} mostly uniform half-tiles "
        f"(missing packages: {', '.join(photos.missing_packages) or 'none'}), "
        f"{len(classes)} classes x {per_class} variants"
    )
    report = run(samples, classes, args.seed, per_class, distractors, jobs=args.jobs)
    report.update(python=platform.python_version(), files=list(photos.files))
    report["missing_packages"] = list(photos.missing_packages)
    print_report(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")
