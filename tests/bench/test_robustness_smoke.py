"""bench.robustness in its quick mode, on three of the bundled photos: the report has its shape,
a plain re-encode is found, distinct photos are not matched, and a duplicate *is* counted as a
false match (so the count can fail), with the edits reproducible from their seed."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bench.robustness.classes import BY_NAME, CLASSES, kind, variants
from bench.robustness.cli import TUNE_SEED, main
from bench.robustness.edits import FOUND_TODAY, encoded
from bench.robustness.photos import Sample, load_photos
from bench.robustness.run import run

pytest.importorskip("skimage")
pytest.importorskip("sklearn")

GOOD = ("chelsea.png", "coffee.png[0,0]")  # two distinct photographs of good PDQ quality
DARK = "retina.jpg[0,0]"  # the black corner of the fundus photo: a distractor
HALF = "hubble_deep_field.jpg/2[0,0]"  # a mostly black half-size tile: another


def _samples(*names: str) -> list[Sample]:
    photos = load_photos()
    by_name = {s.name: s for s in (*photos.samples, *photos.distractors)}
    return [by_name[name] for name in names]


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    return run(_samples(*GOOD, DARK), CLASSES, TUNE_SEED, per_class=1, distractors=_samples(HALF))


def test_every_class_is_reported_with_its_figures(report: dict[str, Any]) -> None:
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
    assert report["distinct"]["false_pairs"] == 0
    assert report["distinct"]["margin"] > 0  # chelsea and coffee are far apart in PDQ bits
    assert report["false_matches"] == 0


def test_a_duplicate_counts_as_a_false_match() -> None:
    """The same picture registered twice (as PNG and as a JPEG re-encode) under two names:
    each lookup of one accepts the other, and the margin goes below zero."""
    (chelsea,) = _samples(GOOD[0])
    with Image.open(io.BytesIO(encoded(chelsea.image, "JPEG", 90))) as img:
        twin = Sample("chelsea twin", img.convert("RGB"))
    result = run([chelsea, twin], [BY_NAME["re-encode"]], TUNE_SEED, per_class=1)
    assert result["distinct"]["false_pairs"] == 1
    assert result["distinct"]["margin"] < 0
    assert result["classes"][0]["false_match_queries"] == 2
    assert result["false_matches"] == 3


def test_edits_are_drawn_from_the_seed_per_photo_and_class() -> None:
    (sample,) = _samples(GOOD[1])
    crop = BY_NAME["crop 80-95%"]
    first = variants(crop, TUNE_SEED, sample.name, sample.image, 3)
    assert first == variants(crop, TUNE_SEED, sample.name, sample.image, 3)
    assert len({params for _, params in first}) == 3  # three different crops
    assert {kind(crop.name, params) for _, params in first} <= {"centred", "at an edge or corner"}
    other = variants(crop, TUNE_SEED + 1, sample.name, sample.image, 3)
    assert [p for _, p in other] != [p for _, p in first]


def test_quick_command_line_writes_the_report(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    main(["--quick", "--limit", "3", "--classes", "re-encode", "pad", "--out", str(out)])
    report = json.loads(out.read_text())
    assert report["seed"] == TUNE_SEED and report["photos"] == 3
    assert [row["class"] for row in report["classes"]] == ["re-encode", "pad"]
    assert report["classes"][0]["recall_pct"] == 100.0


def test_lookups_in_worker_processes_give_the_same_report() -> None:
    photos = _samples(*GOOD)
    classes = [BY_NAME["re-encode"], BY_NAME["crop 80-95%"]]
    alone = run(photos, classes, TUNE_SEED, per_class=2, jobs=1)
    shared = run(photos, classes, TUNE_SEED, per_class=2, jobs=2)

    def figures(report: dict[str, Any]) -> list[dict[str, Any]]:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in report["classes"]]

    assert figures(alone) == figures(shared)
    assert alone["classes"][0]["queries"] == 4
