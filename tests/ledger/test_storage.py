"""The log on real databases: every test here runs on SQLite and on PostgreSQL."""

import pytest
from sqlalchemy import func, select, update

from ledger import (
    ConfigurationError,
    LogStore,
    MalformedError,
    NotFoundError,
    Sequencer,
    Signer,
    StorageError,
    hash_leaf,
    tree_hash,
)
from ledger.schema import log_checkpoints, log_entry_bundles, log_tiles
from ledger.tiles import TILE_WIDTH, decode_entry_bundle, tiles_for_size
from tests.support.clocks import FixedClock
from tests.support.databases import ORIGIN
from tests.support.invariants import InvariantChecker


def make_leaves(start: int, count: int) -> list[bytes]:
    return [f'{{"kind":"test/v1","n":{i}}}'.encode() for i in range(start, start + count)]


def test_initialize_stores_the_signed_empty_checkpoint(
    sequencer: Sequencer, store: LogStore, signer: Signer
) -> None:
    latest = store.latest_checkpoint()
    assert latest.size == 0
    assert latest.checkpoint.root_hash == tree_hash([])
    InvariantChecker(store, signer.verifier).check([])


def test_initialize_twice_keeps_the_log(sequencer: Sequencer, store: LogStore) -> None:
    sequencer.append(make_leaves(0, 3))
    assert sequencer.initialize().size == 3


@pytest.mark.parametrize("batches", [[1, 1, 1], [255, 1, 256, 300], [1000, 24, 3000]])
def test_appends_keep_every_invariant(
    sequencer: Sequencer, store: LogStore, signer: Signer, batches: list[int]
) -> None:
    checker = InvariantChecker(store, signer.verifier)
    leaves: list[bytes] = []
    for count in batches:
        new = make_leaves(len(leaves), count)
        result = sequencer.append(new)
        assert result.first_index == len(leaves)
        leaves += new
        assert result.checkpoint.size == len(leaves)
        checker.check(leaves)


def test_leaves_are_stored_exactly_as_hashed(sequencer: Sequencer, store: LogStore) -> None:
    odd = [b"", b"\x00\xff", "caf\u00e9".encode(), b"x" * 65_535]
    sequencer.append(odd)
    assert store.entries(0, 4) == odd
    assert [store.leaf_hash(i) for i in range(4)] == [hash_leaf(x) for x in odd]


def test_stored_tiles_are_exactly_the_published_tiles(
    sequencer: Sequencer, store: LogStore
) -> None:
    leaves = make_leaves(0, 600)
    for i in range(0, 600, 70):
        sequencer.append(leaves[i : i + 70])
    with store.engine.connect() as connection:
        rows = connection.execute(select(log_tiles.c.level, log_tiles.c.tile_index)).all()
    expected = {(t.level, t.index) for t in tiles_for_size(600)}
    assert set(rows) == expected
    bundle = store.entry_bundle(2, 600 - 512)
    assert decode_entry_bundle(bundle) == leaves[512:]
    assert store.tile(0, 0, TILE_WIDTH) == b"".join(hash_leaf(x) for x in leaves[:256])


