"""registry.imaging.matching: the match rule at its boundaries, and CaptureIndex against a brute force
over `judge` (no capture `judge` accepts is ever left out of the candidates)."""

import random

import pytest

from registry.imaging.features import FEATURE_NAMES, TRIMMED
from registry.imaging.hashing import DIHEDRAL_NAMES, ProbeHash
from registry.imaging.matching import (
    GLOBAL,
    PDQ_RADIUS,
    PDQ_RADIUS_CONFIRMED,
    PHASH_CONFIRM,
    PHASH_CONFIRM_FAR,
    PROBE_TARGETS,
    CaptureIndex,
    Registered,
    judge,
)

CENTER, TOP, BOTTOM = FEATURE_NAMES[:3]


def flip(hex_hash: str, bits: int, *, offset: int = 0) -> str:
    """`hex_hash` with `bits` low-order bits flipped, starting at bit `offset`."""
    width = len(hex_hash) * 4
    mask = ((1 << bits) - 1) << offset
    return f"{int(hex_hash, 16) ^ mask:0{width // 4}x}"


PDQ = "a5" * 32
PHASH = "3c" * 8
CAPTURE = Registered(PDQ, 90, PHASH, {})


def probe(
    name: str = "original", pdq_bits: int = 0, phash_bits: int = 0, quality: int = 90
) -> ProbeHash:
    return ProbeHash(name, flip(PDQ, pdq_bits), quality, flip(PHASH, phash_bits))


@pytest.mark.parametrize(
    ("pdq_bits", "phash_bits", "quality", "rule"),
    [
        (0, 64, 90, "pdq"),
        (PDQ_RADIUS, 64, 90, "pdq"),
        (PDQ_RADIUS, PHASH_CONFIRM, 49, "pdq+phash"),
        (PDQ_RADIUS, PHASH_CONFIRM + 1, 49, None),
        (PDQ_RADIUS + 1, PHASH_CONFIRM_FAR, 90, "pdq+phash"),
        (PDQ_RADIUS + 1, PHASH_CONFIRM_FAR + 1, 90, None),
        (PDQ_RADIUS_CONFIRMED, 0, 90, "pdq+phash"),
        (PDQ_RADIUS_CONFIRMED + 1, 0, 90, None),
        (PDQ_RADIUS + 1, 0, 49, None),
    ],
)
def test_rule_boundaries(pdq_bits: int, phash_bits: int, quality: int, rule: str | None) -> None:
    evidence = judge([probe(pdq_bits=pdq_bits, phash_bits=phash_bits, quality=quality)], CAPTURE)
    assert (evidence.rule if evidence else None) == rule
    if evidence:
        assert (evidence.pdq_distance, evidence.phash_distance) == (pdq_bits, phash_bits)


def test_low_quality_capture_needs_the_phash_too() -> None:
    weak = Registered(PDQ, 49, PHASH, {})
    assert judge([probe(phash_bits=PHASH_CONFIRM + 1)], weak) is None
    assert judge([probe(phash_bits=PHASH_CONFIRM)], weak) is not None


def test_regions_meet_only_their_own_region_and_never_beyond_the_radius() -> None:
    capture = Registered(flip(PDQ, 100), 90, PHASH, {TOP: PDQ})
    assert judge([probe("bottom80")], capture) is None  # bottom80 is never compared with top80
    assert judge([probe("top80", pdq_bits=PDQ_RADIUS + 1)], capture) is None  # no far rule
    evidence = judge([probe("top80")], capture)
    assert evidence is not None and (evidence.probe, evidence.target) == ("top80", TOP)


def test_a_rotated_probe_only_meets_the_global_pdq() -> None:
    capture = Registered(flip(PDQ, 100), 90, PHASH, {CENTER: PDQ, TRIMMED: PDQ})
    assert judge([probe("rotate-90")], capture) is None
    as_given = judge([probe("original")], capture)
    assert as_given is not None and as_given.target in (CENTER, TRIMMED)


def test_best_evidence_wins_and_reports_its_variant() -> None:
    probes = [probe("original", pdq_bits=40), probe("rotate-270", pdq_bits=6)]
    evidence = judge(probes, CAPTURE)
    assert evidence is not None
    assert (evidence.probe, evidence.variant, evidence.rule) == ("rotate-270", 3, "pdq")


def random_hex(rng: random.Random, nbytes: int) -> str:
    return f"{rng.getrandbits(8 * nbytes):0{2 * nbytes}x}"


def test_capture_index_never_misses_what_judge_accepts() -> None:
    rng = random.Random(7)
    base = [random_hex(rng, 32) for _ in range(40)]
    captures = []
    for i, pdq in enumerate(base):
        features = {name: flip(pdq, 10 + j, offset=j) for j, name in enumerate(FEATURE_NAMES)}
        # Some captures lack some features (quality too low, no borders to trim).
        kept = {k: v for j, (k, v) in enumerate(features.items()) if (i + j) % 3}
        captures.append(Registered(pdq, 40 + i, random_hex(rng, 8), kept))
    index = CaptureIndex(threads=1)
    index.add_registered(list(range(len(captures))), captures)

    accepted_far = accepted_feature = 0
    for trial in range(200):
        target = captures[trial % len(captures)]
        names = [*DIHEDRAL_NAMES, "trimmed", "center95", "top80", "bottom80"]
        probes = []
        for name in rng.sample(names, 5):
            source = rng.choice([target.pdq, *target.features.values()])
            probes.append(
                ProbeHash(
                    name,
                    flip(source, rng.randrange(0, 70), offset=rng.randrange(0, 100)),
                    rng.choice([30, 60, 90]),
                    flip(target.phash, rng.randrange(0, 12)),
                )
            )
        found = index.candidates(probes)
        accepted = {leaf for leaf, c in enumerate(captures) if judge(probes, c) is not None}
        assert accepted <= set(found), (trial, accepted - set(found))
        evidence = [judge(probes, captures[leaf]) for leaf in accepted]
        accepted_far += sum(e is not None and e.pdq_distance > PDQ_RADIUS for e in evidence)
        accepted_feature += sum(e is not None and e.target != GLOBAL for e in evidence)
    # The trials reach every kind of acceptance, so the subset check above has teeth.
    assert accepted_far >= 10 and accepted_feature >= 10, (accepted_far, accepted_feature)


def test_every_probe_name_has_targets() -> None:
    assert set(PROBE_TARGETS) == {*DIHEDRAL_NAMES, "trimmed", "center95", "top80", "bottom80"}
    assert all(GLOBAL in PROBE_TARGETS[name] for name in DIHEDRAL_NAMES)
