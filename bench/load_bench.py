"""Load over loopback: concurrent HTTP clients against `prov serve`, every response checked.

    .venv/bin/python -m bench.load_bench [--entries 100000] [--seconds 10] [--runs 3]
        [--clients 32] [--drivers 2] [--workers 1] [--database URL]

Builds a log (a fresh SQLite file, or a fresh database on the PostgreSQL server of `--database`)
of one vendor, DEVICES devices and `--entries` signed captures admitted through
`Registry.submit_captures`, starts `prov serve` on it in its own process on a free loopback
port (PROV_RATE_LIMIT=0), and then, `--runs` times, each scenario for at most `--seconds`:

* ceiling: the driver against a trivial server answering a fixed 8 KiB body - what the client
  side alone can do on this machine;
* submit: `POST /v1/captures`, fresh pre-signed batches of `--batch` records; its peer, measured
  in the same run, is the same records appended in this process by `Registry.submit_captures`
  on a copy of the same log (two client threads, as bench/submit_bench.py);
* lookup: `POST /v1/lookup` with JSON hashes, half of registered captures (verdict
  `registered`), half random (`not-found`);
* proof: `GET /v1/log/proof/inclusion` of random leaves at the prefilled size, each proof
  verified against that checkpoint's root;
* tile: `GET /tile/<L>/<N>` of random full hash tiles (levels 0 and 1), 8,192 bytes each;
* bundle: `GET /tile/entries/<N>` of random full entry bundles, 256 entries each.

The clients are asyncio tasks, each with its own keep-alive connection (`Http`), spread over
`--drivers` processes. A response that fails its check fails the bench: no speed is reported
for errors. Goals (issue 7, client and server sharing this 2-core machine): >= 2,000 tile
reads/s, >= 1,000 proofs/s, >= 500 lookups/s, submissions >= 0.5 of the in-process rate.
Results and their commands: docs/benchmarks.md.
"""

import argparse
import asyncio
import base64
import json
import multiprocessing
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.engine import make_url

import migrations
from bench.log_bench import fresh_postgres, percentile
from bench.submit_bench import make_records
from ledger import LedgerError, LogConfig, LogStore, Signer, open_engine
from ledger.merkle import verify_inclusion
from ledger.note import write_private_key_file
from ledger.tiles import TILE_WIDTH, decode_entry_bundle
from registry import Registry, RegistrySettings
from registry.open import registry_sequencer
from testkit.pki import IssuedCert, make_device, make_intermediate, make_root
from tests.support.serving import free_port

DEVICES = 20
PREFILL_BATCH = 1000
RESULTS = Path(__file__).parent / "results" / "load_bench.json"
GOALS = {"tile": 2000.0, "proof": 1000.0, "lookup": 500.0}  # requests/s
SUBMIT_GOAL_RATIO = 0.5  # of the in-process sequencing rate
TRIVIAL_BODY = b"\x5a" * 8192


def now_ms() -> int:
    return time.time_ns() // 1_000_000


# --- the log -------------------------------------------------------------------------------


@dataclass
class Log:
    directory: Path
    url: str
    signer: Signer
    size: int
    root: bytes
    lookups: list[dict[str, Any]]  # JSON lookup bodies of registered captures
    pool: list[dict[str, Any]]  # signed records not yet submitted, for the submit scenario
    drop: list[Callable[[], None]] = field(default_factory=list)
    ca: IssuedCert | None = None  # issues the devices: bench.hostile_bench enrolls one more


def registry_on(directory: Path, url: str, signer: Signer, workers: int) -> Registry:
    store = LogStore(open_engine(url))
    settings = RegistrySettings(
        log=LogConfig(directory, url, directory / "log.key"),
        admin_token="t",
        max_batch=PREFILL_BATCH,
        verify_workers=workers,
    )
    return Registry(store, registry_sequencer(store, signer, now_ms), settings, now_ms)


