"""registry.lookup.explain: the words a match is said in, at the edges of each band."""

import pytest

from registry.imaging.hashing import DIHEDRAL_NAMES, PDQ_RADIUS
from registry.imaging.matching import PROBE_TARGETS
from registry.lookup.explain import likeness, log_order, survived


@pytest.mark.parametrize(
    ("distance", "words"),
    [
        (0, "the same picture, re-encoded"), (10, "the same picture, re-encoded"),
        (11, "very close"), (20, "very close"),
        (21, "close: resized, cropped or overlaid"),
        (PDQ_RADIUS, "close: resized, cropped or overlaid"),
    ],
)  # fmt: skip
def test_likeness_bands(distance: int, words: str) -> None:
    assert likeness(False, distance) == words


def test_an_exact_match_is_the_same_file_whatever_its_distance() -> None:
    assert likeness(True, 25) == "the same file"


def test_every_probe_but_the_original_names_an_edit() -> None:
    for probe in PROBE_TARGETS:
        said = survived(probe, "pdq", "pdq")
        assert (said == "") == (probe == DIHEDRAL_NAMES[0]), probe
    assert survived("original", "pdq-trimmed-v1", "pdq") == (
        "found after removing a border or a screen around it"
    )
    assert survived("original", "pdq", "pdq+phash") == "confirmed by a second hash (pHash)"


def test_log_order_names_the_first_logged() -> None:
    order = [(7, False), (3, True)]
    assert log_order(3, True, order) == "first logged"
    assert log_order(7, False, order) == "logged later than #3"
    assert log_order(7, False, [(7, False)]) == ""  # a server that sent no log order
