"""The origin report over distinct PDQ values (issue 16) is the same bytes as the all-pairs
algorithm it replaced, kept here as a small reference: on random small logs full of exact
copies, shared hashes, near-duplicates, low-quality hashes and generator disclosures, and on
the synthetic world of the benchmark.

The reference is the old `clustering` (every earlier position within the radius, by brute
force) and the old `laundered_synthetic` (the first disclosure among those positions); the
rest of the report is the code under test, so the bytes differ only if those two do."""

import argparse
from collections import defaultdict

import pytest

from registry.origins import report as report_module
from registry.origins import signals as signals_module
from registry.origins.facts import CAMERA, GENERATOR, Capture, Facts, Parameters
from registry.origins.report import build_report, report_bytes
from registry.origins.signals import Evidence
from tests.support.all_pairs import AllPairs, brute_force_clustering
from tests.support.random_logs import DEVICES, random_log
from tests.support.synthetic_origins import Builder


def all_pairs_laundered(facts: Facts, clusters: AllPairs, params: Parameters) -> Evidence:
    def role(capture: Capture) -> str:
        origin = facts.devices.get(capture.device)
        return origin.role if origin else CAMERA

    def origin(capture: Capture) -> str:
        found = facts.devices.get(capture.device)
        return found.origin_id if found else capture.device

    captures = facts.captures
    found: Evidence = defaultdict(set)
    if not any(role(c) == GENERATOR for c in captures):
        return found
    for group in clusters.groups().values():
        disclosed: Capture | None = None
        for position in group:
            capture = captures[position]
            if role(capture) != CAMERA:
                disclosed = disclosed or capture
                continue
            source = disclosed or next(
                (captures[q] for q in sorted(clusters.earlier.get(position, ()))
                 if role(captures[q]) == GENERATOR),
                None,
            )  # fmt: skip
            if source is not None:
                found[origin(capture)].update((capture.index, source.index))
    return found


def all_pairs_report(facts: Facts, monkeypatch: pytest.MonkeyPatch) -> bytes:
    with monkeypatch.context() as patched:
        patched.setattr(report_module, "clustering", brute_force_clustering)
        patched.setitem(signals_module.CHECKS, "laundered_synthetic", all_pairs_laundered)
        return report_bytes(build_report(facts))


@pytest.mark.parametrize("seed", range(300))
def test_the_report_is_the_same_bytes_as_all_pairs(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    facts = random_log(seed)
    assert report_bytes(build_report(facts)) == all_pairs_report(facts, monkeypatch)


def test_many_copies_of_one_hash_and_of_one_disclosure(monkeypatch: pytest.MonkeyPatch) -> None:
    code, near = bytes(range(32)), bytes([1, *range(1, 32)])
    rows = [("gen", code), ("cam-a", near), *[("cam-b", code)] * 40, *[("cam-c", near)] * 40]
    captures = [
        Capture(i, device, i, 1_000 + i, 2_000 + i, i.to_bytes(32), pdq, 90)
        for i, (device, pdq) in enumerate(rows)
    ]
    facts = Facts("t", len(captures), b"\0" * 32, captures, DEVICES)
    served = report_bytes(build_report(facts))
    assert served == all_pairs_report(facts, monkeypatch)
    assert b'"laundered_synthetic"' in served


def test_the_synthetic_world_is_the_same_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    world = Builder(
        argparse.Namespace(
            seed=4, captures=3_000, devices=40, adversaries=1, generator_vendors=3, days=5,
            offline_share=0.0, event_window_s=55.0,
        )
    ).build()  # fmt: skip
    served = report_bytes(build_report(world.facts))
    assert served == all_pairs_report(world.facts, monkeypatch)
    assert b'"laundered_synthetic"' in served
