"""Running a real `prov serve` or `prov witness serve` for a test: a free loopback port, a bounded
wait, a clean stop."""

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

PROV = Path(sys.executable).parent / "prov"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


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
    port = free_port()
    with log.open("wb") as output:
        process = subprocess.Popen(
            [str(PROV), *arguments, "--port", str(port)],
            stdout=output, stderr=subprocess.STDOUT, env=None if env is None else dict(env),
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + ready_seconds
        while True:
            try:
                if httpx.get(f"{base}{ready_path}", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise AssertionError(
                    f"prov {' '.join(arguments)} did not come up:\n{log.read_text()}"
                )
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
