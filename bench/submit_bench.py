"""Sequencing capture records: signature verification, device lookup, replay and counter checks,
derived rows and inclusion proofs, on SQLite and PostgreSQL.

    .venv/bin/python -m bench.submit_bench --records 200000 [--batch 1000] [--workers 2]

Records are pre-signed before the clock starts (image hashing is measured by bench/hash_bench.py).
They come from 100 devices (ES256 and Ed25519 alternating) with random hashes, in batches of the
registry's default size, through Registry.submit_captures, the same call the API makes.
"""

import argparse
import base64
import json
import os
import random
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding

import migrations
from bench.log_bench import DEFAULT_POSTGRES, fresh_postgres
from ledger import LogConfig, LogStore, Signer, open_engine
from registry import Registry, RegistrySettings
from registry.entries.codec import b64, capture_message
from registry.entries.sdk import device_id, sign_message
from registry.entries.signatures import verify_batch
from registry.open import registry_sequencer
from testkit.pki import IssuedCert, make_device, make_intermediate, make_root

DEVICES = 100


def _sign_chunk(args: tuple[list[bytes], list[dict[str, Any]]]) -> list[dict[str, Any]]:
    keys_pem, claims = args
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    keys = {i: load_pem_private_key(pem, None) for i, pem in enumerate(keys_pem)}
    out = []
    for claim in claims:
        key = keys[claim.pop("_key")]
        out.append({"claim": claim, "sig": b64(sign_message(key, capture_message(claim)))})  # type: ignore[arg-type]
    return out


def make_records(
    devices: list[IssuedCert], count: int, now_ms: int, seed: int, pdq: str | None = None
) -> list[dict[str, Any]]:
    """`count` signed capture records, round-robin over `devices`, random hashes (every one
    sharing `pdq` if given: a cluster of identical pictures)."""
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    rnd = random.Random(seed)
    keys_pem = [
        d.private_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
        for d in devices
    ]
    ids = [device_id(d.certificate) for d in devices]
    claims = []
    for i in range(count):
        which = i % len(devices)
        claims.append(
            {
                "_key": which,
                "device": ids[which],
                "counter": i // len(devices) + 1,
                "captured_at": now_ms - (count - i),
                "media_type": "image/jpeg",
                "width": 4000,
                "height": 3000,
                "sha256": rnd.randbytes(32).hex(),
                "pdq": pdq or rnd.randbytes(32).hex(),
                "pdq_quality": 100,
                "phash": rnd.randbytes(8).hex(),
            }
        )
    chunks = [(keys_pem, claims[i : i + 5000]) for i in range(0, count, 5000)]
    with ProcessPoolExecutor(max_workers=os.cpu_count()) as pool:
        return [r for chunk in pool.map(_sign_chunk, chunks) for r in chunk]