def submit_all(
    registry: Registry, records: list[dict[str, Any]], batch: int, clients: int
) -> float:
    """Seconds to admit `records` in batches from `clients` threads; every record must pass."""

    def submit(start: int) -> None:
        results = registry.submit_captures(records[start : start + batch])
        bad = [r for r in results if not r.accepted]
        if bad:
            raise RuntimeError(f"record rejected: {bad[0].code} {bad[0].reason}")

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(submit, range(0, len(records), batch)))
    return time.perf_counter() - started


def build_log(
    directory: Path, database: str | None, entries: int, pool_size: int, workers: int
) -> Log:
    drops: list[Callable[[], None]] = []
    if database is None:
        url = f"sqlite:///{directory / 'log.db'}"
    else:
        url, drop = fresh_postgres(database, f"prov_load_{os.getpid()}")
        drops.append(drop)
    migrations.upgrade(url)
    signer = Signer.generate("bench.example/load-log")
    # 0600: `prov serve` refuses a log key that others can read.
    write_private_key_file(directory / "log.key", signer.to_string(), "log")
    registry_sequencer(LogStore(open_engine(url)), signer, now_ms).initialize()
    now = datetime.now(UTC)
    root = make_root(now)
    ca = make_intermediate(root, now)
    devices = [
        make_device(ca, now, key="ES256" if i % 2 == 0 else "Ed25519", common_name=f"load #{i}")
        for i in range(DEVICES)
    ]
    started = time.perf_counter()
    # Capture times in the past, spaced 1 ms apart, ending now: all within the future skew.
    records = make_records(devices, entries + pool_size, now_ms() - 1000, seed=7)
    print(f"signed {len(records):,} records in {time.perf_counter() - started:.0f} s", flush=True)
    registry = registry_on(directory, url, signer, workers)
    registry.add_vendor("Load Bench Camera Co.", "camera", root.der, "t")
    for device in devices:
        registry.enroll_device(device.der, [ca.der])
    seconds = submit_all(registry, records[:entries], PREFILL_BATCH, 2)
    print(f"admitted {entries:,} captures in {seconds:.0f} s", flush=True)
    latest = registry.store.latest_checkpoint()
    registry.close()
    registry.store.engine.dispose()
    lookups = [
        {"pdq": r["claim"]["pdq"], "pdq_quality": 100, "sha256": r["claim"]["sha256"]}
        for r in records[:entries]
    ]
    return Log(
        directory,
        url,
        signer,
        latest.size,
        latest.checkpoint.root_hash,
        lookups,
        records[entries:],
        drops,
        ca,
    )


def copy_log(log: Log, database: str | None) -> str:
    """A second log, identical to `log` as prefilled: where the in-process peer appends."""
    if database is None:
        path = log.directory / "peer.db"
        source = sqlite3.connect(log.url.removeprefix("sqlite:///"))
        target = sqlite3.connect(path)
        with target:
            source.backup(target)
        source.close()
        target.close()
        return f"sqlite:///{path}"
    template = make_url(log.url).database
    assert template is not None
    url, drop = fresh_postgres(database, f"prov_load_peer_{os.getpid()}", template)
    log.drop.append(drop)
    return url


# --- the server ----------------------------------------------------------------------------


