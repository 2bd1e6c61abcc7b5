"""The sequencer: the only writer of the log.

`append` runs in a straight line inside ONE locked transaction: read the latest checkpoint and
the right-edge tiles, hash the new leaves into tiles, extend the entry bundles, sign the new
checkpoint, write it all, commit. It reads and writes only the tiles at the right edge of the
tree (at most one partial tile per level plus the tiles the batch fills), so its cost depends
on the batch, never on the size of the log. Once `append` returns, the batch is durable and its
checkpoint is the log's latest.
"""

from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from hashlib import sha256
from typing import Protocol, TypeVar

from sqlalchemy import Connection, insert, update

from ledger.checkpoint import Checkpoint, sign_checkpoint
from ledger.database import STALL_TIMEOUT_S, locked_transaction
from ledger.errors import ConfigurationError, MalformedError, StorageError
from ledger.merkle import EMPTY_ROOT, root_hash
from ledger.note import Signer
from ledger.published import PublishedMark
from ledger.schema import log_checkpoints, log_entry_bundles, log_tiles
from ledger.status_index import StatusRule, commit_batch, commit_latest
from ledger.store import (
    LogStore,
    SignedCheckpoint,
    read_latest_checkpoint,
    read_root_at,
    read_tiles,
)
from ledger.tiles import (
    TILE_WIDTH,
    Tile,
    TileKey,
    append_hashes,
    check_entry_sizes,
    decode_entry_bundle,
    edge_tiles,
    encode_entry_bundle,
    hashes_from_tiles,
)

Clock = Callable[[], int]
"""Milliseconds since the Unix epoch."""

BatchBuilder = Callable[[Connection, int, int], Sequence[bytes]]
"""Called inside the sequencer's locked transaction with (connection, first_index, now_ms);
returns the leaves to append at first_index. It may read and write its own tables on the
connection: those writes commit or roll back with the batch."""

T = TypeVar("T")

DecidingBuilder = Callable[[Connection, int, int], tuple[Sequence[bytes], T]]
"""A BatchBuilder that also returns what it decided (say, the index of an entry it found
already logged), handed back to the caller of `append_decided` with the AppendResult."""


class SequencerObserver(Protocol):
    """What the sequencer reports as it works, for the server's metrics (api.metrics): the log
    itself keeps no clock for latency, nor knows how it is monitored. Must not raise."""

    def lock_taken(self) -> None:
        """This process now holds the log's write lock."""

    def lock_released(self) -> None:
        """The write lock's transaction ended (committed or rolled back)."""

    def batch_committed(self, entries: int, tree_size: int) -> None:
        """A batch of `entries` leaves is durable; the tree now holds `tree_size`."""


class _Unobserved:
    def lock_taken(self) -> None:
        pass

    def lock_released(self) -> None:
        pass

    def batch_committed(self, entries: int, tree_size: int) -> None:
        pass


@dataclass(frozen=True)
class AppendResult:
    first_index: int
    count: int
    checkpoint: SignedCheckpoint


