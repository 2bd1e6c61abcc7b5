"""The origin report's inputs: the log's facts as of one checkpoint, and the parameters.

Everything the report says is a function of `Facts` - the captures of entries [0, size) in log
order, the devices and vendors registered by then, and the revocations logged by then - so
anyone who replays the log to that size gets the same `Facts`, and the same report. `load_facts`
reads them from the registry's derived tables; `bench.clusters_bench` and the tests build them
by hand.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from sqlalchemy import Connection, select

from ledger import LogStore
from ledger.errors import MalformedError
from registry.admission.caution_rule import earliest_compromise
from registry.admission.indexer import COUNTER_DUPLICATE
from registry.admission.schema import reg_captures, reg_devices, reg_revocations, reg_vendors
from registry.imaging.hashing import MIN_QUALITY, PDQ_RADIUS

__all__ = ["CAMERA", "GENERATOR", "Capture", "Facts", "Origin", "Parameters", "capture_times", "load_facts"]  # fmt: skip

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
    compromised_since: Mapping[str, int] = field(default_factory=dict)  # device -> earliest
    revoked_at: Mapping[str, int] = field(default_factory=dict)  # device -> first revocation


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
        compromised, revoked_at = _revocations(connection, size)
    captures = [
        Capture(r.leaf_index, r.device_id, r.counter, r.captured_at_ms, r.logged_at_ms,
                bytes(r.sha256), bytes(r.pdq), r.pdq_quality)
        for r in rows
    ]  # fmt: skip
    return Facts(latest.checkpoint.origin, size, root, captures, devices, compromised, revoked_at)


def _revocations(connection: Connection, size: int) -> tuple[dict[str, int], dict[str, int]]:
    """Per revoked device: the earliest compromise time reported, and the first revocation's
    leaf index (a device may be revoked more than once)."""
    rows = connection.execute(
        select(
            reg_revocations.c.device_id,
            reg_revocations.c.compromised_since_ms,
            reg_revocations.c.leaf_index,
        ).where(reg_revocations.c.leaf_index < size)
    ).all()
    compromised = earliest_compromise((device, since) for device, since, _ in rows)
    revoked_at = earliest_compromise((device, index) for device, _, index in rows)  # first logged
    return compromised, revoked_at


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
