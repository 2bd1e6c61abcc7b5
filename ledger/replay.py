"""Rebuild a log's tree from its entries, as an outside auditor does, and check what it serves.

`replay_step` and `replay_root` are the pure core: the state between steps is the tree size
and its edge tiles (the partial tile of each level, at most 8 KiB each), so a replay can stop
and resume anywhere and its state is a few KiB. `TreeReplay` drives them over a `RemoteLog`:
it downloads every entry bundle through the tile API, hashes every entry, and compares

* each entry's leaf hash with the level-0 tile the log serves,
* every full tile of every level, and the partial tiles at the end, with the recomputed ones,
* the root with the checkpoint's,

and reports each difference as a `TreeFinding` that says what and where. It never stops at
the first one: when a bundle is missing or short, the served tile's hashes stand in for its
leaves so that the rest of the log is still checked.
"""

import base64
import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from hashlib import sha256
from typing import Any

from ledger.checkpoint import Checkpoint
from ledger.errors import LedgerError, MalformedError
from ledger.merkle import EMPTY_ROOT, HASH_SIZE, root_hash
from ledger.remote import RemoteLog
from ledger.tiles import (
    TILE_WIDTH,
    Tile,
    TileKey,
    append_hashes,
    build_tile,
    decode_entry_bundle,
    entries_path,
    hashes_from_tiles,
    tile_path,
)

__all__ = ["ReplayState", "TreeFinding", "TreeReplay", "replay_root", "replay_step"]

MAX_FINDINGS = 1000  # past this many, the log is plainly broken; say so and stop listing


