"""The origin reports the API serves (api.origin_reports, issue 16): `?at=N` amplifies nothing
(only signed checkpoint sizes, computed once by one background worker), the latest report is
served while its successor is computed, and 20,000 captures sharing one PDQ hash cost a
report bounded memory (it used to hold every pair of them: k^2/2)."""

import asyncio
import json
import random
import threading
import tracemalloc
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from api import create_app
from api.origin_reports import OriginReports, compute_report
from ledger import LogConfig, LogStore, Signer
from ledger.note import write_private_key_file
from registry import Registry, RegistrySettings
from registry.imaging.hashing import hash_image
from testkit.pki import DevicePKI
from tests.support.bulk import log_claims
from tests.support.clocks import FixedClock
from tests.support.registry_fixtures import picture, record

WAIT_S = 60  # generous: only a bound on waiting for the other requests to queue up


class Gate:
    """A compute function that counts its calls and holds each until released."""

    def __init__(self) -> None:
        self.calls: list[int] = []
        self.open = threading.Event()

    def __call__(self, store: LogStore, size: int) -> bytes:
        self.calls.append(size)
        assert self.open.wait(WAIT_S)
        return compute_report(store, size)


@contextmanager
def app_on(registry: Registry, signer: Signer, tmp_path: Path, url: str) -> Iterator[FastAPI]:
    key_file = tmp_path / "log.key"
    write_private_key_file(key_file, signer.to_string(), "log")
    app = create_app(RegistrySettings(log=LogConfig(tmp_path, url, key_file), verify_workers=0))
    try:
        yield app
    finally:
        app.state.prov.close()


