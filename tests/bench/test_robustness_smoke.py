"""`python -m bench.robustness --quick` on three of the bundled photos and a distractor: the
report has its shape, a plain re-encode is found, distinct photos are not matched, a duplicate
*is* counted as a false match (so the count can fail), and worker processes change nothing.

The benchmark runs as a command (tests do not import bench/), on the photos it names."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.bundled_photos import load_photos
from tests.support.edit_classes import CLASSES
from tests.support.image_edits import FOUND_TODAY

pytest.importorskip("skimage")
pytest.importorskip("sklearn")

ROOT = Path(__file__).resolve().parents[2]
GOOD = ("chelsea.png", "coffee.png[0,0]")  # two distinct photographs of good PDQ quality
DARK = "retina.jpg[0,0]"  # the black corner of the fundus photo: a low-quality tile
HALF = "hubble_deep_field.jpg/2[0,0]"  # a mostly black half-size tile: a distractor
TUNE_SEED = 18


def bench(tmp_path: Path, *args: str) -> dict[str, Any]:
    out = tmp_path / f"report-{len(list(tmp_path.iterdir()))}.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "bench.robustness", "--quick", *args, "--out", str(out)]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"seed {TUNE_SEED}" in done.stdout  # the seed is printed
    report: dict[str, Any] = json.loads(out.read_text())
    return report


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return bench(tmp_path_factory.mktemp("bench"), "--photos", *GOOD, DARK, HALF)


def test_every_class_is_reported_with_its_figures(report: dict[str, Any]) -> None:
    assert report["seed"] == TUNE_SEED and report["variants_per_class"] == 1
    assert [row["class"] for row in report["classes"]] == [c.name for c in CLASSES]
    assert report["goal_photos"] == list(GOOD) and report["low_quality_photos"] == [DARK]
    assert report["half_tile_distractors"] == 1
    for row in report["classes"]:
        assert row["queries"] == 2 and row["distractor_queries"] == 2
        assert 0 <= row["hits"] <= row["original_accepted"] <= 2
        assert isinstance(row["margin"], int) and row["margin_example"]["query"]
        assert sum(k["queries"] for k in row["recall_by_kind"].values()) == 2


def test_found_today_classes_find_their_originals(report: dict[str, Any]) -> None:
    rows = {row["class"]: row for row in report["classes"]}
    assert rows["re-encode"]["recall_pct"] == 100.0
    assert rows["flip"]["recall_pct"] == 100.0
    for row in report["classes"]:
        if row["group"] == FOUND_TODAY:
            assert row["recall_pct"] > 0, row


def test_distinct_photos_are_not_matched(report: dict[str, Any]) -> None:
    assert report["distinct"]["pairs"] == 6
    assert ["chelsea.png", "coffee.png[0,0]"] not in report["distinct"]["false_pair_examples"]
    assert report["distinct"]["margin"] > 0  # chelsea and coffee are far apart in PDQ bits


def test_a_duplicate_counts_as_a_false_match(tmp_path: Path) -> None:
    """The same picture registered twice (as PNG and as a JPEG re-encode) under two names:
    each lookup of one accepts the other, and the margin goes below zero."""
    (chelsea,) = [s for s in load_photos().samples if s.name == GOOD[0]]
    photos = tmp_path / "photos"
    photos.mkdir()
    chelsea.image.save(photos / "a.png")
    chelsea.image.save(photos / "b.jpg", quality=90)
    names = ("--photos", "a.png", "b.jpg", "--classes", "re-encode")
    result = bench(tmp_path, "--add", str(photos), *names)
    assert result["distinct"]["false_pairs"] == 1
    assert result["distinct"]["margin"] < 0
    assert result["classes"][0]["false_match_queries"] == 2
    assert result["false_matches"] == 3


def test_lookups_in_worker_processes_give_the_same_report(tmp_path: Path) -> None:
    args = ("--photos", *GOOD, "--classes", "re-encode", "crop 80-95%", "--variants", "2")
    alone, shared = bench(tmp_path, *args), bench(tmp_path, *args, "--jobs", "2")

    def figures(report: dict[str, Any]) -> list[dict[str, Any]]:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in report["classes"]]

    assert figures(alone) == figures(shared)
    assert alone["classes"][0]["queries"] == 4
