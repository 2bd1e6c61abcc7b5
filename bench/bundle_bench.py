"""The size of a proof bundle with its status proofs, and what building and verifying one costs.

    .venv/bin/python -m bench.bundle_bench [--leaves 1000000] [--revocations 1000]

A registry log on SQLite grows to `--leaves` entries (~300-byte filler leaves, sequenced with the
registry's status rule) with `--revocations` revocation/v1 leaves of other devices spread
through them (bench.status_cost), so the status index holds that many subjects. Then a vendor, a
device under one intermediate CA, and captures are admitted, and the device is revoked 0, 1 and
3 times. For each: the bundle's bytes (raw and gzip level 1, as the API compresses JSON), the
bytes of its `status` part, the same bundle without `status` (the older format), and the
median ms to build it and to verify it offline.
"""

import argparse
import gzip
import hashlib
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import migrations
from bench.log_bench import make_leaves
from bench.status_cost import with_revocations
from ledger import LogConfig, LogStore, Signer, open_engine
from registry import Registry, RegistrySettings
from registry.bundle.build import build_bundle
from registry.bundle.verify import verify_bundle
from registry.entries.sdk import sign_capture, sign_revocation
from registry.open import registry_sequencer
from testkit.pki import DevicePKI, make_pki
from tests.support.registry_fixtures import picture

GROW_BATCH = 10_000
TOKEN = "bench-token"


def bench_registry(url: str, tmp: Path, signer: Signer, clock: Any) -> Registry:
    """A registry on a migrated database at `url`, keyed by `signer`, timed by `clock`."""
    store = LogStore(open_engine(url))
    registry_sequencer(store, signer, clock).initialize()
    settings = RegistrySettings(
        log=LogConfig(tmp, url, tmp / "log.key"), admin_token=TOKEN, verify_workers=0
    )
    return Registry(store, registry_sequencer(store, signer, clock), settings, clock)


def _grow(registry: Registry, signer: Signer, clock: Any, leaves: list[bytes]) -> None:
    sequencer = registry_sequencer(registry.store, signer, clock)
    for low in range(0, len(leaves), GROW_BATCH):
        sequencer.append(leaves[low : low + GROW_BATCH])


def _capture(registry: Registry, pki: DevicePKI, seed: int, at_ms: int) -> int:
    record = sign_capture(
        picture(seed), pki.device.private_key, pki.device.certificate, seed, at_ms
    )
    (result,) = registry.submit_captures([record])
    assert result.receipt is not None, result.reason
    return result.receipt.index


def _revoke(registry: Registry, pki: DevicePKI, since: int) -> None:
    ca = pki.intermediates[0]
    device = hashlib.sha256(pki.device.der).hexdigest()
    registry.revoke(sign_revocation(device, since, "bench", ca.private_key, ca.certificate))


def _median_ms(action: Any, repeat: int) -> float:
    timings = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        timings.append((time.perf_counter() - start) * 1000)
    return statistics.median(timings)


def _row(registry: Registry, signer: Signer, index: int, repeat: int) -> dict[str, float]:
    data = build_bundle(registry.store, index)
    bundle = json.loads(data)
    report = verify_bundle(data, signer.verifier)
    assert report.ok, report.checks
    old = dict(bundle)
    old.pop("status")
    status = json.dumps(bundle["status"], separators=(",", ":"), sort_keys=True).encode()
    return {
        "revocations_carried": len(bundle.get("revocations", [])),
        "bundle_bytes": len(data),
        "bundle_gzip_bytes": len(gzip.compress(data, compresslevel=1, mtime=0)),
        "status_bytes": len(status),
        "without_status_bytes": len(json.dumps(old, separators=(",", ":"), sort_keys=True)),
        "subjects": len(bundle["status"]["subjects"]),
        "build_median_ms": _median_ms(lambda: build_bundle(registry.store, index), repeat),
        "verify_median_ms": _median_ms(lambda: verify_bundle(data, signer.verifier), repeat),
    }


def run(leaves: int, revocations: int, repeat: int, seed: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        url = f"sqlite:///{tmp}/bundle.db"
        migrations.upgrade(url)
        now = {"ms": 1_790_000_000_000}

        def clock() -> int:
            now["ms"] += 1
            return now["ms"]

        signer = Signer.generate("bench.example/bundle-log")
        registry = bench_registry(url, tmp, signer, clock)
        start = time.perf_counter()
        _grow(registry, signer, clock, with_revocations(make_leaves(leaves, seed), revocations, 0))
        grown_s = time.perf_counter() - start
        pki = make_pki(datetime.fromtimestamp(now["ms"] / 1000, UTC), intermediate=True)
        registry.add_vendor("Bench Camera Co.", "camera", pki.root.der, TOKEN)
        registry.enroll_device(pki.device.der, pki.chain_der)
        index = _capture(registry, pki, 1, now["ms"] - 60_000)
        rows = {"0": _row(registry, signer, index, repeat)}
        _revoke(registry, pki, now["ms"] - 120_000)
        rows["1"] = _row(registry, signer, index, repeat)
        for _ in range(2):
            _revoke(registry, pki, now["ms"] - 120_000)
        rows["3"] = _row(registry, signer, index, repeat)
        size = registry.store.latest_checkpoint().size
        subjects = len(registry.store.status_items(size))
        registry.close()
    return {"tree_size": size, "subjects_indexed": subjects, "grow_s": grown_s, "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leaves", type=int, default=1_000_000)
    parser.add_argument("--revocations", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("bench/results/bundle_bench.json"))
    args = parser.parse_args()
    print(f"growing a log to {args.leaves:,} entries, {args.revocations:,} revocations ...")
    result = run(args.leaves, args.revocations, args.repeat, args.seed)
    print(f"tree size {result['tree_size']:,}, {result['subjects_indexed']:,} subjects indexed")
    for revoked, row in result["rows"].items():
        cells = ", ".join(f"{name} {value:,.2f}" for name, value in row.items())
        print(f"  device revoked {revoked} time(s): {cells}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps({"args": vars(args) | {"out": str(args.out)}, **result}, indent=2)
    )


if __name__ == "__main__":
    main()
