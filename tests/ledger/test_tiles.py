"""C2SP tlog-tiles: paths, the worked example of docs/design.md §4.4, appending, entry bundles."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import MalformedError, StorageError, hash_leaf, tree_hash
from ledger.merkle import Node
from ledger.tiles import (
    TILE_WIDTH,
    TileKey,
    TileRef,
    append_hashes,
    build_tile,
    decode_entry_bundle,
    edge_tiles,
    encode_entry_bundle,
    entries_path,
    format_tile_index,
    hashes_from_tiles,
    parse_tile_path,
    tile_path,
    tiles_for_size,
)
from tests.support.merkle_reference import ref_mth


def test_tile_index_groups() -> None:
    assert format_tile_index(1234067) == "x001/x234/067"
    assert format_tile_index(0) == "000"
    assert format_tile_index(5) == "005"
    assert format_tile_index(1000) == "x001/000"


def test_paths_round_trip() -> None:
    assert tile_path(0, 1234067) == "tile/0/x001/x234/067"
    assert tile_path(1, 1, 17) == "tile/1/001.p/17"
    assert entries_path(273, 112) == "tile/entries/273.p/112"
    for ref in [TileRef(0, 1234067, 256), TileRef(2, 0, 1), TileRef(None, 999, 255)]:
        assert parse_tile_path(ref.path) == ref
        assert parse_tile_path("/" + ref.path) == ref


@pytest.mark.parametrize(
    "bad",
    [
        "tile/0/5",  # not three digits
        "tile/0/x000/001",  # leading zero group
        "tile/00/000",  # leading zero in the level
        "tile/64/000",  # level above 63
        "tile/0/000.p/0",  # empty partial tile
        "tile/0/000.p/256",  # "partial" of full width
        "tile/0/000.p/07",  # leading zero in the width
        "tile/0/001/002",  # missing x prefix
        "tile/entries/abc",
        "tiles/0/000",
    ],
)
def test_malformed_paths_are_rejected(bad: str) -> None:
    with pytest.raises(MalformedError):
        parse_tile_path(bad)


def test_worked_example_70000_leaves() -> None:
    """docs/design.md §4.4 (tlog-tiles): 273 full level-0 tiles + 0/273.p/112, one full level-1 tile +
    1/001.p/17, and 2/000.p/1."""
    tiles = list(tiles_for_size(70_000))
    level0 = [t for t in tiles if t.level == 0]
    assert len([t for t in level0 if t.width == TILE_WIDTH]) == 273
    assert [t.path for t in tiles if t.width != TILE_WIDTH] == [
        "tile/0/273.p/112",
        "tile/1/001.p/17",
        "tile/2/000.p/1",
    ]
    assert [t.path for t in tiles if t.level == 1] == ["tile/1/000", "tile/1/001.p/17"]
    assert len(tiles) == 273 + 1 + 1 + 1 + 1
    assert edge_tiles(70_000) == {0: TileKey(0, 273), 1: TileKey(1, 1), 2: TileKey(2, 0)}


def test_tree_of_256_has_one_full_tile_and_a_level_1_partial() -> None:
    assert [t.path for t in tiles_for_size(256)] == ["tile/0/000", "tile/1/000.p/1"]


def _grow(batches: list[int]) -> tuple[dict[TileKey, bytes], list[bytes]]:
    """Append batches of leaves through append_hashes, keeping every tile's hashes."""
    stored: dict[TileKey, bytes] = {}
    leaves: list[bytes] = []
    for count in batches:
        size = len(leaves)
        edges = {k.level: stored[k] for k in edge_tiles(size).values()}
        new = [f"leaf {i}".encode() for i in range(size, size + count)]
        changed = append_hashes(size, edges, [hash_leaf(x) for x in new])
        stored.update({key: tile.hashes for key, tile in changed.items()})
        leaves += new
    return stored, leaves


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(1, 700), min_size=1, max_size=8))
def test_appended_tiles_hold_the_reference_hashes(batches: list[int]) -> None:
    stored, leaves = _grow(batches)
    size = len(leaves)
    for ref in tiles_for_size(size):
        assert ref.level is not None
        data = stored[TileKey(ref.level, ref.index)]
        assert len(data) == ref.width * 32
        span = TILE_WIDTH**ref.level
        for i in range(ref.width):
            start = (ref.index * TILE_WIDTH + i) * span
            assert data[i * 32 : (i + 1) * 32] == ref_mth(leaves[start : start + span])


def test_nodes_read_from_tiles_match_reference() -> None:
    stored, leaves = _grow([300, 70_000 - 300])
    tiles = {key: build_tile(data) for key, data in stored.items()}
    nodes = [Node(0, 69_999), Node(3, 17), Node(8, 5), Node(12, 3), Node(16, 0), Node(7, 545)]
    got = hashes_from_tiles(nodes, lambda keys: tiles)
    for node, value in zip(nodes, got, strict=True):
        lo = node.index << node.level
        assert value == ref_mth(leaves[lo : lo + (1 << node.level)])


def test_incomplete_node_at_the_edge_is_not_read() -> None:
    stored, _ = _grow([70_000])
    tiles = {key: build_tile(data) for key, data in stored.items()}
    with pytest.raises(StorageError, match="does not hold node"):
        hashes_from_tiles([Node(7, 546)], lambda keys: tiles)  # leaves 69888..70015


def test_reading_a_node_beyond_the_tiles_is_a_storage_error() -> None:
    stored, _ = _grow([10])
    tiles = {key: build_tile(data) for key, data in stored.items()}
    with pytest.raises(StorageError, match="tile/0/000"):
        hashes_from_tiles([Node(0, 10)], lambda keys: tiles)


def test_append_rejects_an_edge_tile_of_the_wrong_width() -> None:
    with pytest.raises(StorageError, match="partial tile"):
        append_hashes(5, {0: b"\x00" * 32 * 4}, [hash_leaf(b"x")])


def test_full_tile_root_is_the_level_1_hash() -> None:
    stored, leaves = _grow([256])
    assert stored[TileKey(1, 0)] == tree_hash([hash_leaf(x) for x in leaves])


def test_entry_bundle_round_trip() -> None:
    entries = [b"", b"a", b"\x00" * 300, b"x" * 65_535]
    data = encode_entry_bundle(entries)
    assert data[:2] == b"\x00\x00" and data[2:4] == b"\x00\x01"
    assert decode_entry_bundle(data) == entries


def test_entry_over_65535_bytes_is_rejected() -> None:
    with pytest.raises(MalformedError, match="entry 1 is 65536 bytes"):
        encode_entry_bundle([b"ok", b"x" * 65_536])


@pytest.mark.parametrize("bad", [b"\x00", b"\x00\x05abc"])
def test_truncated_entry_bundle_is_malformed(bad: bytes) -> None:
    with pytest.raises(MalformedError):
        decode_entry_bundle(bad)
