"""Origin clusters: near-duplicate groups across the log, and per-origin evidence of abuse.

Everything here is a function of the log's entries up to one checkpoint (`Facts`), so anyone
who replays the log to that size gets the same report, byte for byte (`report_bytes`: sorted,
compact JSON, integers only).

**Clusters.** Captures are taken in log order. A capture joins the cluster of the earliest
earlier capture with the same SHA-256; otherwise, if its PDQ is of quality >= 50, the cluster
of the earliest *anchor* within PDQ distance 31 of it; otherwise it anchors a new cluster. So
every member is within the radius of its anchor (or is the anchor's exact file, or an exact
copy of a member), and A~B~C never chains into one cluster when C is far from A. Pairs come
from an exact sort-based self-join of the PDQ hashes (`near_pairs`), never from an all-pairs
loop.

**Signals**, per device, each a count with its evidence (leaf indexes):

1. `first_registered_elsewhere` - a capture whose cluster anchor (the first *logged*) is
   another camera device's, and which claims a time outside the anchor's window
   [anchor captured_at - `grace_ms`, anchor logged_at + `grace_ms`]: taken after the anchor
   was logged (a re-photographed screen, a claim on someone else's picture), or claiming to
   predate the anchor's own capture though logged after it (a backdated claim: priority is
   the log's order, never a device's clock). Burst shots (same device) and several cameras at
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

**Score**: sum over signals of weight x min(1, count / threshold) (`SIGNALS`), in thousandths;
a device is suspicious at >= 1000. Vendors sum their devices. Every reason is a sentence.
"""

import base64
import json
import statistics
from collections import defaultdict
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, Final, Literal, TypeVar

import numpy as np
import numpy.typing as npt
from sqlalchemy import select

from ledger import LogStore
from ledger.errors import MalformedError
from registry.admission.indexer import COUNTER_DUPLICATE
from registry.admission.schema import reg_captures, reg_devices, reg_revocations, reg_vendors
from registry.imaging.neardup import PDQ_BITS, PDQ_BYTES, Kind, NearDuplicateIndex

__all__ = [
    "FORMAT",
    "SIGNALS",
    "Capture",
    "Facts",
    "Origin",
    "Parameters",
    "build_report",
    "capture_times",
    "near_pairs",
    "load_facts",
    "report_bytes",
]

FORMAT: Final = "provenance-ledger/origins/v1"
CAMERA, GENERATOR = "camera", "generator"
SEARCH_BATCH: Final = 20_000

PairSearch = Literal["pigeonhole", "flat", "multihash"]
Ints = npt.NDArray[np.int64]
Words = npt.NDArray[np.uint64]
_T = TypeVar("_T", bound=np.generic)


@dataclass(frozen=True)
class Signal:
    weight: int  # points at full severity
    threshold: int  # evidence count at which the severity is full
    sentence: str  # "{count} ..." in plain words


