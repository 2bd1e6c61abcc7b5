"""The sequencer keeps the status index and signs its note beside every checkpoint, on SQLite
and on PostgreSQL: the note names the checkpoint, its root is the index recomputed from the
leaves, a log written before the index catches up, and a failed batch leaves nothing."""

from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Table, func, select

import ledger.status_index
import migrations
from ledger import (
    ConfigurationError,
    LogStore,
    MalformedError,
    NotFoundError,
    Sequencer,
    Signer,
    open_engine,
    open_status,
    prove_status,
    status_root,
    verify_status,
)
from ledger.database import insert_rows
from ledger.schema import log_checkpoints, log_status_entries, log_status_notes, log_status_state
from ledger.store import read_status_items
from tests.support.clocks import FixedClock


def subjects_of(leaf: bytes) -> Collection[bytes]:
    """The test rule: a leaf b"S" + k x 32 bytes names those k subjects; others name none."""
    if not leaf.startswith(b"S"):
        return ()
    return [leaf[i : i + 32] for i in range(1, len(leaf) - 31, 32)]


def subject(n: int) -> bytes:
    return n.to_bytes(2, "big") * 16


def naming(*subjects: bytes) -> bytes:
    return b"S" + b"".join(subjects)


def plain(n: int) -> bytes:
    return f"plain leaf {n}".encode()


# Batches with and without subject-naming leaves, one naming two subjects, one naming the
# same subject twice, and subjects named again later.
BATCHES: list[list[bytes]] = [
    [plain(0), plain(1)],
    [naming(subject(1)), plain(2), naming(subject(2), subject(3))],
    [plain(3)],
    [plain(4), plain(5), plain(6)],
    [naming(subject(1)), naming(subject(4), subject(4))],
    [plain(7)],
    [naming(subject(3))],
]


def expected_items(leaves: Sequence[bytes]) -> dict[bytes, list[int]]:
    """The index recomputed from the leaves by the rule, the naive way."""
    items: dict[bytes, list[int]] = {}
    for index, leaf in enumerate(leaves):
        for name in sorted(set(subjects_of(leaf))):
            items.setdefault(name, []).append(index)
    return items


def with_rule(store: LogStore, signer: Signer, clock: FixedClock) -> Sequencer:
    return Sequencer(store, signer, clock, status_rule=subjects_of)


def write(sequencer: Sequencer, batches: list[list[bytes]]) -> list[bytes]:
    sequencer.initialize()
    leaves: list[bytes] = []
    for batch in batches:
        sequencer.append(batch)
        leaves += batch
    return leaves


def checkpoint_sizes(store: LogStore) -> list[int]:
    with store.engine.connect() as connection:
        return list(connection.scalars(select(log_checkpoints.c.tree_size).order_by("tree_size")))


def test_a_status_note_per_checkpoint(store: LogStore, signer: Signer, clock: FixedClock) -> None:
    leaves = write(with_rule(store, signer, clock), BATCHES)
    sizes = checkpoint_sizes(store)
    assert len(sizes) == len(BATCHES) + 1
    for size in sizes:
        note = store.status_note(size)
        assert note is not None, size
        commitment = open_status(note, signer.verifier)
        checkpoint = store.checkpoint_at(size).checkpoint
        assert (commitment.origin, commitment.size) == (signer.name, size)
        assert commitment.root_hash == checkpoint.root_hash
        assert commitment.status_root == status_root(expected_items(leaves[:size]))
        assert store.status_items(size) == expected_items(leaves[:size])
    assert open_status(store.status_note(0) or b"", signer.verifier).status_root == bytes(32)


def test_a_batch_without_subject_rows_reuses_the_root(
    store: LogStore, signer: Signer, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    sequencer = with_rule(store, signer, clock)
    write(sequencer, BATCHES[:2])
    reads: list[int] = []

    def counting(connection: Connection, size: int) -> dict[bytes, list[int]]:
        reads.append(size)
        return read_status_items(connection, size)

    monkeypatch.setattr(ledger.status_index, "read_status_items", counting)
    before = open_status(store.status_note(5) or b"", signer.verifier).status_root
    sequencer.append([plain(10), plain(11)])
    assert reads == []  # the root came from the previous note, no rows read
    assert open_status(store.status_note(7) or b"", signer.verifier).status_root == before
    sequencer.append([naming(subject(9))])
    assert reads == [8]
    assert open_status(store.status_note(8) or b"", signer.verifier).status_root != before


def test_a_log_written_without_the_rule_catches_up(
    store: LogStore, signer: Signer, clock: FixedClock
) -> None:
    leaves = write(Sequencer(store, signer, clock), BATCHES)
    size = len(leaves)
    with store.engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(log_status_entries)) == 0
        assert connection.scalar(select(func.count()).select_from(log_status_notes)) == 0
    with pytest.raises(NotFoundError, match="status index covers"):
        store.status_items(size)
    assert store.status_note(size) is None

    upgraded = with_rule(store, signer, clock)
    assert upgraded.initialize().size == size
    assert store.status_items(size) == expected_items(leaves)
    note = store.status_note(size)
    assert note is not None
    caught_up_root = open_status(note, signer.verifier).status_root
    assert caught_up_root == status_root(expected_items(leaves))
    # Older checkpoints keep having none: the log signs status only from the upgrade on.
    assert all(store.status_note(s) is None for s in checkpoint_sizes(store)[:-1])
    assert upgraded.initialize().size == size  # a second run signs nothing new
    with store.engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(log_status_notes)) == 1


