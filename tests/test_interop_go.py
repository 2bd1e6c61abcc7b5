"""`prov init && prov serve` serves a log that an independent verifier accepts.

The verifier is Go's own golang.org/x/mod/sumdb/note and sumdb/tlog (tests/interop/), built
offline from Debian's packages. It verifies the checkpoint signature, recomputes the root from
the served tiles, checks entry bundles against the tiles, and checks our JSON inclusion and
consistency proofs. Without Go the test skips with the reason; under CI=true it fails.
"""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from ledger import LogConfig, LogStore, Sequencer, open_engine
from tests.conftest import FixedClock
from tests.interop.goverifier import build_goverify, go_toolchain_available, run_goverify

PROV = Path(sys.executable).parent / "prov"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def goverify(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not go_toolchain_available():
        reason = "Go verifier needs Debian's golang-go and golang-golang-x-mod-dev"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true requires the interop test: {reason} (.ci/run installs them)")
        pytest.skip(reason)
    return build_goverify(tmp_path_factory.mktemp("goverify"))


@pytest.mark.parametrize("size", [0, 1, 70_000])
def test_go_verifier_accepts_a_served_log(goverify: Path, tmp_path: Path, size: int) -> None:
    data_dir = tmp_path / "data"
    init = subprocess.run(
        [str(PROV), "--data-dir", str(data_dir), "init", "--origin", "example.org/interop/log"],
        capture_output=True,
        text=True,
        check=True,
    )
    vkey = init.stdout.strip().rsplit("verifier key: ", 1)[1].split()[0]
    if size:
        config = LogConfig.from_env(data_dir)
        engine = open_engine(config.database_url)
        sequencer = Sequencer(LogStore(engine), config.load_signer(), FixedClock())
        for start in range(0, size, 9_000):
            count = min(9_000, size - start)
            sequencer.append([f"entry {i}".encode() for i in range(start, start + count)])
        engine.dispose()

    port = _free_port()
    server = subprocess.Popen(
        [str(PROV), "--data-dir", str(data_dir), "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"{url}/checkpoint", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "prov serve did not come up within 20 s"
            time.sleep(0.1)
        result = run_goverify(goverify, url, vkey, samples=12)
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"goverify: OK size={size} " in result.stdout
