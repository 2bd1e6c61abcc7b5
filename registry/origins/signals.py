"""Per-origin evidence of abuse, from the log's facts and its clusters.

Each signal is a function (same name) from (`Facts`, `Clustering`, `Parameters`) to
origin -> evidence, the leaf indexes that show it (the origin's own captures, and for the
cluster signals the earlier capture they are measured against). A signal counts only the
origin's own captures (`report`). An origin is a device, or for a vendor that signs each
capture with a one-time certificate, the CA that issued it (`Origin.origin_id`): a phone is
one origin however many certificates it used. Counters alone are judged per certificate
(`cloned_key`), as admission judges them: they belong to the key that signs.

1. `first_registered_elsewhere` - a capture whose cluster anchor (the first *logged*) is
   another camera origin's, and which claims a time outside the anchor's window
   [anchor captured_at - `grace_ms`, anchor logged_at + `grace_ms`]: taken after the anchor
   was logged (a re-photographed screen, a claim on someone else's picture), or claiming to
   predate the anchor's own capture though logged after it (a backdated claim: priority is
   the log's order, never a device's clock). Burst shots (same origin) and several cameras at
   one event (taken while the anchor was being taken and logged) do not count.
2. `laundered_synthetic` - a camera capture in a cluster with, or within the radius (or the
   exact file) of, a generator vendor's disclosure logged before it - by log order, so a
   disclosure in the same batch counts: a generated image photographed with a real camera.
3. `cloned_key` - counters that repeat, or that go backwards when the captures are ordered by
   `captured_at` (two devices sharing one key interleave their counters).
4. `impossible_rate` - more than `rate_per_s` x `rate_window_ms` captures inside any window of
   `rate_window_ms` (default: over 20 per second sustained for 10 s).
5. `clock_anomaly` - `captured_at` after `logged_at`, or a logging delay beyond
   max(`delay_factor` x the vendor's median delay, `delay_floor_ms`).
6. `compromise_window` - captures taken at or after a logged compromise of the device.
7. `logged_after_revocation` - captures logged after a revocation of the device: their capture
   time (before the compromise, or admission would have refused them) may be backdated.
"""

import statistics
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Final

from registry.origins.clusters import Clustering
from registry.origins.facts import CAMERA, GENERATOR, Capture, Facts, Parameters

__all__ = [
    "CHECKS",
    "Evidence",
    "clock_anomaly",
    "cloned_key",
    "compromise_window",
    "first_registered_elsewhere",
    "impossible_rate",
    "laundered_synthetic",
    "logged_after_revocation",
    "signals",
]

Evidence = dict[str, set[int]]  # origin -> leaf indexes
Check = Callable[[Facts, Clustering, Parameters], Evidence]


def first_registered_elsewhere(facts: Facts, clusters: Clustering, params: Parameters) -> Evidence:
    """1. Captures claimed outside the window of a cluster anchored by another camera."""
    captures, found = facts.captures, _evidence()
    for anchor, group in clusters.groups().items():
        first = captures[anchor]
        if _role(facts, first) != CAMERA:
            continue
        for capture in (captures[p] for p in group):
            # Priority is the log's: the anchor was logged first, whatever this capture claims.
            # Only a capture claimed inside the anchor's own window (while it was being taken
            # and logged, give or take the grace) can be another camera at the same moment.
            outside = not (
                first.captured_at - params.grace_ms
                <= capture.captured_at
                <= first.logged_at + params.grace_ms
            )
            elsewhere = _origin(facts, capture.device) != _origin(facts, first.device)
            if _role(facts, capture) == CAMERA and elsewhere and outside:
                found[_origin(facts, capture.device)].update((capture.index, first.index))
    return found


def laundered_synthetic(facts: Facts, clusters: Clustering, params: Parameters) -> Evidence:
    """2. Camera captures near a generator's disclosure logged before them."""
    captures, found = facts.captures, _evidence()
    if not any(_role(facts, c) == GENERATOR for c in captures):
        return found  # most logs: skips the scan of every capture's near pairs
    # Outside the cluster too: per PDQ value, the first disclosure within the radius.
    generators = (p for p, c in enumerate(captures) if _role(facts, c) == GENERATOR)
    first_disclosed = clusters.earliest_near(generators)
    for group in clusters.groups().values():
        disclosed: Capture | None = None  # the cluster's first disclosure logged so far
        for position in group:  # in log order: a disclosure earlier in a batch is earlier
            capture = captures[position]
            if _role(facts, capture) != CAMERA:
                disclosed = disclosed or capture
                continue
            near = first_disclosed.get(clusters.value_of[position], position)
            source = disclosed or (captures[near] if near < position else None)
            if source is not None:
                found[_origin(facts, capture.device)].update((capture.index, source.index))
    return found


def cloned_key(facts: Facts, clusters: Clustering, params: Parameters) -> Evidence:
    """3. Counters that repeat (in log order) or go backwards (in capture-time order), per
    certificate: one-time certificates of one phone CA may each count from anywhere."""
    found = _evidence()
    for device, own in _by_device(facts.captures).items():
        origin = _origin(facts, device)
        counted = [(c.counter, c) for c in own if c.counter is not None]
        seen: dict[int, int] = {}  # counter -> the first leaf index with it
        for counter, capture in counted:
            if counter in seen:
                found[origin].update((capture.index, seen[counter]))
            seen.setdefault(counter, capture.index)
        highest: tuple[int, Capture] | None = None
        for counter, capture in sorted(counted, key=lambda cc: (cc[1].captured_at, cc[1].index)):
            if highest is not None and counter < highest[0]:
                found[origin].update((capture.index, highest[1].index))
            if highest is None or counter > highest[0]:
                highest = (counter, capture)
    return found


