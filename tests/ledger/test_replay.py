"""ledger.replay and ledger.monitor against a served log: an honest log passes, and every kind
of tampering - a changed entry byte, a deleted entry, a replaced tile hash, a rollback, a fork
- is caught by the replay or by the monitor, with a message that says what and where.
Both databases; the log is read only through its HTTP API."""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, insert, select, update

from api import create_app
from ledger import Checkpoint, LogConfig, LogStore, Sequencer, Signer, sign_checkpoint
from ledger.checkpoint import open_checkpoint
from ledger.merkle import hash_leaf, tree_hash
from ledger.monitor import ForkAlarm, Seen, watch_once
from ledger.note import write_private_key_file
from ledger.remote import RemoteLog
from ledger.replay import ReplayState, TreeReplay, replay_root, replay_step
from ledger.schema import log_checkpoints, log_entry_bundles, log_tiles
from ledger.tiles import decode_entry_bundle, encode_entry_bundle
from tests.support.clocks import FixedClock

LOG_TABLES = (log_tiles, log_entry_bundles, log_checkpoints)


def leaves(start: int, count: int, tag: str = "entry") -> list[bytes]:
    return [f"{tag} {i}".encode() for i in range(start, start + count)]


@contextmanager
def served(store: LogStore, signer: Signer, tmp_path: Path) -> Iterator[RemoteLog]:
    key_file = tmp_path / "log.key"
    key_file.unlink(missing_ok=True)  # a test may serve two logs, one after the other
    write_private_key_file(key_file, signer.to_string(), "log")
    url = store.engine.url.render_as_string(hide_password=False)
    with TestClient(create_app(LogConfig(tmp_path, url, key_file))) as client:
        yield RemoteLog("http://testserver", http=client)


def replay(
    remote: RemoteLog, signer: Signer, state: ReplayState | None = None
) -> tuple[list[Any], list[tuple[int, list[bytes]]], ReplayState]:
    target = open_checkpoint(remote.checkpoint(), signer.verifier)
    state = state or ReplayState()
    seen: list[tuple[int, list[bytes]]] = []
    findings = TreeReplay(remote, state).run(
        target, lambda first, batch: seen.append((first, batch))
    )
    return findings, seen, state


# ---------------------------------------------------------------------------------------------
# The pure core


@pytest.mark.parametrize("sizes", [[1], [255, 1], [256], [300, 212, 70_000 - 512], [7] * 40])
def test_replay_steps_rebuild_the_root(sizes: list[int]) -> None:
    hashes = [hash_leaf(leaf) for leaf in leaves(0, sum(sizes))]
    size = 0
    edges: dict[int, bytes] = {}
    for step in sizes:
        edges, _full = replay_step(size, edges, hashes[size : size + step])
        size += step
        assert replay_root(size, edges) == tree_hash(hashes[:size])


# ---------------------------------------------------------------------------------------------
# An honest log


def test_honest_log_replays_clean_and_resumes(
    sequencer: Sequencer, store: LogStore, signer: Signer, tmp_path: Path
) -> None:
    sequencer.append(leaves(0, 600))
    with served(store, signer, tmp_path) as remote:
        findings, seen, state = replay(remote, signer)
        assert findings == []
        assert [b for _, batch in seen for b in batch] == leaves(0, 600)
        assert [first for first, _ in seen] == [0, 256, 512]
        # Saved and resumed: only the new entries are handed on, the root still checks.
        saved = ReplayState.from_json(json.loads(json.dumps(state.to_json())))
        sequencer.append(leaves(600, 100))
        findings, seen, state = replay(remote, signer, saved)
        assert findings == [] and state.size == 700
        assert seen == [(600, leaves(600, 100))]


# ---------------------------------------------------------------------------------------------
# Tampering with storage under a running log


def _bundle(store: LogStore, index: int) -> list[bytes]:
    with store.engine.connect() as connection:
        data = connection.execute(
            select(log_entry_bundles.c.entries).where(log_entry_bundles.c.bundle_index == index)
        ).scalar_one()
    return decode_entry_bundle(bytes(data))


def _set_bundle(store: LogStore, index: int, entries: list[bytes]) -> None:
    with store.engine.begin() as connection:
        connection.execute(
            update(log_entry_bundles)
            .where(log_entry_bundles.c.bundle_index == index)
            .values(entries=encode_entry_bundle(entries))
        )


