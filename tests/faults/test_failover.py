"""Sequencer failover: the process holding the log's write lock dies (SIGKILL) or freezes
(SIGSTOP) in the middle of a batch - its tiles, entry bundles, derived rows and signed
checkpoint written but not committed - and another sequencer takes over without a fork.

The stalled sequencer is a real Registry in its own process; the one that takes over is a
`prov serve` process whose client was waiting on the lock. The dead batch and the new one are
the same size, so both sequencers signed a checkpoint for the same tree size with different
roots: only the committed one may ever be seen.
"""

import json
import multiprocessing
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Connection

from ledger import LogConfig, LogStore, Sequencer, open_checkpoint, open_engine
from ledger.checkpoint import Checkpoint
from ledger.store import SignedCheckpoint
from registry import Registry, RegistrySettings
from registry.entries.status_subjects import status_subjects
from registry.open import now_ms
from tests.support.crash_harness import (
    LogAuditor,
    LogUnderTest,
    Observations,
    RecordSource,
    Submitters,
)
from tests.support.databases import require_postgres

BATCH = 50


class StallingSequencer(Sequencer):
    """Stops after writing the whole batch and signing its checkpoint, before the commit, and
    tells the test what it was about to publish."""

    def __init__(self, *args: Any, ready: Path, stall_s: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._ready = ready
        self._stall_s = stall_s

    def _store_checkpoint(
        self, connection: Connection, checkpoint: Checkpoint, created: int
    ) -> SignedCheckpoint:
        signed = super()._store_checkpoint(connection, checkpoint, created)
        self._ready.write_bytes(signed.note)
        time.sleep(self._stall_s)
        return signed  # the commit follows: after a freeze, it fails


def _stall_mid_batch(
    data_dir: str,
    url: str,
    records: list[dict[str, Any]],
    ready: str,
    stall_s: float,
    stall_timeout_s: float,
) -> None:
    config = LogConfig.from_env(data_dir, url)
    store = LogStore(open_engine(url))
    signer = config.load_signer()
    sequencer = StallingSequencer(
        store,
        signer,
        now_ms,
        ready=Path(ready),
        stall_s=stall_s,
        status_rule=status_subjects,
        stall_timeout_s=stall_timeout_s,
    )
    registry = Registry(store, sequencer, RegistrySettings(log=config, verify_workers=0), now_ms)
    registry.submit_captures(records)


def _take_over(
    database_url: str,
    tmp_path: Path,
    stop: signal.Signals,
    stall_s: float,
    stall_timeout_s: float,
) -> tuple[LogAuditor, multiprocessing.process.BaseProcess, list[dict[str, Any]]]:
    log = LogUnderTest.create(tmp_path / "data", database_url)
    seen = Observations()
    source = RecordSource(log.devices, seed=9)
    server = log.server(tmp_path / "serve.log")
    auditor = LogAuditor(log, seen, tmp_path)
    ready = tmp_path / "stalled-checkpoint"
    doomed_records = source.batch(BATCH)
    context = multiprocessing.get_context("spawn")
    stalled = context.Process(
        target=_stall_mid_batch,
        args=(
            str(log.data_dir), database_url, doomed_records, str(ready), stall_s, stall_timeout_s
        ),
    )  # fmt: skip
    try:
        server.start()
        size_before = auditor.check(server.base)
        stalled.start()
        deadline = time.monotonic() + 60
        while not ready.exists() or not ready.read_bytes():
            assert time.monotonic() < deadline and stalled.is_alive(), "no stalled sequencer"
            time.sleep(0.05)
        doomed = ready.read_bytes()
        assert open_checkpoint(doomed, log.log_key).size == size_before + BATCH

        # While the lock is held, readers see the last committed tree, nothing half-written.
        assert httpx.get(f"{server.base}/v1/log", timeout=10).json()["tree_size"] == size_before
        submitters = Submitters([server.base], source, log.log_key, seen, threads=1,
                                batch_sizes=(BATCH, BATCH))  # fmt: skip
        waiting = threading.Thread(target=submitters.start)
        waiting.start()
        time.sleep(0.5)
        assert seen.acknowledged == []  # the server's sequencer is waiting for the lock
        assert stalled.pid is not None
        os.kill(stalled.pid, stop)
        deadline = time.monotonic() + stall_timeout_s + 30
        while len(seen.acknowledged) < 2 * BATCH:
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()[-2000:]
            time.sleep(0.05)
        waiting.join()
        submitters.stop()
        assert not submitters.errors, submitters.errors[:3]
        auditor.check(server.base)
        # The first batch the server sequenced took the very size the stalled one had signed.
        first = min(seen.checkpoints)
        assert first == size_before + BATCH
        assert open_checkpoint(doomed, log.log_key).root_hash not in seen.checkpoints[first]
    except BaseException:
        if stalled.pid is not None and stalled.exitcode is None:
            os.kill(stalled.pid, signal.SIGKILL)  # a frozen child would outlive the test
        raise
    finally:
        server.stop()
        auditor.close()
    return auditor, stalled, doomed_records


def _logged_signatures(database_url: str) -> set[str]:
    engine = open_engine(database_url)
    store = LogStore(engine)
    leaves = store.entries(0, store.latest_checkpoint().size)
    engine.dispose()
    return {json.loads(leaf).get("sig") for leaf in leaves}


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_a_killed_sequencer_mid_batch_hands_over_without_a_fork(
    database_url: str, tmp_path: Path
) -> None:
    auditor, stalled, doomed = _take_over(database_url, tmp_path, signal.SIGKILL, 60, 30)
    stalled.join(timeout=10)
    assert stalled.exitcode == -signal.SIGKILL
    assert auditor.figures.problems == [], auditor.figures.problems
    assert auditor.figures.found == auditor.figures.acknowledged >= 2 * BATCH
    assert not {r["sig"] for r in doomed} & _logged_signatures(database_url)


@pytest.mark.slow
@pytest.mark.postgres
def test_a_frozen_sequencer_loses_the_lock_and_its_batch(
    postgresql_url: str, tmp_path: Path
) -> None:
    """SIGSTOP: the process is alive but silent. PostgreSQL ends its session after the stall
    timeout (2 s here), which frees the lock; when the process wakes, its commit fails."""
    require_postgres()
    auditor, stalled, doomed = _take_over(postgresql_url, tmp_path, signal.SIGSTOP, 3, 2)
    assert stalled.pid is not None
    os.kill(stalled.pid, signal.SIGCONT)
    stalled.join(timeout=30)
    assert stalled.exitcode == 1  # an exception: its connection was closed under it
    assert auditor.figures.problems == [], auditor.figures.problems
    assert auditor.figures.found == auditor.figures.acknowledged >= 2 * BATCH
    assert not {r["sig"] for r in doomed} & _logged_signatures(postgresql_url)
