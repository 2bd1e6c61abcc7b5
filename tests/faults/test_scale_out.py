"""Beyond one machine: several API servers on one PostgreSQL database, and sequencer failover.

Two `prov serve` processes share one database and one log key, with submitters on both. The
database lock lets one sequencer at a time extend the tree, so the log stays one linear
history; each server tails the other's captures into its own near-duplicate index.
PROV_SCALE_SECONDS (default 4) sets how long the submitters run; `make stress` runs longer.
"""

import os
import random
import statistics
import threading
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from ledger import LogStore, open_checkpoint, open_engine
from ledger.merkle import verify_consistency
from ledger.schema import log_checkpoints
from tests.support.crash_harness import (
    Acknowledgement,
    LogAuditor,
    LogUnderTest,
    Observations,
    RecordSource,
    Submitters,
    report,
)
from tests.support.databases import require_postgres

SECONDS = float(os.environ.get("PROV_SCALE_SECONDS", "4"))
MIN_CROSS_LOOKUPS = 20
LOOKUP_BOUND_S = 5.0  # a capture logged through one server is found through the other by then


class CrossLookups:
    """Looks each sampled capture up by its PDQ hash alone (the in-memory near-duplicate index,
    not the SQL exact-match path) on the server that did NOT acknowledge it, and records how
    long after the acknowledgement that server first found it."""

    def __init__(self, observations: Observations, servers: list[str]) -> None:
        self._seen = observations
        self._servers = servers
        self._stop = threading.Event()
        self.delays: list[float] = []
        self.missed: list[int] = []
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=120)

    def _run(self) -> None:
        done = 0
        rnd = random.Random(2)
        clients = {url: httpx.Client(base_url=url, timeout=30) for url in self._servers}
        try:
            while not self._stop.is_set() or done < len(self._seen.acknowledged):
                with self._seen.lock:
                    fresh = self._seen.acknowledged[done:]
                done += len(fresh)
                if not fresh:
                    self._stop.wait(0.02)
                    continue
                self._find(clients, rnd.choice(fresh))
        finally:
            for client in clients.values():
                client.close()

    def _find(self, clients: dict[str, httpx.Client], ack: Acknowledgement) -> None:
        other = next(url for url in self._servers if url != ack.server)
        query = {"pdq": ack.record["claim"]["pdq"], "pdq_quality": 100}
        while time.monotonic() - ack.at < LOOKUP_BOUND_S:
            answer = clients[other].post("/v1/lookup", json=query).json()
            if [m["leaf_index"] for m in answer["matches"]] == [ack.index]:
                self.delays.append(time.monotonic() - ack.at)
                return
            time.sleep(0.01)
        self.missed.append(ack.index)


@pytest.mark.slow
@pytest.mark.postgres
def test_two_servers_on_one_postgresql_keep_one_linear_log(
    postgresql_url: str, tmp_path: Path
) -> None:
    require_postgres()
    log = LogUnderTest.create(tmp_path / "data", postgresql_url)
    servers = [log.server(tmp_path / f"serve-{name}.log") for name in ("a", "b")]
    seen = Observations()
    source = RecordSource(log.devices, seed=21)
    urls = [server.base for server in servers]
    submitters = Submitters(urls, source, log.log_key, seen, threads=2, seed=5)
    lookups = CrossLookups(seen, urls)
    auditor = LogAuditor(log, seen, tmp_path)
    try:
        for server in servers:
            server.start()
        submitters.start()
        lookups.start()
        # At least SECONDS, and on a loaded machine until enough cross lookups were made to
        # judge (the assertion below), within a bound.
        started = time.monotonic()
        while time.monotonic() - started < SECONDS or (
            len(lookups.delays) < MIN_CROSS_LOOKUPS and time.monotonic() - started < 60
        ):
            time.sleep(0.2)
        submitters.stop()
        lookups.stop()
        sizes = [auditor.check(server.base) for server in servers]
    finally:
        for server in servers:
            server.stop()
        auditor.close()

    # Every checkpoint the two sequencers signed, in size order, extends the one before.
    engine = open_engine(postgresql_url)
    store = LogStore(engine)
    with engine.connect() as connection:
        notes = [bytes(n) for n in connection.execute(
            select(log_checkpoints.c.note).order_by(log_checkpoints.c.tree_size)
        ).scalars()]  # fmt: skip
    chain = [open_checkpoint(note, log.log_key) for note in notes]
    for older, newer in zip(chain, chain[1:], strict=False):
        assert older.size < newer.size
        if older.size:
            proof = store.consistency_proof(older.size, newer.size)
            verify_consistency(older.size, newer.size, older.root_hash, newer.root_hash, proof)
    engine.dispose()

    indexes = [ack.index for ack in seen.acknowledged]
    by_server = {url: sum(1 for ack in seen.acknowledged if ack.server == url) for url in urls}
    figures = auditor.figures
    report(
        "scale-out-postgresql",
        {
            "servers": len(servers),
            "seconds": SECONDS,
            "acknowledged_per_server": list(by_server.values()),
            "checkpoints": len(chain),
            "cross_lookups": len(lookups.delays),
            "cross_lookup_delay_median_ms": round(1000 * statistics.median(lookups.delays), 1),
            "cross_lookup_delay_max_ms": round(1000 * max(lookups.delays), 1),
            "missed_lookups": len(lookups.missed),
        }
        | figures.to_json(),
    )
    assert not submitters.errors, submitters.errors[:5]
    assert figures.problems == [], figures.problems[:10]
    assert sizes[0] == sizes[1] == chain[-1].size
    assert len(indexes) == len(set(indexes))  # no index handed out twice
    assert all(count > 0 for count in by_server.values())
    assert lookups.missed == []
    assert len(lookups.delays) >= MIN_CROSS_LOOKUPS
