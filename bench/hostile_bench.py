"""Hostile traffic (issue 16): honest clients beside adversarial ones against `prov serve`.

    .venv/bin/python -m bench.hostile_bench [--seconds 60] [--database URL|sqlite] [--entries N]
        [--quick] [--rate-limit auto|on|off]

For each database (default: a fresh SQLite file, then a fresh database on the local PostgreSQL
server), builds a log of signed captures (bench.load_bench.build_log), starts
`prov serve --workers 2` on it and runs two phases of `--seconds` each on one server:

* calm: honest clients only - JSON lookups (half registered), inclusion proofs (verified
  against the checkpoint), paced pre-signed submissions (every acknowledged leaf recorded);
* hostile: the same honest load beside adversaries (bench.hostile_clients): decompression-heavy
  uploads (a 9,400 x 9,400 one-colour PNG and JPEG), `?at=` scans of /v1/clusters and
  /origins, a cluster of 20,000 captures sharing one PDQ (submitted over HTTP by an attacker
  device between the phases) hammered through /v1/clusters and lookups of that PDQ, oversized
  and malformed bodies, and slowloris connections.

The server's RSS (VmRSS summed over its process tree) is sampled every 0.5 s. Afterwards every
acknowledged record is looked for in the log's entry bundles. The goals, each PASS or MISS:
honest lookups' p99 within 3x calm; honest throughput (each kind) at least half of calm;
server RSS under 2 GiB; no 5xx (503 `overloaded` is the decode gate's designed answer and is
reported apart); every acknowledged record found. Prints JSON lines and a table; never fails.

Rate limit: `auto` runs the server's default limit with PROV_TRUSTED_PROXIES=127.0.0.1 if the
server has that setting, each honest request from one of many X-Forwarded-For users and each
attack from its own address; without the setting all clients would share 127.0.0.1's bucket,
so `auto` turns the limit off (PROV_RATE_LIMIT=0) for both phases. Results: docs/benchmarks.md.
"""

import argparse
import base64
import io
import json
import multiprocessing
import os
import random
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

from bench.hostile_clients import Side, Tally, fives, rows, run_adversaries, run_honest, statuses_of
from bench.load_bench import Job, Log, build_log, encode_batches, now_ms
from bench.log_bench import percentile
from bench.submit_bench import make_records
from ledger.merkle import hash_leaf
from ledger.tiles import TILE_WIDTH, decode_entry_bundle, entries_path
from testkit.pki import make_device
from tests.support.serving import Server

POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
RESULTS = Path(__file__).parent / "results" / "hostile_bench.jsonl"
ROOT = Path(__file__).parent.parent
SIDE_PIXELS = 9400  # 88.4 Mpx: just under Pillow's (and today's lookup's) 89.5 Mpx cap
CLUSTER = 20_000
HONEST = {"lookup": 12, "proof": 8, "submit": 2}
ATTACKS = {"decode-png": 2, "decode-jpeg": 1, "at-scan": 2, "cluster": 2, "oversized": 1,
           "malformed": 1, "slowloris": 200}  # fmt: skip
SUBMIT_BATCH, SUBMIT_INTERVAL_S = 50, 0.5  # per submitter: 100 records/s
GIB = 1 << 30
STARTS = 3


class ServerDidNotStart(Exception):
    pass


def trusted_proxies_supported() -> bool:
    """Whether the server reads PROV_TRUSTED_PROXIES (grep of its settings and middleware)."""
    sources = [*(ROOT / "registry").rglob("*.py"), *(ROOT / "api").rglob("*.py")]
    return any("PROV_TRUSTED_PROXIES" in path.read_text() for path in sources)


def images() -> dict[str, bytes]:
    """One-colour pictures that compress to almost nothing and decode to 88 Mpx."""
    picture = Image.new("RGB", (SIDE_PIXELS, SIDE_PIXELS), (200, 40, 90))
    files = {}
    for name, fmt, options in (("decode-png", "PNG", {"compress_level": 9}),
                               ("decode-jpeg", "JPEG", {"quality": 90})):  # fmt: skip
        out = io.BytesIO()
        picture.save(out, fmt, **options)
        files[name] = out.getvalue()
    return files


class TreeRss:
    """The largest VmRSS, summed over a process and its descendants, per phase label."""

    def __init__(self, pid: int, interval: float = 0.5) -> None:
        self.pid, self.interval = pid, interval
        self.phase = "setup"
        self.peaks: dict[str, int] = {}
        self.cpu: dict[str, dict[str, float]] = {}  # phase -> CPU seconds by server / clients
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            total = sum(vm_rss(pid) for pid in tree(self.pid))
            self.peaks[self.phase] = max(self.peaks.get(self.phase, 0), total)
            self._stop.wait(self.interval)

    def __enter__(self) -> "TreeRss":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


