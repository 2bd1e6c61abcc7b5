"""What logging a scoped revocation (revocation/v2) costs: re-judging the captures it reaches.

    .venv/bin/python -m bench.scoped_revocation_bench [--cas 3] [--devices 300] [--captures 100]

A vendor has `--cas` device CAs, each with `--devices` enrolled devices (real device/v1
entries), and each device has `--captures` capture rows, half of them claimed after the
compromise date and a third naming firmware 2.00. The capture rows are written straight into
the derived tables (registry.admission.indexer.apply_captures, no log entries and no
signatures): the re-judging reads only those tables, and real signed captures at this count
would take the run hours to hash. Then, timed one by one on each database:

* the peer: a revocation/v1 of one device (it re-judges that device's captures);
* a revocation/v2 of each CA (it re-judges every capture under the CA);
* a revocation/v2 of the whole vendor limited to firmware 2.00 (every capture of the vendor
  is read; the third that names 2.00 get the caution).

Also: one lookup's cost before and after the CA revocations (`registry.lookup.rows.revoked`,
the one statement a lookup adds for revocations), and the bytes a bundle carries for a CA
revocation (its certificates) against a device revocation.
"""

import argparse
import json
import os
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import migrations
from bench.bundle_bench import bench_registry
from bench.log_bench import DEFAULT_POSTGRES, fresh_postgres
from ledger import Signer
from registry import Registry
from registry.admission import indexer
from registry.entries.sdk import device_id, sign_revocation
from registry.lookup import rows
from testkit.pki import DevicePKI, IssuedCert, make_device, make_intermediate, make_root
from testkit.revocations import revoke_ca, revoke_vendor

TOKEN = "bench-token"
FIRST_ROW = 10**9  # leaf indexes of the capture rows: far past the log's own entries
ROW_BATCH = 5_000
HOUR_MS = 3_600_000


def _claim_rows(devices: list[str], captures: int, since: int) -> list[dict[str, Any]]:
    entries = []
    for device in devices:
        for n in range(captures):
            at = since - HOUR_MS + n * (2 * HOUR_MS // captures)  # half after `since`
            claim = {
                "device": device, "counter": n + 1, "captured_at": at, "media_type": "image/png",
                "width": 640, "height": 480, "sha256": secrets.token_hex(32),
                "pdq": secrets.token_hex(32), "pdq_quality": 100, "phash": secrets.token_hex(8),
                "firmware": ("1.00", "2.00", "2.01")[n % 3],
            }  # fmt: skip
            entries.append({"kind": "capture/v1", "logged_at": at + 1000, "claim": claim,
                            "sig": "AA=="})  # fmt: skip
    return entries


def _revoking(registry: Registry, revocation: dict[str, object]) -> Callable[[], object]:
    return lambda: registry.revoke(revocation)


def _timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return (time.perf_counter() - start) * 1000


def run(url: str, tmp: Path, cas: int, devices: int, captures: int) -> dict[str, Any]:
    migrations.upgrade(url)
    now = {"ms": 1_790_000_000_000}

    def clock() -> int:
        now["ms"] += 1
        return now["ms"]

    signer = Signer.generate("bench.example/scoped-log")
    registry = bench_registry(url, tmp, signer, clock)
    moment = datetime.fromtimestamp(now["ms"] / 1000, UTC)
    root = make_root(moment, common_name="Bench Camera Co. Root")
    registry.add_vendor("Bench Camera Co.", "camera", root.der, TOKEN)
    authorities: list[IssuedCert] = []
    pkis: list[list[DevicePKI]] = []
    start = time.perf_counter()
    for c in range(cas):
        ca = make_intermediate(root, moment, common_name=f"Bench CA {c}")
        authorities.append(ca)
        pkis.append([])
        for d in range(devices):
            device = make_device(ca, moment, common_name=f"Bench #{c}-{d}")
            registry.enroll_device(device.der, [ca.der])
            pkis[-1].append(DevicePKI(root, (ca,), device))
    enrolled_s = time.perf_counter() - start
    since = now["ms"] - 10 * HOUR_MS
    ids = [device_id(p.device.certificate) for group in pkis for p in group]
    entries = _claim_rows(ids, captures, since)
    start = time.perf_counter()
    with registry.store.engine.begin() as connection:
        for low in range(0, len(entries), ROW_BATCH):
            indexer.apply_captures(connection, FIRST_ROW + low, entries[low : low + ROW_BATCH])
    rows_s = time.perf_counter() - start

    def lookup_ms() -> float:
        sample = ids[:: max(1, len(ids) // 50)][:50]
        with registry.store.engine.connect() as connection:
            timings = []
            for device in sample:
                start = time.perf_counter()
                rows.revoked(connection, {device})
                timings.append((time.perf_counter() - start) * 1000)
            return statistics.median(timings)

    lookup_before = lookup_ms()
    peer = []
    for group in pkis:
        pki = group[0]
        ca = pki.intermediates[0]
        revocation = sign_revocation(
            device_id(pki.device.certificate), since, "bench", ca.private_key, ca.certificate
        )
        peer.append(_timed(_revoking(registry, revocation)))
    scoped = [_timed(_revoking(registry, revoke_ca(group[1], 0, since))) for group in pkis]
    lookup_after = lookup_ms()
    firmware = _timed(lambda: registry.revoke(revoke_vendor(pkis[0][0], since, firmware=["2.00"])))
    ca_revocation = revoke_ca(pkis[0][1], 0, since)
    device_revocation = sign_revocation(
        ids[0], since, "bench", authorities[0].private_key, authorities[0].certificate
    )
    registry.close()
    return {
        "devices": len(ids),
        "capture_rows": len(entries),
        "enroll_s": enrolled_s,
        "rows_s": rows_s,
        "device_revocation_ms": statistics.median(peer),
        "ca_revocation_ms": statistics.median(scoped),
        "ca_revocation_samples_ms": scoped,
        "captures_per_ca": devices * captures,
        "vendor_firmware_revocation_ms": firmware,
        "lookup_revoked_ms_before": lookup_before,
        "lookup_revoked_ms_after": lookup_after,
        "ca_revocation_entry_bytes": len(json.dumps(ca_revocation, separators=(",", ":"))),
        "device_revocation_entry_bytes": len(json.dumps(device_revocation, separators=(",", ":"))),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cas", type=int, default=3)
    parser.add_argument("--devices", type=int, default=300)
    parser.add_argument("--captures", type=int, default=100)
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES)
    parser.add_argument("--skip", action="append", default=[], choices=["sqlite", "postgresql"])
    parser.add_argument("--out", type=Path, default=Path("bench/results/scoped_revocation.json"))
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp_dir:
        for database in ("sqlite", "postgresql"):
            if database in args.skip:
                continue
            drop: Callable[[], None] = lambda: None  # noqa: E731
            if database == "sqlite":
                url = f"sqlite:///{tmp_dir}/scoped.db"
            else:
                url, drop = fresh_postgres(args.postgres, f"prov_bench_{os.getpid()}_scoped")
            try:
                print(f"{database}: {args.cas} CAs x {args.devices} devices x "
                      f"{args.captures} captures ...", flush=True)  # fmt: skip
                results[database] = run(url, Path(tmp_dir), args.cas, args.devices, args.captures)
            finally:
                drop()
            for name, value in results[database].items():
                print(f"  {name}: {value}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps({"args": vars(args) | {"out": str(args.out)}, **results}, indent=2)
    )


if __name__ == "__main__":
    main()
