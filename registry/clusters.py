"""Origin clusters: near-duplicate groups across the log, and per-origin evidence of abuse.

Everything here is a function of the log's entries up to one checkpoint (`Facts`), so anyone
who replays the log to that size gets the same report, byte for byte (`report_bytes`: sorted,
compact JSON, integers only).

**Clusters.** Captures are taken in log order. A capture joins the cluster of the earliest
earlier capture with the same SHA-256; otherwise, if its PDQ is of quality >= 50, the cluster
of the earliest *anchor* within PDQ distance 31 of it; otherwise it anchors a new cluster. So
every member is within the radius of its anchor (or is the anchor's exact file, or an exact
copy of a member), and A~B~C never chains into one cluster when C is far from A. Pairs come
from the near-duplicate index's batched range search, never from an all-pairs loop.

**Signals**, per device, each a count with its evidence (leaf indexes):

1. `first_registered_elsewhere` - a capture whose cluster anchor is another camera device's,
   logged before this capture was taken (beyond `grace_ms`): a re-photographed screen, or a
   claim on someone else's picture. Burst shots (same device) and several cameras at one
   event (taken before the anchor was logged) do not count.
2. `laundered_synthetic` - a camera capture in a cluster with a generator vendor's disclosure
   logged before it: a generated image photographed with a real camera.
3. `cloned_key` - counters that repeat, or that go backwards when the captures are ordered by
   `captured_at` (two devices sharing one key interleave their counters).
4. `impossible_rate` - more than `rate_per_s` x `rate_window_ms` captures inside any window of
   `rate_window_ms` (default: over 20 per second sustained for 10 s).
5. `clock_anomaly` - `captured_at` after `logged_at`, or a logging delay beyond
   max(`delay_factor` x the vendor's median delay, `delay_floor_ms`).
6. `compromise_window` - captures taken at or after a logged compromise of the device.

**Score**: sum over signals of weight x min(1, count / threshold) (`SIGNALS`), in thousandths;
a device is suspicious at >= 1000. Vendors sum their devices. Every reason is a sentence.
"""

import base64
import json
import statistics
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Final

import numpy as np
from sqlalchemy import select

from ledger import LogStore
from ledger.errors import MalformedError
from registry.neardup import NearDuplicateIndex
from registry.schema import reg_captures, reg_devices, reg_revocations, reg_vendors

__all__ = [
    "FORMAT",
    "SIGNALS",
    "Capture",
    "Facts",
    "Origin",
    "Parameters",
    "build_report",
    "capture_times",
    "load_facts",
    "report_bytes",
]

FORMAT: Final = "provenance-ledger/origins/v1"
CAMERA, GENERATOR = "camera", "generator"
SEARCH_BATCH: Final = 20_000


@dataclass(frozen=True)
class Signal:
    weight: int  # points at full severity
    threshold: int  # evidence count at which the severity is full
    sentence: str  # "{count} ..." in plain words


SIGNALS: Final[Mapping[str, Signal]] = {
    "laundered_synthetic": Signal(5, 1, "{count} capture(s) near-duplicate a generator's disclosure logged earlier"),
    "cloned_key": Signal(4, 1, "{count} capture(s) with a repeated or backwards counter: a cloned or extracted key"),
    "compromise_window": Signal(3, 1, "{count} capture(s) taken after the device's key was reported compromised"),
    "first_registered_elsewhere": Signal(3, 3, "{count} capture(s) of content another device registered before they were taken"),
    "impossible_rate": Signal(2, 1, "{count} capture(s) in bursts faster than a camera can take them"),
    "clock_anomaly": Signal(1, 3, "{count} capture(s) with a capture time after logging, or logged implausibly late"),
}  # fmt: skip
SUSPICIOUS: Final = 1000  # score, in thousandths of a point


@dataclass(frozen=True)
class Parameters:
    radius: int = 31
    min_quality: int = 50
    grace_ms: int = 60_000
    rate_per_s: int = 20
    rate_window_ms: int = 10_000
    delay_factor: int = 10
    delay_floor_ms: int = 3_600_000


