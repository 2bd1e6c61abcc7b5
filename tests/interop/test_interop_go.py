"""`prov init && prov serve` serves a log that an independent verifier accepts.

The verifier is Go's own golang.org/x/mod/sumdb/note and sumdb/tlog (tests/interop/), built
offline from Debian's packages. It verifies the checkpoint signature, recomputes the root from
the served tiles, checks entry bundles against the tiles, and checks our JSON inclusion and
consistency proofs. Without Go the test skips with the reason; under CI=true it fails.
"""

import os
import subprocess
from pathlib import Path

import pytest

from ledger import LogConfig, LogStore, Sequencer, open_engine
from tests.interop.goverifier import build_goverify, go_toolchain_available, run_goverify
from tests.support.clocks import FixedClock
from tests.support.serving import PROV, prov_serve


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

    with prov_serve(["--data-dir", str(data_dir)], tmp_path / "serve.log") as url:
        result = run_goverify(goverify, url, vkey, samples=12)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"goverify: OK size={size} " in result.stdout