def test_an_append_writes_only_the_right_edge(sequencer: Sequencer, store: LogStore) -> None:
    sequencer.append(make_leaves(0, 5000))
    with store.engine.connect() as connection:
        before = dict(
            connection.execute(
                select(log_tiles.c.tile_index, log_tiles.c.hashes).where(log_tiles.c.level == 0)
            ).all()
        )
    sequencer.append(make_leaves(5000, 10))
    with store.engine.connect() as connection:
        after = dict(
            connection.execute(
                select(log_tiles.c.tile_index, log_tiles.c.hashes).where(log_tiles.c.level == 0)
            ).all()
        )
    changed = {i for i in after if before.get(i) != after[i]}
    assert changed == {5000 // TILE_WIDTH}


def test_find_leaf_by_hash(sequencer: Sequencer, store: LogStore) -> None:
    leaves = make_leaves(0, 700)
    sequencer.append(leaves)
    sequencer.append([leaves[3]])  # the same bytes twice are two entries
    assert store.find_leaf(hash_leaf(leaves[3])) == [3, 700]
    assert store.find_leaf(hash_leaf(leaves[699])) == [699]
    assert store.find_leaf(hash_leaf(b"never appended")) == []


def test_leaf_index_catches_up_across_chunks_and_later_appends(
    sequencer: Sequencer, store: LogStore
) -> None:
    from ledger import leafindex

    leaves = make_leaves(0, leafindex.CHUNK + 300)
    sequencer.append(leaves)
    assert store.find_leaf(hash_leaf(leaves[-1])) == [len(leaves) - 1]
    assert leafindex.catch_up(store.engine) == len(leaves)
    more = make_leaves(len(leaves), 5)
    sequencer.append(more)
    assert store.find_leaf(hash_leaf(more[2])) == [len(leaves) + 2]
    assert store.find_leaf(hash_leaf(leaves[0])) == [0]


def test_checkpoint_history_is_kept(sequencer: Sequencer, store: LogStore) -> None:
    sequencer.append(make_leaves(0, 10))
    sequencer.append(make_leaves(10, 5))
    assert store.checkpoint_at(10).size == 10
    assert store.checkpoint_at(0).size == 0
    with pytest.raises(NotFoundError):
        store.checkpoint_at(11)


def test_reads_beyond_the_tree_are_malformed(sequencer: Sequencer, store: LogStore) -> None:
    sequencer.append(make_leaves(0, 10))
    with pytest.raises(MalformedError, match="beyond the log's current size 10"):
        store.inclusion_proof(3, 11)
    with pytest.raises(MalformedError):
        store.consistency_proof(5, 11)
    with pytest.raises(NotFoundError):
        store.entry(10)
    with pytest.raises(NotFoundError):
        store.tile(0, 0, 11)
    with pytest.raises(NotFoundError):
        store.entry_bundle(0, 11)


def test_empty_batch_is_malformed(sequencer: Sequencer) -> None:
    with pytest.raises(MalformedError, match="empty"):
        sequencer.append([])


def test_oversized_leaf_sinks_its_batch_and_nothing_else(
    sequencer: Sequencer, store: LogStore
) -> None:
    sequencer.append(make_leaves(0, 3))
    with pytest.raises(MalformedError, match="65536 bytes"):
        sequencer.append([b"ok", b"x" * 65_536])
    assert store.latest_checkpoint().size == 3
    assert sequencer.append(make_leaves(3, 2)).checkpoint.size == 5


def test_a_key_for_another_origin_is_refused(sequencer: Sequencer, store: LogStore) -> None:
    other = Sequencer(store, Signer.generate("other.example/log"), FixedClock())
    with pytest.raises(ConfigurationError, match=ORIGIN):
        other.append([b"x"])


def test_append_before_init_says_run_prov_init(store: LogStore, signer: Signer) -> None:
    with pytest.raises(ConfigurationError, match="prov init"):
        Sequencer(store, signer, FixedClock()).append([b"x"])


def test_corrupt_edge_tile_is_detected_not_extended(sequencer: Sequencer, store: LogStore) -> None:
    sequencer.append(make_leaves(0, 10))
    with store.engine.begin() as connection:
        connection.execute(
            update(log_tiles).where(log_tiles.c.level == 0).values(hashes=b"\x00" * 32)
        )
    with pytest.raises(StorageError, match="partial tile"):
        sequencer.append([b"x"])
    assert store.latest_checkpoint().size == 10


def test_corrupt_entry_bundle_is_detected(sequencer: Sequencer, store: LogStore) -> None:
    sequencer.append(make_leaves(0, 10))
    with store.engine.begin() as connection:
        connection.execute(update(log_entry_bundles).values(entries=b"\x00\x01a"))
    with pytest.raises(StorageError, match="entry bundle 0"):
        sequencer.append([b"x"])


def test_failed_append_leaves_no_trace(
    sequencer: Sequencer, store: LogStore, signer: Signer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_sign(*_args: object) -> bytes:
        raise RuntimeError("signing failed after the tiles and bundles were written")

    sequencer.append(make_leaves(0, 300))
    monkeypatch.setattr("ledger.sequencer.sign_checkpoint", failing_sign)
    with pytest.raises(RuntimeError):
        sequencer.append(make_leaves(300, 50))
    monkeypatch.undo()
    with store.engine.connect() as connection:
        assert connection.execute(select(func.max(log_checkpoints.c.tree_size))).scalar() == 300
    checker = InvariantChecker(store, signer.verifier)
    checker.check(make_leaves(0, 300))
    sequencer.append(make_leaves(300, 50))
    checker.check(make_leaves(0, 350))


def test_builder_decides_the_batch_under_the_lock(sequencer: Sequencer, store: LogStore) -> None:
    sequencer.append(make_leaves(0, 7))
    seen: list[tuple[int, int]] = []

    def build(_connection: object, first_index: int, now_ms: int) -> list[bytes]:
        seen.append((first_index, now_ms))
        return [f"entry {first_index} at {now_ms}".encode()]

    result = sequencer.append_built(build)
    assert (result.first_index, result.count) == (7, 1)
    assert store.entry(7) == f"entry 7 at {seen[0][1]}".encode()
    assert result.checkpoint.created_at_ms == seen[0][1]


def test_builder_returning_nothing_writes_nothing(sequencer: Sequencer, store: LogStore) -> None:
    sequencer.append(make_leaves(0, 3))
    result = sequencer.append_built(lambda _c, _i, _t: [])
    assert (result.count, result.checkpoint.size) == (0, 3)
    assert store.latest_checkpoint().size == 3


def test_two_sequencers_in_one_process_interleave_safely(
    store: LogStore, signer: Signer, migrated_url: str
) -> None:
    from ledger import open_engine

    first = Sequencer(store, signer, FixedClock())
    first.initialize()
    second = Sequencer(LogStore(open_engine(migrated_url)), signer, FixedClock())
    leaves: list[bytes] = []
    for i in range(6):
        new = make_leaves(len(leaves), 100 + i)
        (first if i % 2 else second).append(new)
        leaves += new
    InvariantChecker(store, signer.verifier).check(leaves)
