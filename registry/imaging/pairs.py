"""Exact pair search over PDQ hashes: every two hashes within a Hamming radius.

`near_pairs(hashes, radius)` is the self-join: every pair of rows (i, j), i < j, whose 32-byte
PDQ hashes are within `radius` bits, once each, sorted by (i, j), returned as two int64 arrays
(the i's and the j's). `pairs_between(queries, hashes, radius)` is the radius search: every
(query, hash) within `radius`, by the same join. Both are exact whatever the method - no
sampling, no approximate structure - so the origin report and the audit's priority check, which
call them over the whole log, give the same answer on any machine. A lookup server, asking about
one image at a time against a set that grows, searches a `NearDuplicateIndex` (`neardup`)
instead; it is exact at the same radius, so a pair found here is a match there.

Methods (`PairSearch`), all giving the same pairs:

* "pigeonhole" (the default up to radius `PIGEONHOLE_MAX_RADIUS`): the sort-based self-join
  below, in NumPy, on `_JOIN_THREADS` threads. It pays per candidate pair sharing a key, not
  per pair of rows, so it is near-linear on spread-out hashes; its worst case is a tight group
  of k near-identical hashes (~k^2 pairs, which any caller holding the pairs pays anyway).
* "flat" and "multihash": a `NearDuplicateIndex` of that kind queried with every hash in
  batches of `SEARCH_BATCH` (quadratic for "flat"). Kept as the reference the join is tested
  against, and for radii above the join's.

Bytes: a hash is the 32 bytes of its conventional hex, as in `reg_captures.pdq`; any other
length raises `MalformedError` (code "bad_pdq_hash"), a radius outside 0..256 code
"bad_radius". Timings of the three methods: docs/benchmarks.md, "The near-pair search".
"""

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Final, Literal, TypeVar

import numpy as np
import numpy.typing as npt

from ledger.errors import MalformedError
from registry.imaging.neardup import PDQ_BITS, PDQ_BYTES, Kind, NearDuplicateIndex

__all__ = [
    "PIGEONHOLE_MAX_RADIUS",
    "SEARCH_BATCH",
    "PairSearch",
    "near_pairs",
    "near_pairs_within",
    "pairs_between",
]

PairSearch = Literal["pigeonhole", "flat", "multihash"]
Ints = npt.NDArray[np.int64]
Words = npt.NDArray[np.uint64]
_T = TypeVar("_T", bound=np.generic)

SEARCH_BATCH: Final = 20_000  # queries per call to an index ("flat", "multihash")


def near_pairs(
    hashes: Sequence[bytes], radius: int, method: PairSearch | None = None
) -> tuple[Ints, Ints]:
    """Every pair of rows (i, j), i < j, whose 32-byte PDQ hashes are within Hamming distance
    `radius`, once each, sorted by (i, j): the arrays of i and of j. Exact whatever the method.

    `method` defaults to "pigeonhole" up to PIGEONHOLE_MAX_RADIUS, else "flat" (module
    docstring). Raises MalformedError on a bad radius or hash, ValueError on an unknown method
    or a pigeonhole join asked for a radius it does not cover.
    """
    found = near_pairs_within(hashes, radius, None, method)
    assert found is not None  # no budget: never stops
    return found


def near_pairs_within(
    hashes: Sequence[bytes], radius: int, max_pairs: int | None, method: PairSearch | None = None
) -> tuple[Ints, Ints] | None:
    """`near_pairs`, or None when there are more than `max_pairs` of them (None: no limit).
    Stops early, holding about `max_pairs` pairs at most per block of the join, so a tight
    group of k hashes (k^2/2 pairs) costs the budget, not its pairs. Whether it gives up is a
    function of the hashes alone: the number of pairs, the same for every method."""
    if not isinstance(radius, int) or isinstance(radius, bool) or not 0 <= radius <= PDQ_BITS:
        raise MalformedError(f"radius must be 0..{PDQ_BITS}, got {radius!r}", code="bad_radius")
    method = method or ("pigeonhole" if radius <= PIGEONHOLE_MAX_RADIUS else "flat")
    if method not in ("pigeonhole", "flat", "multihash"):
        raise ValueError(f"unknown pair search {method!r}")
    empty = np.empty(0, dtype=np.int64)
    if len(hashes) < 2:
        return empty, empty
    if method != "pigeonhole":
        return _indexed_pairs(hashes, radius, method, max_pairs)
    if radius > PIGEONHOLE_MAX_RADIUS:
        raise ValueError(f"the pigeonhole join covers radius <= {PIGEONHOLE_MAX_RADIUS}")
    distinct, groups = _distinct_rows(_words(hashes))
    packed = _pigeonhole_join(distinct, radius, max_pairs)
    if packed is None:
        return None
    first, second = (packed >> 32).astype(np.int64), (packed & _LOW).astype(np.int64)
    if groups is None:
        return first, second
    if max_pairs is not None and _expanded_count(first, second, groups[2]) > max_pairs:
        return None
    return _expand_copies(first, second, *groups)


