"""SIGTERM or SIGINT to a server's own process stops everything it started within 10 seconds,
and a batch in flight when the signal comes is either acknowledged and logged, or neither.

The signal goes to the server's pid only, never its process group: that is what `docker stop`
(PID 1), Kubernetes and systemd's KillMode=mixed do, so the server itself must stop its
uvicorn workers and their signature-verification processes.
"""

import base64
import contextlib
import json
import os
import signal
import socket
import time
from pathlib import Path

import pytest

from ledger.witness import write_new_cosigner
from tests.support.crash_harness import (
    Acknowledgement,
    LogAuditor,
    LogUnderTest,
    Observations,
    RecordSource,
)
from tests.support.serving import Proc, Server, process_tree

STOP_BOUND_S = 10.0  # the bound, from the signal to the last process gone
VERIFY_WORKERS = 2  # LogUnderTest.server's PROV_VERIFY_WORKERS


def _whole_tree(server: Server, at_least: int, workers: int = 1) -> set[Proc]:
    """The server's process tree once it holds `at_least` processes and all its `workers` have
    started: /checkpoint answers as soon as one does, and a worker still starting finishes
    starting (its verify processes, spawned, import the registry) before it stops."""
    assert server.process is not None
    deadline = time.monotonic() + 120
    while (
        len(tree := process_tree(server.process.pid)) < at_least
        or server.log.read_text().count("Application startup complete.") < workers
    ):
        assert time.monotonic() < deadline, f"only {len(tree)} processes: {server.log.read_text()}"
        time.sleep(0.1)
    return tree


def _expected_processes(workers: int) -> int:
    """The server's process, and per uvicorn worker (its own process when there are several)
    its signature-verification processes."""
    if workers == 1:
        return 1 + VERIFY_WORKERS
    return 1 + workers * (1 + VERIFY_WORKERS)


def _assert_all_exit(server: Server, tree: set[Proc], signalled_at: float) -> None:
    while alive := [proc.pid for proc in tree if proc.alive()]:
        if time.monotonic() - signalled_at > STOP_BOUND_S:
            server.kill()  # the test's own cleanup; the stragglers are the failure
            for pid in alive:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            raise AssertionError(
                f"still running {STOP_BOUND_S} s after the signal: {alive} of "
                f"{sorted(p.pid for p in tree)}\n{server.log.read_text()[-3000:]}"
            )
        time.sleep(0.1)
    assert server.process is not None
    server.wait(timeout=5)
    server.process = None


@pytest.fixture
def log(tmp_path: Path, sqlite_url: str) -> LogUnderTest:
    return LogUnderTest.create(tmp_path / "data", sqlite_url, devices=2)


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_to_prov_serve_stops_its_whole_process_tree(
    log: LogUnderTest, tmp_path: Path, workers: int, signum: int
) -> None:
    server = log.server(tmp_path / "serve.log")
    server.arguments += ["--workers", str(workers)]
    server.start(ready_seconds=60)
    try:
        tree = _whole_tree(server, _expected_processes(workers), workers)
        server.send_signal(signum)
        _assert_all_exit(server, tree, time.monotonic())
    finally:
        server.kill()


def test_verify_processes_exit_when_their_server_is_killed(
    log: LogUnderTest, tmp_path: Path
) -> None:
    """SIGKILL leaves no shutdown handler to run (as when uvicorn replaces a worker that missed
    its health check): the verify processes notice their parent is gone and exit."""
    server = log.server(tmp_path / "serve.log")
    server.start(ready_seconds=60)
    try:
        tree = _whole_tree(server, _expected_processes(1))
        server.send_signal(signal.SIGKILL)
        _assert_all_exit(server, tree, time.monotonic())
    finally:
        server.kill()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_to_prov_witness_serve_stops_it(
    tmp_path: Path, sqlite_url: str, signum: int
) -> None:
    key_file = tmp_path / "witness.key"
    write_new_cosigner(key_file, "witness.example/stop")
    log_key = LogUnderTest.create(tmp_path / "data", sqlite_url, devices=1).log_key.vkey
    arguments = ["witness", "serve", "--log", log_key, "--key-file", str(key_file)]
    arguments += ["--database", f"sqlite:///{tmp_path / 'witness.db'}"]
    server = Server(arguments, "/", tmp_path / "witness.log", dict(os.environ))
    server.start(ready_seconds=60)
    try:
        tree = _whole_tree(server, 1)
        server.send_signal(signum)
        _assert_all_exit(server, tree, time.monotonic())
    finally:
        server.kill()


def _post_in_two_halves(server: Server, body: bytes) -> tuple[socket.socket, bytes]:
    """Open POST /v1/captures and send its headers and half its body: the request is in flight."""
    connection = socket.create_connection(("127.0.0.1", server.port), timeout=60)
    head = (
        f"POST /v1/captures HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    half = len(body) // 2
    connection.sendall(head + body[:half])
    return connection, body[half:]


def _read_response(connection: socket.socket) -> tuple[int, bytes]:
    chunks = []
    while chunk := connection.recv(65536):
        chunks.append(chunk)
    connection.close()
    raw = b"".join(chunks)
    head, _, payload = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), payload


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_a_batch_in_flight_at_sigterm_is_acknowledged_and_logged(
    tmp_path: Path, database_url: str, workers: int
) -> None:
    """SIGTERM arrives while a batch is being uploaded: the server finishes it (graceful
    shutdown), answers 200, logs every record, and then stops its whole tree in time; after a
    restart the log holds every acknowledged record and is consistent."""
    log = LogUnderTest.create(tmp_path / "data", database_url, devices=2)
    batch = RecordSource(log.devices, seed=16).batch(200)
    server = log.server(tmp_path / "serve.log")
    server.arguments += ["--workers", str(workers)]
    server.start(ready_seconds=60)
    try:
        tree = _whole_tree(server, _expected_processes(workers), workers)
        connection, rest = _post_in_two_halves(server, json.dumps({"records": batch}).encode())
        time.sleep(2)  # not an assertion: time for the worker to read the request's headers
        signalled_at = time.monotonic()
        server.send_signal(signal.SIGTERM)
        connection.sendall(rest)
        status, payload = _read_response(connection)
        _assert_all_exit(server, tree, signalled_at)
        assert status == 200, payload[:500]
        results = json.loads(payload)["results"]
        assert all(result["accepted"] for result in results), results[:3]

        seen = Observations()
        for record, result in zip(batch, results, strict=True):
            leaf_hash = base64.b64decode(result["leaf_hash"])
            seen.acknowledged.append(Acknowledgement(result["index"], leaf_hash, record, ""))
            seen.saw_checkpoint(result["checkpoint"].encode(), log.log_key)
        server.start(ready_seconds=60)
        auditor = LogAuditor(log, seen, tmp_path)
        try:
            assert auditor.check(server.base) == 1 + 2 + len(batch)  # vendor, devices, batch
        finally:
            auditor.close()
        figures = auditor.figures
        assert figures.problems == [], figures.problems[:10]
        assert figures.found == figures.acknowledged == len(batch)
    finally:
        server.kill()
