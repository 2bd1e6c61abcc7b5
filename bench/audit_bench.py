"""Full audit of a large log over loopback HTTP: `prov audit replay`'s code, every signature checked.

    .venv/bin/python -m bench.audit_bench [--entries 1000000] [--workers 2]

Builds a SQLite log of one vendor, DEVICES devices (half ES256, half Ed25519, under one
intermediate) and `--entries` capture entries signed by them (pre-signed with bench.submit_bench's
generator, appended through the sequencer as admission would have logged them), serves it with
`prov serve` in its own process, and then, in this process, as an outside auditor:

* the peer: `ledger.replay.TreeReplay` alone - download every entry bundle and level-0 tile,
  hash every entry, check every tile and the root (no entry validation);
* the audit: `registry.audit.replay.replay_log` - the same, plus every entry re-validated with the
  admission rules and every capture signature verified in `--workers` processes;
* the ceiling: the same signatures verified by the same number of processes, nothing else
  (bench.submit_bench.verify_ceiling) - no audit that checks them all can pass it here.

Reports entries/s of each and the audit's ratio to both peers. Goal (issue 5): >= 10,000 entries/s for the audit on
this 2-core machine, so a million-entry log is audited in under two minutes.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import migrations
from bench.submit_bench import make_records, verify_ceiling
from ledger import LogConfig, LogStore, Signer, open_checkpoint, open_engine
from ledger.note import write_private_key_file
from ledger.remote import RemoteLog
from ledger.replay import ReplayState, TreeReplay
from registry import Registry, RegistrySettings
from registry.audit.replay import replay_log
from registry.entries.codec import canonical, capture_leaf
from registry.open import registry_sequencer
from testkit.pki import IssuedCert, make_device, make_intermediate, make_root
from tests.support.serving import free_port

DEVICES = 20
APPEND_BATCH = 10_000
RESULTS = Path(__file__).parent / "results" / "audit_bench.json"


def build_log(
    directory: Path, entries: int
) -> tuple[str, Signer, list[dict[str, Any]], list[IssuedCert]]:
    url = f"sqlite:///{directory / 'log.db'}"
    migrations.upgrade(url)
    store = LogStore(open_engine(url))
    signer = Signer.generate("bench.example/audit-log")
    write_private_key_file(directory / "log.key", signer.to_string(), "log")  # 0600, as served

    def clock() -> int:
        return time.time_ns() // 1_000_000

    sequencer = registry_sequencer(store, signer, clock)
    sequencer.initialize()
    now = datetime.now(UTC)
    root = make_root(now)
    ca = make_intermediate(root, now)
    devices = [
        make_device(ca, now, key="ES256" if i % 2 == 0 else "Ed25519", common_name=f"audit #{i}")
        for i in range(DEVICES)
    ]
    settings = RegistrySettings(
        log=LogConfig(directory, url, directory / "log.key"), admin_token="t"
    )
    registry = Registry(store, sequencer, settings, clock)
    registry.add_vendor("Audit Bench Camera Co.", "camera", root.der, "t")
    for device in devices:
        registry.enroll_device(device.der, [ca.der])
    records = make_records(devices, entries, clock() - 1000, seed=5)
    for start in range(0, entries, APPEND_BATCH):
        logged_at = clock()
        leaves = [
            capture_leaf(canonical(r["claim"]), r["sig"], logged_at)
            for r in records[start : start + APPEND_BATCH]
        ]
        sequencer.append(leaves)
    registry.close()
    store.engine.dispose()
    return url, signer, records, devices


def serve(directory: Path, url: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    prov = Path(sys.executable).parent / "prov"
    process = subprocess.Popen(
        [str(prov), "--data-dir", str(directory), "--database", url, "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    with RemoteLog(base) as remote:
        while True:
            try:
                remote.checkpoint()
                return process, base
            except Exception:  # noqa: BLE001 - not up yet
                if time.monotonic() > deadline:
                    process.kill()
                    raise
                time.sleep(0.2)


def tree_only(base: str, signer: Signer) -> dict[str, Any]:
    with RemoteLog(base) as remote:
        target = open_checkpoint(remote.checkpoint(), signer.verifier)
        started = time.perf_counter()
        findings = TreeReplay(remote, ReplayState()).run(target, lambda *_: None)
        seconds = time.perf_counter() - started
    assert not findings, findings[:3]
    return {
        "entries": target.size,
        "seconds": round(seconds, 2),
        "entries_per_s": round(target.size / seconds),
    }


def full_audit(base: str, signer: Signer, workers: int) -> dict[str, Any]:
    with RemoteLog(base) as remote:
        report = replay_log(remote, signer.verifier, workers=workers)
    assert report.ok, (report.invalid[:3], report.findings[:3])
    return {
        "entries": report.entries,
        "seconds": round(report.seconds, 2),
        "entries_per_s": round(report.entries_per_second),
        "counts": report.counts,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="audit-bench-") as tmp:
        directory = Path(tmp)
        started = time.perf_counter()
        url, signer, records, devices = build_log(directory, args.entries)
        ceiling = verify_ceiling(records, devices, args.workers)
        print(f"signature verification alone: {ceiling['records_per_s']:,.0f}/s", flush=True)
        del records
        print(
            f"built a {args.entries + 1 + DEVICES:,}-entry log in {time.perf_counter() - started:.0f} s",
            flush=True,
        )
        process, base = serve(directory, url)
        try:
            peer = tree_only(base, signer)
            print(
                f"tree only (download, hash, tiles, root): {peer['entries_per_s']:,} entries/s",
                flush=True,
            )
            audit = full_audit(base, signer, args.workers)
            print(
                f"full audit (+ every entry re-validated, every signature): {audit['entries_per_s']:,} entries/s",
                flush=True,
            )
        finally:
            process.terminate()
            process.wait(timeout=10)
    report = {
        "entries": args.entries,
        "workers": args.workers,
        "cpus": os.cpu_count(),
        "tree_only": peer,
        "full_audit": audit,
        "audit_vs_tree_only": round(audit["entries_per_s"] / peer["entries_per_s"], 3),
        "verification_alone_per_s": round(ceiling["records_per_s"]),
        "audit_vs_verification_alone": round(audit["entries_per_s"] / ceiling["records_per_s"], 3),
        "goal_entries_per_s": 10_000,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