def pairs_between(
    queries: Sequence[bytes], hashes: Sequence[bytes], radius: int
) -> tuple[Ints, Ints]:
    """The radius search: every (query position, hash position) whose hashes are within
    `radius` bits, sorted, exact - the pigeonhole join of both lists, keeping the pairs across.
    Each call sorts both lists' keys, so its cost grows with len(hashes): for many calls against
    one growing set, a `NearDuplicateIndex` answers the same question. Errors as `near_pairs`."""
    first, second = near_pairs([*queries, *hashes], radius)
    across = (first < len(queries)) & (second >= len(queries))
    return first[across], second[across] - len(queries)


def _words(hashes: Sequence[bytes]) -> Words:
    """(n, 4) uint64: each hash as four big-endian words (bit 0 = the first byte's top bit)."""
    for position, value in enumerate(hashes):
        if not isinstance(value, bytes | bytearray) or len(value) != PDQ_BYTES:
            raise MalformedError(
                f"PDQ hash {position}: expected {PDQ_BYTES} bytes", code="bad_pdq_hash"
            )
    codes = np.frombuffer(b"".join(hashes), dtype=">u8").reshape(len(hashes), 4)
    words: Words = codes.astype(np.uint64)
    return words


def _indexed_pairs(
    hashes: Sequence[bytes], radius: int, kind: Kind, max_pairs: int | None
) -> tuple[Ints, Ints] | None:
    index = NearDuplicateIndex(kind, threads=2)
    rows = list(range(len(hashes)))
    index.add(rows, hashes)
    firsts, seconds, count = [], [], 0
    for start in range(0, len(hashes), SEARCH_BATCH):
        found, leaves, _ = index.pairs_within(hashes[start : start + SEARCH_BATCH], radius)
        queries = found + start
        keep = leaves < queries  # each pair once, from its later row (hashes are rows)
        firsts.append(leaves[keep])
        seconds.append(queries[keep])
        count += int(np.count_nonzero(keep))
        if max_pairs is not None and count > max_pairs:
            return None
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