class Sequencer:
    def __init__(
        self,
        store: LogStore,
        signer: Signer,
        now: Clock,
        *,
        status_rule: StatusRule | None = None,
        stall_timeout_s: float = STALL_TIMEOUT_S,
        observer: SequencerObserver | None = None,
        mark: PublishedMark | None = None,
    ) -> None:
        """`status_rule`: which subjects each leaf names; with one, every checkpoint gets a
        status note (ledger.status_index), without one the log keeps no status index.
        `stall_timeout_s`: see ledger.database.locked_transaction (PostgreSQL only).
        `observer`: told when the lock is taken and released and when a batch commits.
        `mark`: the largest checkpoint published (ledger.published); with one, the sequencer
        refuses to append to a database behind it, and raises it after each batch."""
        self._store = store
        self._signer = signer
        self._now = now
        self._status_rule = status_rule
        self._stall_timeout_s = stall_timeout_s
        self._observer: SequencerObserver = observer or _Unobserved()
        self._mark = mark

    @contextmanager
    def _locked(self) -> Iterator[Connection]:
        taken = False
        try:
            with locked_transaction(
                self._store.engine, stall_timeout_s=self._stall_timeout_s
            ) as connection:
                taken = True
                self._observer.lock_taken()
                yield connection
        finally:
            # After the transaction ends: the lock is held until its commit or rollback.
            if taken:
                self._observer.lock_released()

    def initialize(self) -> SignedCheckpoint:
        """Sign and store the empty tree's checkpoint, unless the log already has one; with a
        status rule, bring the status index up to the latest checkpoint and sign its note."""
        with self._locked() as connection:
            latest = read_latest_checkpoint(connection)
            if latest is not None:
                self._check_origin(latest)
            else:
                latest = self._store_checkpoint(
                    connection, Checkpoint(self._signer.name, 0, EMPTY_ROOT), self._now()
                )
            self._check_mark(connection, latest)
            if self._status_rule is not None:
                commit_latest(connection, self._status_rule, self._signer, latest.checkpoint)
        self._raise_mark(latest)
        return latest

    def append(self, leaves: Sequence[bytes]) -> AppendResult:
        """Append `leaves` (exact leaf bytes) as one batch under one new checkpoint."""
        if not leaves:
            raise MalformedError("nothing to append: the batch is empty")
        check_entry_sizes(leaves)
        return self.append_built(lambda _connection, _first, _now: leaves)

    def append_built(self, build: BatchBuilder) -> AppendResult:
        """Append the leaves `build` returns, deciding them under the log's write lock.

        If `build` returns no leaves, nothing is written and the latest checkpoint is returned.
        """
        return self.append_decided(lambda c, first, now: (build(c, first, now), None))[0]

    def run_locked(self, work: Callable[[Connection, SignedCheckpoint], T]) -> T:
        """Run `work` under the log's write lock, in one transaction, with the latest checkpoint:
        for work on the log's own tables that appends nothing (rebuilding derived rows), so no
        append can interleave with it."""
        with self._locked() as connection:
            return work(connection, self._latest(connection))

    def _latest(self, connection: Connection) -> SignedCheckpoint:
        latest = read_latest_checkpoint(connection)
        if latest is None:
            raise ConfigurationError("the log has no checkpoint yet: run `prov init` first")
        self._check_origin(latest)
        self._check_mark(connection, latest)
        return latest

    def _check_mark(self, connection: Connection, latest: SignedCheckpoint) -> None:
        if self._mark is not None:
            self._mark.check(latest.checkpoint, lambda size: read_root_at(connection, size))

    def _raise_mark(self, latest: SignedCheckpoint) -> None:
        # After the commit, before the caller acknowledges anything: a crash in between leaves
        # the mark behind the database, which is harmless (docs/design.md).
        if self._mark is not None:
            self._mark.raise_to(latest.checkpoint)

    def append_decided(self, build: DecidingBuilder[T]) -> tuple[AppendResult, T]:
        """As `append_built`, and also return the outcome `build` decided alongside its leaves."""
        with self._locked() as connection:
            latest = self._latest(connection)
            size = latest.size
            # Never before the previous batch: a clock stepped back (NTP) or a replica whose
            # clock runs behind another's on the same database would otherwise log a time
            # earlier than an entry before it, which an honest log never does. Read under the
            # write lock, so no other writer can append in between.
            now = max(self._now(), latest.created_at_ms)
            leaves, outcome = build(connection, size, now)
            if not leaves:
                return AppendResult(size, 0, latest), outcome
            check_entry_sizes(leaves)

            old_edges = read_tiles(connection, list(edge_tiles(size).values()))
            # SHA-256(0x00 || leaf), RFC 9162 §2.1.1 (hash_leaf, inlined: this is the hot loop)
            leaf_hashes = [sha256(b"\x00" + leaf).digest() for leaf in leaves]
            changed = append_hashes(
                size, {key.level: tile.hashes for key, tile in old_edges.items()}, leaf_hashes
            )
            new_size = size + len(leaves)
            # The new root needs only the new right edge, all of it in these tiles.
            edge = {**old_edges, **changed}
            root = root_hash(new_size, lambda nodes: hashes_from_tiles(nodes, lambda _: edge))

            self._write_tiles(connection, changed, existing=old_edges.keys())
            self._write_bundles(connection, size, leaves)
            signed = self._store_checkpoint(
                connection, Checkpoint(self._signer.name, new_size, root), now
            )
            if self._status_rule is not None:
                commit_batch(
                    connection, self._status_rule, self._signer, size, leaves, signed.checkpoint
                )
        self._observer.batch_committed(len(leaves), new_size)
        self._raise_mark(signed)
        return AppendResult(size, len(leaves), signed), outcome

    def _check_origin(self, latest: SignedCheckpoint) -> None:
        if latest.checkpoint.origin != self._signer.name:
            raise ConfigurationError(
                f"this database holds the log {latest.checkpoint.origin!r}, but the log key is "
                f"for {self._signer.name!r}: point --database and the key file at the same log"
            )

    def _store_checkpoint(
        self, connection: Connection, checkpoint: Checkpoint, created: int
    ) -> SignedCheckpoint:
        note = sign_checkpoint(checkpoint, self._signer)
        connection.execute(
            insert(log_checkpoints).values(
                tree_size=checkpoint.size,
                root_hash=checkpoint.root_hash,
                note=note,
                created_at_ms=created,
            )
        )
        return SignedCheckpoint(checkpoint, note, created)

    @staticmethod
    def _write_tiles(
        connection: Connection, changed: dict[TileKey, Tile], existing: Collection[TileKey]
    ) -> None:
        for key, tile in changed.items():
            if key in existing:
                connection.execute(
                    update(log_tiles)
                    .where(log_tiles.c.level == key.level, log_tiles.c.tile_index == key.index)
                    .values(hashes=tile.hashes, interior=tile.interior)
                )
        fresh = [
            {"level": key.level, "tile_index": key.index, **tile._asdict()}
            for key, tile in changed.items()
            if key not in existing
        ]
        if fresh:
            connection.execute(insert(log_tiles), fresh)

    @staticmethod
    def _write_bundles(connection: Connection, size: int, leaves: Sequence[bytes]) -> None:
        first_bundle, width = divmod(size, TILE_WIDTH)
        take = TILE_WIDTH - width
        if width:
            partial = connection.execute(
                log_entry_bundles.select().where(log_entry_bundles.c.bundle_index == first_bundle)
            ).first()
            if partial is None or len(decode_entry_bundle(bytes(partial.entries))) != width:
                raise StorageError(
                    f"entry bundle {first_bundle} should hold {width} entries for a tree of "
                    f"size {size}, but it is missing or holds a different number"
                )
            connection.execute(
                update(log_entry_bundles)
                .where(log_entry_bundles.c.bundle_index == first_bundle)
                .values(entries=bytes(partial.entries) + encode_entry_bundle(leaves[:take]))
            )
            rest, next_bundle = leaves[take:], first_bundle + 1
        else:
            rest, next_bundle = leaves, first_bundle
        fresh = [
            {
                "bundle_index": next_bundle + i // TILE_WIDTH,
                "entries": encode_entry_bundle(rest[i : i + TILE_WIDTH]),
            }
            for i in range(0, len(rest), TILE_WIDTH)
        ]
        if fresh:
            connection.execute(insert(log_entry_bundles), fresh)
