"""What every kind of admission shares: the store, the sequencer, the settings, the clock.

`Writer.append` is the one way the write side appends: the builder decides, under the log's
write lock, the leaves and an outcome; the derived rows it writes and the reg_state mark of how
far they reach commit in the same transaction as the leaves, so they never disagree.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy import Column, Connection, select

from ledger import LogStore, Sequencer
from ledger.errors import ConfigurationError
from ledger.sequencer import AppendResult, Clock, DecidingBuilder
from registry.admission import indexer
from registry.admission.certs import VendorRoot
from registry.admission.results import Receipt, receipts
from registry.config import RegistrySettings

T = TypeVar("T")

Find = Callable[[Connection], int | None]
"""Under the lock: the index of the entry if it is already logged, else None."""

Make = Callable[[Connection, int, int], bytes]
"""Under the lock, with (connection, index, now_ms): the entry's leaf, its derived rows written."""


@dataclass
class Writer:
    store: LogStore
    sequencer: Sequencer | None
    settings: RegistrySettings
    now: Clock
    roots: dict[str, VendorRoot] = field(default_factory=dict)  # vendor_id -> its parsed root

    def sequencer_or_refuse(self) -> Sequencer:
        """The sequencer; a server without the log key says so before doing any work."""
        if self.sequencer is None:
            raise ConfigurationError(
                "this server has no log key, so it cannot append: run it where `prov init` "
                "wrote the key (or set PROV_LOG_KEY_FILE)"
            )
        return self.sequencer

    def append(self, build: DecidingBuilder[T]) -> tuple[AppendResult, T]:
        """Append what `build` decides, and record how far the derived rows now reach."""

        def build_and_mark(connection: Connection, first: int, now: int) -> tuple[list[bytes], T]:
            leaves, outcome = build(connection, first, now)
            if leaves:
                indexer.set_indexed_size(connection, first + len(leaves))
            return list(leaves), outcome

        return self.sequencer_or_refuse().append_decided(build_and_mark)

    def append_one(self, find: Find, make: Make) -> Receipt:
        """Append one entry, unless `find` finds it logged already; its receipt either way."""

        def build(connection: Connection, first: int, now: int) -> tuple[list[bytes], int | None]:
            found = find(connection)
            if found is not None:
                return [], found
            return [make(connection, first, now)], None

        result, found = self.append(build)
        if found is None:
            return receipts(self.store, [result.first_index], result.checkpoint, set())[0]
        return receipts(self.store, [found], result.checkpoint, {found})[0]


def logged_index(connection: Connection, column: Column[str], value: str) -> int | None:
    """The leaf_index of the row of `column`'s table whose `column` is `value`, if any."""
    table = column.table
    found: int | None = connection.execute(
        select(table.c.leaf_index).where(column == value)
    ).scalar()
    return found