def _pigeonhole_join(words: Words, radius: int, max_pairs: int | None) -> Words | None:
    """(i << 32 | j) of every pair i < j of distinct rows within `radius`, sorted, once each;
    None when there are more than `max_pairs`."""
    if len(words) >= 1 << 32:
        raise ValueError("the pigeonhole join packs a row number in 32 bits")
    columns = [np.ascontiguousarray(words[:, k]) for k in range(4)]
    blocks = max(_MIN_BLOCKS, radius // 3 + 1)
    widths = [PDQ_BITS // blocks + (b < PDQ_BITS % blocks) for b in range(blocks)]
    offsets = np.cumsum([0, *widths[:-1]]).tolist()
    # Blocks are independent and NumPy releases the GIL in its sorts, gathers and ufuncs: two
    # threads keep both cores busy, at twice one block's memory (0.62 GB per 1M rows).
    budget = _Budget(max_pairs, columns, radius)
    with ThreadPoolExecutor(max_workers=_JOIN_THREADS) as pool:
        found = list(
            pool.map(
                lambda block: _block_pairs(
                    words, columns, offsets[block], widths[block], radius, budget
                ),
                range(blocks),
            )
        )
    if budget.exceeded.is_set():
        return None
    packed = budget.verified(_unique(np.concatenate(found)))
    return None if max_pairs is not None and len(packed) > max_pairs else packed


class _Budget:
    """The blocks' shared limit on pairs. A block emits each of its pairs once (the flip rule
    in `_once`), so once the pairs of one block that pass the full distance number more than
    `max_pairs`, so do the join's: every block stops. Only candidates are counted as they come;
    the full distance is checked when they pass the budget, so an ordinary join checks none."""

    def __init__(self, max_pairs: int | None, columns: Sequence[Words], radius: int) -> None:
        self.max_pairs, self.columns, self.radius = max_pairs, columns, radius
        self.exceeded = threading.Event()

    def verified(self, packed: Words) -> Words:
        """The pairs of `packed` within the radius at full distance."""
        first, second = (packed >> np.uint64(32)).view(np.int64), (packed & _LOW).view(np.int64)
        distance = np.zeros(len(packed), dtype=np.int64)
        for column in self.columns:
            distance += np.bitwise_count(column[first] ^ column[second])
        return packed[distance <= self.radius]

    def check(self, found: list[Words], checked: int, held: int) -> tuple[int, int]:
        """A block's pairs `found` so far, `found[:checked]` already verified, `held` pairs in
        all: when over the budget, verify the rest in place (each candidate once) and set
        `exceeded` if the verified ones are over it too. Returns the new (checked, held)."""
        if self.max_pairs is None or held <= self.max_pairs:
            return checked, held
        found[checked:] = [self.verified(np.concatenate(found[checked:]))]
        held = sum(len(pairs) for pairs in found)
        if held > self.max_pairs:
            self.exceeded.set()
        return len(found), held


def _block_pairs(
    words: Words, columns: Sequence[Words], offset: int, width: int, radius: int, budget: _Budget
) -> Words:
    """(i << 32 | j), i < j, of the pairs whose bits [offset, offset + width) are within 2 of
    each other and whose two words farthest from those bits are within `radius`, once each."""
    keys = _block_keys(words, offset, width)
    size = len(keys)
    near = _farthest_words(columns, keys, offset, width)
    found: list[Words] = []
    at: Ints | None = None  # once few: the positions p whose key at p + gap shares its value
    gap, checked, held = 1, 0, 0  # found[:checked] verified at full distance
    # The candidates: keys p and p + gap with one value, for gap = 1, 2...
    while not budget.exceeded.is_set():
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
        checked, held = budget.check(found, checked, held + len(found[-1]))
        if not sharing:
            return np.concatenate(found)
        gap += 1
    return np.empty(0, dtype=np.uint64)


def _block_keys(words: Words, offset: int, width: int) -> Words:
    """Each row's block value and its `width` one-bit flips, as sorted keys of 64 bits:

    bits 63..37  the (flipped) block value, width <= 26 bits
    bits 36..32  the flip: 0 for the value itself, else 1 + the flipped bit
    bits 31..0   the row
    """
    masks = np.concatenate(([0], 1 << np.arange(width))).astype(np.uint64)
    keys = _bits(words, offset, width)[:, None] ^ masks
    keys <<= np.uint64(5)
    keys |= np.arange(width + 1, dtype=np.uint64)  # the flip
    keys <<= np.uint64(32)
    keys |= np.arange(len(words), dtype=np.uint64)[:, None]
    keys = keys.ravel()
    keys.sort()
    return keys


def _farthest_words(columns: Sequence[Words], keys: Words, offset: int, width: int) -> list[Words]:
    """The two words farthest from the block, copied into key order: an unrelated pair differs
    in ~64 of their 128 bits, so they drop nearly every candidate, and partners are close in
    key order, so the reads are sequential (a random gather per candidate costs ~45 ns)."""
    order = sorted(range(4), key=lambda k: _overlap(k, offset, width))
    near = [np.empty(len(keys), dtype=np.uint64) for _ in range(2)]
    for lo in range(0, len(keys), _STEP):
        rows = (keys[lo : lo + _STEP] & _LOW).view(np.int64)
        for word, copy in zip(order[:2], near, strict=True):
            np.take(columns[word], rows, out=copy[lo : lo + _STEP])
    return near


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


def _expanded_count(first: Ints, second: Ints, sizes: Ints) -> int:
    """How many pairs of rows `_expand_copies` makes of these pairs of distinct hashes."""
    across = int(np.sum(sizes[first] * sizes[second]))
    return across + int(np.sum(sizes * (sizes - 1) // 2))


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