def test_changed_entry_byte_is_caught(
    sequencer: Sequencer, store: LogStore, signer: Signer, tmp_path: Path
) -> None:
    sequencer.append(leaves(0, 300))
    entries = _bundle(store, 1)
    entries[5] = entries[5][:-1] + b"X"  # entry 261
    _set_bundle(store, 1, entries)
    with served(store, signer, tmp_path) as remote:
        findings, _, _ = replay(remote, signer)
    where = [f.where for f in findings]
    assert where == ["entry 261", "checkpoint"]
    assert "the entry or the tile was changed" in findings[0].reason
    assert "is not the signed checkpoint's root" in findings[1].reason


def test_deleted_entry_is_caught(
    sequencer: Sequencer, store: LogStore, signer: Signer, tmp_path: Path
) -> None:
    sequencer.append(leaves(0, 600))
    entries = _bundle(store, 0)
    del entries[17]
    _set_bundle(store, 0, entries)
    with served(store, signer, tmp_path) as remote:
        findings, seen, _ = replay(remote, signer)
    # prov serve itself refuses to serve a bundle shorter than its tile; a log that served
    # it anyway would meet the replay's count check ("holds 255 entries where ... needs 256").
    assert findings[0].where == "tile/entries/000"
    assert "entries 0..255, which the checkpoint covers, cannot be read" in findings[0].reason
    # The rest of the log is still checked and handed on.
    assert [first for first, _ in seen] == [256, 512]


@pytest.mark.parametrize(("level", "position"), [(0, 40), (1, 1)])
def test_replaced_tile_hash_is_caught(
    sequencer: Sequencer, store: LogStore, signer: Signer, tmp_path: Path, level: int, position: int
) -> None:
    sequencer.append(leaves(0, 600))  # level 1 holds one partial tile, 2 hashes wide
    with store.engine.begin() as connection:
        hashes = bytearray(
            connection.execute(
                select(log_tiles.c.hashes).where(
                    log_tiles.c.level == level, log_tiles.c.tile_index == 0
                )
            ).scalar_one()
        )
        hashes[32 * position] ^= 0x01
        connection.execute(
            update(log_tiles)
            .where(log_tiles.c.level == level, log_tiles.c.tile_index == 0)
            .values(hashes=bytes(hashes))
        )
    with served(store, signer, tmp_path) as remote:
        findings, _, _ = replay(remote, signer)
    assert len(findings) == 1, findings
    if level == 0:
        assert findings[0].where == f"entry {position}"
    else:
        assert findings[0].where == "tile/1/000.p/2"
        assert "hash 1 (tree node 1 at level 8)" in findings[0].reason


def _snapshot(store: LogStore) -> dict[str, list[dict[str, Any]]]:
    with store.engine.connect() as connection:
        return {
            t.name: [dict(r._mapping) for r in connection.execute(select(t))] for t in LOG_TABLES
        }


def _restore(store: LogStore, snapshot: dict[str, list[dict[str, Any]]]) -> None:
    with store.engine.begin() as connection:
        for table in LOG_TABLES:
            connection.execute(delete(table))
            if snapshot[table.name]:
                connection.execute(insert(table), snapshot[table.name])