@dataclass
class ReplayState:
    """How far a replay got: `size` entries hashed, and the edge tiles of that tree."""

    size: int = 0
    edges: dict[int, bytes] = field(default_factory=dict)  # level -> partial tile hashes

    def to_json(self) -> dict[str, Any]:
        return {
            "size": self.size,
            "edges": {str(level): base64.b64encode(h).decode() for level, h in self.edges.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "ReplayState":
        try:
            edges = {int(k): base64.b64decode(v, validate=True) for k, v in data["edges"].items()}
            size = int(data["size"])
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise MalformedError(
                f"replay state is damaged ({exc}); delete it to start over"
            ) from None
        return cls(size, edges)


@dataclass(frozen=True)
class TreeFinding:
    where: str  # a path or an entry index, e.g. "tile/0/003" or "entry 812"
    reason: str


def replay_step(
    size: int, edges: Mapping[int, bytes], leaf_hashes: Sequence[bytes]
) -> tuple[dict[int, bytes], dict[TileKey, bytes]]:
    """Append `leaf_hashes` to a tree of `size` with these edge tiles: the new edge tiles, and
    the hashes of every tile that became full (which the log must serve exactly)."""
    changed = append_hashes(size, edges, leaf_hashes)
    new_edges = dict(edges)
    full: dict[TileKey, bytes] = {}
    for key, tile in sorted(changed.items(), key=lambda item: (item[0].level, item[0].index)):
        if tile.width == TILE_WIDTH:
            full[key] = tile.hashes
            new_edges.pop(key.level, None)
        else:
            new_edges[key.level] = tile.hashes
    return new_edges, full


def replay_root(size: int, edges: Mapping[int, bytes]) -> bytes:
    """MTH of the tree of `size` leaves whose edge tiles are `edges` (RFC 9162 §2.1.1)."""
    if size == 0:
        return EMPTY_ROOT
    tiles = _edge_tiles_of(size, edges)
    return root_hash(size, lambda nodes: hashes_from_tiles(nodes, lambda _: tiles))


def _edge_tiles_of(size: int, edges: Mapping[int, bytes]) -> dict[TileKey, Tile]:
    return {
        TileKey(level, (size >> (8 * level)) // TILE_WIDTH): build_tile(h)
        for level, h in edges.items()
    }


class TreeReplay:
    """Replays the log at `remote` up to a verified checkpoint, from `state`."""

    def __init__(self, remote: RemoteLog, state: ReplayState, *, prefetch: int = 8) -> None:
        self.remote = remote
        self.state = state
        self.findings: list[TreeFinding] = []
        self._prefetch = prefetch

    def run(
        self,
        target: Checkpoint,
        on_entries: Callable[[int, list[bytes]], None],
        on_progress: Callable[[int], None] = lambda _size: None,
    ) -> list[TreeFinding]:
        """Hash every entry from `state.size` to `target.size`, hand each bundle's entries to
        `on_entries(first index, leaves)`, and check tiles and root. `state` advances after
        every bundle, so a caller may save it from `on_progress` to resume later."""
        if target.size < self.state.size:
            self._find(
                "checkpoint",
                f"the log's checkpoint is for {target.size} entries, but this replay already "
                f"verified {self.state.size}: the log has shrunk (a rollback)",
            )
            return self.findings
        with ThreadPoolExecutor(max_workers=self._prefetch) as pool:
            for first, width, fetched in self._bundles(pool, target.size):
                leaves, leaf_hashes = self._leaves(first, width, fetched)
                done = max(0, self.state.size - first)  # a resumed partial bundle's old part
                if leaves is not None:
                    on_entries(first + done, leaves[done:])
                self._advance(leaf_hashes[done:])
                on_progress(self.state.size)
        self._check_edges()
        root = replay_root(self.state.size, self.state.edges)
        if root != target.root_hash:
            self._find(
                "checkpoint",
                f"the root recomputed from the log's {target.size} entries "
                f"({base64.b64encode(root).decode()}) is not the signed checkpoint's root "
                f"({base64.b64encode(target.root_hash).decode()}): entries were changed, "
                "removed or replaced after the checkpoint was signed",
            )
        return self.findings

    # --- steps ---

    def _bundles(
        self, pool: ThreadPoolExecutor, size: int
    ) -> Iterator[tuple[int, int, tuple[Future[bytes], Future[bytes]]]]:
        """(first index, width, (entry bundle, level-0 tile) downloads), `prefetch` ahead."""
        start = self.state.size
        if start % TILE_WIDTH:
            # Resuming inside a bundle (the last replay ended at a partial one): re-read it.
            start -= start % TILE_WIDTH
        queue: list[tuple[int, int, tuple[Future[bytes], Future[bytes]]]] = []
        position = start
        while position < size or queue:
            while position < size and len(queue) < self._prefetch:
                index, width = position // TILE_WIDTH, min(TILE_WIDTH, size - position)
                downloads = (
                    pool.submit(self.remote.entry_bundle, index, width),
                    pool.submit(self.remote.tile, 0, index, width),
                )
                queue.append((position, width, downloads))
                position += width
            yield queue.pop(0)

    def _leaves(
        self, first: int, width: int, fetched: tuple[Future[bytes], Future[bytes]]
    ) -> tuple[list[bytes] | None, list[bytes]]:
        """The bundle's entries (None if unusable) and the leaf hashes to continue with."""
        bundle_path = entries_path(first // TILE_WIDTH, width)
        served = self._served(fetched[1].result, tile_path(0, first // TILE_WIDTH, width))
        try:
            leaves = decode_entry_bundle(fetched[0].result())
        except LedgerError as exc:
            self._find(
                bundle_path,
                f"entries {first}..{first + width - 1}, which the checkpoint covers, cannot be "
                f"read: {exc}",
            )
            leaves = None
        if leaves is not None and len(leaves) != width:
            self._find(
                bundle_path,
                f"holds {len(leaves)} entries where the checkpoint needs {width} "
                f"(entries {first}..{first + width - 1}): entries are missing or were added",
            )
            leaves = None
        if leaves is None:
            # Carry on with the log's own leaf hashes, so later entries are still checked.
            fallback = served if served is not None and len(served) == width * HASH_SIZE else None
            hashes = (
                [fallback[i : i + HASH_SIZE] for i in range(0, len(fallback), HASH_SIZE)]
                if fallback
                else [b"\0" * HASH_SIZE] * width
            )
            return None, hashes
        # SHA-256(0x00 || entry), RFC 9162 §2.1.1
        hashes = [sha256(b"\x00" + leaf).digest() for leaf in leaves]
        if served is not None:
            for offset, leaf_hash in enumerate(hashes):
                if served[offset * HASH_SIZE : (offset + 1) * HASH_SIZE] != leaf_hash:
                    self._find(
                        f"entry {first + offset}",
                        f"its bytes hash to {leaf_hash.hex()}, but {tile_path(0, first // TILE_WIDTH, width)} "
                        f"holds {served[offset * HASH_SIZE : (offset + 1) * HASH_SIZE].hex()} for it: "
                        "the entry or the tile was changed",
                    )
        return leaves, hashes

    def _advance(self, leaf_hashes: list[bytes]) -> None:
        state = self.state
        edges, full = replay_step(state.size, state.edges, leaf_hashes)
        state.size += len(leaf_hashes)
        state.edges = edges
        for key, hashes in full.items():
            if key.level == 0:
                continue  # level 0 was compared leaf by leaf
            served = self._served(
                functools.partial(self.remote.tile, key.level, key.index),
                tile_path(key.level, key.index),
            )
            if served is not None and served != hashes:
                self._find(
                    tile_path(key.level, key.index),
                    _first_difference(served, hashes, key.level, key.index),
                )

    def _check_edges(self) -> None:
        for key, tile in _edge_tiles_of(self.state.size, self.state.edges).items():
            if key.level == 0:
                continue
            path = tile_path(key.level, key.index, tile.width)
            served = self._served(
                functools.partial(self.remote.tile, key.level, key.index, tile.width), path
            )
            if served is not None and served != tile.hashes:
                self._find(path, _first_difference(served, tile.hashes, key.level, key.index))

    def _served(self, fetch: Callable[[], bytes], path: str) -> bytes | None:
        try:
            return fetch()
        except LedgerError as exc:
            self._find(path, f"the log does not serve it: {exc}")
            return None

    def _find(self, where: str, reason: str) -> None:
        if len(self.findings) < MAX_FINDINGS:
            self.findings.append(TreeFinding(where, reason))
        elif len(self.findings) == MAX_FINDINGS:
            self.findings.append(
                TreeFinding("replay", f"more than {MAX_FINDINGS} findings; listing stopped")
            )


def _first_difference(served: bytes, expected: bytes, level: int, index: int) -> str:
    if len(served) != len(expected):
        return (
            f"the log serves {len(served) // HASH_SIZE} hashes where the entries give "
            f"{len(expected) // HASH_SIZE}"
        )
    for position in range(0, len(expected), HASH_SIZE):
        if served[position : position + HASH_SIZE] != expected[position : position + HASH_SIZE]:
            node = index * TILE_WIDTH + position // HASH_SIZE
            return (
                f"hash {position // HASH_SIZE} (tree node {node} at level {8 * level}) is "
                f"{served[position : position + HASH_SIZE].hex()} in the served tile but "
                f"{expected[position : position + HASH_SIZE].hex()} recomputed from the entries: "
                "a stored tile hash was replaced"
            )
    return "differs"
