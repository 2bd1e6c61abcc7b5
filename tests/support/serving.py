"""Running a real `prov serve` or `prov witness serve` for a test: a free loopback port, a bounded
wait, a clean stop - or, for the crash tests, SIGKILL of the server and every process it started."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

PROV = Path(sys.executable).parent / "prov"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Server:
    """One `prov ...` server process in its own process group (its signature workers too), so
    `kill()` takes them all down at once, as a power cut would."""

    def __init__(
        self,
        arguments: Sequence[str],
        ready_path: str,
        log: Path,
        env: Mapping[str, str] | None = None,
        port: int | None = None,
    ) -> None:
        self.arguments = list(arguments)
        self.ready_path = ready_path
        self.log = log
        self.env = None if env is None else dict(env)
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, ready_seconds: float = 20) -> "Server":
        """Start the process (appending to its log) and wait until `ready_path` answers 200."""
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(
                [str(PROV), *self.arguments, "--port", str(self.port)],
                stdout=output, stderr=subprocess.STDOUT, env=self.env, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + ready_seconds
        while True:
            try:
                if httpx.get(f"{self.base}{self.ready_path}", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.kill()
                raise AssertionError(
                    f"prov {' '.join(self.arguments)} did not come up:\n{self.log.read_text()}"
                )
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL the server's whole process group: no shutdown handler runs."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.process = None

    def send_signal(self, signum: int) -> None:
        """Send `signum` to the server's own process only, as systemd's KillMode=mixed and
        `docker stop` do: whatever it started must be stopped by the server itself."""
        assert self.process is not None, "the server is not running"
        os.kill(self.process.pid, signum)

    def wait(self, timeout: float) -> int:
        """Wait for the server's own process to exit; its exit status."""
        assert self.process is not None, "the server is not running"
        return self.process.wait(timeout=timeout)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not exited within 10 seconds."""
        if self.process is None:
            return
        self.process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)
        self.kill()


@dataclass(frozen=True)
class Proc:
    """A process, named by its pid and its start time, so a pid reused later is not it."""

    pid: int
    started: str

    def alive(self) -> bool:
        stat = _stat(self.pid)
        # Fields after the parenthesised name: state is the first, starttime the 20th.
        return stat is not None and stat[0] != "Z" and stat[19] == self.started


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return text[text.rindex(")") + 2 :].split()


def process_tree(pid: int) -> set[Proc]:
    """`pid` and every process below it now (Linux: /proc/<pid>/task/*/children)."""
    found: set[Proc] = set()
    pending = [pid]
    while pending:
        current = pending.pop()
        stat = _stat(current)
        if stat is None:
            continue
        found.add(Proc(current, stat[19]))
        for children in Path(f"/proc/{current}/task").glob("*/children"):
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                pending.extend(int(child) for child in children.read_text().split())
    return found


def prov_serve(
    options: Sequence[str],
    log: Path,
    env: Mapping[str, str] | None = None,
    ready_seconds: float = 20,
    serve_options: Sequence[str] = (),
) -> "contextlib.AbstractContextManager[str]":
    """`prov <options> serve <serve_options>` on a free port; yields its base URL once
    GET /checkpoint answers."""
    return _serving([*options, "serve", *serve_options], "/checkpoint", log, env, ready_seconds)


def witness_serve(
    options: Sequence[str], log: Path, env: Mapping[str, str], ready_seconds: float = 20
) -> "contextlib.AbstractContextManager[str]":
    """`prov witness serve <options>` on a free port; yields its base URL once GET / answers."""
    return _serving(["witness", "serve", *options], "/", log, env, ready_seconds)


@contextmanager
def _serving(
    arguments: Sequence[str],
    ready_path: str,
    log: Path,
    env: Mapping[str, str] | None,
    ready_seconds: float,
) -> Iterator[str]:
    server = Server(arguments, ready_path, log, env).start(ready_seconds)
    try:
        yield server.base
    finally:
        server.stop()