def test_fork_and_rollback_are_caught_by_watch_and_replay(
    store: LogStore, signer: Signer, clock: FixedClock, tmp_path: Path
) -> None:
    sequencer = Sequencer(store, signer, clock)
    sequencer.initialize()
    sequencer.append(leaves(0, 300))
    before = _snapshot(store)
    sequencer.append(leaves(300, 50))
    state_file, evidence = tmp_path / "watch.json", tmp_path / "evidence"
    with served(store, signer, tmp_path) as remote:
        watch_once(
            remote.checkpoint, remote.consistency_proof, signer.verifier, state_file, evidence
        )
        _, _, replayed = replay(remote, signer)
    saved = json.loads(state_file.read_text())

    # The operator rolls the log back to 300 entries...
    _restore(store, before)
    with served(store, signer, tmp_path) as remote, pytest.raises(ForkAlarm) as rollback:
        watch_once(
            remote.checkpoint, remote.consistency_proof, signer.verifier, state_file, evidence
        )
    assert "ROLLBACK" in str(rollback.value) and "size 300" in str(rollback.value)
    assert json.loads(state_file.read_text()) == saved  # an alarm never moves the state

    # ...and appends different entries: a fork of the history the monitor saw.
    Sequencer(store, signer, clock).append(leaves(300, 80, tag="other"))
    with served(store, signer, tmp_path) as remote:
        with pytest.raises(ForkAlarm) as fork:
            watch_once(
                remote.checkpoint, remote.consistency_proof, signer.verifier, state_file, evidence
            )
        findings, _, _ = replay(remote, signer, replayed)
    assert (
        "FORK" in str(fork.value)
        and "size 380" in str(fork.value)
        and "size 350" in str(fork.value)
    )
    assert fork.value.evidence is not None
    first = open_checkpoint(
        (fork.value.evidence / "first.checkpoint").read_bytes(), signer.verifier
    )
    second = open_checkpoint(
        (fork.value.evidence / "second.checkpoint").read_bytes(), signer.verifier
    )
    assert (first.size, second.size) == (350, 380)
    assert [f.where for f in findings] == ["checkpoint"]  # the resumed replay: root differs


def test_split_view_against_another_partys_checkpoint(
    sequencer: Sequencer, store: LogStore, signer: Signer, tmp_path: Path
) -> None:
    sequencer.append(leaves(0, 10))
    # A checkpoint of the same size and another root, signed by the same log key: what a
    # witness or another auditor would hold if the log showed them a different tree.
    other_root = tree_hash([hash_leaf(leaf) for leaf in leaves(0, 10, tag="elsewhere")])
    note = sign_checkpoint(Checkpoint(signer.name, 10, other_root), signer)
    other = Seen(note, open_checkpoint(note, signer.verifier), "witness.example")
    with served(store, signer, tmp_path) as remote, pytest.raises(ForkAlarm) as split:
        watch_once(
            remote.checkpoint, remote.consistency_proof, signer.verifier,
            tmp_path / "state.json", tmp_path / "evidence", [other],
        )  # fmt: skip
    assert "SPLIT VIEW" in str(split.value) and "witness.example" in str(split.value)
    assert not (tmp_path / "state.json").exists()


def test_watch_accepts_growth_and_records_it(
    sequencer: Sequencer, store: LogStore, signer: Signer, tmp_path: Path
) -> None:
    state_file = tmp_path / "state.json"
    with served(store, signer, tmp_path) as remote:
        for size in (3, 40, 40, 300):
            if size > (
                sequencer_size := open_checkpoint(remote.checkpoint(), signer.verifier).size
            ):
                sequencer.append(leaves(sequencer_size, size - sequencer_size))
            result = watch_once(
                remote.checkpoint, remote.consistency_proof, signer.verifier, state_file,
                tmp_path / "evidence",
            )  # fmt: skip
            assert result.checkpoint.size == size
    stored = json.loads(state_file.read_text())["checkpoint"].encode()
    assert open_checkpoint(stored, signer.verifier).size == 300
    assert not (tmp_path / "evidence").exists()


class DroppingLastEntry:
    """A log front end that leaves the last entry out of every bundle it serves."""

    def __init__(self, remote: RemoteLog) -> None:
        self._remote = remote

    def entry_bundle(self, index: int, width: int = 256) -> bytes:
        return encode_entry_bundle(
            decode_entry_bundle(self._remote.entry_bundle(index, width))[:-1]
        )

    def tile(self, level: int, index: int, width: int = 256) -> bytes:
        return self._remote.tile(level, index, width)


def test_short_bundle_is_caught_and_the_tiles_carry_the_replay_on(
    sequencer: Sequencer, store: LogStore, signer: Signer, tmp_path: Path
) -> None:
    sequencer.append(leaves(0, 300))
    with served(store, signer, tmp_path) as remote:
        target = open_checkpoint(remote.checkpoint(), signer.verifier)
        state = ReplayState()
        findings = TreeReplay(DroppingLastEntry(remote), state).run(target, lambda *_: None)  # type: ignore[arg-type]
    assert [f.where for f in findings] == ["tile/entries/000", "tile/entries/001.p/44"]
    assert "holds 255 entries where the checkpoint needs 256" in findings[0].reason
    assert state.size == 300  # the served leaf hashes stood in: the root still checked out
