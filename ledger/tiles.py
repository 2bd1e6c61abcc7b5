"""C2SP tlog-tiles: tile paths, tile geometry, entry bundles, and appending to tiles.

A tile at level L, index N holds up to 256 consecutive hashes of tree level 8*L: level 0 tiles
hold leaf hashes, and each hash in a level L+1 tile is the root of a full level L tile. The
levels in between are recomputed from a tile's hashes. A partial tile (width < 256) is always a
prefix of the full tile it grows into, so one stored row per tile serves every width.
"""

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from hashlib import sha256
from typing import NamedTuple

from ledger.errors import MalformedError, StorageError
from ledger.merkle import HASH_SIZE, Node, hash_children

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT  # hashes in a full tile
FULL_TILE_BYTES = TILE_WIDTH * HASH_SIZE
MAX_ENTRY_SIZE = 0xFFFF  # entry bundles prefix each entry with a big-endian uint16 length
MAX_TILE_LEVEL = 63


@dataclass(frozen=True, order=True, slots=True)
class TileKey:
    """Where a tile is stored: its level and its index within the level."""

    level: int
    index: int


@dataclass(frozen=True, slots=True)
class TileRef:
    """A tile as named by a C2SP path. `level` is None for an entry bundle."""

    level: int | None
    index: int
    width: int

    @property
    def path(self) -> str:
        if self.level is None:
            return entries_path(self.index, self.width)
        return tile_path(self.level, self.index, self.width)


class Tile(NamedTuple):
    """A stored tile: its hashes (exactly what tlog-tiles serves) and its interior, the complete
    nodes of the seven tree levels between them and the level above, so that proofs read
    hashes instead of recomputing them."""

    hashes: bytes
    interior: bytes

    @property
    def width(self) -> int:
        return len(self.hashes) // HASH_SIZE


TileReader = Callable[[Sequence[TileKey]], Mapping[TileKey, Tile]]
"""Returns each requested tile that exists, keyed by TileKey."""


def build_tile(hashes: bytes) -> Tile:
    """A Tile with its interior computed from its hashes (any width from 1 to 256)."""
    levels = []
    row = hashes
    for _ in range(TILE_HEIGHT - 1):
        paired = len(row) // (2 * HASH_SIZE) * 2 * HASH_SIZE
        # SHA-256(0x01 || left || right), RFC 9162 §2.1.1: each pair is one 64-byte slice
        row = b"".join([sha256(b"\x01" + row[i : i + 64]).digest() for i in range(0, paired, 64)])
        levels.append(row)
    return Tile(hashes, b"".join(levels))


def tile_root(tile: Tile) -> bytes:
    """MTH of a full tile's 256 hashes: the hash its tile contributes to the level above."""
    if tile.width != TILE_WIDTH:
        raise StorageError(f"only a full tile has a root; this one is {tile.width} hashes wide")
    top = tile.interior[-2 * HASH_SIZE :]
    return hash_children(top[:HASH_SIZE], top[HASH_SIZE:])


@lru_cache(maxsize=4096)
def _interior_offset(width: int, height: int) -> int:
    """Interior levels are packed bottom-up: level j holds width >> j hashes."""
    return sum(width >> j for j in range(1, height))


def tile_node(tile: Tile, height: int, position: int) -> bytes | None:
    """The complete node `position` at `height` (0-7) within the tile, or None if not yet there."""
    width = len(tile.hashes) // HASH_SIZE
    if height == 0:
        offset, available = 0, width
        data = tile.hashes
    else:
        offset = _interior_offset(width, height)
        available = width >> height
        data = tile.interior
    if position >= available:
        return None
    start = (offset + position) * HASH_SIZE
    return data[start : start + HASH_SIZE]


def format_tile_index(index: int) -> str:
    """N in 3-digit groups, `x` before all but the last: 1234067 -> x001/x234/067 (tlog-tiles)."""
    if index < 0:
        raise MalformedError(f"tile index {index} is negative")
    groups = []
    while True:
        index, group = divmod(index, 1000)
        groups.append(group)
        if index == 0:
            break
    groups.reverse()
    return "/".join([f"x{g:03d}" for g in groups[:-1]] + [f"{groups[-1]:03d}"])