@contextmanager
def serving(log: Log, workers: int, output: Path) -> Iterator[str]:
    port = free_port()
    prov = Path(sys.executable).parent / "prov"
    command = [str(prov), "--data-dir", str(log.directory), "--database", log.url, "serve",
               "--port", str(port)]  # fmt: skip
    if workers > 1:
        command += ["--workers", str(workers)]
    env = {**os.environ, "PROV_RATE_LIMIT": "0"}
    with output.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base, process)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until_up(base: str, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + 60
    with httpx.Client(timeout=5) as client:
        while True:
            try:
                if client.get(f"{base}/checkpoint").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if process is not None and process.poll() is not None:
                raise RuntimeError(f"the server exited with {process.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{base} did not answer within 60 s")
            time.sleep(0.2)


def trivial_server(port: int, ready: Any) -> None:
    """A keep-alive HTTP/1.1 server answering every request with the same 8 KiB: the driver's
    own ceiling is measured against it, as nothing on the server side costs anything here."""
    head = (
        b"HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: 8192\r\n\r\n"
    )

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")  # GETs only: no body to skip
                writer.write(head + TRIVIAL_BODY)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(answer, "127.0.0.1", port, backlog=1024)
        ready.set()
        async with server:
            await server.serve_forever()

    run_loop(main())


def run_loop(coroutine: Any) -> Any:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


# --- the driver ----------------------------------------------------------------------------


@dataclass
class Job:
    """What one driver process does: `scenario` against `base` with `clients` tasks until
    `deadline` (time.time()), starting together with the other drivers at `start`."""

    scenario: str
    base: str
    clients: int
    start: float
    deadline: float
    seed: int
    size: int = 0
    root: bytes = b""
    lookups: list[dict[str, Any]] = field(default_factory=list)
    batches: list[bytes] = field(default_factory=list)  # submit: JSON bodies
    batch_records: int = 0


@dataclass
class Outcome:
    latencies: list[float]  # seconds, of the requests that passed their check
    units: int  # records for submit, requests otherwise
    first_done: float
    last_done: float
    errors: int
    first_error: str


class CheckFailed(Exception):
    pass


def _b64(text_value: str) -> bytes:
    return base64.b64decode(text_value)


class Http:
    """One keep-alive HTTP/1.1 connection, written for the driver: httpx.AsyncClient tops out
    at ~1,000-1,600 requests/s per process here against a server that does nothing (run the
    `ceiling-httpx` scenario), below the goals, and would take the server's CPU to get there.
    Bodies come by Content-Length or chunked; gzip is accepted and decoded, as tlog clients do."""

    def __init__(self, base: str) -> None:
        url = httpx.URL(base)
        self.host, self.port = url.host, url.port or 80
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self.extra_headers = b""  # whole header lines, e.g. an X-Forwarded-For identity

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._reader = self._writer = None

    async def get(self, target: str) -> tuple[int, bytes]:
        return await self._request(f"GET {target} HTTP/1.1\r\n".encode(), b"")

    async def post(
        self, target: str, body: bytes, content_type: str = "application/json"
    ) -> tuple[int, bytes]:
        head = f"POST {target} HTTP/1.1\r\ncontent-type: {content_type}\r\n"
        return await self._request(head.encode(), body)

    async def _request(self, head: bytes, body: bytes) -> tuple[int, bytes]:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        assert self._reader is not None
        self._writer.write(
            head
            + self.extra_headers
            + b"host: %s\r\naccept-encoding: gzip\r\ncontent-length: %d\r\n\r\n"
            % (self.host.encode(), len(body))
            + body
        )
        raw = await self._reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = dict(
            (name.strip().lower(), value.strip())
            for name, _, value in (line.partition(":") for line in lines[1:] if line)
        )
        if headers.get("transfer-encoding") == "chunked":
            parts = []
            while size := int((await self._reader.readuntil(b"\r\n")).split(b";")[0], 16):
                parts.append(await self._reader.readexactly(size + 2))
            await self._reader.readuntil(b"\r\n")
            content = b"".join(part[:-2] for part in parts)
        else:
            content = await self._reader.readexactly(int(headers.get("content-length", "0")))
        if headers.get("connection") == "close":
            await self.close()
        if headers.get("content-encoding") == "gzip":
            content = zlib.decompress(content, wbits=31)
        return status, content


class HttpxClient:
    """The same interface over one shared httpx.AsyncClient, for the `ceiling-httpx` peer."""

    def __init__(self, client: httpx.AsyncClient, base: str) -> None:
        self._client, self._base = client, base

    async def close(self) -> None:
        pass

    async def get(self, target: str) -> tuple[int, bytes]:
        response = await self._client.get(self._base + target)
        return response.status_code, response.content

    async def post(self, target: str, body: bytes) -> tuple[int, bytes]:
        response = await self._client.post(
            self._base + target, content=body, headers={"content-type": "application/json"}
        )
        return response.status_code, response.content


Client = Http | HttpxClient


def request_maker(job: Job, rnd: random.Random) -> Callable[[Client], Awaitable[int]]:
    """The scenario's request: sends it, checks the answer, returns the units it did."""
    full_tiles = job.size // TILE_WIDTH
    level1 = max(1, full_tiles // TILE_WIDTH)
    batches = iter(job.batches)

    async def ceiling(client: Client) -> int:
        status, body = await client.get(f"/tile/0/{_tile_index(rnd.randrange(full_tiles))}")
        if status != 200 or body != TRIVIAL_BODY:
            raise CheckFailed(f"trivial server: {status}")
        return 1

    async def tile(client: Client) -> int:
        if rnd.random() < full_tiles / (full_tiles + level1) or full_tiles < TILE_WIDTH:
            path = f"/tile/0/{_tile_index(rnd.randrange(full_tiles))}"
        else:
            path = f"/tile/1/{_tile_index(rnd.randrange(level1))}"
        status, body = await client.get(path)
        if status != 200 or len(body) != TILE_WIDTH * 32:
            raise CheckFailed(f"{path}: {status}, {len(body)} bytes")
        return 1

    async def bundle(client: Client) -> int:
        path = f"/tile/entries/{_tile_index(rnd.randrange(full_tiles))}"
        status, body = await client.get(path)
        if status != 200 or len(decode_entry_bundle(body)) != TILE_WIDTH:
            raise CheckFailed(f"{path}: {status}")
        return 1

    async def proof(client: Client) -> int:
        index = rnd.randrange(job.size)
        status, body = await client.get(
            f"/v1/log/proof/inclusion?index={index}&tree_size={job.size}"
        )
        if status != 200:
            raise CheckFailed(f"proof of {index}: {status} {body[:200]!r}")
        answer = json.loads(body)
        verify_inclusion(
            _b64(answer["leaf_hash"]),
            index,
            job.size,
            [_b64(h) for h in answer["inclusion_path"]],
            job.root,
        )
        return 1

    async def lookup(client: Client) -> int:
        if rnd.random() < 0.5:
            query, expected = rnd.choice(job.lookups), "registered"
        else:
            query = {
                "pdq": rnd.randbytes(32).hex(),
                "pdq_quality": 100,
                "sha256": rnd.randbytes(32).hex(),
            }
            expected = "not-found"
        status, body = await client.post("/v1/lookup", json.dumps(query).encode())
        if status != 200:
            raise CheckFailed(f"lookup: {status} {body[:200]!r}")
        verdict = json.loads(body)["verdict"]
        if verdict != expected:
            raise CheckFailed(f"lookup: verdict {verdict!r}, expected {expected!r}")
        return 1

    async def submit(client: Client) -> int:
        body = next(batches, None)
        if body is None:
            raise StopAsyncIteration
        status, answer = await client.post("/v1/captures", body)
        if status != 200:
            raise CheckFailed(f"submit: {status} {answer[:300]!r}")
        accepted = json.loads(answer)["accepted"]
        if accepted != job.batch_records:
            raise CheckFailed(f"submit: {accepted} of {job.batch_records} records accepted")
        return int(accepted)

    makers: dict[str, Callable[[Client], Awaitable[int]]] = {
        "ceiling": ceiling, "ceiling-httpx": ceiling, "tile": tile, "bundle": bundle,
        "proof": proof, "lookup": lookup, "submit": submit,
    }  # fmt: skip
    return makers[job.scenario]


def _tile_index(n: int) -> str:
    """tlog-tiles path form of a tile index: groups of three digits, all but the last x-prefixed."""
    digits = f"{n:03d}"
    while len(digits) % 3:
        digits = "0" + digits
    groups = [digits[i : i + 3] for i in range(0, len(digits), 3)]
    return "/".join([f"x{g}" for g in groups[:-1]] + [groups[-1]])


async def drive(job: Job) -> Outcome:
    rnd = random.Random(job.seed)
    make = request_maker(job, rnd)
    outcome = Outcome([], 0, 0.0, 0.0, 0, "")
    limits = httpx.Limits(max_connections=job.clients, max_keepalive_connections=job.clients)
    async with httpx.AsyncClient(limits=limits, timeout=120) as shared:
        clients: list[Client] = [
            HttpxClient(shared, job.base) if job.scenario == "ceiling-httpx" else Http(job.base)
            for _ in range(job.clients)
        ]
        await asyncio.sleep(max(0.0, job.start - time.time()))

        async def worker(client: Client) -> None:
            while time.time() < job.deadline:
                started = time.perf_counter()
                try:
                    units = await make(client)
                except StopAsyncIteration:
                    return
                except (CheckFailed, OSError, asyncio.IncompleteReadError, ValueError,
                        KeyError, httpx.HTTPError, LedgerError) as exc:  # fmt: skip
                    outcome.errors += 1
                    outcome.first_error = outcome.first_error or f"{type(exc).__name__}: {exc}"
                    await client.close()
                    continue
                done = time.time()
                outcome.latencies.append(time.perf_counter() - started)
                outcome.units += units
                outcome.first_done = outcome.first_done or done
                outcome.last_done = done

        await asyncio.gather(*(worker(c) for c in clients))
        for client in clients:
            await client.close()
    return outcome


def drive_in_process(job: Job) -> Outcome:
    result: Outcome = run_loop(drive(job))
    return result


@dataclass
class Measured:
    per_s: float  # units (records for submit, requests otherwise) per second
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int

    def row(self) -> dict[str, float]:
        return {k: round(v, 2) for k, v in vars(self).items()}


def run_scenario(
    scenario: str,
    base: str,
    args: argparse.Namespace,
    log: Log,
    seed: int,
    batches: list[bytes] | None = None,
) -> Measured:
    drivers = args.drivers
    clients = args.submit_clients if scenario == "submit" else args.clients
    drivers = min(drivers, clients)
    start = time.time() + 1.0  # the processes start and connect first
    jobs = []
    for d in range(drivers):
        job = Job(scenario, base, max(1, clients // drivers), start, start + args.seconds,
                  seed * 1000 + d, log.size, log.root)  # fmt: skip
        if scenario == "lookup":
            job.lookups = log.lookups
        if batches is not None:
            job.batches = batches[d::drivers]
            job.batch_records = args.batch
        jobs.append(job)
    context = multiprocessing.get_context("spawn")
    with context.Pool(drivers) as pool:
        outcomes = pool.map(drive_in_process, jobs)
    errors = sum(o.errors for o in outcomes)
    latencies = [x for o in outcomes for x in o.latencies]
    if errors:
        first = next(o.first_error for o in outcomes if o.errors)
        raise RuntimeError(f"{scenario}: {errors} responses failed their check, e.g. {first}")
    if not latencies:
        raise RuntimeError(f"{scenario}: no request completed in {args.seconds} s")
    # Submissions end when the batches run out; the others at the deadline.
    elapsed = max(o.last_done for o in outcomes) - start
    units = sum(o.units for o in outcomes)
    return Measured(
        units / elapsed,
        len(latencies) / elapsed,
        percentile(latencies, 50) * 1000,
        percentile(latencies, 99) * 1000,
        len(latencies),
        errors,
    )


# --- the whole run -------------------------------------------------------------------------


def encode_batches(records: list[dict[str, Any]], batch: int) -> list[bytes]:
    return [
        json.dumps({"records": records[i : i + batch]}).encode()
        for i in range(0, len(records), batch)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--entries", type=int, default=100_000, help="captures in the log first")
    parser.add_argument("--seconds", type=float, default=10.0, help="per scenario and run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--clients", type=int, default=32, help="concurrent requests, reads")
    parser.add_argument("--submit-clients", type=int, default=4, help="concurrent submissions")
    parser.add_argument("--drivers", type=int, default=2, help="client processes")
    parser.add_argument("--batch", type=int, default=1000, help="records per submission")
    parser.add_argument(
        "--submit-records", type=int, default=20_000, help="records submitted per run"
    )
    parser.add_argument("--workers", type=int, default=1, help="prov serve --workers")
    parser.add_argument("--verify-workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument(
        "--database", help="a PostgreSQL URL to create the log's database on [fresh SQLite file]"
    )
    parser.add_argument(
        "--scenarios",
        default="ceiling,submit,lookup,proof,tile,bundle",
        help="comma-separated subset to run",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    scenarios = args.scenarios.split(",")
    if args.submit_records % args.batch:
        parser.error("--submit-records must be a multiple of --batch")
    pool_size = args.submit_records * args.runs if "submit" in scenarios else 0

    results: dict[str, list[dict[str, float]]] = {}

    def record(name: str, measured: Measured) -> None:
        results.setdefault(name, []).append(measured.row())
        print(
            f"  {name:<8} {measured.per_s:>10,.0f}/s  {measured.requests_per_s:>8,.0f} req/s  "
            f"p50 {measured.p50_ms:7.2f} ms  p99 {measured.p99_ms:7.2f} ms  "
            f"({measured.requests:,} requests)",
            flush=True,
        )

    with tempfile.TemporaryDirectory(prefix="load-bench-") as tmp:
        directory = Path(tmp)
        log = build_log(directory, args.database, args.entries, pool_size, args.verify_workers)
        try:
            peer_url = copy_log(log, args.database) if "submit" in scenarios else ""
            peer = (
                registry_on(directory, peer_url, log.signer, args.verify_workers)
                if peer_url
                else None
            )
            if peer is not None:  # start its verify workers outside the measurement
                peer.store.latest_checkpoint()
            trivial_port = free_port()
            ready = multiprocessing.get_context("spawn").Event()
            trivial = multiprocessing.get_context("spawn").Process(
                target=trivial_server, args=(trivial_port, ready), daemon=True
            )
            trivial.start()
            ready.wait(30)
            with serving(log, args.workers, directory / "server.log") as base:
                for run in range(args.runs):
                    print(f"run {run + 1} of {args.runs}", flush=True)
                    for scenario in scenarios:
                        if scenario == "ceiling":
                            trivial_base = f"http://127.0.0.1:{trivial_port}"
                            record("ceiling", run_scenario("ceiling", trivial_base, args, log, run))
                        elif scenario == "ceiling-httpx":
                            trivial_base = f"http://127.0.0.1:{trivial_port}"
                            record(scenario, run_scenario(scenario, trivial_base, args, log, run))
                        elif scenario == "submit":
                            assert peer is not None
                            chunk = log.pool[
                                run * args.submit_records : (run + 1) * args.submit_records
                            ]
                            seconds = submit_all(peer, chunk, args.batch, 2)
                            rate = len(chunk) / seconds
                            results.setdefault("in_process", []).append({"per_s": round(rate, 2)})
                            print(f"  {'peer':<8} {rate:>10,.0f}/s  (in process)", flush=True)
                            record(
                                "submit",
                                run_scenario(
                                    "submit",
                                    base,
                                    args,
                                    log,
                                    run,
                                    encode_batches(chunk, args.batch),
                                ),
                            )
                        else:
                            record(scenario, run_scenario(scenario, base, args, log, run))
            trivial.terminate()
            if peer is not None:
                peer.close()
                peer.store.engine.dispose()
        finally:
            for drop in log.drop:
                drop()
    summary = summarize(results)
    report = {
        "args": {k: str(v) for k, v in vars(args).items()},
        "cpus": os.cpu_count(),
        "runs": results,
        "medians": summary,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


def summarize(results: dict[str, list[dict[str, float]]]) -> dict[str, dict[str, Any]]:
    summary: dict[str, dict[str, Any]] = {}
    for name, rows in results.items():
        summary[name] = {
            key: round(statistics.median(row[key] for row in rows), 2) for key in rows[0]
        }
        if name in GOALS:
            summary[name]["goal_per_s"] = GOALS[name]
            summary[name]["met"] = summary[name]["per_s"] >= GOALS[name]
    if "submit" in results and "in_process" in results:
        ratios = [
            s["per_s"] / p["per_s"]
            for s, p in zip(results["submit"], results["in_process"], strict=True)
        ]
        summary["submit"]["ratio_to_in_process"] = round(statistics.median(ratios), 3)
        summary["submit"]["met"] = statistics.median(ratios) >= SUBMIT_GOAL_RATIO
    return summary


if __name__ == "__main__":
    main()
