"""The origin report: clusters, per-origin scores and per-vendor sums, as canonical JSON.

A function of `Facts` alone, so anyone who replays the log to the same size gets the same
report, byte for byte (`report_bytes`: sorted, compact JSON, integers only).

**Score**: sum over signals of weight x min(1, count / threshold) (`SIGNALS`), in thousandths;
a device is suspicious at >= `SUSPICIOUS`. A signal's count is of the device's own captures in
its evidence (the evidence also names the other party, such as the earlier registration).
Vendors sum their devices. Every reason is a sentence.

An origin is a device, or for a vendor that signs each capture with a one-time certificate,
the CA that issued them (registry.admission.capture_origin): its row (still under "devices",
keyed "device") then also says `"origin": "ca"`, how many certificates its captures used, and
that the vendor revokes the CA, since revoking one one-time certificate covers one capture.
"""

import base64
import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Final, NotRequired, TypedDict

from registry.admission.caution_rule import describe
from registry.imaging.pairs import PairSearch
from registry.origins.clusters import Clustering, clustering
from registry.origins.facts import CAMERA, Capture, Facts, Origin, Parameters
from registry.origins.signals import signals

__all__ = ["FORMAT", "SIGNALS", "SUSPICIOUS", "Report", "Signal", "build_report", "report_bytes"]

FORMAT: Final = "provenance-ledger/origins/v1"


@dataclass(frozen=True)
class Signal:
    weight: int  # points at full severity
    threshold: int  # evidence count at which the severity is full
    sentence: str  # "{count} ..." in plain words


SIGNALS: Final[Mapping[str, Signal]] = {
    "laundered_synthetic": Signal(5, 1, "{count} capture(s) near-duplicate a generator's disclosure logged earlier"),
    "cloned_key": Signal(4, 1, "{count} capture(s) with a repeated or backwards counter: a cloned or extracted key"),
    "compromise_window": Signal(3, 1, "{count} capture(s) taken on or after the compromise date a revocation declared (which may be before that revocation was logged)"),
    "logged_after_revocation": Signal(3, 1, "{count} capture(s) logged after the device was revoked: their capture times may be backdated"),
    "first_registered_elsewhere": Signal(3, 3, "{count} capture(s) of content another device registered before they were taken"),
    "impossible_rate": Signal(2, 1, "{count} capture(s) in bursts faster than a camera can take them"),
    "clock_anomaly": Signal(1, 3, "{count} capture(s) with a capture time after logging, or logged implausibly late"),
}  # fmt: skip
SUSPICIOUS: Final = 1000  # score, in thousandths of a point


class SignalRow(TypedDict):
    count: int  # the device's own captures in the evidence
    evidence: list[int]  # leaf indexes, sorted


class DeviceRow(TypedDict):
    device: str  # the origin: a device id, or a per-capture vendor's CA id ("origin": "ca")
    vendor: str
    vendor_name: str
    role: str
    captures: int
    score: int
    suspicious: bool
    reasons: list[str]  # by weight, heaviest first
    signals: dict[str, SignalRow]
    origin: NotRequired[str]  # "ca": the row is a per-capture vendor's issuing CA
    certificates: NotRequired[int]  # the one-time certificates its captures were signed with
    revocation: NotRequired[str]  # how its vendor revokes it, in words
    # The revocations behind its compromise_window and logged_after_revocation signals, each
    # "log entry N: <scope in words>" (only rows with those signals carry it)
    revoked_by: NotRequired[list[str]]


class VendorRow(TypedDict):
    vendor: str
    vendor_name: str
    score: int
    devices_flagged: int
    suspicious_devices: int
    signals: dict[str, int]  # signal -> the devices' counts summed


class ClusterRow(TypedDict):
    anchor: int
    members: list[int]
    devices: list[str]
    vendors: list[str]
    roles: list[str]
    first_logged_at: int
    last_logged_at: int
    span_ms: int


class Checkpoint(TypedDict):
    origin: str
    tree_size: int
    root_hash: str  # base64


class Report(TypedDict):
    format: str
    checkpoint: Checkpoint
    parameters: dict[str, int]
    captures: int
    clusters: list[ClusterRow]
    devices: list[DeviceRow]
    vendors: list[VendorRow]
    # Only past the pair budget (docs/design.md §7): "pair_budget", and per part of the report
    # that went past it ("clusters", "earliest_near") the rule applied instead, in words.
    bounded: NotRequired[dict[str, int | str]]


def build_report(
    facts: Facts, params: Parameters | None = None, *, pair_search: PairSearch | None = None
) -> Report:
    """The origin report. `pair_search` only picks how near pairs are found (`near_pairs`):
    the report is the same bytes whatever it is."""
    params = params or Parameters()
    clusters = clustering(facts.captures, params, pair_search)
    devices = _device_rows(facts, signals(facts, clusters, params))
    report: Report = {
        "format": FORMAT,
        "checkpoint": {
            "origin": facts.origin,
            "tree_size": facts.tree_size,
            "root_hash": base64.b64encode(facts.root_hash).decode(),
        },
        "parameters": asdict(params),
        "captures": len(facts.captures),
        "clusters": _cluster_rows(facts, clusters),
        "devices": devices,
        "vendors": _vendor_rows(devices),
    }
    # Filled while the signals ran; logs under the budget have nothing. (getattr: the reference
    # all-pairs clusterings of the tests and benchmarks have no budget.)
    bounded: dict[str, str] = getattr(clusters, "bounded", {})
    if bounded:
        report["bounded"] = {"pair_budget": clusters.budget, **bounded}
    return report