def impossible_rate(facts: Facts, clusters: Clustering, params: Parameters) -> Evidence:
    """4. Captures in a window of `rate_window_ms` holding more than the rate allows."""
    found = _evidence()
    window_limit = params.rate_per_s * params.rate_window_ms // 1000
    for origin, own in _by_origin(facts).items():
        in_time = sorted(own, key=lambda c: (c.captured_at, c.index))
        times = [c.captured_at for c in in_time]
        start, added = 0, 0  # in_time[:added] already found (windows only move forward)
        for end in range(len(in_time)):
            while times[end] - times[start] >= params.rate_window_ms:
                start += 1
            if end - start + 1 > window_limit:
                found[origin].update(c.index for c in in_time[max(start, added) : end + 1])
                added = end + 1
    return found


def clock_anomaly(facts: Facts, clusters: Clustering, params: Parameters) -> Evidence:
    """5. Captures claimed after they were logged, or logged implausibly late for the vendor."""
    delays: dict[str, list[int]] = defaultdict(list)
    for capture in facts.captures:
        delays[_vendor(facts, capture.device)].append(capture.logged_at - capture.captured_at)
    typical = {vendor: statistics.median(values) for vendor, values in delays.items()}
    found = _evidence()
    for capture in facts.captures:
        limit = max(
            params.delay_factor * typical.get(_vendor(facts, capture.device), 0),
            params.delay_floor_ms,
        )
        delay = capture.logged_at - capture.captured_at
        if delay < 0 or delay > limit:
            found[_origin(facts, capture.device)].add(capture.index)
    return found


def compromise_window(facts: Facts, clusters: Clustering, params: Parameters) -> Evidence:
    """6. Captures taken at or after the compromise of a revocation that covers them (of the
    device, a CA on its path or its vendor root; by firmware, if limited to some)."""
    found = _evidence()
    for capture in facts.captures:
        if any(capture.captured_at >= r.compromised_since for r in facts.covering(capture)):
            found[_origin(facts, capture.device)].add(capture.index)
    return found


def logged_after_revocation(facts: Facts, clusters: Clustering, params: Parameters) -> Evidence:
    """7. Captures logged after a revocation that covers them."""
    found = _evidence()
    for capture in facts.captures:
        if any(capture.index > r.index for r in facts.covering(capture)):
            found[_origin(facts, capture.device)].add(capture.index)
    return found


CHECKS: Final[Mapping[str, Check]] = {
    check.__name__: check
    for check in (
        first_registered_elsewhere,
        laundered_synthetic,
        cloned_key,
        impossible_rate,
        clock_anomaly,
        compromise_window,
        logged_after_revocation,
    )
}
# Signals found per capture, in this order on one capture: among them the report lists reasons
# of equal weight in the order the first capture of the origin showed them (`signals`).
_PER_CAPTURE: Final = ("logged_after_revocation", "clock_anomaly", "compromise_window")


def signals(
    facts: Facts, clusters: Clustering, params: Parameters
) -> dict[str, dict[str, set[int]]]:
    """Origin -> signal -> evidence, for the origins with any.

    The order of each origin's signals is the order of its reasons among equal weights, and so
    part of the report's bytes: the cluster signals and the counter and rate signals in the
    order of `CHECKS`, then the per-capture ones by the first capture showing them."""
    found = {name: check(facts, clusters, params) for name, check in CHECKS.items()}
    by_origin: dict[str, dict[str, set[int]]] = defaultdict(dict)
    for name in (name for name in CHECKS if name not in _PER_CAPTURE):
        for origin, evidence in found[name].items():
            by_origin[origin][name] = evidence
    for origin in {origin for name in _PER_CAPTURE for origin in found[name]}:
        shown = [name for name in _PER_CAPTURE if origin in found[name]]
        for name in sorted(shown, key=lambda n: (min(found[n][origin]), _PER_CAPTURE.index(n))):
            by_origin[origin][name] = found[name][origin]
    return dict(by_origin)


def _evidence() -> Evidence:
    return defaultdict(set)


def _role(facts: Facts, capture: Capture) -> str:
    origin = facts.devices.get(capture.device)
    return origin.role if origin else CAMERA


def _vendor(facts: Facts, device: str) -> str:
    origin = facts.devices.get(device)
    return origin.vendor if origin else ""


def _origin(facts: Facts, device: str) -> str:
    origin = facts.devices.get(device)
    return origin.origin_id if origin else device


def _by_origin(facts: Facts) -> dict[str, list[Capture]]:
    """Origin -> its captures in log order."""
    by_origin: dict[str, list[Capture]] = defaultdict(list)
    for capture in facts.captures:
        by_origin[_origin(facts, capture.device)].append(capture)
    return by_origin


def _by_device(captures: Sequence[Capture]) -> dict[str, list[Capture]]:
    """Device -> its captures in log order."""
    by_device: dict[str, list[Capture]] = defaultdict(list)
    for capture in captures:
        by_device[capture.device].append(capture)
    return by_device
