"""A lookup's matches said in words, one wording for the page at `/` and `prov lookup`: how
alike the picture is, which edit the match survived, which registration came first, and what a
"not found" does and does not mean. The numbers stay beside the words, for those who want them.
"""

from collections.abc import Mapping, Sequence
from typing import Final

from registry.imaging.features import TRIMMED

__all__ = [
    "NOT_FOUND_ADVICE",
    "VERY_CLOSE",
    "RE_ENCODED",
    "likeness",
    "log_order",
    "survived",
]

# PDQ distances (of 256 bits) up to which a match reads as "re-encoded" or "very close"; past
# VERY_CLOSE and up to the match radius (31) it reads "close". Chosen from what re-encodes,
# resizes and crops did to the benchmark pictures: a JPEG re-save stays under 10.
RE_ENCODED: Final = 10
VERY_CLOSE: Final = 20

NOT_FOUND_ADVICE: Final = (
    "Heavily cropped, rotated or collaged copies may not be found: try the least-edited copy "
    "of the picture you can find (the largest, with no borders, captions or stickers)."
)

# A query probe, or the capture hash it matched, -> the edit that match survived.
_EDITS: Final[Mapping[str, str]] = {
    "trimmed": "found after removing a border or a screen around it",
    TRIMMED: "found after removing a border or a screen around it",
    "pdq-center95-v1": "found with its edges cropped",
    "center95": "found with its edges cropped or changed",
    "top80": "found with its bottom part covered or changed (a caption or a banner)",
    "bottom80": "found with its top part covered or changed",
    # The probe names the turn that undoes the edit, so say the turn's size, not its way.
    "rotate-90": "found rotated by a quarter turn",
    "rotate-180": "found upside down (rotated by a half turn)",
    "rotate-270": "found rotated by a quarter turn",
    "flip-top-bottom": "found flipped upside down",
    "flip-left-right": "found mirrored",
    "transpose": "found rotated and mirrored",
    "transverse": "found rotated and mirrored",
}


def likeness(exact: bool, pdq_distance: int) -> str:
    """How alike the match is, in words."""
    if exact:
        return "the same file"
    if pdq_distance <= RE_ENCODED:
        return "the same picture, re-encoded"
    if pdq_distance <= VERY_CLOSE:
        return "very close"
    return "close: resized, cropped or overlaid"


def survived(probe: str, matched_hash: str, evidence: str) -> str:
    """The edits a match was found through, from its probe and the capture hash it met, e.g.
    "found rotated by 90°; confirmed by a second hash (pHash)"; "" for the picture as it is."""
    notes = [_EDITS[key] for key in (probe, matched_hash) if key in _EDITS]
    if evidence == "pdq+phash":
        notes.append("confirmed by a second hash (pHash)")
    return "; ".join(dict.fromkeys(notes))


def log_order(leaf_index: int, first_logged: bool, matches: Sequence[tuple[int, bool]]) -> str:
    """Where a match stands in the log's order (never a device's clock) among the matches,
    given as (leaf index, first logged): "first logged", "logged later than #N"."""
    if first_logged:
        return "first logged"
    first = next((index for index, is_first in matches if is_first), None)
    if first is None:  # a server before log order: say nothing rather than guess
        return ""
    return f"logged later than #{first}"