def report_bytes(report: Mapping[str, object]) -> bytes:
    """The report as sorted, compact JSON: equal reports are equal bytes."""
    return json.dumps(report, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _origin_of(facts: Facts, device: str) -> Origin:
    return facts.devices.get(device) or Origin(device, "", "(unknown)", CAMERA)


def _device_rows(facts: Facts, found: Mapping[str, Mapping[str, set[int]]]) -> list[DeviceRow]:
    """A row per origin with a signal, highest score first. Reasons of equal weight keep the
    order of `found` (the sort is stable)."""
    counts: dict[str, int] = defaultdict(int)
    origin_of: dict[int, str] = {}
    registered: dict[str, Origin] = {}  # origin id -> one of its devices
    certificates: dict[str, set[str]] = defaultdict(set)
    for capture in facts.captures:
        origin = _origin_of(facts, capture.device)
        counts[origin.origin_id] += 1
        origin_of[capture.index] = origin.origin_id
        registered.setdefault(origin.origin_id, origin)
        certificates[origin.origin_id].add(capture.device)
    rows: list[DeviceRow] = []
    for device, evidence in found.items():
        own = {name: sum(1 for i in leaves if origin_of[i] == device) for name, leaves in evidence.items()}  # fmt: skip
        score = sum(
            SIGNALS[name].weight * 1000 * min(count, SIGNALS[name].threshold) // SIGNALS[name].threshold
            for name, count in own.items()
        )  # fmt: skip
        by_weight = sorted(own, key=lambda name: -SIGNALS[name].weight)
        origin = registered.get(device) or _origin_of(facts, device)
        rows.append({
            "device": device, "vendor": origin.vendor, "vendor_name": origin.vendor_name,
            "role": origin.role, "captures": counts[device], "score": score,
            "suspicious": score >= SUSPICIOUS,
            "reasons": [SIGNALS[name].sentence.format(count=own[name]) for name in by_weight],
            "signals": {name: {"count": own[name], "evidence": sorted(leaves)}
                        for name, leaves in evidence.items()},
        })  # fmt: skip
        if origin.per_capture_ca is not None:
            _mark_per_capture(rows[-1], len(certificates[device]))
        revoked_by = _revoked_by(facts, evidence, origin_of, device)
        if revoked_by:
            rows[-1]["revoked_by"] = revoked_by
    rows.sort(key=lambda row: (-row["score"], row["device"]))
    return rows


_REVOCATION_SIGNALS: Final = ("compromise_window", "logged_after_revocation")


def _revoked_by(
    facts: Facts, evidence: Mapping[str, set[int]], origin_of: Mapping[int, str], origin: str
) -> list[str]:
    """The scope of each revocation covering the origin's captures in its revocation signals."""
    leaves = {
        i for name in _REVOCATION_SIGNALS for i in evidence.get(name, ()) if origin_of[i] == origin
    }
    if not leaves:
        return []
    named = {}
    for capture in facts.captures:
        if capture.index in leaves:
            for r in facts.covering(capture):
                named[r.index] = describe(r, _origin_of(facts, capture.device).vendor_name)
    return [f"log entry {index}: {named[index]}" for index in sorted(named)]


def _mark_per_capture(row: DeviceRow, certificates: int) -> None:
    """What a per-capture CA's row adds (only those rows: the others keep their bytes)."""
    row["origin"] = "ca"
    row["certificates"] = certificates
    row["revocation"] = (
        "a one-time certificate covers one capture: to revoke this origin, its vendor revokes "
        f'the issuing CA {row["device"]} (revocation/v2, scope "ca")'
    )


def _vendor_rows(devices: Sequence[DeviceRow]) -> list[VendorRow]:
    """A row per vendor with a flagged device: their scores and signal counts summed."""
    vendors: dict[str, VendorRow] = {}
    for row in devices:
        vendor = vendors.setdefault(row["vendor"], {
            "vendor": row["vendor"], "vendor_name": row["vendor_name"], "score": 0,
            "devices_flagged": 0, "suspicious_devices": 0, "signals": {},
        })  # fmt: skip
        vendor["score"] += row["score"]
        vendor["devices_flagged"] += 1
        vendor["suspicious_devices"] += int(row["suspicious"])
        for name, signal in row["signals"].items():
            vendor["signals"][name] = vendor["signals"].get(name, 0) + signal["count"]
    return sorted(vendors.values(), key=lambda row: (-row["score"], row["vendor"]))


def _cluster_rows(facts: Facts, clusters: Clustering) -> list[ClusterRow]:
    """A row per cluster of two or more: most devices first, then most members."""
    rows: list[ClusterRow] = []
    for group in clusters.groups().values():
        if len(group) >= 2:
            rows.append(_cluster_row(facts, [facts.captures[p] for p in group]))
    rows.sort(key=lambda row: (-len(row["devices"]), -len(row["members"]), row["anchor"]))
    return rows


def _cluster_row(facts: Facts, members: Sequence[Capture]) -> ClusterRow:
    first, last = min(c.logged_at for c in members), max(c.logged_at for c in members)
    return {
        "anchor": members[0].index,
        "members": [c.index for c in members],
        "devices": sorted({_origin_of(facts, c.device).origin_id for c in members}),
        "vendors": sorted({_origin_of(facts, c.device).vendor for c in members}),
        "roles": sorted({_origin_of(facts, c.device).role for c in members}),
        "first_logged_at": first,
        "last_logged_at": last,
        "span_ms": last - first,
    }
