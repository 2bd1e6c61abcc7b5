"""The clients of bench/hostile_bench.py: honest ones (measured) and adversaries (counted).

Each side runs in its own process (`run_honest`, `run_adversaries`), an asyncio loop whose
tasks own one connection each (bench.load_bench.Http). Honest lookups and proofs are load_bench's
own checked requests; every answer's status is tallied, so a 429 or a 5xx is counted, not fatal.
Adversaries count their answers by status: 400/413/429/503 are the server defending itself.
"""

import asyncio
import json
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from itertools import cycle
from typing import Any

from bench.load_bench import CheckFailed, Http, Job, request_maker, run_loop
from ledger import LedgerError

REQUEST_TIMEOUT_S = 120.0  # generous: a stuck request is a failure, not a hung bench
ERRORS = (CheckFailed, OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError,
          KeyError, LedgerError)  # fmt: skip
BOUNDARY = "hostile-bench-boundary"


@dataclass
class Tally:
    """What one kind of client saw: latencies of the requests that passed their check, units
    (requests, or records for submissions), every answer's status, and failures."""

    latencies: list[float] = field(default_factory=list)
    units: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    failures: int = 0
    first_failure: str = ""
    acks: list[tuple[int, str]] = field(default_factory=list)  # (leaf index, base64 leaf hash)

    def failed(self, exc: BaseException) -> None:
        """A request with no answer or a failed check; no answer is also tallied as a status."""
        self.failures += 1
        if not isinstance(exc, CheckFailed):
            self.statuses["timeout" if isinstance(exc, TimeoutError) else "no-answer"] += 1
        self.first_failure = self.first_failure or f"{type(exc).__name__}: {exc}"[:300]


class Counted(Http):
    """An Http connection that tallies every answer's status and, when `identities` is given,
    sends each request as the next of them (X-Forwarded-For), as clients behind a proxy."""

    def __init__(self, base: str, tally: Tally, identities: Iterator[str] | None) -> None:
        super().__init__(base)
        self.tally, self.identities = tally, identities

    async def _request(self, head: bytes, body: bytes) -> tuple[int, bytes]:
        if self.identities is not None:
            self.extra_headers = f"x-forwarded-for: {next(self.identities)}\r\n".encode()
        status, content = await asyncio.wait_for(super()._request(head, body), REQUEST_TIMEOUT_S)
        self.tally.statuses[str(status)] += 1
        return status, content


@dataclass
class Side:
    """One side's work for a phase: honest or adversarial clients against `base` from `start`
    to `deadline` (time.time())."""

    base: str
    start: float
    deadline: float
    seed: int
    forwarded: bool  # the server trusts X-Forwarded-For from 127.0.0.1: send identities
    clients: dict[str, int]  # kind -> concurrent clients
    job: Job  # honest lookups and proofs (load_bench's checks)
    batches: list[bytes] = field(default_factory=list)  # honest submissions, pre-signed
    submit_interval_s: float = 1.0  # each submitter sends one batch this often
    cluster_pdq: str = ""
    images: dict[str, bytes] = field(default_factory=dict)  # attack name -> image file


def identities(forwarded: bool, first: int, count: int) -> Iterator[str] | None:
    """Honest clients are many users (a large pool, each under its bucket), an attacker a few
    addresses. Documentation addresses: they only ever appear in a header."""
    if not forwarded:
        return None
    return cycle(f"198.{18 + (i >> 16) % 2}.{(i >> 8) % 256}.{i % 256}"
                 for i in range(first, first + count))  # fmt: skip


async def closed_loop(
    side: Side, tally: Tally, client: Counted, request: Callable[[Counted], Awaitable[int]]
) -> None:
    await asyncio.sleep(max(0.0, side.start - time.time()))
    while time.time() < side.deadline:
        started = time.perf_counter()
        try:
            units = await request(client)
        except ERRORS as exc:
            tally.failed(exc)
            await client.close()
            await asyncio.sleep(0.05)  # a refused client backs off, as a real one would
            continue
        tally.latencies.append(time.perf_counter() - started)
        tally.units += units


