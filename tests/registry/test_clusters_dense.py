"""k DISTINCT near-identical PDQ hashes (issue 16): one hash with a few random bits flipped per
capture makes k^2/2 pairs of distinct values. Past the pair budget the report searches anchors
only (the same clusters), `earliest_near` stays exact while its pairs fit the budget, and a
report that went past it says so in "bounded"."""

import dataclasses
import random

import pytest

from registry.imaging.pairs import near_pairs, near_pairs_within
from registry.origins.clusters import clustering
from registry.origins.dense import MIN_PAIR_BUDGET, pair_budget
from registry.origins.facts import CAMERA, GENERATOR, Capture, Facts, Origin, Parameters
from registry.origins.report import build_report, report_bytes
from tests.support.random_logs import random_log

BASE = int.from_bytes(bytes(range(32)))


def near_identical(k: int, seed: int) -> list[bytes]:
    """k distinct hashes, each BASE with 1-4 random bits flipped: all within 8 bits."""
    rng, found = random.Random(seed), dict[int, None]()
    while len(found) < k:
        found[BASE ^ sum(1 << b for b in rng.sample(range(256), rng.randint(1, 4)))] = None
    return [value.to_bytes(32) for value in found]


@pytest.mark.parametrize("seed", range(200))
def test_the_anchor_path_gives_the_anchors_of_the_pair_path(seed: int) -> None:
    captures = random_log(seed).captures
    pairs, anchors = (
        clustering(captures, Parameters()),
        clustering(captures, Parameters(), budget=0),
    )
    assert pairs.near is not None and not pairs.bounded
    assert list(anchors.anchor_of) == list(pairs.anchor_of)
    if anchors.near is None:  # some pair of values: over a budget of 0
        assert "clusters" in anchors.bounded
    generators = [p for p, c in enumerate(captures) if c.device.startswith("gen")]
    exact = dataclasses.replace(anchors, budget=10**9)  # earliest_near's pairs within budget
    assert exact.earliest_near(generators) == pairs.earliest_near(generators)


def test_the_anchor_path_on_dense_groups_across_chunks() -> None:
    """Three tight groups and a loose one interleaved over 4,000 captures (chunks of 1,024),
    some copies."""
    rng = random.Random(7)
    groups = [near_identical(1000, seed) for seed in (1, 2, 3)]
    groups[1] = [bytes(b ^ 0xFF for b in h) for h in groups[1]]  # far from the other two
    groups[2] = [(int.from_bytes(h) ^ ((1 << 30) - 1)).to_bytes(32) for h in groups[2]]
    wide = [
        BASE ^ sum(1 << b for b in rng.sample(range(256), rng.randint(10, 40))) for _ in range(1000)
    ]
    groups.append([value.to_bytes(32) for value in wide])  # 10-40 bits: many anchors
    hashes = [h for four in zip(*groups, strict=True) for h in four]
    captures = [
        Capture(i, "cam", i, i, i, rng.randbytes(32), rng.choice(hashes[: i + 1]) if i % 7 == 0
                else pdq, 90)
        for i, pdq in enumerate(hashes)
    ]  # fmt: skip
    pairs, anchors = (
        clustering(captures, Parameters()),
        clustering(captures, Parameters(), budget=0),
    )
    assert anchors.near is None and list(anchors.anchor_of) == list(pairs.anchor_of)
    assert len(set(pairs.anchor_of)) > 100  # the loose group's


@pytest.mark.parametrize("method", ["pigeonhole", "flat"])
def test_near_pairs_within_gives_up_exactly_past_the_budget(method: str) -> None:
    rng = random.Random(3)
    hashes = near_identical(300, 5) + [rng.randbytes(32) for _ in range(300)]
    count = len(near_pairs(hashes, 31)[0])
    assert count == 300 * 299 // 2  # the random ones are far from everything
    assert near_pairs_within(hashes, 31, count - 1, method) is None  # type: ignore[arg-type]
    within = near_pairs_within(hashes, 31, count, method)  # type: ignore[arg-type]
    assert within is not None and len(within[0]) == count


DEVICES = {
    "cam": Origin("cam", "v-cam", "Camera Co.", CAMERA),
    "gen": Origin("gen", "v-gen", "Diffusion Labs", GENERATOR),
}


def dense_facts(disclosures: int, cameras: int) -> Facts:
    """`disclosures` near-identical generator disclosures, then `cameras` camera captures of
    near-identical hashes around the same one: laundering, past the pair budget."""
    hashes = near_identical(disclosures + cameras, 11)
    captures = [
        Capture(i, "gen" if i < disclosures else "cam", i + 1, 1_000 + i, 2_000 + i,
                i.to_bytes(32), pdq, 90)
        for i, pdq in enumerate(hashes)
    ]  # fmt: skip
    return Facts("t", len(captures), b"\0" * 32, captures, DEVICES)


def test_a_report_past_the_pair_budget_says_so_and_still_finds_laundering() -> None:
    facts = dense_facts(1, 1999)  # 2,000 values: ~2.0*10^6 pairs > 2^20
    assert pair_budget(2000) == MIN_PAIR_BUDGET
    report = build_report(facts)
    assert set(report["bounded"]) == {"pair_budget", "clusters"}  # earliest_near exact: 2,000
    assert report["bounded"]["pair_budget"] == MIN_PAIR_BUDGET
    assert "same clusters" in str(report["bounded"]["clusters"])
    (row,) = [r for r in report["devices"] if r["device"] == "cam"]
    assert row["signals"]["laundered_synthetic"]["count"] == 1999
    (group,) = report["clusters"]
    assert len(group["members"]) == 2000


def test_laundering_past_the_budget_is_checked_against_disclosure_anchors() -> None:
    facts = dense_facts(1200, 1200)  # 2,400 x 1,200 (value, disclosure) pairs > 2^20
    report = build_report(facts)
    assert set(report["bounded"]) == {"pair_budget", "clusters", "earliest_near"}
    assert "anchors" in str(report["bounded"]["earliest_near"])
    (row,) = [r for r in report["devices"] if r["device"] == "cam"]
    assert row["signals"]["laundered_synthetic"]["count"] == 1200  # one cluster: all found
    assert report_bytes(build_report(facts)) == report_bytes(report)  # deterministic
