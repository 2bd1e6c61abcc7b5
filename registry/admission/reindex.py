"""Rebuilding the derived reg_* tables from the log's entries (`prov reindex`)."""

from sqlalchemy import Connection

from ledger import SignedCheckpoint
from ledger.store import read_entries
from registry.admission import indexer
from registry.admission.context import Writer


def reindex(writer: Writer, chunk: int = 10_000) -> int:
    """Drop every derived row and rebuild them from the log's entries; returns the count.

    Under the log's write lock, in one transaction: no append interleaves, and a rebuild that
    fails leaves the old rows in place."""

    def rebuild(connection: Connection, latest: SignedCheckpoint) -> int:
        indexer.clear(connection)
        replayed = 0
        for start in range(0, latest.size, chunk):
            end = min(latest.size, start + chunk)
            replayed += indexer.replay(connection, start, read_entries(connection, start, end))
        indexer.set_indexed_size(connection, latest.size)
        return replayed

    return writer.sequencer_or_refuse().run_locked(rebuild)
