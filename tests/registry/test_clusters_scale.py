"""The near-pair search behind the origin report: the pigeonhole self-join finds exactly the
pairs a brute force finds (random hashes, near-duplicates at every distance around the radius,
exact copies, one tight cluster), agrees with the FAISS indexes, and the report is the same
bytes whichever search built it."""

import argparse
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest

from ledger.errors import MalformedError
from registry.imaging.pairs import near_pairs
from registry.origins.facts import Capture, Facts, Origin
from registry.origins.report import build_report, report_bytes
from tests.support.synthetic_origins import Builder

Codes = npt.NDArray[np.uint8]


def brute_pairs(codes: Codes, radius: int) -> tuple[list[int], list[int]]:
    words = np.frombuffer(codes.tobytes(), dtype=">u8").reshape(len(codes), 4).astype(np.uint64)
    first: list[int] = []
    second: list[int] = []
    for row in range(len(words)):
        distance = np.bitwise_count(words[row + 1 :] ^ words[row]).sum(axis=1, dtype=np.int64)
        for other in np.flatnonzero(distance <= radius).tolist():
            first.append(row)
            second.append(row + 1 + other)
    return first, second


def flip(code: Codes, bits: int, rng: np.random.Generator) -> Codes:
    unpacked = np.unpackbits(code)
    unpacked[rng.choice(256, size=bits, replace=False)] ^= 1
    return np.packbits(unpacked)


def mixed(rng: np.random.Generator) -> Codes:
    """Random hashes, then copies of earlier ones at 0-40 bits, then a tight cluster."""
    codes = rng.integers(0, 256, (1200, 32), dtype=np.uint8)
    for row in range(400, 1200):
        if rng.random() < 0.6:
            codes[row] = flip(codes[rng.integers(0, row)], int(rng.integers(0, 41)), rng)
    tight = [flip(codes[0], int(rng.integers(0, 4)), rng) for _ in range(300)]
    return np.concatenate([codes, np.asarray(tight)])


def tight_only(rng: np.random.Generator) -> Codes:
    """Nearly every key shares its block value with many others: the join's dense path."""
    base = rng.integers(0, 256, 32, dtype=np.uint8)
    return np.asarray([flip(base, int(rng.integers(0, 6)), rng) for _ in range(500)])


@pytest.mark.parametrize("make", [mixed, tight_only])
@pytest.mark.parametrize("radius", [0, 2, 23, 31, 32, 40])
def test_pigeonhole_pairs_equal_a_brute_force(
    make: Callable[[np.random.Generator], Codes], radius: int
) -> None:
    codes = make(np.random.default_rng(radius))
    first, second = near_pairs([row.tobytes() for row in codes], radius)
    assert (first.tolist(), second.tolist()) == brute_pairs(codes, radius)


def test_every_search_finds_the_same_pairs() -> None:
    codes = mixed(np.random.default_rng(7))
    hashes = [row.tobytes() for row in codes]
    expected = [a.tolist() for a in near_pairs(hashes, 31, "pigeonhole")]
    for method in ("flat", "multihash"):
        assert [a.tolist() for a in near_pairs(hashes, 31, method)] == expected


def test_bad_input_is_refused() -> None:
    with pytest.raises(MalformedError):
        near_pairs([b"\0" * 32, b"\0" * 31], 31)
    with pytest.raises(MalformedError):
        near_pairs([b"\0" * 32, b"\0" * 32], -1)
    empty = near_pairs([b"\0" * 32], 31)
    assert len(empty[0]) == len(empty[1]) == 0


def test_the_report_does_not_depend_on_the_search() -> None:
    world = Builder(
        argparse.Namespace(
            seed=3, captures=8_000, devices=150, adversaries=3, generator_vendors=5, days=30,
            offline_share=0.0, event_window_s=55.0,
        )
    ).build()  # fmt: skip
    reports = {
        method: report_bytes(build_report(world.facts, pair_search=method))
        for method in ("pigeonhole", "flat", "multihash")
    }
    assert reports["pigeonhole"] == reports["flat"] == reports["multihash"]
    assert b'"laundered_synthetic"' in reports["flat"]


def test_laundering_evidence_names_the_first_disclosure_logged_before() -> None:
    """Log order and logged_at may disagree (only in a log whose clock went backwards, which
    the audit reports): log order decides, so the evidence is the first disclosure in log
    order before the photograph, whatever the logged_at values say."""
    code = bytes(range(32))
    devices = {
        "gen": Origin("gen", "v-gen", "Gen", "generator"),
        "cam": Origin("cam", "v-cam", "Cam", "camera"),
    }
    rows = [("gen", 500, 0), ("gen", 100, 1), ("gen", 50, 2), ("cam", 300, 3), ("cam", 600, 4)]
    captures = [
        Capture(i, device, counter, logged - 10, logged, bytes([i]) * 32, code, 90)
        for i, (device, logged, counter) in enumerate(rows)
    ]
    report = build_report(Facts("t", len(captures), b"\0" * 32, captures, devices))
    (row,) = [r for r in report["devices"] if r["device"] == "cam"]
    # Captures 3 and 4 come after all three disclosures in the log: 0 comes first.
    assert row["signals"]["laundered_synthetic"]["evidence"] == [0, 3, 4]
