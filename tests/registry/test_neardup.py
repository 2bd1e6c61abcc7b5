"""registry.imaging.neardup against a NumPy brute force: exact within the radius, best variant per leaf,
k nearest beyond the radius, incremental appends, and input checks - for both index kinds."""

from __future__ import annotations

import threading

import numpy as np
import numpy.typing as npt
import pytest

from ledger.errors import MalformedError
from registry.imaging.neardup import PDQ_BYTES, Candidate, NearDuplicateIndex

# "sharded": flat with tiny shards, so searches merge many shards and appends cross them.
KINDS = ["flat", "sharded", "multihash"]
BACKGROUND = 20_000
PLANTED = (0, 1, 15, 30, 31, 32, 33)

Codes = npt.NDArray[np.uint8]


class TinyShards(NearDuplicateIndex):
    SHARD_SIZE = 1000


def make_index(kind: str) -> NearDuplicateIndex:
    if kind == "sharded":
        return TinyShards("flat")
    return NearDuplicateIndex(kind)  # type: ignore[arg-type]


def random_codes(rng: np.random.Generator, n: int) -> Codes:
    return rng.integers(0, 256, size=(n, PDQ_BYTES), dtype=np.uint8)


def flipped(code: Codes, bits: int, rng: np.random.Generator) -> Codes:
    """`code` with exactly `bits` distinct bits flipped."""
    unpacked = np.unpackbits(code)
    unpacked[rng.choice(unpacked.size, size=bits, replace=False)] ^= 1
    return np.packbits(unpacked)


def distances(db: Codes, query: Codes) -> npt.NDArray[np.int64]:
    xor = np.bitwise_xor(db, query[None, :])
    bits = np.bitwise_count(xor) if hasattr(np, "bitwise_count") else np.unpackbits(xor, axis=1)
    total: npt.NDArray[np.int64] = bits.sum(axis=1, dtype=np.int64)  # unpackbits: NumPy < 2.0
    return total


def brute(
    db: Codes, leaves: list[int], queries: Codes, radius: int, k: int | None = None
) -> list[Candidate]:
    """The reference: best (distance, variant) per leaf over all queries; those within the
    radius, or the k best if more."""
    best: dict[int, tuple[int, int]] = {}
    for variant, query in enumerate(queries):
        for leaf, dist in zip(leaves, distances(db, query).tolist(), strict=True):
            if leaf not in best or (dist, variant) < best[leaf]:
                best[leaf] = (dist, variant)
    ranked = sorted((d, leaf, v) for leaf, (d, v) in best.items())
    keep = max(sum(1 for d, _, _ in ranked if d <= radius), k or 0)
    return [Candidate(leaf, d, v) for d, leaf, v in ranked[:keep]]


def as_bytes(codes: Codes) -> list[bytes]:
    return [row.tobytes() for row in codes]


@pytest.fixture(scope="module")
def corpus() -> tuple[Codes, list[int], Codes]:
    """20,000 random hashes plus planted neighbours of a query at PLANTED distances (leaves
    1_000_000 + distance); returns (codes, leaves, query)."""
    rng = np.random.default_rng(20240601)
    query = random_codes(rng, 1)[0]
    planted = np.stack([flipped(query, d, rng) for d in PLANTED])
    db = np.concatenate([random_codes(rng, BACKGROUND), planted])
    leaves = [*range(BACKGROUND), *(1_000_000 + d for d in PLANTED)]
    return db, leaves, query


@pytest.fixture(scope="module", params=KINDS)
def loaded(
    request: pytest.FixtureRequest, corpus: tuple[Codes, list[int], Codes]
) -> NearDuplicateIndex:
    db, leaves, _ = corpus
    index = make_index(request.param)
    index.add(leaves, as_bytes(db))
    return index


def test_planted_distances_at_the_radius(
    loaded: NearDuplicateIndex, corpus: tuple[Codes, list[int], Codes]
) -> None:
    db, leaves, query = corpus
    hits = loaded.search([query.tobytes()])
    assert hits == brute(db, leaves, query[None, :], 31)
    assert [(c.leaf_index, c.distance) for c in hits] == [
        (1_000_000 + d, d) for d in PLANTED if d <= 31
    ]
    wide = loaded.search([query.tobytes()], radius=33)
    assert [c.distance for c in wide] == list(PLANTED)
    assert loaded.search([query.tobytes()], radius=0) == [Candidate(1_000_000, 0, 0)]


def test_every_hash_within_the_radius_is_found(
    loaded: NearDuplicateIndex, corpus: tuple[Codes, list[int], Codes]
) -> None:
    """Queries near indexed hashes (and far from all), 8 variants each, radius 31 and others."""
    db, leaves, _ = corpus
    rng = np.random.default_rng(7)
    for trial in range(6):
        anchors = db[rng.integers(0, len(db), size=4)]
        near = np.stack([flipped(a, int(rng.integers(0, 45)), rng) for a in anchors])
        queries = np.concatenate([near, random_codes(rng, 4)])[rng.permutation(8)]
        radius = (31, 40, 24, 31, 12, 31)[trial]
        assert loaded.search(as_bytes(queries), radius=radius) == brute(db, leaves, queries, radius)