def _width_suffix(width: int) -> str:
    if not 1 <= width <= TILE_WIDTH:
        raise MalformedError(f"tile width {width} is not between 1 and {TILE_WIDTH}")
    return "" if width == TILE_WIDTH else f".p/{width}"


def tile_path(level: int, index: int, width: int = TILE_WIDTH) -> str:
    """tile/<L>/<N>[.p/<W>], C2SP tlog-tiles."""
    if not 0 <= level <= MAX_TILE_LEVEL:
        raise MalformedError(f"tile level {level} is not between 0 and {MAX_TILE_LEVEL}")
    return f"tile/{level}/{format_tile_index(index)}{_width_suffix(width)}"


def entries_path(index: int, width: int = TILE_WIDTH) -> str:
    """tile/entries/<N>[.p/<W>], C2SP tlog-tiles."""
    return f"tile/entries/{format_tile_index(index)}{_width_suffix(width)}"


_PATH = re.compile(
    r"tile/(?P<level>entries|0|[1-9][0-9]?)/"
    r"(?P<index>(?:x[0-9]{3}/)*[0-9]{3})"
    r"(?:\.p/(?P<width>[1-9][0-9]{0,2}))?"
)


def parse_tile_path(path: str) -> TileRef:
    """Parse `tile/<L>/<N>[.p/<W>]` or `tile/entries/<N>[.p/<W>]` (a leading / is allowed)."""
    match = _PATH.fullmatch(path.removeprefix("/"))
    if match is None:
        raise MalformedError(
            f"{path!r} is not a tile path: expected tile/<L>/<N>[.p/<W>] or "
            "tile/entries/<N>[.p/<W>], with N in 3-digit groups like x001/x234/067"
        )
    groups = match["index"].split("/")
    # Extra leading groups must not encode zero (x000/x001/002 would alias x001/002).
    if len(groups) > 1 and groups[0] == "x000":
        raise MalformedError(f"{path!r} has a leading zero group in the tile index")
    index = int("".join(g.removeprefix("x") for g in groups))
    width = TILE_WIDTH
    if match["width"]:
        width = int(match["width"])
        if width >= TILE_WIDTH:
            raise MalformedError(f"{path!r}: a partial tile has width 1 to {TILE_WIDTH - 1}")
    level = None if match["level"] == "entries" else int(match["level"])
    if level is not None and level > MAX_TILE_LEVEL:
        raise MalformedError(f"{path!r}: tile level must be at most {MAX_TILE_LEVEL}")
    return TileRef(level, index, width)


def partial_width(size: int, level: int) -> int:
    """Width of the partial tile at `level` for a tree of `size`: floor(size / 256**L) mod 256."""
    return (size >> (TILE_HEIGHT * level)) % TILE_WIDTH


def tiles_for_size(size: int) -> Iterator[TileRef]:
    """Every hash tile (full and partial) that a tree of `size` leaves publishes."""
    level = 0
    while (count := size >> (TILE_HEIGHT * level)) > 0:
        full, width = divmod(count, TILE_WIDTH)
        for index in range(full):
            yield TileRef(level, index, TILE_WIDTH)
        if width:
            yield TileRef(level, full, width)
        level += 1


