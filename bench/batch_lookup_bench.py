"""Looking up a batch of images (issue 17): 100 found images through `prov lookup DIR`, locally
and through `--server` (uploads, and `--hash-only`), and the hash sets alone through
POST /v1/lookups.

    .venv/bin/python -m bench.batch_lookup_bench [--images 100] [--captures 100] [--repeat 5]

A SQLite log holds --captures camera captures of generated 640x480 pictures; the batch is a
directory of --images JPEGs, half of them re-encoded copies of captured pictures (found: the
verdict near-duplicate), half pictures nobody captured (not found). The server is the app in
this process (fastapi's TestClient: no sockets, so what is measured is the work, not loopback),
rate limit off. Each figure is the median of --repeat runs of the whole batch, in seconds.
Writes bench/results/batch_lookup_bench.json.
"""

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest.mock import patch

from click.testing import CliRunner
from fastapi.testclient import TestClient

import cli.common
import migrations
from api import create_app
from bench.bundle_bench import TOKEN, bench_registry
from cli.client import HttpClient
from cli.lookup_batch import hash_set
from cli.main import main
from ledger import LogConfig, Signer
from ledger.note import write_private_key_file
from registry import RegistrySettings
from registry.entries.sdk import sign_capture
from testkit.pki import make_pki
from tests.support.registry_fixtures import picture, reencoded

RESULTS = Path(__file__).parent / "results" / "batch_lookup_bench.json"
SIZE = (640, 480)
SERVER = "http://bench.test"


def _median_s(action: Callable[[], object], repeat: int) -> float:
    timings = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        timings.append(time.perf_counter() - start)
    return statistics.median(timings)


def _log(tmp: Path, url: str, captures: int) -> Signer:
    """A log at `url` with `captures` camera captures of picture(1..captures)."""
    now = {"ms": 1_790_000_000_000}

    def clock() -> int:
        now["ms"] += 1
        return now["ms"]

    signer = Signer.generate("bench.example/batch-log")
    registry = bench_registry(url, tmp, signer, clock)
    pki = make_pki(datetime.fromtimestamp(now["ms"] / 1000, UTC), intermediate=True)
    registry.add_vendor("Bench Camera Co.", "camera", pki.root.der, TOKEN)
    registry.enroll_device(pki.device.der, pki.chain_der)
    device = pki.device
    records = [
        sign_capture(picture(s, SIZE), device.private_key, device.certificate, s, now["ms"])
        for s in range(1, captures + 1)
    ]
    for low in range(0, len(records), 50):
        assert all(r.receipt for r in registry.submit_captures(records[low : low + 50]))
    registry.close()
    return signer


def _folder(tmp: Path, images: int, captures: int) -> Path:
    folder = tmp / "found"
    folder.mkdir()
    for n in range(images):
        seed = 1 + n % captures if n % 2 == 0 else 100_000 + n
        (folder / f"image-{n:04d}.jpg").write_bytes(reencoded(picture(seed, SIZE)))
    return folder


class _KeptOpen(HttpClient):
    def close(self) -> None:  # the app's TestClient serves every run
        pass


def _server_is(client: TestClient) -> Any:
    """`--server` answered by `client` (the app in this process)."""
    return patch.object(cli.common, "HttpClient", lambda base: _KeptOpen(base, http=client))


def _prov(runner: CliRunner, arguments: list[str], images: int, seen: list[Any]) -> None:
    result = runner.invoke(main, arguments)
    document = json.loads(result.stdout)
    assert len(document["results"]) == images, result.output
    assert "error" not in document["summary"], document["summary"]
    seen.append(document["summary"])


def run(images: int, captures: int, repeat: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        url = f"sqlite:///{tmp}/batch.db"
        migrations.upgrade(url)
        signer = _log(tmp, url, captures)
        key_file = tmp / "log.key"
        write_private_key_file(key_file, signer.to_string(), "log")
        folder = _folder(tmp, images, captures)
        runner = CliRunner(env={"PROV_LOG_KEY_FILE": str(key_file)})
        local = ["--data-dir", str(tmp), "--database", url, "lookup", str(folder), "--json"]
        remote = ["--server", SERVER, "lookup", str(folder), "--json"]
        files = sorted(folder.iterdir())
        hashed = [hash_set(f.read_bytes(), f.name) for f in files]
        settings = RegistrySettings(
            log=LogConfig(tmp, url, key_file), admin_token=TOKEN, verify_workers=0, rate_limit=0
        )
        summaries: list[Any] = []
        figures: dict[str, Any] = {
            "hash_locally_s": _median_s(
                lambda: [hash_set(f.read_bytes(), f.name) for f in files], repeat
            ),
            "prov_lookup_dir_local_s": _median_s(
                lambda: _prov(runner, local, images, summaries), repeat
            ),
        }
        app = create_app(settings)
        with TestClient(app) as client, _server_is(client):
            figures["prov_lookup_dir_server_uploads_s"] = _median_s(
                lambda: _prov(runner, remote, images, summaries), repeat
            )
            figures["prov_lookup_dir_server_hash_only_s"] = _median_s(
                lambda: _prov(runner, [*remote, "--hash-only"], images, summaries), repeat
            )

            def post() -> None:
                answer = client.post("/v1/lookups", json={"lookups": hashed})
                assert answer.status_code == 200 and len(answer.json()["results"]) == images

            figures["post_v1_lookups_s"] = _median_s(post, repeat)
        app.state.prov.close()
    # Every way of looking the batch up gave the same verdicts.
    assert all(summary == summaries[0] for summary in summaries), summaries
    return {
        "images": images, "captures": captures, "repeat": repeat,
        "verdicts": summaries[0], **figures,
    }  # fmt: skip


def main_bench() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--captures", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    result = run(args.images, args.captures, args.repeat)
    for name, value in result.items():
        print(f"{name:40} {value:.3f}" if isinstance(value, float) else f"{name:40} {value}")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main_bench()