@dataclass(frozen=True)
class Capture:
    index: int
    device: str
    counter: int
    captured_at: int
    logged_at: int
    sha256: bytes
    pdq: bytes
    quality: int


@dataclass(frozen=True)
class Origin:
    device: str
    vendor: str
    vendor_name: str
    role: str


@dataclass(frozen=True)
class Facts:
    """The registry as of a checkpoint: captures in log order, devices, compromises."""

    origin: str
    tree_size: int
    root_hash: bytes
    captures: Sequence[Capture]
    devices: Mapping[str, Origin]
    compromised_since: Mapping[str, int] = field(default_factory=dict)  # device -> earliest


def load_facts(store: LogStore, size: int | None = None) -> Facts:
    """The derived tables restricted to entries [0, size) (default: the latest checkpoint)."""
    latest = store.latest_checkpoint()
    size = latest.size if size is None else size
    if not 0 <= size <= latest.size:
        raise MalformedError(f"the log has {latest.size} entries; --at must be 0..{latest.size}")
    root = store.root_at(size)
    with store.engine.connect() as connection:
        rows = connection.execute(
            select(reg_captures)
            .where(reg_captures.c.leaf_index < size)
            .order_by(reg_captures.c.leaf_index)
        ).all()
        devices = {
            r.device_id: Origin(r.device_id, r.vendor_id, r.name, r.role)
            for r in connection.execute(
                select(
                    reg_devices.c.device_id,
                    reg_devices.c.vendor_id,
                    reg_vendors.c.name,
                    reg_vendors.c.role,
                )
                .join(reg_vendors, reg_vendors.c.vendor_id == reg_devices.c.vendor_id)
                .where(reg_devices.c.leaf_index < size)
            )
        }
        compromised: dict[str, int] = {}
        for device, since in connection.execute(
            select(reg_revocations.c.device_id, reg_revocations.c.compromised_since_ms).where(
                reg_revocations.c.leaf_index < size
            )
        ):
            compromised[device] = min(since, compromised.get(device, since))
    captures = [
        Capture(r.leaf_index, r.device_id, r.counter, r.captured_at_ms, r.logged_at_ms,
                bytes(r.sha256), bytes(r.pdq), r.pdq_quality)
        for r in rows
    ]  # fmt: skip
    return Facts(latest.checkpoint.origin, size, root, captures, devices, compromised)


def capture_times(store: LogStore, indexes: Sequence[int]) -> dict[int, tuple[str, int]]:
    """Leaf index -> (device, logged_at) of these captures, for drawing clusters."""
    if not indexes:
        return {}
    with store.engine.connect() as connection:
        rows = connection.execute(
            select(
                reg_captures.c.leaf_index, reg_captures.c.device_id, reg_captures.c.logged_at_ms
            ).where(reg_captures.c.leaf_index.in_(list(indexes)))
        )
        return {r.leaf_index: (r.device_id, r.logged_at_ms) for r in rows}


# --- clusters ---


def cluster(captures: Sequence[Capture], params: Parameters) -> list[int]:
    """For each capture (by position), the position of its cluster's anchor."""
    good = [p for p, c in enumerate(captures) if c.quality >= params.min_quality]
    earlier: dict[int, list[int]] = defaultdict(list)  # position -> earlier positions near it
    if good:
        index = NearDuplicateIndex(threads=2)
        index.add(good, [captures[p].pdq for p in good])
        for start in range(0, len(good), SEARCH_BATCH):
            batch = good[start : start + SEARCH_BATCH]
            rows, leaves, _ = index.pairs_within([captures[p].pdq for p in batch], params.radius)
            queries = np.asarray(batch, dtype=np.int64)[rows]
            keep = leaves < queries
            for query, leaf in zip(queries[keep].tolist(), leaves[keep].tolist(), strict=True):
                earlier[query].append(leaf)
    anchor_of: list[int] = []
    first_with_sha: dict[bytes, int] = {}
    for position, capture in enumerate(captures):
        same = first_with_sha.setdefault(capture.sha256, position)
        if same != position:
            anchor_of.append(anchor_of[same])
            continue
        anchors = [q for q in earlier.get(position, ()) if anchor_of[q] == q]
        anchor_of.append(min(anchors) if anchors else position)
    return anchor_of