async def paced_submitter(side: Side, tally: Tally, client: Counted, batches: list[bytes]) -> None:
    """One pre-signed batch every `submit_interval_s`; every acknowledged leaf is recorded."""
    due = side.start
    for body in batches:
        due = max(due, time.time())
        await asyncio.sleep(max(0.0, due - time.time()))
        if time.time() >= side.deadline:
            return
        due += side.submit_interval_s
        started = time.perf_counter()
        try:
            status, answer = await client.post("/v1/captures", body)
            if status != 200:
                raise CheckFailed(f"submit: {status} {answer[:200]!r}")
            results = json.loads(answer)["results"]
        except ERRORS as exc:
            tally.failed(exc)
            await client.close()
            continue
        tally.latencies.append(time.perf_counter() - started)
        acked = [(r["index"], r["leaf_hash"]) for r in results if r["accepted"]]
        tally.acks += acked
        tally.units += len(acked)


async def honest(side: Side) -> dict[str, Tally]:
    tallies = {kind: Tally() for kind in ("lookup", "proof", "submit")}
    pool = identities(side.forwarded, 0, 60_000)
    tasks: list[Awaitable[None]] = []
    for kind in ("lookup", "proof"):
        job = Job(**{**vars(side.job), "scenario": kind})
        request = request_maker(job, random.Random(side.seed + len(kind)))
        tasks += [closed_loop(side, tallies[kind], Counted(side.base, tallies[kind], pool), request)
                  for _ in range(side.clients[kind])]  # fmt: skip
    submitters = side.clients["submit"]
    tasks += [
        paced_submitter(side, tallies["submit"], Counted(side.base, tallies["submit"], pool),
                        side.batches[i::submitters])
        for i in range(submitters)
    ]  # fmt: skip
    await asyncio.gather(*tasks)
    return tallies


def run_honest(side: Side) -> dict[str, Tally]:
    result: dict[str, Tally] = run_loop(honest(side))
    return result


# --- adversaries ---------------------------------------------------------------------------


def multipart(image: bytes, name: str) -> bytes:
    return (
        f'--{BOUNDARY}\r\ncontent-disposition: form-data; name="image"; filename="{name}"\r\n'
        f"content-type: application/octet-stream\r\n\r\n".encode()
        + image
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )


MALFORMED = [
    b'{"pdq": ',
    b"[" * 100_000 + b"]" * 100_000,
    b'{"pdq": "zz", "pdq_quality": "high"}',
    b"\xff\xfe not json at all",
    json.dumps({"probes": [{"name": "x", "pdq": "00" * 32}] * 5000}).encode(),
]


def attack_makers(side: Side, rnd: random.Random) -> dict[str, Callable[[Counted], Awaitable[int]]]:
    """One request per call of each attack; the server's answer is tallied by Counted."""
    size = side.job.size
    bodies = {name: multipart(data, f"{name}.img") for name, data in side.images.items()}
    form = f"multipart/form-data; boundary={BOUNDARY}"

    async def upload(client: Counted, name: str) -> int:
        await client.post("/v1/lookup", bodies[name], form)
        return 1

    async def at_scan(client: Counted) -> int:
        at = rnd.randrange(1, size + 1)
        await client.get(rnd.choice(["/v1/clusters?at=%d", "/origins?at=%d"]) % at)
        return 1

    async def cluster(client: Counted) -> int:
        if rnd.random() < 0.5:
            await client.get("/v1/clusters")
        else:
            query = {"pdq": side.cluster_pdq, "pdq_quality": 100, "sha256": rnd.randbytes(32).hex()}
            await client.post("/v1/lookup", json.dumps(query).encode())
        return 1

    async def malformed(client: Counted) -> int:
        await client.post(rnd.choice(["/v1/lookup", "/v1/captures"]), rnd.choice(MALFORMED))
        return 1

    return {
        "decode-png": lambda c: upload(c, "decode-png"),
        "decode-jpeg": lambda c: upload(c, "decode-jpeg"),
        "at-scan": at_scan,
        "cluster": cluster,
        "malformed": malformed,
    }


def identity_header(side: Side, attacker: int) -> bytes:
    return f"x-forwarded-for: 203.0.113.{attacker}\r\n".encode() if side.forwarded else b""