def edge_tiles(size: int) -> dict[int, TileKey]:
    """The partial tile at each level of a tree of `size`, where it has any hashes.

    These hold the whole ragged right edge: the tree root and every append need only them.
    """
    edges = {}
    level = 0
    while (count := size >> (TILE_HEIGHT * level)) > 0:
        if count % TILE_WIDTH:
            edges[level] = TileKey(level, count // TILE_WIDTH)
        level += 1
    return edges


def node_location(node: Node) -> tuple[TileKey, int, int]:
    """The tile holding `node`, and the node's height and position within that tile."""
    tile_level, height = divmod(node.level, TILE_HEIGHT)
    nodes_per_tile = TILE_WIDTH >> height
    tile_index, position = divmod(node.index, nodes_per_tile)
    return TileKey(tile_level, tile_index), height, position


def hashes_from_tiles(nodes: Sequence[Node], read_tiles: TileReader) -> list[bytes]:
    """Hashes of complete-subtree nodes, read from the tiles that hold them."""
    locations = [node_location(node) for node in nodes]
    tiles = read_tiles(list({key for key, _, _ in locations}))
    hashes = []
    for node, (key, height, position) in zip(nodes, locations, strict=True):
        tile = tiles.get(key)
        found = None if tile is None else tile_node(tile, height, position)
        if found is None:
            have = "missing" if tile is None else f"only {tile.width} hashes wide"
            raise StorageError(
                f"tile {tile_path(key.level, key.index)} is {have}, so it does not hold "
                f"node ({node.level}, {node.index})"
            )
        hashes.append(found)
    return hashes


def append_hashes(
    size: int, edges: Mapping[int, bytes], leaf_hashes: Sequence[bytes]
) -> dict[TileKey, Tile]:
    """The tiles that change when `leaf_hashes` are appended to a tree of `size` leaves.

    `edges[L]` is the current partial tile at level L (see `edge_tiles`); a level without a
    partial tile may be absent. Returns each changed tile's complete new contents. Each tile
    that becomes full contributes its root to the level above, so the work per leaf does not
    depend on the size of the tree.
    """
    changed: dict[TileKey, Tile] = {}
    incoming = list(leaf_hashes)
    level = 0
    while incoming:
        count = size >> (TILE_HEIGHT * level)
        first_tile, width = divmod(count, TILE_WIDTH)
        partial = edges.get(level, b"")
        if len(partial) != width * HASH_SIZE:
            raise StorageError(
                f"partial tile {tile_path(level, first_tile)} is {len(partial)} bytes; a tree "
                f"of size {size} needs {width * HASH_SIZE}"
            )
        combined = partial + b"".join(incoming)
        roots = []
        for offset in range(0, len(combined), FULL_TILE_BYTES):
            tile = build_tile(combined[offset : offset + FULL_TILE_BYTES])
            changed[TileKey(level, first_tile + offset // FULL_TILE_BYTES)] = tile
            if tile.width == TILE_WIDTH:
                roots.append(tile_root(tile))
        incoming = roots
        level += 1
    return changed


def check_entry_sizes(entries: Sequence[bytes]) -> None:
    """Entry bundles give each entry a uint16 length, so no entry may exceed 65,535 bytes."""
    if max(map(len, entries), default=0) > MAX_ENTRY_SIZE:
        position, entry = next((i, e) for i, e in enumerate(entries) if len(e) > MAX_ENTRY_SIZE)
        raise MalformedError(
            f"entry {position} is {len(entry)} bytes; entries are at most {MAX_ENTRY_SIZE}"
        )


def encode_entry_bundle(entries: Sequence[bytes]) -> bytes:
    """Each entry prefixed by its big-endian uint16 length (tlog-tiles entry bundles)."""
    check_entry_sizes(entries)
    return b"".join([len(entry).to_bytes(2, "big") + entry for entry in entries])


def decode_entry_bundle(data: bytes) -> list[bytes]:
    """Split an entry bundle into its entries; rejects truncated or trailing bytes."""
    entries: list[bytes] = []
    pos = 0
    while pos < len(data):
        if pos + 2 > len(data):
            raise MalformedError(f"entry bundle ends inside a length prefix at byte {pos}")
        length = int.from_bytes(data[pos : pos + 2], "big")
        pos += 2
        if pos + length > len(data):
            raise MalformedError(
                f"entry {len(entries)} claims {length} bytes but the bundle ends after "
                f"{len(data) - pos}"
            )
        entries.append(data[pos : pos + length])
        pos += length
    return entries