def test_best_variant_is_chosen() -> None:
    rng = np.random.default_rng(3)
    queries = random_codes(rng, 8)
    index = NearDuplicateIndex()
    index.add(
        [10, 11, 12, 13],
        [
            flipped(queries[0], 20, rng).tobytes(),  # only variant 0 is near
            flipped(queries[5], 4, rng).tobytes(),  # only variant 5 is near
            queries[7].tobytes(),  # exact copy of the last variant
            random_codes(rng, 1)[0].tobytes(),  # nothing near
        ],
    )
    assert index.search(as_bytes(queries)) == [
        Candidate(12, 0, 7),
        Candidate(11, 4, 5),
        Candidate(10, 20, 0),
    ]
    # The same hash reached by two variants: the lowest variant wins the tie.
    twice = np.stack([queries[2], queries[7], queries[7]])
    assert index.search(as_bytes(twice)) == [Candidate(12, 0, 1)]
    # One leaf near two different variants: the smaller distance decides, not the order.
    both = NearDuplicateIndex()
    base = random_codes(rng, 1)[0]
    other = flipped(base, 60, rng)  # far enough that each variant only reaches "its" side
    both.add([1], [flipped(base, 8, rng).tobytes()])
    assert both.search([other.tobytes(), base.tobytes()]) == [Candidate(1, 8, 1)]


@pytest.mark.parametrize("kind", KINDS)
def test_a_leaf_under_several_hashes_collapses_to_its_best(kind: str) -> None:
    rng = np.random.default_rng(11)
    query = random_codes(rng, 1)[0]
    index = make_index(kind)
    index.add(
        [7, 7, 8, 7],
        [
            flipped(query, 10, rng).tobytes(),
            flipped(query, 4, rng).tobytes(),
            flipped(query, 6, rng).tobytes(),
            flipped(query, 29, rng).tobytes(),
        ],
    )
    assert index.search([query.tobytes()]) == [Candidate(7, 4, 0), Candidate(8, 6, 0)]
    assert len(index) == 4


@pytest.mark.parametrize("kind", KINDS)
def test_incremental_add_after_searches(kind: str) -> None:
    rng = np.random.default_rng(5)
    index = make_index(kind)
    db = np.empty((0, PDQ_BYTES), dtype=np.uint8)
    leaves: list[int] = []
    queries = random_codes(rng, 3)
    for batch in range(5):
        fresh = np.concatenate(
            [random_codes(rng, 700), np.stack([flipped(q, 5 * batch + 3, rng) for q in queries])]
        )
        fresh_leaves = list(range(10_000 * batch, 10_000 * batch + len(fresh)))
        index.add(fresh_leaves, as_bytes(fresh))
        db = np.concatenate([db, fresh])
        leaves += fresh_leaves
        assert len(index) == len(leaves)
        hits = index.search(as_bytes(queries))
        assert hits == brute(db, leaves, queries, 31)
        assert len(hits) == 3 * min(batch + 1, 6)  # distances 3, 8, 13, 18, 23 per query
    assert index.memory_bytes() >= len(leaves) * (PDQ_BYTES + 8)


@pytest.mark.parametrize("kind", KINDS)
def test_empty_index(kind: str) -> None:
    index = make_index(kind)
    query = bytes(PDQ_BYTES)
    assert len(index) == 0
    assert index.search([query]) == []
    assert index.search([query] * 8, k=5) == []
    index.add([], [])
    assert len(index) == 0
    assert index.memory_bytes() >= 0


def test_k_nearest_beyond_the_radius(
    loaded: NearDuplicateIndex, corpus: tuple[Codes, list[int], Codes]
) -> None:
    db, leaves, query = corpus
    rng = np.random.default_rng(9)
    lonely = random_codes(rng, 2)  # nothing within 31 of either
    assert loaded.search(as_bytes(lonely)) == []
    hits = loaded.search(as_bytes(lonely), k=5)
    expected = brute(db, leaves, lonely, 31, k=5)
    assert len(hits) == 5
    assert all(c.distance > 31 for c in hits)
    # Ties at the fifth distance may pick different leaves: compare distances, and leaves below.
    assert [c.distance for c in hits] == [c.distance for c in expected]
    cut = expected[-1].distance
    assert [c for c in hits if c.distance < cut] == [c for c in expected if c.distance < cut]
    for c in hits:
        assert c.distance == int(distances(db[[leaves.index(c.leaf_index)]], lonely[c.variant])[0])
    # More matches within the radius than k: all of them, k does not truncate.
    within = loaded.search([query.tobytes()], k=2)
    assert [c.distance for c in within] == [d for d in PLANTED if d <= 31]
    # k past the radius matches: the in-radius ones plus the nearest beyond.
    more = loaded.search([query.tobytes()], k=7)
    assert [c.distance for c in more] == list(PLANTED)
    assert loaded.search([query.tobytes()], k=0) == loaded.search([query.tobytes()])