@asynccontextmanager
async def client_of(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(WAIT_S * 100):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met")


def log_batches(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock, *sizes: int
) -> list[int]:
    """One submission per size (a checkpoint each); the tree sizes signed after each."""
    published, seed = [], 0
    for size in sizes:
        batch = [
            record(enrolled.device, seed + s, seed + s + 1, clock.now_ms - 1000)
            for s in range(size)
        ]
        seed += size
        registry.submit_captures(batch)
        published.append(registry.store.latest_checkpoint().size)
    return published


def install(app: FastAPI, reports: OriginReports) -> OriginReports:
    app.state.prov.origin_reports.close()
    app.state.prov.origin_reports = reports
    return reports


def test_four_concurrent_requests_for_one_size_compute_it_once(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock, signer: Signer, tmp_path: Path,
    migrated_url: str,
) -> None:  # fmt: skip
    earlier, _ = log_batches(registry, enrolled, clock, 2, 2)
    gate = Gate()
    with app_on(registry, signer, tmp_path, migrated_url) as app:
        reports = install(app, OriginReports(compute=gate))

        async def scenario() -> list[httpx.Response]:
            async with client_of(app) as client:
                asks = [client.get("/v1/clusters", params={"at": earlier}) for _ in range(3)]
                asks.append(client.get("/v1/origins/nobody", params={"at": earlier}))
                requests = [asyncio.ensure_future(ask) for ask in asks]
                await until(lambda: reports.waiters(earlier) == 4)
                gate.open.set()
                answers = list(await asyncio.gather(*requests))
                answers.append(await client.get("/v1/clusters", params={"at": earlier}))
                return answers

        answers = asyncio.run(scenario())
    assert gate.calls == [earlier] and reports.computations == 1
    bodies = {a.content for a in answers if a.status_code == 200}
    assert bodies == {compute_report(registry.store, earlier)} and len(answers) == 5
    assert json.loads(bodies.pop())["checkpoint"]["tree_size"] == earlier
    assert answers[3].status_code == 404 and answers[3].json()["error"]["type"] == "no_signals"


def test_sizes_the_log_signed_no_checkpoint_at_compute_nothing(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock, signer: Signer, tmp_path: Path,
    migrated_url: str,
) -> None:  # fmt: skip
    _, latest = log_batches(registry, enrolled, clock, 50, 50)  # two checkpoints, 100 entries
    gate = Gate()
    gate.open.set()
    with app_on(registry, signer, tmp_path, migrated_url) as app:
        reports = install(app, OriginReports(compute=gate))

        async def scenario() -> list[httpx.Response]:
            async with client_of(app) as client:
                unsigned = [n for n in range(1, latest) if not _signed(registry.store, n)][:50]
                assert len(unsigned) == 50
                sizes = [*unsigned, latest + 1, latest + 10**9]
                answers = [await client.get("/v1/clusters", params={"at": n}) for n in sizes]
                answers.append(await client.get("/origins", params={"at": unsigned[0]}))
                answers.append(await client.get("/v1/origins/x", params={"at": unsigned[1]}))
                return answers

        answers = asyncio.run(scenario())
    assert gate.calls == [] and reports.computations == 0
    for answer in answers:
        assert answer.status_code == 404, answer.text
        assert answer.json()["error"]["type"] == "report_not_computed"
    message = answers[0].json()["error"]["message"]
    assert "checkpoint sizes only" in message and "prov clusters --at" in message


def test_the_latest_report_is_served_while_its_successor_is_computed(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock, signer: Signer, tmp_path: Path,
    migrated_url: str,
) -> None:  # fmt: skip
    (first,) = log_batches(registry, enrolled, clock, 2)
    gate = Gate()
    gate.open.set()
    with app_on(registry, signer, tmp_path, migrated_url) as app:
        reports = install(app, OriginReports(compute=gate))

        async def scenario() -> tuple[int, int, int]:
            async with client_of(app) as client:
                before = (await client.get("/v1/clusters")).json()["checkpoint"]["tree_size"]
                gate.open.clear()
                (grown,) = log_batches(registry, enrolled, clock, 3)
                stale = (await client.get("/v1/clusters")).json()["checkpoint"]["tree_size"]
                await until(lambda: gate.calls == [first, grown])  # computing in the background
                gate.open.set()
                await until(lambda: reports.computations == 2)
                fresh = (await client.get("/v1/clusters")).json()["checkpoint"]["tree_size"]
                return before, stale, fresh

        before, stale, fresh = asyncio.run(scenario())
    assert before == stale == first and fresh == registry.store.latest_checkpoint().size > first


def test_a_full_queue_refuses_another_size(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock, signer: Signer, tmp_path: Path,
    migrated_url: str,
) -> None:  # fmt: skip
    one, two, _ = log_batches(registry, enrolled, clock, 1, 1, 1)
    gate = Gate()
    with app_on(registry, signer, tmp_path, migrated_url) as app:
        reports = install(app, OriginReports(queued=1, compute=gate))

        async def scenario() -> tuple[httpx.Response, httpx.Response]:
            async with client_of(app) as client:
                waiting = asyncio.ensure_future(client.get("/v1/clusters", params={"at": one}))
                await until(lambda: reports.waiters(one) == 1)
                refused = await client.get("/v1/clusters", params={"at": two})
                gate.open.set()
                return await waiting, refused

        served, refused = asyncio.run(scenario())
    assert served.status_code == 200 and gate.calls == [one]
    assert refused.status_code == 429 and refused.json()["error"]["type"] == "reports_busy"
    assert int(refused.headers["Retry-After"]) > 0


COPIES = 20_000
PEAK_BYTES = 200 * 2**20  # the all-pairs report held ~2*10^8 pairs here: over 3 GiB


def test_twenty_thousand_captures_of_one_hash_cost_bounded_memory(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock, signer: Signer, tmp_path: Path,
    migrated_url: str,
) -> None:  # fmt: skip
    """Captures from one device, every one another file with the same PDQ hash."""
    fields: dict[str, Any] = dict(hash_image(picture(1)).claim_fields())
    start = clock.now_ms - COPIES

    def claim(i: int) -> dict[str, Any]:
        return {**fields, "counter": i + 1, "captured_at": start + i, "sha256": f"{i:064x}"}

    log_claims(registry, signer, clock, enrolled, COPIES, claim)
    answer, peaks = clusters_measured(registry, signer, tmp_path, migrated_url)
    assert answer.status_code == 200
    (group,) = answer.json()["clusters"]
    assert len(group["members"]) == COPIES
    assert len(peaks) == 1 and peaks[0] < PEAK_BYTES, peaks


def test_twenty_thousand_distinct_near_identical_hashes_cost_bounded_memory(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock, signer: Signer, tmp_path: Path,
    migrated_url: str,
) -> None:  # fmt: skip
    """One hash with 1-4 random bits flipped per capture: 20,000 distinct values, all within
    the radius of each other (~2*10^8 pairs of values; 8.0*10^6 at 4,000 on the old code)."""
    fields: dict[str, Any] = dict(hash_image(picture(1)).claim_fields())
    base = int(fields["pdq"], 16)
    start, rng = clock.now_ms - COPIES, random.Random(16)

    def claim(i: int) -> dict[str, Any]:
        pdq = base
        for bit in rng.sample(range(256), rng.randint(1, 4)):
            pdq ^= 1 << bit
        return {**fields, "pdq": f"{pdq:064x}", "counter": i + 1, "captured_at": start + i,
                "sha256": f"{i:064x}"}  # fmt: skip

    log_claims(registry, signer, clock, enrolled, COPIES, claim)
    answer, peaks = clusters_measured(registry, signer, tmp_path, migrated_url)
    assert answer.status_code == 200
    (group,) = answer.json()["clusters"]  # every one within 8 bits of the first: one cluster
    assert len(group["members"]) == COPIES
    assert len(peaks) == 1 and peaks[0] < PEAK_BYTES, peaks


def clusters_measured(
    registry: Registry, signer: Signer, tmp_path: Path, migrated_url: str
) -> tuple[httpx.Response, list[int]]:
    """GET /v1/clusters, and the traced peak of the report's computation."""
    peaks: list[int] = []

    def measured(store: LogStore, size: int) -> bytes:
        tracemalloc.start()
        try:
            return compute_report(store, size)
        finally:
            peaks.append(tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()

    with app_on(registry, signer, tmp_path, migrated_url) as app:
        install(app, OriginReports(compute=measured))

        async def ask() -> httpx.Response:
            async with client_of(app) as client:
                return await client.get("/v1/clusters")

        return asyncio.run(ask()), peaks


def _signed(store: LogStore, size: int) -> bool:
    try:
        store.checkpoint_at(size)
    except Exception:  # NotFoundError: no checkpoint at that size
        return False
    return True
