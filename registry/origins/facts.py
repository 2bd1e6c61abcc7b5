"""The origin report's inputs: the log's facts as of one checkpoint, and the parameters.

Everything the report says is a function of `Facts` - the captures of entries [0, size) in log
order, the devices and vendors registered by then, and the revocations logged by then - so
anyone who replays the log to that size gets the same `Facts`, and the same report. `load_facts`
reads them from the registry's derived tables; `bench.clusters_bench` and the tests build them
by hand.
"""

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from sqlalchemy import Connection, select

from ledger import LogStore
from ledger.errors import MalformedError
from registry.admission.capture_cautions import read_revocations
from registry.admission.caution_rule import Revocation, covers
from registry.admission.indexer import COUNTER_DUPLICATE
from registry.admission.schema import (
    reg_captures,
    reg_device_path,
    reg_devices,
    reg_revocations,
    reg_vendors,
)
from registry.imaging.hashing import MIN_QUALITY, PDQ_RADIUS

__all__ = ["CAMERA", "GENERATOR", "Capture", "Facts", "Origin", "Parameters", "capture_times", "load_facts", "revocation_dates"]  # fmt: skip

_NEVER: Final = 2**63  # a leaf index no capture reaches
CAMERA: Final = "camera"  # vendor roles
GENERATOR: Final = "generator"


@dataclass(frozen=True)
class Parameters:
    """Clustering and signal thresholds (their meaning: `clusters`, `signals`). Part of the
    report, so a reader knows what it was computed with."""

    radius: int = PDQ_RADIUS
    min_quality: int = MIN_QUALITY
    grace_ms: int = 60_000
    rate_per_s: int = 20
    rate_window_ms: int = 10_000
    delay_factor: int = 10
    delay_floor_ms: int = 3_600_000


@dataclass(frozen=True)
class Capture:
    """One capture entry, as `reg_captures` holds it (times in ms since the epoch)."""

    index: int  # leaf index
    device: str
    counter: int | None  # None: a c2pa-capture/v1 (C2PA claims carry no counter)
    captured_at: int
    logged_at: int
    sha256: bytes
    pdq: bytes
    quality: int
    firmware: str | None = None  # the release the signed claim names, if any


@dataclass(frozen=True)
class Origin:
    """A registered device and its vendor (`role`: CAMERA or GENERATOR)."""

    device: str
    vendor: str
    vendor_name: str
    role: str
    # For a vendor whose devices sign each capture with a one-time certificate, the CA that
    # issued this one (reg_devices.origin_id, registry.admission.capture_origin); else None.
    per_capture_ca: str | None = None

    @property
    def origin_id(self) -> str:
        """Whose captures they are, for signals and clusters: the device, or its CA."""
        return self.per_capture_ca or self.device


@dataclass(frozen=True)
class Facts:
    """The registry as of a checkpoint: captures in log order, devices, compromises."""

    origin: str
    tree_size: int
    root_hash: bytes
    captures: Sequence[Capture]
    devices: Mapping[str, Origin]
    # Unscoped device compromises (device -> earliest date, -> first revocation's index), for
    # facts built by hand; load_facts gives `revocations` instead.
    compromised_since: Mapping[str, int] = field(default_factory=dict)
    revoked_at: Mapping[str, int] = field(default_factory=dict)
    # Device -> every revocation naming it, a CA on its path or its vendor root, in log order,
    # each with its scope and firmware (registry.admission.caution_rule.Revocation).
    revocations: Mapping[str, Sequence[Revocation]] = field(default_factory=dict)

    def covering(self, capture: Capture) -> list[Revocation]:
        """The revocations that cover this capture (by firmware, if limited to some)."""
        found = [r for r in self.revocations.get(capture.device, ()) if covers(r, capture.firmware)]
        since = self.compromised_since.get(capture.device)
        if since is not None:
            at = self.revoked_at.get(capture.device, _NEVER)  # no index: never logged after
            found.append(Revocation(at, capture.device, since))
        return found


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
            # A copy of an earlier claim (re-signed or malleated) is that capture again, not a
            # second one: it must not count as a repeated counter or towards a rate.
            .where(reg_captures.c.counter_status != COUNTER_DUPLICATE)
            .order_by(reg_captures.c.leaf_index)
        ).all()
        devices = {
            r.device_id: Origin(
                r.device_id,
                r.vendor_id,
                r.name,
                r.role,
                r.origin_id if r.origin_id != r.device_id else None,
            )  # fmt: skip
            for r in connection.execute(
                select(
                    reg_devices.c.device_id,
                    reg_devices.c.origin_id,
                    reg_devices.c.vendor_id,
                    reg_vendors.c.name,
                    reg_vendors.c.role,
                )
                .join(reg_vendors, reg_vendors.c.vendor_id == reg_devices.c.vendor_id)
                .where(reg_devices.c.leaf_index < size)
            )
        }
        revocations = _revocations(connection, size)
    captures = [
        Capture(r.leaf_index, r.device_id, r.counter, r.captured_at_ms, r.logged_at_ms,
                bytes(r.sha256), bytes(r.pdq), r.pdq_quality, r.firmware)
        for r in rows
    ]  # fmt: skip
    return Facts(
        latest.checkpoint.origin, size, root, captures, devices,
        revocations=revocations,
    )  # fmt: skip


def _revocations(connection: Connection, size: int) -> dict[str, list[Revocation]]:
    """Device -> the revocations of entries [0, size) that name it, a CA on its path or its
    vendor root (reg_device_path), in log order."""
    logged = read_revocations(reg_revocations.c.leaf_index < size, connection)
    if not logged:
        return {}
    by_subject: dict[str, list[Revocation]] = defaultdict(list)
    for revocation in logged:
        by_subject[revocation.subject].append(revocation)
    found: dict[str, list[Revocation]] = defaultdict(list)
    for device, ca in connection.execute(
        select(reg_device_path.c.device_id, reg_device_path.c.ca_id).where(
            reg_device_path.c.ca_id.in_(sorted(by_subject))
        )
    ):
        found[device].extend(by_subject[ca])
    for subject, revocations in by_subject.items():  # a device named by a device revocation
        found[subject].extend(revocations)
    return {device: sorted(rs, key=lambda r: r.index) for device, rs in found.items()}


def capture_times(store: LogStore, indexes: Sequence[int]) -> dict[int, tuple[str, int]]:
    """Leaf index -> (origin, logged_at) of these captures, for drawing clusters (whose rows
    are origins: a device, or a per-capture vendor's issuing CA)."""
    if not indexes:
        return {}
    with store.engine.connect() as connection:
        rows = connection.execute(
            select(reg_captures.c.leaf_index, reg_devices.c.origin_id, reg_captures.c.logged_at_ms)
            .join(reg_devices, reg_devices.c.device_id == reg_captures.c.device_id)
            .where(reg_captures.c.leaf_index.in_(list(indexes)))
        )
        return {r.leaf_index: (r.origin_id, r.logged_at_ms) for r in rows}


def revocation_dates(store: LogStore, indexes: Sequence[int]) -> dict[int, tuple[int, int]]:
    """Leaf index -> (declared compromise date, logged_at) of these revocations, for saying
    that a capture was taken after the date a revocation declared, which may be long before
    the revocation itself was logged."""
    if not indexes:
        return {}
    columns = reg_revocations.c
    with store.engine.connect() as connection:
        rows = connection.execute(
            select(columns.leaf_index, columns.compromised_since_ms, columns.logged_at_ms).where(
                columns.leaf_index.in_(list(indexes))
            )
        )
        return {r.leaf_index: (r.compromised_since_ms, r.logged_at_ms) for r in rows}