async def oversized(side: Side, tally: Tally, attacker: int) -> None:
    """Bodies past PROV_MAX_BODY_BYTES (32 MiB): declared (Content-Length 64 MiB) or chunked
    (no length: the server must count while it reads). 1 MiB is sent, then more until the
    server answers or closes."""
    chunk = b"\x20" * (1 << 20)
    await asyncio.sleep(max(0.0, side.start - time.time()))
    chunked = False
    while time.time() < side.deadline:
        chunked = not chunked
        framing = "transfer-encoding: chunked" if chunked else f"content-length: {64 << 20}"
        head = (f"POST /v1/captures HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                f"{framing}\r\n").encode() + identity_header(side, attacker) + b"\r\n"  # fmt: skip
        piece = b"100000\r\n" + chunk + b"\r\n" if chunked else chunk
        try:
            reader, writer = await asyncio.open_connection(*host_port(side.base))
            writer.write(head)
            try:
                for _ in range(40):  # 40 MiB at most: past the limit the server may hang up
                    writer.write(piece)
                    await writer.drain()
            except ConnectionError:
                pass
            line = await asyncio.wait_for(reader.readline(), 30)
            tally.statuses[line.split(b" ")[1].decode() if line else "closed"] += 1
            writer.close()
        except ERRORS as exc:
            tally.failed(exc)


async def slow_connection(side: Side, tally: Tally, attacker: int, number: int) -> None:
    """Slowloris: a request's headers (even numbers) or its declared body (odd) one byte a
    second, for the whole phase; an answer or a close is tallied and the connection reopened."""
    await asyncio.sleep(max(0.0, side.start - time.time()) + number * 0.01)
    while time.time() < side.deadline:
        head = (b"POST /v1/lookup HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                b"content-length: 100000\r\n" + identity_header(side, attacker))  # fmt: skip
        trickle = head + b"x-padding: " + b"a" * 100_000 if number % 2 == 0 else b"{" * 100_000
        try:
            reader, writer = await asyncio.open_connection(*host_port(side.base))
            if number % 2:
                writer.write(head + b"\r\n")
            for byte in trickle:
                writer.write(bytes([byte]))
                await writer.drain()
                try:
                    line = await asyncio.wait_for(reader.readline(), 1.0)
                except TimeoutError:
                    if time.time() >= side.deadline:
                        break
                    continue
                tally.statuses[line.split(b" ")[1].decode() if line else "closed"] += 1
                break
            writer.close()
        except ERRORS as exc:
            tally.failed(exc)
            await asyncio.sleep(1.0)


def host_port(base: str) -> tuple[str, int]:
    host, _, port = base.removeprefix("http://").partition(":")
    return host, int(port)


async def adversaries(side: Side) -> dict[str, Tally]:
    rnd = random.Random(side.seed)
    makers = attack_makers(side, rnd)
    tallies: dict[str, Tally] = {}
    tasks: list[Awaitable[None]] = []
    for attacker, (kind, clients) in enumerate(side.clients.items(), start=1):
        tally = tallies.setdefault(kind, Tally())
        header = identity_header(side, attacker)
        for number in range(clients):
            if kind == "slowloris":
                tasks.append(slow_connection(side, tally, attacker, number))
            elif kind == "oversized":
                tasks.append(oversized(side, tally, attacker))
            else:
                client = Counted(side.base, tally, None)
                client.extra_headers = header
                tasks.append(closed_loop(side, tally, client, makers[kind]))
    await asyncio.gather(*tasks)
    return tallies


def run_adversaries(side: Side) -> dict[str, Tally]:
    result: dict[str, Tally] = run_loop(adversaries(side))
    return result


def statuses_of(tallies: dict[str, Tally]) -> Counter[str]:
    total: Counter[str] = Counter()
    for tally in tallies.values():
        total.update(tally.statuses)
    return total


def fives(statuses: Counter[str]) -> tuple[int, int]:
    """(5xx answers other than 503, 503 answers)."""
    other = sum(n for s, n in statuses.items() if s.startswith("5") and s != "503")
    return other, statuses.get("503", 0)


def rows(tallies: dict[str, Tally]) -> dict[str, Any]:
    return {kind: dict(t.statuses) for kind, t in tallies.items()}