def vm_rss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def serve(log: Log, args: argparse.Namespace, forwarded: bool) -> Server:
    env = {**os.environ}
    if forwarded:
        env["PROV_TRUSTED_PROXIES"] = "127.0.0.1"
    if not (forwarded or args.rate_limit == "on"):
        env["PROV_RATE_LIMIT"] = "0"
    arguments = ["--data-dir", str(log.directory), "--database", log.url, "serve",
                 "--workers", "2"]  # fmt: skip
    # On a loaded machine uvicorn's supervisor can kill a worker that is not up within its 5 s
    # health check, again and again: the bench tries three times, then reports it.
    for attempt in range(1, STARTS + 1):
        try:
            return Server(arguments, "/checkpoint", log.directory / "server.log", env).start(90)
        except AssertionError as exc:
            print(f"prov serve --workers 2 did not come up (attempt {attempt})", flush=True)
            failure = str(exc)[-400:]
    raise ServerDidNotStart(failure)


def plant_cluster(base: str, log: Log, forwarded: bool) -> tuple[str, Tally]:
    """An attacker device enrolls and submits CLUSTER captures sharing one PDQ over HTTP."""
    assert log.ca is not None
    device = make_device(log.ca, datetime.now(UTC), key="Ed25519", common_name="hostile cluster")
    pdq = random.Random(16).randbytes(32).hex()
    records = make_records([device], CLUSTER, now_ms() - CLUSTER - 1000, seed=16, pdq=pdq)
    headers = {"x-forwarded-for": "203.0.113.99"} if forwarded else {}
    tally = Tally()
    with httpx.Client(base_url=base, timeout=300, headers=headers) as client:
        b64 = base64.b64encode
        enrollment = {"cert": b64(device.der).decode(), "chain": [b64(log.ca.der).decode()]}
        enrolled = client.post("/v1/devices", json=enrollment)
        tally.statuses[str(enrolled.status_code)] += 1
        for body in encode_batches(records, 1000):
            answer = client.post("/v1/captures", content=body,
                                 headers={"content-type": "application/json"})  # fmt: skip
            tally.statuses[str(answer.status_code)] += 1
            if answer.status_code == 200:
                results = answer.json()["results"]
                tally.acks += [(r["index"], r["leaf_hash"]) for r in results if r["accepted"]]
    tally.units = len(tally.acks)
    return pdq, tally


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of the processes alive now (a process that exited is not counted)."""
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            continue
    return ticks / os.sysconf("SC_CLK_TCK")


def cpu_split(server_pid: int) -> dict[str, float]:
    """CPU seconds so far of the server's process tree and of the bench's own client processes
    (the rest of this process's descendants): who used the machine's two cores."""
    server = tree(server_pid)
    clients = [pid for pid in tree(os.getpid()) if pid not in server]
    return {"server": cpu_seconds(server), "clients": cpu_seconds(clients)}


def run_phase(
    pool: Any, sides: list[tuple[str, Side]], rss: TreeRss, phase: str
) -> dict[str, dict[str, Tally]]:
    rss.phase = phase
    before = cpu_split(rss.pid)
    pending = [(name, pool.apply_async(run_honest if name == "honest" else run_adversaries,
                                       (side,))) for name, side in sides]  # fmt: skip
    result = {name: job.get() for name, job in pending}
    after = cpu_split(rss.pid)
    rss.cpu[phase] = {who: round(after[who] - before[who], 1) for who in after}
    rss.phase = "after"
    return result


def find_acked(base: str, acks: list[tuple[int, str]]) -> tuple[int, int]:
    """(found, missing): each acknowledged leaf read back from the entry bundles."""
    by_bundle: dict[int, list[tuple[int, str]]] = {}
    for index, leaf in acks:
        by_bundle.setdefault(index // TILE_WIDTH, []).append((index, leaf))
    found = missing = 0
    with httpx.Client(base_url=base, timeout=120) as client:
        size = client.get("/v1/log").json()["tree_size"]
        for bundle, wanted in sorted(by_bundle.items()):
            width = min(TILE_WIDTH, size - bundle * TILE_WIDTH)
            entries = []
            if width > 0:
                answer = client.get("/" + entries_path(bundle, width))
                entries = decode_entry_bundle(answer.content) if answer.status_code == 200 else []
            for index, leaf in wanted:
                offset = index % TILE_WIDTH
                ok = offset < len(entries) and hash_leaf(entries[offset]) == base64.b64decode(leaf)
                found, missing = found + ok, missing + (not ok)
    return found, missing


def measured(tally: Tally, seconds: float) -> dict[str, Any]:
    lat = tally.latencies
    return {
        "per_s": round(tally.units / seconds, 1),
        "p50_ms": round(percentile(lat, 50) * 1000, 1) if lat else None,
        "p99_ms": round(percentile(lat, 99) * 1000, 1) if lat else None,
        "requests": len(lat),
        "failures": tally.failures,
        "first_failure": tally.first_failure,
        "statuses": dict(tally.statuses),
    }


def goals(
    calm: dict[str, Any], hostile: dict[str, Any], extra: dict[str, Any]
) -> list[dict[str, Any]]:
    """Each goal of issue 16: its measured value, its bound, PASS or MISS."""
    rows_: list[dict[str, Any]] = []

    def goal(name: str, value: Any, bound: str, met: bool) -> None:
        rows_.append({"goal": name, "measured": value, "bound": bound, "met": met})

    calm_p99, hostile_p99 = calm["lookup"]["p99_ms"], hostile["lookup"]["p99_ms"]
    ratio = round(hostile_p99 / calm_p99, 2) if calm_p99 and hostile_p99 else None
    goal("honest lookup p99 / calm p99", ratio, "<= 3", ratio is not None and ratio <= 3)
    for kind in ("lookup", "proof", "submit"):
        share = round(hostile[kind]["per_s"] / calm[kind]["per_s"], 2) if calm[kind]["per_s"] else 0
        goal(f"honest {kind} throughput / calm", share, ">= 0.5", share >= 0.5)
    rss = extra["max_rss_bytes"]
    goal("server RSS max, MiB", rss >> 20, "< 2048", rss < 2 * GIB)
    honest_5xx, adversarial_5xx = extra["honest_5xx"], extra["adversarial_5xx"]
    goal("5xx other than 503 (honest + adversarial)", f"{honest_5xx} + {adversarial_5xx}", "0",
         honest_5xx + adversarial_5xx == 0)  # fmt: skip
    goal("acknowledged records found", f"{extra['found']} of {extra['found'] + extra['missing']}",
         "all", extra["missing"] == 0 and extra["found"] > 0)  # fmt: skip
    return rows_


def run_database(database: str | None, args: argparse.Namespace, emit: Any) -> None:
    label = "sqlite" if database is None else "postgresql"
    forwarded = args.rate_limit != "off" and trusted_proxies_supported()
    pictures = images()
    per_phase = int(HONEST["submit"] * SUBMIT_BATCH / SUBMIT_INTERVAL_S * (args.seconds + 5))
    with tempfile.TemporaryDirectory(prefix="hostile-bench-") as tmp:
        log = build_log(Path(tmp), database, args.entries, 2 * per_phase, 2)
        server = serve(log, args, forwarded)
        context = multiprocessing.get_context("spawn")
        try:
            assert server.process is not None
            with TreeRss(server.process.pid) as rss, context.Pool(2) as pool:
                job = Job("lookup", server.base, 0, 0.0, 0.0, 16, log.size, log.root, log.lookups)
                batches = encode_batches(log.pool, SUBMIT_BATCH)

                def side(phase: int, clients: dict[str, int], **more: Any) -> Side:
                    start = time.time() + 5.0  # the spawned processes import and connect first
                    half = len(batches) // 2
                    return Side(server.base, start, start + args.seconds, 16 + phase, forwarded,
                                clients, job, batches[phase * half : (phase + 1) * half],
                                SUBMIT_INTERVAL_S, **more)  # fmt: skip

                calm = run_phase(pool, [("honest", side(0, HONEST))], rss, "calm")
                rss.phase = "cluster"
                pdq, cluster = plant_cluster(server.base, log, forwarded)
                hostile = run_phase(pool, [
                    ("honest", side(1, HONEST)),
                    ("adversarial", side(1, ATTACKS, cluster_pdq=pdq, images=pictures)),
                ], rss, "hostile")  # fmt: skip
                acks = [a for phase in (calm, hostile) for a in phase["honest"]["submit"].acks]
                found, missing = find_acked(server.base, acks + cluster.acks)
        finally:
            server.stop()
            # The server's own account (tracebacks, worker restarts), kept past the temp dir.
            (args.out.parent / f"hostile_server_{label}.log").write_bytes(
                (Path(tmp) / "server.log").read_bytes()
            )
            for drop in log.drop:
                drop()
    report(label, args, forwarded, calm, hostile, cluster, rss, found, missing, emit)


def report(label: str, args: argparse.Namespace, forwarded: bool, calm: dict[str, dict[str, Tally]],
           hostile: dict[str, dict[str, Tally]], cluster: Tally, rss: TreeRss,
           found: int, missing: int, emit: Any) -> None:  # fmt: skip
    peaks = rss.peaks
    base = {"bench": "hostile", "database": label, "seconds": args.seconds,
            "entries": args.entries, "forwarded_identities": forwarded,
            "rate_limit": forwarded or args.rate_limit == "on"}  # fmt: skip
    phases = {"calm": calm, "hostile": hostile}
    figures = {p: {k: measured(t, args.seconds) for k, t in r["honest"].items()}
               for p, r in phases.items()}  # fmt: skip
    for phase, kinds in figures.items():
        for kind, row in kinds.items():
            emit({**base, "phase": phase, "side": "honest", "kind": kind, **row})
    adversarial = statuses_of(hostile["adversarial"])
    emit(
        {
            **base,
            "phase": "hostile",
            "side": "adversarial",
            "statuses": rows(hostile["adversarial"]),
        }
    )
    emit({**base, "phase": "cluster-setup", "side": "adversarial", "accepted": cluster.units,
          "statuses": dict(cluster.statuses)})  # fmt: skip
    honest_statuses = statuses_of(calm["honest"]) + statuses_of(hostile["honest"])
    honest_5xx, honest_503 = fives(honest_statuses)
    adversarial_5xx, adversarial_503 = fives(adversarial + cluster.statuses)
    extra = {"max_rss_bytes": max(peaks.values(), default=0), "rss_peaks_mib":
             {k: v >> 20 for k, v in peaks.items()}, "honest_5xx": honest_5xx,
             "adversarial_5xx": adversarial_5xx, "honest_503": honest_503,
             "adversarial_503": adversarial_503, "found": found, "missing": missing,
             "cpu_seconds": rss.cpu}  # fmt: skip
    table = goals(figures["calm"], figures["hostile"], extra)
    emit({**base, "summary": extra, "goals": table})
    limit = "on, shared 127.0.0.1" if base["rate_limit"] else "off"
    limit = "on, X-Forwarded-For identities" if forwarded else limit
    print(f"\n{label}: {args.seconds:g} s a phase, {args.entries:,} captures, rate limit {limit}")
    print(f"  {'kind':<8} {'calm/s':>9} {'p50':>8} {'p99':>8} | {'hostile/s':>9} {'p50':>8} "
          f"{'p99':>8}")  # fmt: skip
    for kind in ("lookup", "proof", "submit"):
        c, h = figures["calm"][kind], figures["hostile"][kind]
        print(
            f"  {kind:<8} {c['per_s']:>9} {c['p50_ms']!s:>8} {c['p99_ms']!s:>8} | "
            f"{h['per_s']:>9} {h['p50_ms']!s:>8} {h['p99_ms']!s:>8}"
        )
    for kind, statuses in rows(hostile["adversarial"]).items():
        print(f"  attack {kind:<12} {dict(sorted(statuses.items()))}")
    failed = {k: t.failures for k, t in hostile["honest"].items()}
    print(f"  honest requests unanswered or failing their check, hostile phase: {failed}")
    print(
        f"  503 overloaded (reported apart from the 5xx goal): honest {honest_503}, "
        f"adversarial {adversarial_503}; RSS peaks MiB {extra['rss_peaks_mib']}"
    )
    print(f"  CPU seconds by phase (server tree, bench clients): {rss.cpu}")
    for row in table:
        mark = "PASS" if row["met"] else "MISS <<<"
        print(f"  {row['goal']:<44} {row['measured']!s:>14}  ({row['bound']})  {mark}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=60.0, help="per phase")
    parser.add_argument("--entries", type=int, default=50_000, help="captures in the log first")
    databases = "'sqlite' or a PostgreSQL URL (repeatable) [sqlite, then the local PostgreSQL]"
    parser.add_argument("--database", action="append", help=databases)
    parser.add_argument("--quick", action="store_true", help="10 s phases, 10,000 captures")
    parser.add_argument("--rate-limit", choices=["auto", "on", "off"], default="auto")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.entries = 10.0, 10_000
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("a") as sink:

        def emit(row: dict[str, Any]) -> None:
            line = json.dumps(row, sort_keys=True)
            print(line, flush=True)
            sink.write(line + "\n")
            sink.flush()

        for database in args.database or ["sqlite", POSTGRES]:
            try:
                run_database(None if database == "sqlite" else database, args, emit)
            except ServerDidNotStart as exc:
                emit({"bench": "hostile", "database": database, "error": f"no server: {exc}"})


if __name__ == "__main__":
    main()