SIGNALS: Final[Mapping[str, Signal]] = {
    "laundered_synthetic": Signal(5, 1, "{count} capture(s) near-duplicate a generator's disclosure logged earlier"),
    "cloned_key": Signal(4, 1, "{count} capture(s) with a repeated or backwards counter: a cloned or extracted key"),
    "compromise_window": Signal(3, 1, "{count} capture(s) taken after the device's key was reported compromised"),
    "logged_after_revocation": Signal(3, 1, "{count} capture(s) logged after the device was revoked: their capture times may be backdated"),
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
    counter: int | None  # None: a c2pa-capture/v1 (C2PA claims carry no counter)
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
        revoked_at: dict[str, int] = {}
        for device, since, index in connection.execute(
            select(
                reg_revocations.c.device_id,
                reg_revocations.c.compromised_since_ms,
                reg_revocations.c.leaf_index,
            ).where(reg_revocations.c.leaf_index < size)
        ):
            compromised[device] = min(since, compromised.get(device, since))
            revoked_at[device] = min(index, revoked_at.get(device, index))
    captures = [
        Capture(r.leaf_index, r.device_id, r.counter, r.captured_at_ms, r.logged_at_ms,
                bytes(r.sha256), bytes(r.pdq), r.pdq_quality)
        for r in rows
    ]  # fmt: skip
    return Facts(latest.checkpoint.origin, size, root, captures, devices, compromised, revoked_at)


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


def cluster(
    captures: Sequence[Capture], params: Parameters, *, pair_search: PairSearch | None = None
) -> list[int]:
    """For each capture (by position), the position of its cluster's anchor. `pair_search`
    picks how the near pairs are found (`near_pairs`); every choice gives the same answer."""
    return _clusters(captures, params, pair_search)[0]


def _clusters(
    captures: Sequence[Capture], params: Parameters, pair_search: PairSearch | None
) -> tuple[list[int], dict[int, list[int]]]:
    """`cluster`'s anchors, and for each position the earlier positions within the radius."""
    good = [p for p, c in enumerate(captures) if c.quality >= params.min_quality]
    earlier: dict[int, list[int]] = defaultdict(list)  # position -> earlier positions near it
    if good:
        first, second = near_pairs([captures[p].pdq for p in good], params.radius, pair_search)
        positions = np.asarray(good, dtype=np.int64)
        for query, leaf in zip(positions[second].tolist(), positions[first].tolist(), strict=True):
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
    return anchor_of, earlier


def near_pairs(
    hashes: Sequence[bytes], radius: int, method: PairSearch | None = None
) -> tuple[Ints, Ints]:
    """Every pair of rows (i, j), i < j, whose 32-byte PDQ hashes are within Hamming distance
    `radius`, once each, sorted by (i, j): the arrays of i and of j. Exact whatever the method.

    "pigeonhole" (the default up to radius 32) is a sort-based self-join in NumPy (below);
    "flat" and "multihash" search a `NearDuplicateIndex` of that kind with every hash in
    batches of SEARCH_BATCH, a query per hash. `build_report` on the world of
    `bench.clusters_bench` (bursts, events, planted near-duplicates; 2 shared cores; the same
    report bytes every time), wall time and peak RSS above the world's:

        captures   flat (before)          multihash (11 x 23 bits)    pigeonhole (the default)
        100k       19.6 s,   +38 MiB      34.4 s, +109 MiB            2.1 s, +202 MiB
        1M         1,342 s, +401 MiB      541 s,  +1.1 GiB            32 s,  +1.6 GiB

    Flat compares all n^2 pairs (~1 ms per query at 1M on 2 cores: quadratic). MultiHash
    probes 3,047 hash-table keys per query (0.55 ms at 1M, on one core: the index runs FAISS on
    one thread per shard, and it has one). The self-join pays per candidate pair sharing a key
    instead (~3.4e7 per block at 1M random hashes, nearly all dropped by two streamed 64-bit
    popcounts): 18 s for the pairs at 1M on 2 threads, 33 s on one (0.7 GB, 1.3 GB on two).
    Its worst case is a tight cluster of k near-identical hashes, ~2 us per pair of them
    (k = 6,000: 18M pairs in 37 s), pairs that the clustering holds in memory anyway.
    """
    if not isinstance(radius, int) or isinstance(radius, bool) or not 0 <= radius <= PDQ_BITS:
        raise MalformedError(f"radius must be 0..{PDQ_BITS}, got {radius!r}", code="bad_radius")
    method = method or ("pigeonhole" if radius <= PIGEONHOLE_MAX_RADIUS else "flat")
    if method not in ("pigeonhole", "flat", "multihash"):
        raise ValueError(f"unknown pair search {method!r}")
    empty = np.empty(0, dtype=np.int64)
    if len(hashes) < 2:
        return empty, empty
    if method != "pigeonhole":
        return _indexed_pairs(hashes, radius, method)
    if radius > PIGEONHOLE_MAX_RADIUS:
        raise ValueError(f"the pigeonhole join covers radius <= {PIGEONHOLE_MAX_RADIUS}")
    for position, value in enumerate(hashes):
        if not isinstance(value, bytes | bytearray) or len(value) != PDQ_BYTES:
            raise MalformedError(
                f"PDQ hash {position}: expected {PDQ_BYTES} bytes", code="bad_pdq_hash"
            )
    codes = np.frombuffer(b"".join(hashes), dtype=">u8").reshape(len(hashes), 4)
    words: Words = codes.astype(np.uint64)
    distinct, groups = _distinct_rows(words)
    packed = _pigeonhole_join(distinct, radius)
    first, second = (packed >> 32).astype(np.int64), (packed & _LOW).astype(np.int64)
    if groups is None:
        return first, second
    return _expand_copies(first, second, *groups)


def _indexed_pairs(hashes: Sequence[bytes], radius: int, kind: Kind) -> tuple[Ints, Ints]:
    index = NearDuplicateIndex(kind, threads=2)
    rows = list(range(len(hashes)))
    index.add(rows, hashes)
    firsts, seconds = [], []
    for start in range(0, len(hashes), SEARCH_BATCH):
        found, leaves, _ = index.pairs_within(hashes[start : start + SEARCH_BATCH], radius)
        queries = found + start
        keep = leaves < queries
        firsts.append(leaves[keep])
        seconds.append(queries[keep])
    packed = _unique((np.concatenate(firsts) << 32) | np.concatenate(seconds))
    return packed >> 32, packed & int(_LOW)


# The pigeonhole self-join. Cut the 256 bits into m blocks. If two hashes are within r bits,
# some block differs in at most 2 of them whenever 3m > r (else every block would differ in 3
# or more). Two block values within 2 bits share a *midpoint*: a value at most 1 bit from each
# (the value itself, or one bit of the difference flipped). So each row emits its block value
# and its w one-bit flips as keys, sorted as one int64 each (value << 37 | flip << 32 | row,
# flip 0 for the value itself, else 1 + the bit), and rows sharing a value are candidates.
# Within a block each close pair shares 2 midpoints (w + 1 when equal on the block); the flips
# name one: the pair is kept where the smaller flip belongs to the smaller row, or where both
# flips are 0 - so a tight cluster of k near-identical hashes costs ~k^2/2 verified pairs per
# block, not 24 times that. The few pairs left from all blocks are then deduplicated and
# checked at full distance. m = 11 blocks of 23-24 bits at r = 31 (wider blocks would mean
# fewer candidates, but m must exceed r / 3); at least 10, so a value has <= 26 bits.
PIGEONHOLE_MAX_RADIUS: Final = 32  # 11 blocks: 3 x 11 > 32
_MIN_BLOCKS: Final = 10
_STEP: Final = 1 << 20  # keys or candidates handled at once (bounds the temporaries)
_ONE_VALUE: Final = np.uint64(1 << 37)  # two keys share a value iff their XOR is below this
_FLIP: Final = np.uint64(0x1F)
_JOIN_THREADS: Final = 2
_LOW: Final = np.uint64(0xFFFF_FFFF)


def _pigeonhole_join(words: Words, radius: int) -> Words:
    """(i << 32 | j) of every pair i < j of distinct rows within `radius`, sorted, once each."""
    if len(words) >= 1 << 32:
        raise ValueError("the pigeonhole join packs a row number in 32 bits")
    columns = [np.ascontiguousarray(words[:, k]) for k in range(4)]
    blocks = max(_MIN_BLOCKS, radius // 3 + 1)
    widths = [PDQ_BITS // blocks + (b < PDQ_BITS % blocks) for b in range(blocks)]
    offsets = np.cumsum([0, *widths[:-1]]).tolist()
    # Blocks are independent and NumPy releases the GIL in its sorts, gathers and ufuncs: two
    # threads keep both cores busy, at twice one block's memory (0.62 GB per 1M rows).
    with ThreadPoolExecutor(max_workers=_JOIN_THREADS) as pool:
        found = list(
            pool.map(
                lambda block: _block_pairs(words, columns, offsets[block], widths[block], radius),
                range(blocks),
            )
        )
    packed = _unique(np.concatenate(found))
    first, second = (packed >> np.uint64(32)).view(np.int64), (packed & _LOW).view(np.int64)
    distance = np.zeros(len(packed), dtype=np.int64)
    for column in columns:
        distance += np.bitwise_count(column[first] ^ column[second])
    return packed[distance <= radius]


def _block_pairs(
    words: Words, columns: Sequence[Words], offset: int, width: int, radius: int
) -> Words:
    """(i << 32 | j), i < j, of the pairs whose bits [offset, offset + width) are within 2 of
    each other and whose two words farthest from those bits are within `radius`, once each."""
    masks = np.concatenate(([0], 1 << np.arange(width))).astype(np.uint64)
    keys = _bits(words, offset, width)[:, None] ^ masks
    keys <<= np.uint64(5)
    keys |= np.arange(width + 1, dtype=np.uint64)  # the flip
    keys <<= np.uint64(32)
    keys |= np.arange(len(words), dtype=np.uint64)[:, None]
    keys = keys.ravel()
    keys.sort()
    size = len(keys)
    # The two words farthest from the block, copied into key order: an unrelated pair differs
    # in ~64 of their 128 bits, so they drop nearly every candidate, and partners are close
    # in key order, so the reads are sequential (a random gather per candidate costs ~45 ns).
    order = sorted(range(4), key=lambda k: _overlap(k, offset, width))
    near = [np.empty(size, dtype=np.uint64) for _ in range(2)]
    for lo in range(0, size, _STEP):
        rows = (keys[lo : lo + _STEP] & _LOW).view(np.int64)
        for word, copy in zip(order[:2], near, strict=True):
            np.take(columns[word], rows, out=copy[lo : lo + _STEP])
    found: list[Words] = []
    at: Ints | None = None  # once few: the positions p whose key at p + gap shares its value
    gap = 1
    while True:  # the candidates: keys p and p + gap with one value, for gap = 1, 2...
        spots: list[Ints] = []
        if at is None:  # many (a third of all keys at gap 1): whole slices beat gathers
            sharing = 0
            for lo in range(0, size - gap, _STEP):
                hi = min(lo + _STEP, size - gap)
                shared = (keys[lo:hi] ^ keys[lo + gap : hi + gap]) < _ONE_VALUE
                sharing += int(np.count_nonzero(shared))
                distance = np.bitwise_count(near[0][lo:hi] ^ near[0][lo + gap : hi + gap])
                distance += np.bitwise_count(near[1][lo:hi] ^ near[1][lo + gap : hi + gap])
                spots.append(np.flatnonzero(shared & (distance <= radius)) + lo)
            if sharing * 6 <= size:
                at = _sharing(keys, gap + 1)
        else:
            for lo in range(0, len(at), _STEP):
                here = at[lo : lo + _STEP]
                distance = np.bitwise_count(np.take(near[0], here) ^ np.take(near[0], here + gap))
                distance += np.bitwise_count(np.take(near[1], here) ^ np.take(near[1], here + gap))
                spots.append(here[distance <= radius])
            at = at[at + gap + 1 < size]
            at = at[(np.take(keys, at) ^ np.take(keys, at + gap + 1)) < _ONE_VALUE]
            sharing = len(at)
        here = np.concatenate(spots) if spots else np.empty(0, dtype=np.int64)
        found.append(_once(keys[here], keys[here + gap]))
        if not sharing:
            return np.concatenate(found)
        gap += 1


def _once(one: Words, other: Words) -> Words:
    """(i << 32 | j), i < j, for the key pairs (one sorts first) that the flip rule keeps."""
    flip_one, flip_other = (one >> np.uint64(32)) & _FLIP, (other >> np.uint64(32)) & _FLIP
    row_one, row_other = one & _LOW, other & _LOW
    keep = np.where(flip_one == flip_other, flip_one == 0, row_one < row_other)
    row_one, row_other = row_one[keep], row_other[keep]
    packed: Words = (np.minimum(row_one, row_other) << np.uint64(32)) | np.maximum(
        row_one, row_other
    )
    return packed


def _sharing(keys: Words, gap: int) -> Ints:
    """The positions p whose key at p + gap has the same value."""
    end = len(keys) - gap
    spots = [
        np.flatnonzero(
            (keys[lo : min(lo + _STEP, end)] ^ keys[lo + gap : min(lo + _STEP, end) + gap])
            < _ONE_VALUE
        )
        + lo
        for lo in range(0, end, _STEP)
    ]
    return np.concatenate(spots) if spots else np.empty(0, dtype=np.int64)


def _unique(values: npt.NDArray[_T]) -> npt.NDArray[_T]:
    """Sorted distinct values. np.unique hashes integers since NumPy 2.3, which took 80 s on
    4.5M packed pairs that sorting dedupes in 0.1 s."""
    ordered = np.sort(values)
    keep = np.ones(len(ordered), dtype=bool)
    keep[1:] = ordered[1:] != ordered[:-1]
    return ordered[keep]


def _bits(words: Words, offset: int, width: int) -> Words:
    """Bits [offset, offset + width) of each row's 256 (bit 0 = the first word's top bit)."""
    word, shift = divmod(offset, 64)
    if shift + width <= 64:
        return (words[:, word] >> np.uint64(64 - shift - width)) & np.uint64((1 << width) - 1)
    low = shift + width - 64
    high = words[:, word] & np.uint64((1 << (64 - shift)) - 1)
    return (high << np.uint64(low)) | (words[:, word + 1] >> np.uint64(64 - low))


def _overlap(word: int, offset: int, width: int) -> int:
    return max(0, min(64 * word + 64, offset + width) - max(64 * word, offset))


def _following(after: Ints, start: int, stop: int) -> tuple[Ints, Ints]:
    """Positions (p, p + 1), ..., (p, p + after[p]) for p in start..stop-1."""
    counts = after[start:stop]
    left = np.repeat(np.arange(start, stop), counts)
    step = np.arange(1, len(left) + 1) - np.repeat(np.cumsum(counts) - counts, counts)
    return left, left + step


def _distinct_rows(words: Words) -> tuple[Words, tuple[Ints, Ints, Ints] | None]:
    """The distinct hashes, and when some repeat: each distinct hash's rows (`members`, grouped),
    the start of its group in `members` and its size. Repeats would otherwise be candidates in
    every key of every block."""
    if len(_unique(words[:, 0])) == len(words):  # the usual case: no two alike
        return words, None
    members = np.lexsort(words.T[::-1])
    ordered = words[members]
    new = np.ones(len(words), dtype=bool)
    new[1:] = np.any(ordered[1:] != ordered[:-1], axis=1)
    starts = np.flatnonzero(new)
    sizes = np.diff(starts, append=len(words))
    return ordered[new], (members.astype(np.int64), starts, sizes)


def _expand_copies(
    first: Ints, second: Ints, members: Ints, starts: Ints, sizes: Ints
) -> tuple[Ints, Ints]:
    """Pairs of distinct hashes -> pairs of rows: every row of one with every row of the other,
    and every two rows of one hash (distance 0)."""
    count = sizes[first] * sizes[second]
    pair = np.repeat(np.arange(len(first)), count)
    offset = np.arange(len(pair)) - np.repeat(np.cumsum(count) - count, count)
    a = members[starts[first][pair] + offset // sizes[second][pair]]
    b = members[starts[second][pair] + offset % sizes[second][pair]]
    group_end = np.repeat(starts + sizes, sizes)
    after = group_end - np.arange(1, len(members) + 1)
    left, right = _following(after, 0, len(members))
    a = np.concatenate((a, members[left]))
    b = np.concatenate((b, members[right]))
    packed = _unique((np.minimum(a, b) << 32) | np.maximum(a, b))
    return packed >> 32, packed & int(_LOW)


# --- signals ---


def _signals(
    facts: Facts,
    anchor_of: Sequence[int],
    params: Parameters,
    earlier: Mapping[int, Sequence[int]] | None = None,
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

    any_disclosure = any(role(capture) == GENERATOR for capture in captures)

    def near_disclosure(position: int) -> Capture | None:
        """The first disclosure logged before this capture within the radius of it, in
        whatever cluster it anchors or joined."""
        if not any_disclosure:  # most logs: skip the scan of every capture's near pairs
            return None
        return next(
            (captures[q] for q in sorted((earlier or {}).get(position, ()))
             if role(captures[q]) == GENERATOR),
            None,
        )  # fmt: skip

    for anchor, group in members.items():
        first = captures[anchor]
        disclosed: Capture | None = None  # the cluster's first disclosure logged so far
        for position in group:  # in log order: a disclosure earlier in a batch is earlier
            capture = captures[position]
            if role(capture) != CAMERA:
                disclosed = disclosed or capture
                continue
            # Priority is the log's: the anchor was logged first, whatever this capture claims.
            # Only a capture claimed inside the anchor's own window (while it was being taken
            # and logged, give or take the grace) can be another camera at the same moment.
            outside = not (
                first.captured_at - params.grace_ms
                <= capture.captured_at
                <= first.logged_at + params.grace_ms
            )
            if capture.device != first.device and role(first) == CAMERA and outside:
                found[capture.device]["first_registered_elsewhere"].update(
                    (capture.index, first.index)
                )
            source = disclosed or near_disclosure(position)
            if source is not None:
                found[capture.device]["laundered_synthetic"].update((capture.index, source.index))

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
        counted = [c for c in own if c.counter is not None]
        seen_counters: dict[int, int] = {}
        for capture in counted:  # log order: repeats
            assert capture.counter is not None
            if capture.counter in seen_counters:
                signals["cloned_key"].update((capture.index, seen_counters[capture.counter]))
            seen_counters.setdefault(capture.counter, capture.index)
        highest: Capture | None = None
        # By captured_at: a counter must never go down.
        for capture in sorted(counted, key=lambda c: (c.captured_at, c.index)):
            assert capture.counter is not None
            if highest is not None and capture.counter < (highest.counter or 0):
                signals["cloned_key"].update((capture.index, highest.index))
            if highest is None or capture.counter > (highest.counter or 0):
                highest = capture
        in_time = sorted(own, key=lambda c: (c.captured_at, c.index))
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
        revoked_at = facts.revoked_at.get(device)
        for capture in own:
            if revoked_at is not None and capture.index > revoked_at:
                signals["logged_after_revocation"].add(capture.index)
            delay = capture.logged_at - capture.captured_at
            if delay < 0 or delay > limit:
                signals["clock_anomaly"].add(capture.index)
            if since is not None and capture.captured_at >= since:
                signals["compromise_window"].add(capture.index)
    return {
        device: {k: v for k, v in s.items() if v} for device, s in found.items() if any(s.values())
    }


# --- the report ---


def build_report(
    facts: Facts, params: Parameters | None = None, *, pair_search: PairSearch | None = None
) -> dict[str, Any]:
    """The origin report. `pair_search` only picks how near pairs are found (`near_pairs`):
    the report is the same bytes whatever it is."""
    params = params or Parameters()
    captures = facts.captures
    anchor_of, earlier = _clusters(captures, params, pair_search)
    signals = _signals(facts, anchor_of, params, earlier)
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
