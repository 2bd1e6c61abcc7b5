"""SIGKILL at random moments: nothing acknowledged is lost, and neither the log nor its witness
ever forks.

`make test` kills each server a few times (PROV_CRASH_KILLS, default 3); `make stress` runs the
same tests with 30 kills and writes the figures to PROV_CRASH_REPORT (docs/benchmarks.md quotes
them). The moments are random but seeded, so a failure replays.
"""

import os
import random
import time
from pathlib import Path

import pytest
from sqlalchemy import insert, select
from sqlalchemy.engine import make_url

import migrations
from ledger import EMPTY_ROOT, Signer, open_engine
from ledger.cosignature import Cosigner
from ledger.schema import log_tiles, witness_state
from ledger.witness import write_new_cosigner
from tests.support.crash_harness import (
    Acknowledgement,
    LogAuditor,
    LogUnderTest,
    Observations,
    RecordSource,
    Submitters,
    report,
)
from tests.support.forking_log import Cosigned, ForkingLog, ForkRacer
from tests.support.serving import Server

KILLS = int(os.environ.get("PROV_CRASH_KILLS", "3"))
ORIGIN = "crash.example/log"


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_log_keeps_every_acknowledged_record_across_sigkills(
    database_url: str, tmp_path: Path
) -> None:
    log = LogUnderTest.create(tmp_path / "data", database_url)
    seen = Observations()
    server = log.server(tmp_path / "serve.log")
    source = RecordSource(log.devices, seed=7)
    submitters = Submitters([server.base], source, log.log_key, seen, threads=3, seed=3)
    auditor = LogAuditor(log, seen, tmp_path)
    moments = random.Random(11)
    kills = 0
    try:
        server.start()
        for _ in range(KILLS):
            auditor.check(server.base)
            submitters.start()
            time.sleep(moments.uniform(0.3, 1.5))
            server.kill()  # mid-request, mid-batch, mid-commit: wherever it is
            kills += 1
            submitters.stop()
            server.start()  # no repair step: the server must come back by itself
        size = auditor.check(server.base)
        # The batches a kill cut off are still owed: send them now, and check once more.
        submitters.start()
        time.sleep(1.0)
        submitters.stop()
        size = auditor.check(server.base)
    finally:
        server.stop()
        auditor.close()
    figures = auditor.figures
    report(
        f"log-sigkill-{make_url(database_url).get_backend_name()}",
        {"kills": kills, "tree_size": size, "cut_off_batches": seen.unanswered_batches}
        | figures.to_json(),
    )
    assert not submitters.errors, submitters.errors[:5]
    assert figures.problems == [], figures.problems[:10]
    assert figures.lost == figures.forks == figures.half_written == figures.logged_twice == 0
    assert kills == KILLS and figures.checks == KILLS + 2
    assert figures.found == figures.acknowledged >= 10 * KILLS  # the kills hit a busy log


def _witness(tmp_path: Path, database_url: str, log_key: str) -> tuple[Server, Cosigner]:
    migrations.upgrade(database_url)
    key_file = tmp_path / "witness.key"
    cosigner = write_new_cosigner(key_file, "witness.example/crash")
    arguments = ["witness", "serve", "--log", log_key, "--key-file", str(key_file)]
    arguments += ["--database", database_url]
    return Server(arguments, "/", tmp_path / "witness.log", dict(os.environ)), cosigner


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_witness_never_cosigns_two_roots_for_one_size_across_sigkills(
    database_url: str, tmp_path: Path
) -> None:
    """The log key signs two histories and races them at the witness, which is killed at random
    moments: whichever fork it took, it must keep to it after every restart."""
    log = ForkingLog(Signer.generate(ORIGIN))
    server, cosigner = _witness(tmp_path, database_url, log.signer.verifier.vkey)
    engine = open_engine(database_url)
    cosigned = Cosigned()
    moments = random.Random(5)
    base = EMPTY_ROOT  # round 0 forks from the empty tree; later rounds from the witness's
    kills = 0
    try:
        server.start()
        for round_number in range(KILLS + 1):
            forks = {
                name: log.extend(base, f"round {round_number} fork {name}", 40)
                for name in ("A", "B")
            }
            racer = ForkRacer(
                log, server.base, cosigner.verifier, cosigned, forks, seed=round_number
            )
            racer.start(threads=4)
            time.sleep(moments.uniform(0.3, 1.2))
            if round_number < KILLS:
                server.kill()
                kills += 1
            racer.stop()
            if round_number < KILLS:
                server.start()
            with engine.connect() as connection:
                held = connection.execute(
                    select(witness_state.c.root_hash).where(witness_state.c.origin == ORIGIN)
                ).scalar()
            assert held is not None, "the witness cosigned nothing: the race never started"
            # Nothing it cosigned is forgotten: it holds at least the largest tree it vouched for.
            assert log.size_of(bytes(held)) >= max(cosigned.by_size)
            base = bytes(held)  # the next round forks from what the witness holds now
    finally:
        server.stop()
        engine.dispose()
    conflicts = {size: roots for size, roots in cosigned.by_size.items() if len(roots) > 1}
    report(
        f"witness-sigkill-{make_url(database_url).get_backend_name()}",
        {
            "kills": kills,
            "cosignatures": cosigned.count,
            "sizes_cosigned": len(cosigned.by_size),
            "refusals": cosigned.refusals,
            "cut_off_requests": cosigned.cut_off,
            "forks": len(conflicts),
        },
    )
    assert conflicts == {}
    assert cosigned.refusals > 0  # both forks really raced: the witness turned one away
    assert len(cosigned.by_size) >= KILLS + 1


def test_the_auditor_notices_a_loss_a_fork_and_a_half_write(
    sqlite_url: str, tmp_path: Path
) -> None:
    """The checks above can fail: a record acknowledged but not logged, a checkpoint the log
    cannot prove it extends, and a tile row beyond the tree are each reported."""
    log = LogUnderTest.create(tmp_path / "data", sqlite_url)
    seen = Observations()
    server = log.server(tmp_path / "serve.log")
    auditor = LogAuditor(log, seen, tmp_path)
    engine = open_engine(sqlite_url)
    try:
        server.start()
        source = RecordSource(log.devices, seed=1)
        submitters = Submitters([server.base], source, log.log_key, seen, threads=1)
        submitters.start()
        while len(seen.acknowledged) < 20:
            time.sleep(0.05)
        submitters.stop()
        auditor.check(server.base)
        assert auditor.figures.problems == []

        real = seen.acknowledged[0]
        seen.acknowledged.append(Acknowledgement(real.index, b"\x00" * 32, real.record, "x"))
        seen.checkpoints.setdefault(3, set()).add(b"\x01" * 32)
        with engine.begin() as connection:
            connection.execute(
                insert(log_tiles).values(
                    level=0, tile_index=10_000, hashes=b"\x02" * 32, interior=b""
                )
            )
        auditor.check(server.base)
    finally:
        server.stop()
        auditor.close()
        engine.dispose()
    figures = auditor.figures
    assert figures.lost == 1
    assert figures.forks >= 1
    assert figures.half_written == 1
    assert any("tiles beyond" in problem for problem in figures.problems)
