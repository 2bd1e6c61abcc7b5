"""A synthetic world with planted abuse for the origin report (registry.origins.clusters):
`Builder(args).build()` makes the `Facts` `load_facts` would return, and says which device was
planted as what. bench.clusters_bench measures the report on it; tests/registry/test_clusters_scale.py
checks on a small one that the report does not depend on the pair search.

The world (no database, no images: `Facts` built directly, as `load_facts` would return them):

* 50 vendors: `--generator-vendors` (default 5) of role "generator", whose "devices" are model
  releases disclosing generated images, and camera vendors with a Zipf-like market share. Each
  vendor has a typical logging delay (cameras 2 s - 5 min, generators 1 - 30 s, log-uniform);
  a capture's delay is that times a log-normal factor (sigma 0.5), kept within 1/5x..5x of it.
* `--devices` honest camera devices (default 5,000) with heavy-tailed activity (log-normal
  weights), counters starting anywhere and rising with captured_at, over `--days` days.
* `--captures` captures in all (default 1,000,000): ~3% generator disclosures, the planted
  abuse below, and honest traffic: ~5% frames of events photographed by 2-8 devices at once
  (each device 1-3 frames, first frames within 55 s of each other, 2-15 bits from the scene),
  ~12% burst frames (one device, 3-8 frames 100-400 ms apart, 1-8 bits from the first frame),
  and single shots. PDQ hashes are random 32-byte codes; a near-duplicate is its base with k
  distinct random bits flipped. Quality 90 for 85%, 50-100 for 12%, below 50 for 3%.
* `--adversaries` planted devices of each kind (default 25), each with normal traffic too:
  re-photographers (2-5 captures 8-20 bits from an honest single shot registered 1-10 days
  earlier), synthetic launderers (2-5 captures 8-20 bits from a generator disclosure logged
  1 h - 10 days earlier), cloned keys (a second source from the middle of the device's life,
  10-30 captures counting on from the counter at the time of cloning), rate abusers (300-400
  captures of distinct content in 10-12 s), clock abusers (3-6 captures with captured_at 2-30 min
  after logged_at, or logged 1.5-7 days late), and compromised devices (`compromised_since`
  before their last 1-5 captures).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from registry.imaging.neardup import PDQ_BITS, PDQ_BYTES
from registry.origins.facts import Capture, Facts, Origin

Ints = npt.NDArray[np.int64]

SECOND: Final = 1_000
MINUTE: Final = 60 * SECOND
HOUR: Final = 60 * MINUTE
DAY: Final = 24 * HOUR
T0: Final = 1_790_000_000_000

VENDORS: Final = 50
DISCLOSURE_SHARE: Final = 0.03
EVENT_SHARE: Final = 0.05
BURST_SHARE: Final = 0.12
FLIP_CHUNK: Final = 100_000

# Planted kinds, named by the signal that should pick each out.
KINDS: Final = (
    "first_registered_elsewhere",
    "laundered_synthetic",
    "cloned_key",
    "impossible_rate",
    "clock_anomaly",
    "compromise_window",
)
PLANTED_AS: Final = {
    "first_registered_elsewhere": "re-photographers",
    "laundered_synthetic": "synthetic launderers",
    "cloned_key": "cloned keys",
    "impossible_rate": "rate abusers",
    "clock_anomaly": "clock abusers",
    "compromise_window": "compromised devices",
}

# Capture categories (for the world's sizes).
SINGLE, BURST, EVENT, DISCLOSURE, REPHOTO, LAUNDER, CLONE, RATE = range(8)
CATEGORY_NAMES: Final = (
    "single shots",
    "burst frames",
    "event frames",
    "generator disclosures",
    "re-photographs",
    "laundered photographs",
    "clone-source captures",
    "rate-abuse captures",
)


@dataclass
class Columns:
    """Captures under construction, one row each; the hash is base code XOR k flipped bits."""

    device: list[Ints] = field(default_factory=list)
    time: list[Ints] = field(default_factory=list)  # when it was really taken
    base: list[Ints] = field(default_factory=list)
    flips: list[Ints] = field(default_factory=list)
    quality: list[Ints] = field(default_factory=list)
    source: list[Ints] = field(default_factory=list)  # 1: a cloned key's second source
    category: list[Ints] = field(default_factory=list)

    def add(
        self,
        device: Ints | int,
        time: Ints,
        base: Ints,
        flips: Ints | int,
        quality: Ints | int,
        category: int,
        source: int = 0,
    ) -> None:
        n = len(time)
        self.device.append(np.broadcast_to(np.asarray(device, np.int64), (n,)).copy())
        self.time.append(np.asarray(time, np.int64))
        self.base.append(np.asarray(base, np.int64))
        self.flips.append(np.broadcast_to(np.asarray(flips, np.int64), (n,)).copy())
        self.quality.append(np.broadcast_to(np.asarray(quality, np.int64), (n,)).copy())
        self.source.append(np.full(n, source, np.int64))
        self.category.append(np.full(n, category, np.int64))


@dataclass
class World:
    facts: Facts
    planted: dict[str, set[str]]
    honest: set[str]
    generators: set[str]
    burst_takers: set[str]  # honest devices that took at least one burst
    event_takers: set[str]  # honest devices that photographed at least one shared event
    sizes: dict[str, Any]


class Builder:
    def __init__(self, args: argparse.Namespace) -> None:
        self.rng = np.random.default_rng(args.seed)
        self.n_captures: int = args.captures
        self.n_honest: int = args.devices
        self.n_adversaries: int = args.adversaries
        self.n_generator_vendors: int = args.generator_vendors
        self.end: int = T0 + int(args.days) * DAY
        self.offline_share: float = args.offline_share
        self.event_window = int(args.event_window_s * SECOND)
        self.rows = Columns()
        self.n_bases = 0

    def new_bases(self, n: int) -> Ints:
        start = self.n_bases
        self.n_bases += n
        return np.arange(start, start + n, dtype=np.int64)

    def quality(self, n: int) -> Ints:
        draw = self.rng.random(n)
        return np.where(
            draw < 0.85,
            90,
            np.where(draw < 0.97, self.rng.integers(50, 101, n), self.rng.integers(0, 50, n)),
        ).astype(np.int64)

    def uniform_times(self, n: int, start: int | None = None) -> Ints:
        return self.rng.integers(T0 if start is None else start, self.end, n, dtype=np.int64)

    def build(self) -> World:
        rng = self.rng
        # --- vendors and devices ---
        n_generator_vendors = self.n_generator_vendors
        n_camera_vendors = VENDORS - n_generator_vendors
        vendor_ids = [f"vendor-{i:02d}" for i in rng.permutation(VENDORS)]
        typical = np.empty(VENDORS, np.float64)  # by vendor position in vendor_ids
        typical[:n_camera_vendors] = np.exp(
            rng.uniform(np.log(2 * SECOND), np.log(5 * MINUTE), n_camera_vendors)
        )
        typical[n_camera_vendors:] = np.exp(
            rng.uniform(np.log(SECOND), np.log(30 * SECOND), n_generator_vendors)
        )
        share = 1.0 / np.arange(1, n_camera_vendors + 1) ** 1.1
        share /= share.sum()

        n_planted = len(KINDS) * self.n_adversaries
        n_cameras = self.n_honest + n_planted
        camera_vendor = rng.choice(n_camera_vendors, size=n_cameras, p=share)
        releases = rng.integers(2, 7, n_generator_vendors)
        generator_vendor = np.repeat(np.arange(n_camera_vendors, VENDORS), releases)
        n_generators = len(generator_vendor)
        n_devices = n_cameras + n_generators
        device_vendor = np.concatenate([camera_vendor, generator_vendor])
        # Neutral ids in a shuffled order: nothing in a name or position gives a device away.
        names = [f"device-{i:05d}" for i in rng.permutation(n_devices)]
        origins = {
            names[d]: Origin(
                names[d],
                vendor_ids[int(device_vendor[d])],
                f"Vendor {vendor_ids[int(device_vendor[d])][-2:]}",
                "camera" if d < n_cameras else "generator",
            )
            for d in range(n_devices)
        }
        honest = np.arange(self.n_honest)
        planted_ids = {
            kind: np.arange(self.n_honest + k * self.n_adversaries,
                            self.n_honest + (k + 1) * self.n_adversaries)
            for k, kind in enumerate(KINDS)
        }  # fmt: skip
        generators = np.arange(n_cameras, n_devices)
        weight = rng.lognormal(0.0, 1.0, n_cameras)
        # Adversaries get at least a median device's traffic, so every trick hides in some.
        weight[self.n_honest :] = np.maximum(weight[self.n_honest :], np.median(weight))
        weight /= weight.sum()

        # --- generator disclosures (model releases staggered over the period) ---
        n_disclosures = round(DISCLOSURE_SHARE * self.n_captures)
        release_at = T0 + (rng.random(n_generators) * 0.5 * (self.end - T0)).astype(np.int64)
        release_of = rng.integers(0, n_generators, n_disclosures)
        disclosure_time = release_at[release_of] + (
            rng.random(n_disclosures) * (self.end - release_at[release_of])
        ).astype(np.int64)
        disclosure_base = self.new_bases(n_disclosures)
        self.rows.add(
            generators[release_of], disclosure_time, disclosure_base, 0,
            rng.integers(80, 101, n_disclosures), DISCLOSURE,
        )  # fmt: skip

        # --- planted abuse that adds captures ---
        a = self.n_adversaries
        abuse = 0
        rate_counts = rng.integers(300, 401, a)
        for planted, count in zip(planted_ids["impossible_rate"], rate_counts, strict=True):
            length = int(rng.integers(10 * SECOND, 12 * SECOND + 1))
            start = int(rng.integers(T0, self.end - length))
            times = start + np.sort(rng.choice(length, size=int(count), replace=False))
            self.rows.add(int(planted), times, self.new_bases(int(count)), 0, 90, RATE)
            abuse += int(count)
        clone_counts = rng.integers(10, 31, a)
        abuse += int(clone_counts.sum())  # added after the device's own pictures
        launder_counts = rng.integers(2, 6, a)
        usable = np.nonzero(disclosure_time < self.end - DAY)[0]
        for planted, count in zip(planted_ids["laundered_synthetic"], launder_counts, strict=True):
            picks = rng.choice(usable, size=int(count), replace=False)
            source_time = disclosure_time[picks]
            later = np.minimum(
                rng.integers(HOUR, 10 * DAY, int(count)), self.end - HOUR - source_time
            )
            self.rows.add(
                int(planted), source_time + later, disclosure_base[picks],
                rng.integers(8, 21, int(count)), 90, LAUNDER,
            )  # fmt: skip
            abuse += int(count)
        rephoto_counts = rng.integers(2, 6, a)
        abuse += int(rephoto_counts.sum())  # added after the singles they copy

        # --- honest traffic (every camera device, adversaries included) ---
        remaining = self.n_captures - n_disclosures - abuse
        if remaining < 1000:
            raise SystemExit(f"--captures {self.n_captures} leaves no room for honest traffic")
        burst_takers: set[int] = set()
        event_takers: set[int] = set()
        event_frames = 0
        n_events = 0
        event_target = round(EVENT_SHARE * remaining)
        while event_frames < event_target:
            scene = int(self.new_bases(1)[0])
            n_events += 1
            at = int(rng.integers(T0, self.end - self.event_window - 2 * MINUTE))
            size = min(int(rng.integers(2, 9)), n_cameras)
            for member in rng.choice(n_cameras, size=size, replace=False, p=weight):
                shots = int(rng.integers(1, 4))
                first = at + int(rng.integers(0, self.event_window))
                gaps = rng.integers(100, 601, shots - 1)
                times = first + np.concatenate([[0], np.cumsum(gaps)]).astype(np.int64)
                self.rows.add(
                    int(member), times, np.full(shots, scene), rng.integers(2, 16, shots),
                    self.quality(shots), EVENT,
                )  # fmt: skip
                event_takers.add(int(member))
                event_frames += shots
        burst_frames = 0
        burst_target = round(BURST_SHARE * remaining)
        n_bursts = 0
        while burst_frames < burst_target:
            # A batch of bursts at a time: one add() per burst would be ~100k small arrays.
            batch = max(1, (burst_target - burst_frames) // 6)
            lengths = rng.integers(3, 9, batch)
            devices = rng.choice(n_cameras, size=batch, p=weight)
            starts = self.uniform_times(batch)
            total = int(lengths.sum())
            owner = np.repeat(np.arange(batch), lengths)
            first_of = np.concatenate([[0], np.cumsum(lengths)[:-1]])
            position = np.arange(total) - first_of[owner]
            gaps = rng.integers(100, 401, total)
            gaps[position == 0] = 0
            offset = np.cumsum(gaps) - np.cumsum(gaps)[first_of][owner]
            bases = self.new_bases(batch)[owner]
            flips = np.where(position == 0, 0, rng.integers(1, 9, total))
            self.rows.add(
                devices[owner], starts[owner] + offset, bases, flips, self.quality(total), BURST
            )
            burst_takers.update(devices.tolist())
            burst_frames += total
            n_bursts += batch
        n_singles = remaining - event_frames - burst_frames
        if n_singles < 0:
            raise SystemExit("the events and bursts overran the capture budget")
        single_device = rng.choice(n_cameras, size=n_singles, p=weight)
        single_time = self.uniform_times(n_singles)
        single_base = self.new_bases(n_singles)
        single_quality = self.quality(n_singles)
        self.rows.add(single_device, single_time, single_base, 0, single_quality, SINGLE)

        # Re-photographs of honest single shots (quality >= 50, another device) taken days later.
        victims = np.nonzero(
            (single_device < self.n_honest)
            & (single_quality >= 50)
            & (single_time < self.end - 2 * DAY)
        )[0]
        for planted, count in zip(planted_ids["first_registered_elsewhere"], rephoto_counts,
                                 strict=True):  # fmt: skip
            picks = rng.choice(victims, size=int(count), replace=False)
            source_time = single_time[picks]
            later = np.minimum(
                rng.integers(DAY, 10 * DAY, int(count)), self.end - HOUR - source_time
            )
            self.rows.add(
                int(planted), source_time + later, single_base[picks],
                rng.integers(8, 21, int(count)), 90, REPHOTO,
            )  # fmt: skip

        # Cloned keys: the copy starts counting where the key stood at a picture of the device's
        # own from the middle half of its life, so both sources use the counters after it.
        own_device = np.concatenate(self.rows.device)
        own_time = np.concatenate(self.rows.time)
        clone_start: dict[int, int] = {}
        for planted, count in zip(planted_ids["cloned_key"], clone_counts, strict=True):
            times = np.sort(own_time[own_device == planted])
            start = (
                int(times[rng.integers(len(times) // 4, 3 * len(times) // 4 + 1)])
                if len(times)
                else T0 + self.span() // 2
            )
            clone_start[int(planted)] = start
            times = self.uniform_times(int(count), start)
            self.rows.add(int(planted), times, self.new_bases(int(count)), 0, 90, CLONE, source=1)

        # --- columns, times, counters, delays ---
        device = np.concatenate(self.rows.device)
        true_time = np.concatenate(self.rows.time)
        base = np.concatenate(self.rows.base)
        flips = np.concatenate(self.rows.flips)
        quality = np.concatenate(self.rows.quality)
        source = np.concatenate(self.rows.source)
        category = np.concatenate(self.rows.category)
        n = len(device)
        assert n == self.n_captures, (n, self.n_captures)

        # One device never takes two pictures in the same millisecond: nudge ties apart.
        order = np.lexsort((true_time, device))
        sorted_device = device[order]
        rank = np.arange(n) - np.searchsorted(sorted_device, sorted_device)
        key = sorted_device * (4 * (self.end - T0)) + (true_time[order] - T0) - rank
        key = np.maximum.accumulate(key)
        true_time[order] = key - sorted_device * (4 * (self.end - T0)) + T0 + rank

        counter = self.counters(device, true_time, source, clone_start)

        vendor_of = device_vendor[device]
        scale = typical[vendor_of]
        delay = np.clip(
            scale * rng.lognormal(0.0, 0.5, n), np.maximum(scale / 5, 200), scale * 5
        ).astype(np.int64)
        captured_at = true_time.copy()
        offline = 0
        if self.offline_share > 0:
            late = (rng.random(n) < self.offline_share) & (device < self.n_honest)
            delay[late] = rng.integers(HOUR, 48 * HOUR, int(late.sum()))
            offline = int(late.sum())
        self.plant_clock(planted_ids["clock_anomaly"], device, true_time, category, delay,
                         captured_at)  # fmt: skip
        logged_at = true_time + delay

        compromised: dict[str, int] = {}
        for d in planted_ids["compromise_window"]:
            times = np.sort(true_time[device == d])
            compromised[names[int(d)]] = int(times[-int(rng.integers(1, 6))])

        codes = self.codes(base, flips)
        shas = rng.bytes(32 * n)
        log_order = np.lexsort((device, captured_at, logged_at))
        device_l = device[log_order].tolist()
        counter_l = counter[log_order].tolist()
        captured_l = captured_at[log_order].tolist()
        logged_l = logged_at[log_order].tolist()
        quality_l = quality[log_order].tolist()
        pdq_blob = codes[log_order].tobytes()
        captures = [
            Capture(i, names[device_l[i]], counter_l[i], captured_l[i], logged_l[i],
                    shas[32 * i : 32 * i + 32], pdq_blob[32 * i : 32 * i + 32], quality_l[i])
            for i in range(n)
        ]  # fmt: skip
        facts = Facts("bench/clusters", n, b"\0" * 32, captures, origins, compromised)

        def named(ids: Ints | set[int]) -> set[str]:
            return {names[int(d)] for d in ids}

        sizes = {
            "captures": n,
            "vendors": VENDORS,
            "camera_vendors": n_camera_vendors,
            "generator_vendors": n_generator_vendors,
            "honest_devices": self.n_honest,
            "planted_devices": n_planted,
            "generator_releases": n_generators,
            "days": (self.end - T0) // DAY,
            "bursts": n_bursts,
            "events": n_events,
            "by_category": {
                CATEGORY_NAMES[c]: int(np.count_nonzero(category == c))
                for c in range(len(CATEGORY_NAMES))
            },
            "quality_below_50": int(np.count_nonzero(quality < 50)),
            "offline_uploads": offline,
            "vendor_typical_delay_s": {
                "min": round(float(typical[:n_camera_vendors].min()) / SECOND, 1),
                "max": round(float(typical[:n_camera_vendors].max()) / SECOND, 1),
            },
        }
        return World(
            facts,
            {kind: named(ids) for kind, ids in planted_ids.items()},
            named(honest),
            named(generators),
            named(burst_takers & set(range(self.n_honest))),
            named(event_takers & set(range(self.n_honest))),
            sizes,
        )

    def span(self) -> int:
        return self.end - T0

    def counters(
        self, device: Ints, true_time: Ints, source: Ints, clone_start: dict[int, int]
    ) -> Ints:
        """Per device, 1, 2, 3... by capture time after a random start; a cloned key's second
        source counts on from the counter the key had when it was copied."""
        n = len(device)
        group = device * 2 + source
        order = np.lexsort((true_time, group))
        sorted_group = group[order]
        rank = np.arange(n) - np.searchsorted(sorted_group, sorted_group)
        start = self.rng.integers(0, 10_000, int(device.max()) + 1)
        counter = np.empty(n, np.int64)
        counter[order] = start[device[order]] + rank + 1
        for d, at in clone_start.items():
            own = (device == d) & (source == 0)
            before = int(np.count_nonzero(own & (true_time < at)))
            clone = (device == d) & (source == 1)
            counter[clone] += before
        return counter

    def plant_clock(
        self,
        devices: Ints,
        device: Ints,
        true_time: Ints,
        category: Ints,
        delay: Ints,
        captured_at: Ints,
    ) -> None:
        """Half the clock abusers log a few captures days late; the other half claim capture
        times minutes after logging (a clock set ahead), only where the next picture is later
        still, so their counters stay in order by captured_at (that would be a cloned key)."""
        rng = self.rng
        for k, d in enumerate(devices):
            rows = np.nonzero(device == d)[0]
            rows = rows[np.argsort(true_time[rows])]
            count = min(int(rng.integers(3, 7)), len(rows))
            gap = np.diff(true_time[rows], append=self.end + DAY)
            ok = rows[(gap > HOUR) & (category[rows] == SINGLE)]
            if k % 2 == 0 or len(ok) < count:  # too few pictures to set the clock ahead
                picks = rng.choice(rows, size=count, replace=False)
                delay[picks] = rng.integers(DAY + DAY // 2, 7 * DAY, count)
                continue
            picks = rng.choice(ok, size=count, replace=False)
            captured_at[picks] = (
                true_time[picks] + delay[picks] + rng.integers(2 * MINUTE, 30 * MINUTE, len(picks))
            )

    def codes(self, base: Ints, flips: Ints) -> npt.NDArray[np.uint8]:
        """base codes XOR masks of exactly `flips` distinct random bits."""
        rng = self.rng
        bases = rng.integers(0, 256, (self.n_bases, PDQ_BYTES), dtype=np.uint8)
        codes = bases[base]
        rows = np.nonzero(flips)[0]
        widest = int(flips.max()) if len(rows) else 0
        positions = np.arange(PDQ_BITS, dtype=np.uint8)
        for lo in range(0, len(rows), FLIP_CHUNK):
            chunk = rows[lo : lo + FLIP_CHUNK]
            shuffled = rng.permuted(np.tile(positions, (len(chunk), 1)), axis=1)[:, :widest]
            take = np.arange(widest) < flips[chunk][:, None]
            bits = np.zeros((len(chunk), PDQ_BITS), bool)
            bits[np.nonzero(take)[0], shuffled[take]] = True
            codes[chunk] ^= np.packbits(bits, axis=1)
        return codes


# --- measuring ---