# --- signals ---


def _signals(
    facts: Facts, anchor_of: Sequence[int], params: Parameters
) -> dict[str, dict[str, set[int]]]:
    """device -> signal -> evidence (leaf indexes)."""
    captures, devices = facts.captures, facts.devices
    found: dict[str, dict[str, set[int]]] = defaultdict(lambda: defaultdict(set))
    members: dict[int, list[int]] = defaultdict(list)
    for position, anchor in enumerate(anchor_of):
        members[anchor].append(position)

    def role(capture: Capture) -> str:
        origin = devices.get(capture.device)
        return origin.role if origin else CAMERA

    for anchor, group in members.items():
        if len(group) < 2:
            continue
        first = captures[anchor]
        disclosures = [captures[p] for p in group if role(captures[p]) == GENERATOR]
        for position in group:
            capture = captures[position]
            if role(capture) != CAMERA:
                continue
            if (
                capture.device != first.device
                and role(first) == CAMERA
                and capture.captured_at > first.logged_at + params.grace_ms
            ):
                found[capture.device]["first_registered_elsewhere"].update(
                    (capture.index, first.index)
                )
            laundered = [d for d in disclosures if d.logged_at < capture.logged_at]
            if laundered:
                found[capture.device]["laundered_synthetic"].update(
                    (capture.index, laundered[0].index)
                )

    by_device: dict[str, list[Capture]] = defaultdict(list)
    for capture in captures:
        by_device[capture.device].append(capture)
    delays: dict[str, list[int]] = defaultdict(list)
    for capture in captures:
        origin = devices.get(capture.device)
        delays[origin.vendor if origin else ""].append(capture.logged_at - capture.captured_at)
    typical = {vendor: statistics.median(values) for vendor, values in delays.items()}
    window_limit = params.rate_per_s * params.rate_window_ms // 1000
    for device, own in by_device.items():
        signals = found[device]
        seen_counters: dict[int, int] = {}
        for capture in own:  # log order: repeats
            if capture.counter in seen_counters:
                signals["cloned_key"].update((capture.index, seen_counters[capture.counter]))
            seen_counters.setdefault(capture.counter, capture.index)
        in_time = sorted(own, key=lambda c: (c.captured_at, c.index))
        highest: Capture | None = None
        for capture in in_time:  # by captured_at: a counter must never go down
            if highest is not None and capture.counter < highest.counter:
                signals["cloned_key"].update((capture.index, highest.index))
            if highest is None or capture.counter > highest.counter:
                highest = capture
        times = [c.captured_at for c in in_time]
        start = 0
        for end in range(len(in_time)):
            while times[end] - times[start] >= params.rate_window_ms:
                start += 1
            if end - start + 1 > window_limit:
                signals["impossible_rate"].update(c.index for c in in_time[start : end + 1])
        origin = devices.get(device)
        limit = max(
            params.delay_factor * typical.get(origin.vendor if origin else "", 0),
            params.delay_floor_ms,
        )
        since = facts.compromised_since.get(device)
        for capture in own:
            delay = capture.logged_at - capture.captured_at
            if delay < 0 or delay > limit:
                signals["clock_anomaly"].add(capture.index)
            if since is not None and capture.captured_at >= since:
                signals["compromise_window"].add(capture.index)
    return {
        device: {k: v for k, v in s.items() if v} for device, s in found.items() if any(s.values())
    }


# --- the report ---