def run(
    url: str,
    tmp: Path,
    records: list[dict[str, Any]],
    root: IssuedCert,
    ca: IssuedCert,
    devices: list[IssuedCert],
    batch: int,
    workers: int,
    clients: int,
) -> dict[str, float]:
    migrations.upgrade(url)
    store = LogStore(open_engine(url))
    signer = Signer.generate("bench.example/log")

    def clock() -> int:
        return time.time_ns() // 1_000_000

    registry_sequencer(store, signer, clock).initialize()
    settings = RegistrySettings(
        log=LogConfig(tmp, url, tmp / "unused.key"),
        admin_token="t",
        max_batch=batch,
        verify_workers=workers,
    )
    registry = Registry(store, registry_sequencer(store, signer, clock), settings, clock)
    registry.add_vendor("Bench Camera Co.", "camera", root.der, "t")
    for device in devices:
        registry.enroll_device(device.der, [ca.der])
    registry.submit_captures(records[:batch])  # warm up: worker processes, caches
    durations: list[float] = []

    finished: list[tuple[float, int]] = []  # (time, start) of each batch, to see any trend

    def submit(start: int) -> None:
        t = time.perf_counter()
        results = registry.submit_captures(records[start : start + batch])
        durations.append(time.perf_counter() - t)
        finished.append((time.perf_counter(), start))
        if not all(r.accepted for r in results):
            bad = next(r for r in results if not r.accepted)
            raise RuntimeError(f"record rejected in the benchmark: {bad.code} {bad.reason}")

    started = time.perf_counter()
    # Several clients at once, as a server sees them: one batch verifies its signatures in the
    # worker processes while another holds the write lock.
    with ThreadPoolExecutor(max_workers=clients) as submitters:
        list(submitters.map(submit, range(batch, len(records), batch)))
    total = time.perf_counter() - started
    registry.close()
    timed = len(records) - batch
    finished.sort()
    tenth = max(1, len(finished) // 10)
    first_tenth = (finished[tenth - 1][0] - started) / (tenth * batch)
    last_tenth = (finished[-1][0] - finished[-tenth - 1][0]) / (tenth * batch)
    return {
        "records_per_s": timed / total,
        "first_tenth_records_per_s": 1 / first_tenth,
        "last_tenth_records_per_s": 1 / last_tenth,
        "median_batch_records_per_s": batch / statistics.median(durations),
        "batch_p50_ms": statistics.median(durations) * 1000,
    }


def verify_ceiling(
    records: list[dict[str, Any]], devices: list[IssuedCert], workers: int
) -> dict[str, float]:
    """The peer: the same signatures checked by the same number of processes, nothing else.
    No submission can beat this rate on this machine."""
    from cryptography.hazmat.primitives.serialization import PublicFormat

    keys = {
        device_id(d.certificate): d.certificate.public_key().public_bytes(
            Encoding.DER, PublicFormat.SubjectPublicKeyInfo
        )
        for d in devices
    }
    jobs = [
        ("", keys[r["claim"]["device"]], capture_message(r["claim"]), base64.b64decode(r["sig"]))
        for r in records
    ]
    chunks = [jobs[i : i + 1000] for i in range(0, len(jobs), 1000)]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        list(pool.map(verify_batch, chunks[:2]))  # start the workers
        started = time.perf_counter()
        verdicts = [ok for chunk in pool.map(verify_batch, chunks) for ok in chunk]
        elapsed = time.perf_counter() - started
    assert all(verdicts)
    return {"records_per_s": len(jobs) / elapsed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--clients", type=int, default=2, help="concurrent submitting threads")
    parser.add_argument(
        "--postgres", default=os.environ.get("PROV_TEST_POSTGRES_URL", DEFAULT_POSTGRES)
    )
    parser.add_argument("--skip", action="append", default=[], choices=["sqlite", "postgresql"])
    parser.add_argument("--out", type=Path, default=Path("bench/results/submit_bench.json"))
    args = parser.parse_args()

    now = datetime.now(UTC)
    root = make_root(now)
    ca = make_intermediate(root, now)
    devices = [
        make_device(ca, now, key="ES256" if i % 2 == 0 else "Ed25519", common_name=f"bench #{i}")
        for i in range(DEVICES)
    ]
    started = time.perf_counter()
    records = make_records(devices, args.records + args.batch, time.time_ns() // 1_000_000, seed=1)
    print(
        f"pre-signed {len(records):,} records in {time.perf_counter() - started:.1f} s", flush=True
    )

    results: dict[str, dict[str, float]] = {
        "verify_only": verify_ceiling(records, devices, args.workers)
    }
    print(
        f"signature verification alone: {results['verify_only']['records_per_s']:,.0f} records/s",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as tmp:
        if "sqlite" not in args.skip:
            print("SQLite ...", flush=True)
            results["sqlite"] = run(
                f"sqlite:///{tmp}/log.db",
                Path(tmp),
                records,
                root,
                ca,
                devices,
                args.batch,
                args.workers,
                args.clients,
            )
        if "postgresql" not in args.skip:
            print("PostgreSQL ...", flush=True)
            url, drop = fresh_postgres(args.postgres)
            try:
                results["postgresql"] = run(
                    url,
                    Path(tmp),
                    records,
                    root,
                    ca,
                    devices,
                    args.batch,
                    args.workers,
                    args.clients,
                )
            finally:
                drop()
    print(
        f"\n{args.records:,} records, batches of {args.batch:,}, {args.workers} verify workers, {args.clients} clients"
    )
    for name, figures in results.items():
        print(f"  {name:<11}" + "  ".join(f"{k} {v:,.1f}" for k, v in figures.items()))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {"args": {k: str(v) for k, v in vars(args).items()}, "results": results}, indent=2
        )
    )


if __name__ == "__main__":
    main()
