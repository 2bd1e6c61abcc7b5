"""Which came first: priority between matching captures is decided by the log, never by a
device's clock.

A device signs whatever `captured_at` it likes; only the log's order (leaf index, and with it
`logged_at`, which never goes backwards) is the log's own word. So among captures that match
one picture, the first *logged* is the first, and a later one is cautioned when

- a generator vendor disclosed a match before it was logged (`generator_disclosed_first`): a
  generated image photographed or re-registered by a camera;
- another origin's camera capture of it was logged before it (`registered_earlier_elsewhere`);
- it claims a time before another origin's match was logged, though it was logged after it
  (`claims_time_before_earlier_log`): its claim to be earlier rests on its own clock alone.

The origin is the device, or for a vendor whose phones sign each capture with a one-time
certificate, the CA that issued it (registry.admission.capture_origin): a burst from one such
phone is one origin, never "registered earlier elsewhere" against itself.

Pure functions of the captures given: lookups (`registry.lookup.query`) pass their matches, the audit
(`registry.audit.priority`) the near-duplicates it found earlier in the log.
"""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from registry.cautions import (
    CLAIMS_TIME_BEFORE_EARLIER_LOG,
    GENERATOR_DISCLOSED_FIRST,
    REGISTERED_EARLIER_ELSEWHERE,
    Caution,
)

__all__ = ["CAMERA", "GENERATOR", "Logged", "Order", "cautions_for", "order", "pinned"]

CAMERA, GENERATOR = "camera", "generator"


@dataclass(frozen=True)
class Logged:
    """What priority needs of a capture: where and when the log saw it, and who claims it."""

    leaf_index: int
    logged_at_ms: int
    captured_at_ms: int
    origin_id: str  # reg_devices.origin_id: the device, or a per-capture vendor's issuing CA
    role: str  # the device's vendor role: "camera" or "generator"


@dataclass(frozen=True)
class Order:
    """The captures' order by log: `log_order` (1 = first logged) and cautions by leaf index,
    the cautions for the lookup as a whole, and whether a generator disclosure was logged
    before every camera capture."""

    first: int | None  # leaf index of the first logged
    log_order: dict[int, int]
    cautions: dict[int, list[Caution]]
    summary: list[Caution]
    disclosed_first: bool


def cautions_for(capture: Logged, earlier: Iterable[Logged]) -> list[Caution]:
    """The cautions against `capture` given the matching captures logged before it (lower leaf
    index, in any order)."""
    before = sorted(
        (e for e in earlier if e.leaf_index < capture.leaf_index), key=lambda e: e.leaf_index
    )
    others = [e for e in before if e.origin_id != capture.origin_id]
    found: list[Caution] = []
    if capture.role == CAMERA:
        disclosure = next((e for e in others if e.role == GENERATOR), None)
        if disclosure is not None:
            found.append(
                Caution(
                    GENERATOR_DISCLOSED_FIRST,
                    f"a generator disclosed a matching image (entry {disclosure.leaf_index}) "
                    f"{_span(capture.logged_at_ms - disclosure.logged_at_ms)} before this "
                    f"capture (entry {capture.leaf_index}) was logged: it may be a generated "
                    "image photographed or re-registered by a camera",
                    (disclosure.leaf_index, capture.leaf_index),
                )
            )
    elsewhere = next((e for e in others if e.role == CAMERA), None)
    if elsewhere is not None:
        found.append(
            Caution(
                REGISTERED_EARLIER_ELSEWHERE,
                f"another device's capture matching this one (entry {elsewhere.leaf_index}) was "
                f"logged {_span(capture.logged_at_ms - elsewhere.logged_at_ms)} before this "
                f"capture (entry {capture.leaf_index})",
                (elsewhere.leaf_index, capture.leaf_index),
            )
        )
    claimed = next((e for e in others if capture.captured_at_ms < e.logged_at_ms), None)
    if claimed is not None:
        found.append(
            Caution(
                CLAIMS_TIME_BEFORE_EARLIER_LOG,
                f"this capture (entry {capture.leaf_index}) claims it was taken "
                f"{_span(claimed.logged_at_ms - capture.captured_at_ms)} before entry "
                f"{claimed.leaf_index} was logged, but was itself logged after it: its claim "
                "to be earlier rests on the device's clock alone",
                (claimed.leaf_index, capture.leaf_index),
            )
        )
    return found


_SUMMARY = {
    GENERATOR_DISCLOSED_FIRST: "{count} camera capture(s) among the matches were logged after "
    "a generator disclosed a matching image",
    REGISTERED_EARLIER_ELSEWHERE: "{count} matching capture(s) were logged after another device's",
    CLAIMS_TIME_BEFORE_EARLIER_LOG: "{count} matching capture(s) claim a capture time before "
    "an earlier match was logged: the log, not a device's clock, decides which came first",
}


def order(captures: Sequence[Logged]) -> Order:
    """Order matching captures by log and caution each against the ones logged before it.
    Quadratic in the captures given: a lookup's matches (tens), not a log."""
    by_log = sorted(captures, key=lambda c: c.leaf_index)
    cautions = {c.leaf_index: cautions_for(c, by_log[:n]) for n, c in enumerate(by_log)}
    evidence: dict[str, set[int]] = defaultdict(set)
    counts: dict[str, int] = defaultdict(int)
    for found in cautions.values():
        for caution in found:
            evidence[caution.code].update(caution.evidence)
            counts[caution.code] += 1
    summary = [
        Caution(code, sentence.format(count=counts[code]), tuple(sorted(evidence[code])))
        for code, sentence in _SUMMARY.items()
        if counts[code]
    ]
    first_generator = min((c.leaf_index for c in by_log if c.role == GENERATOR), default=None)
    first_camera = min((c.leaf_index for c in by_log if c.role != GENERATOR), default=None)
    return Order(
        by_log[0].leaf_index if by_log else None,
        {c.leaf_index: n for n, c in enumerate(by_log, start=1)},
        cautions,
        summary,
        first_generator is not None and (first_camera is None or first_generator < first_camera),
    )


def pinned(ranked: Sequence[tuple[int, str]], limit: int) -> list[int]:
    """Positions to keep of (leaf index, role) pairs in rank order: the best `limit`, but always
    the first logged and the first logged disclosure (dropping the worst-ranked others), so
    that a flood of later, closer copies cannot push out the match that decides priority."""
    if len(ranked) <= limit:
        return list(range(len(ranked)))
    must = {min(range(len(ranked)), key=lambda p: ranked[p][0])}
    disclosures = [p for p, (_, role) in enumerate(ranked) if role == GENERATOR]
    if disclosures:
        must.add(min(disclosures, key=lambda p: ranked[p][0]))
    rest = [p for p in range(len(ranked)) if p not in must][: max(0, limit - len(must))]
    return sorted(must | set(rest))


def _span(ms: int) -> str:
    """A duration in words: "40 min", "3 h", "12 s", "0 s" (a batch logs at one time)."""
    seconds = max(0, ms) // 1000
    if seconds >= 2 * 3600:
        return f"{seconds // 3600} h"
    if seconds >= 120:
        return f"{seconds // 60} min"
    return f"{seconds} s"