@pytest.mark.parametrize("kind", KINDS)
def test_k_nearest_counts_leaves_not_hashes(kind: str) -> None:
    """A leaf indexed many times must not crowd other leaves out of the k nearest."""
    rng = np.random.default_rng(13)
    query = random_codes(rng, 1)[0]
    index = make_index(kind)
    far = [flipped(query, 128, rng).tobytes() for _ in range(2500)]  # spans tiny shards
    index.add(range(100, 2600), far)
    index.add([1] * 6, [flipped(query, 40 + i, rng).tobytes() for i in range(6)])
    index.add([2, 3], [flipped(query, 60, rng).tobytes(), flipped(query, 70, rng).tobytes()])
    assert index.search([query.tobytes()], k=3) == [
        Candidate(1, 40, 0),
        Candidate(2, 60, 0),
        Candidate(3, 70, 0),
    ]
    five = index.search([query.tobytes()], k=5)
    assert [c.leaf_index for c in five[:3]] == [1, 2, 3]
    assert [c.distance for c in five[3:]] == [128, 128]
    assert len(index.search([query.tobytes()], k=4000)) == 2503  # every leaf, once


@pytest.mark.parametrize("kind", KINDS)
def test_malformed_input(kind: str) -> None:
    index = make_index(kind)
    good = bytes(range(PDQ_BYTES))
    index.add([0], [good])
    for bad in (good[:31], good + b"\x00", b"", good.hex().encode()):
        with pytest.raises(MalformedError) as err:
            index.add([1, 2], [good, bad])
        assert err.value.code == "bad_pdq_hash"
        with pytest.raises(MalformedError):
            index.search([good, bad])
    with pytest.raises(MalformedError):
        index.search([good.hex()])  # type: ignore[list-item]
    with pytest.raises(MalformedError):
        index.add([1, 2], [good])
    with pytest.raises(MalformedError):
        index.add([-1], [good])
    with pytest.raises(MalformedError):
        index.add([1.5], [good])  # type: ignore[list-item]
    with pytest.raises(MalformedError):
        index.search([])
    with pytest.raises(MalformedError):
        index.search([good], radius=-1)
    with pytest.raises(MalformedError):
        index.search([good], radius=257)
    with pytest.raises(MalformedError):
        index.search([good], k=-1)
    assert len(index) == 1  # nothing was appended by the failed calls
    assert index.search([good]) == [Candidate(0, 0, 0)]


@pytest.mark.parametrize("kind", KINDS)
def test_concurrent_add_and_search(kind: str) -> None:
    """Appends while other threads search: no crash, every search sees a consistent prefix."""
    rng = np.random.default_rng(17)
    query = random_codes(rng, 1)[0]
    batches = [
        (list(range(i * 1000, (i + 1) * 1000)), as_bytes(random_codes(rng, 999))) for i in range(20)
    ]
    for _, hashes in batches:
        hashes.append(flipped(query, 2, rng).tobytes())  # one match per batch: its last leaf
    index = make_index(kind)
    errors: list[BaseException] = []
    done = threading.Event()

    def searcher() -> None:
        try:
            while not done.is_set():
                hits = index.search([query.tobytes()] * 8)
                assert [c.leaf_index % 1000 for c in hits] == [999] * len(hits)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=searcher) for _ in range(3)]
    for thread in threads:
        thread.start()
    for leaves, hashes in batches:
        index.add(leaves, hashes)
    done.set()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(index.search([query.tobytes()])) == 20


def test_memory_counts_codes_ids_and_spare_capacity() -> None:
    """Full shards are compacted to their size; only the open shard has spare capacity."""
    rng = np.random.default_rng(19)
    index = TinyShards("flat")
    for start in range(0, 5400, 300):
        index.add(range(start, start + 300), as_bytes(random_codes(rng, 300)))
    per_entry = PDQ_BYTES + 8
    # Five full shards at exactly 1000 codes and ids; the open one got 100, then 300 (capacity
    # 100 + max(100, 300) = 400, libstdc++'s rule).
    assert index.memory_bytes() == 5400 * per_entry
    index.add(range(9000, 9100), as_bytes(random_codes(rng, 100)))  # 500 in 400 + 400
    assert index.memory_bytes() == (5000 + 800) * per_entry
    assert index.search(as_bytes(random_codes(rng, 8)), k=3)[0].distance > 31