def build_report(facts: Facts, params: Parameters | None = None) -> dict[str, Any]:
    params = params or Parameters()
    captures = facts.captures
    anchor_of = cluster(captures, params)
    signals = _signals(facts, anchor_of, params)
    counts: dict[str, int] = defaultdict(int)
    for capture in captures:
        counts[capture.device] += 1
    device_of = {capture.index: capture.device for capture in captures}

    def own(evidence: set[int], device: str) -> int:
        """How many evidence entries are the device's own captures (evidence also names the
        other party, such as the earlier registration)."""
        return sum(1 for index in evidence if device_of[index] == device)

    def origin_of(device: str) -> Origin:
        return facts.devices.get(device) or Origin(device, "", "(unknown)", CAMERA)

    device_rows: list[dict[str, Any]] = []
    for device, found in signals.items():
        score = sum(
            SIGNALS[name].weight
            * 1000
            * min(own(evidence, device), SIGNALS[name].threshold)
            // SIGNALS[name].threshold
            for name, evidence in found.items()
        )
        origin = origin_of(device)
        device_rows.append({
            "device": device, "vendor": origin.vendor, "vendor_name": origin.vendor_name,
            "role": origin.role, "captures": counts[device], "score": score,
            "suspicious": score >= SUSPICIOUS,
            "reasons": [SIGNALS[name].sentence.format(count=own(evidence, device))
                        for name, evidence in sorted(found.items(), key=lambda kv: -SIGNALS[kv[0]].weight)],
            "signals": {name: {"count": own(evidence, device), "evidence": sorted(evidence)}
                        for name, evidence in found.items()},
        })  # fmt: skip
    device_rows.sort(key=lambda row: (-row["score"], row["device"]))
    vendors: dict[str, dict[str, Any]] = {}
    for row in device_rows:
        vendor = vendors.setdefault(row["vendor"], {
            "vendor": row["vendor"], "vendor_name": row["vendor_name"], "score": 0,
            "devices_flagged": 0, "suspicious_devices": 0, "signals": defaultdict(int),
        })  # fmt: skip
        vendor["score"] += row["score"]
        vendor["devices_flagged"] += 1
        vendor["suspicious_devices"] += int(row["suspicious"])
        for name, signal in row["signals"].items():
            vendor["signals"][name] += signal["count"]
    vendor_rows = [dict(v, signals=dict(v["signals"])) for v in vendors.values()]
    vendor_rows.sort(key=lambda row: (-row["score"], row["vendor"]))

    groups: dict[int, list[int]] = defaultdict(list)
    for position, anchor in enumerate(anchor_of):
        groups[anchor].append(position)
    cluster_rows: list[dict[str, Any]] = []
    for anchor, group in groups.items():
        if len(group) < 2:
            continue
        members = [captures[p] for p in group]
        cluster_rows.append({
            "anchor": captures[anchor].index,
            "members": [c.index for c in members],
            "devices": sorted({c.device for c in members}),
            "vendors": sorted({origin_of(c.device).vendor for c in members}),
            "roles": sorted({origin_of(c.device).role for c in members}),
            "first_logged_at": min(c.logged_at for c in members),
            "last_logged_at": max(c.logged_at for c in members),
            "span_ms": max(c.logged_at for c in members) - min(c.logged_at for c in members),
        })  # fmt: skip
    cluster_rows.sort(key=lambda row: (-len(row["devices"]), -len(row["members"]), row["anchor"]))
    return {
        "format": FORMAT,
        "checkpoint": {
            "origin": facts.origin,
            "tree_size": facts.tree_size,
            "root_hash": base64.b64encode(facts.root_hash).decode(),
        },
        "parameters": asdict(params),
        "captures": len(captures),
        "clusters": cluster_rows,
        "devices": device_rows,
        "vendors": vendor_rows,
    }


def report_bytes(report: Mapping[str, Any]) -> bytes:
    """The report as sorted, compact JSON: equal reports are equal bytes."""
    return json.dumps(report, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