def test_catching_up_gives_the_root_of_a_log_built_with_the_rule(
    store: LogStore, signer: Signer, clock: FixedClock
) -> None:
    # The same batches, first without the rule, the last ones with it and no initialize():
    # the first batch the rule sees catches the index up inside its own transaction.
    leaves = write(Sequencer(store, signer, clock), BATCHES[:4])
    with_rule(store, signer, clock).append(BATCHES[4])
    Sequencer(store, signer, clock).append(BATCHES[5])  # a plain writer in between: lags again
    with_rule(store, signer, clock).append(BATCHES[6])
    leaves += BATCHES[4] + BATCHES[5] + BATCHES[6]
    assert store.status_note(len(leaves) - len(BATCHES[6]) - len(BATCHES[5])) is not None
    note = store.status_note(len(leaves))
    assert note is not None
    assert open_status(note, signer.verifier).status_root == status_root(expected_items(leaves))
    assert store.status_items(len(leaves)) == expected_items(leaves)


def test_the_upgraded_root_equals_a_fresh_logs(
    store: LogStore, signer: Signer, clock: FixedClock, tmp_path: Path
) -> None:
    fresh_url = f"sqlite:///{tmp_path / 'fresh.db'}"
    migrations.upgrade(fresh_url)
    fresh = LogStore(open_engine(fresh_url))
    leaves = write(with_rule(fresh, signer, FixedClock()), BATCHES)
    write(Sequencer(store, signer, clock), BATCHES)
    with_rule(store, signer, clock).initialize()
    fresh_note, upgraded_note = fresh.status_note(len(leaves)), store.status_note(len(leaves))
    assert fresh_note is not None and upgraded_note is not None
    roots = {open_status(n, signer.verifier).status_root for n in (fresh_note, upgraded_note)}
    assert roots == {status_root(expected_items(leaves))}
    fresh.engine.dispose()


def _counts(store: LogStore) -> tuple[int, int, int, int | None]:
    with store.engine.connect() as connection:
        return (
            connection.scalar(select(func.count()).select_from(log_status_entries)) or 0,
            connection.scalar(select(func.count()).select_from(log_status_notes)) or 0,
            connection.scalar(select(func.max(log_checkpoints.c.tree_size))) or 0,
            connection.scalar(select(log_status_state.c.indexed_size)),
        )


def test_a_batch_that_fails_mid_transaction_leaves_no_status(
    store: LogStore, signer: Signer, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    sequencer = with_rule(store, signer, clock)
    write(sequencer, BATCHES[:2])
    before = _counts(store)
    inserted: list[Sequence[Sequence[Any]]] = []

    def insert_then_count(
        connection: Connection, table: Table, rows: Sequence[Sequence[Any]]
    ) -> None:
        insert_rows(connection, table, rows)
        inserted.append(rows)

    def fail(*_args: object) -> bytes:
        raise RuntimeError("the signer's HSM went away")

    monkeypatch.setattr(ledger.status_index, "insert_rows", insert_then_count)
    monkeypatch.setattr(ledger.status_index, "sign_status", fail)
    with pytest.raises(RuntimeError):
        sequencer.append([naming(subject(7)), plain(20)])
    assert inserted == [[(subject(7), 5)]]  # the rows were written, then rolled back
    assert _counts(store) == before
    assert store.status_items(5) == expected_items(BATCHES[0] + BATCHES[1])
    monkeypatch.undo()
    sequencer.append([naming(subject(7)), plain(20)])
    assert store.status_items(7)[subject(7)] == [5]


def test_a_rule_naming_a_short_subject_stops_the_batch(
    store: LogStore, signer: Signer, clock: FixedClock
) -> None:
    sequencer = Sequencer(store, signer, clock, status_rule=lambda leaf: [leaf[:5]])
    sequencer.initialize()
    before = _counts(store)
    with pytest.raises(ConfigurationError, match="5-byte subject"):
        sequencer.append([plain(1)])
    assert _counts(store) == before


def test_items_and_proofs_at_an_older_size_exclude_later_leaves(
    store: LogStore, signer: Signer, clock: FixedClock
) -> None:
    leaves = write(with_rule(store, signer, clock), BATCHES)
    old = len(BATCHES[0]) + len(BATCHES[1])  # subjects 1, 2, 3 named once each
    assert store.status_items(old) == {subject(1): [2], subject(2): [4], subject(3): [4]}
    wanted = [subject(1), subject(3), subject(4)]
    proofs = store.status_proofs(old, wanted)
    old_root = open_status(store.status_note(old) or b"", signer.verifier).status_root
    assert verify_status(old_root, subject(1), proofs[subject(1)]) == (2,)
    assert verify_status(old_root, subject(3), proofs[subject(3)]) == (4,)
    assert verify_status(old_root, subject(4), proofs[subject(4)]) == ()  # named only later
    latest_root = open_status(store.status_note(len(leaves)) or b"", signer.verifier).status_root
    latest = store.status_proofs(len(leaves), wanted)
    assert verify_status(latest_root, subject(1), latest[subject(1)]) == (2, 9)
    assert verify_status(latest_root, subject(4), latest[subject(4)]) == (10,)
    assert latest[subject(3)] == prove_status(expected_items(leaves), subject(3))
    with pytest.raises(MalformedError):
        store.status_items(len(leaves) + 1)
