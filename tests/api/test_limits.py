"""Hostile input, the limits: request body, batch size, image pixels, and per-client rate
limits (413 and 429 with Retry-After), and the CLI's HTTP client waiting out a 429."""

import asyncio
import json
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import ImageFile
from starlette.routing import BaseRoute
from starlette.types import Message, Receive, Scope, Send

from api import create_app
from api.app import ROUTERS
from api.limits import BodySizeLimit, LimitedRoutes, TokenBuckets
from api.settings import ApiSettings
from cli.client import HttpClient
from cli.errors import EXIT_BAD_INPUT, EXIT_UNAVAILABLE, exit_code_for
from cli.main import main
from ledger import LogConfig
from ledger.errors import ConfigurationError
from registry import RegistrySettings
from registry.config import MAX_IMAGE_PIXELS_CEILING
from registry.errors import RateLimitedError, TooLargeError
from registry.imaging.hashing import DEFAULT_MAX_PIXELS, query_hashes
from testkit.pki import DevicePKI, make_pki
from tests.support.clocks import Seconds
from tests.support.prov_cli import Prov
from tests.support.registry_fixtures import TOKEN, picture, record
from tests.support.serving import prov_serve

ADMIN = {"Authorization": f"Bearer {TOKEN}"}
SMALL = picture(1)  # 160 x 120 = 19,200 pixels


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def error_of(response: httpx.Response, status: int, kind: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error["type"] == kind
    message: str = error["message"]
    return message


# --- the token bucket, alone ---


def test_a_bucket_allows_a_burst_then_the_sustained_rate() -> None:
    clock = Seconds()
    buckets = TokenBuckets(rate=2, burst=3, clock=clock)

    assert [buckets.take("a") for _ in range(3)] == [0, 0, 0]
    assert buckets.take("a") == 0.5  # one token comes back every 1/rate seconds
    assert buckets.take("b") == 0  # another client has its own bucket
    clock.now += 0.5
    assert buckets.take("a") == 0
    assert buckets.take("a") == 0.5
    clock.now += 60  # a long rest refills to the burst, not beyond
    assert [buckets.take("a") for _ in range(4)] == [0, 0, 0, 0.5]


def test_a_refused_request_costs_no_token() -> None:
    clock = Seconds()
    buckets = TokenBuckets(rate=1, burst=1, clock=clock)
    assert buckets.take("a") == 0
    assert buckets.take("a") == 1.0
    assert buckets.take("a") == 1.0  # hammering does not push the wait further out
    clock.now += 1
    assert buckets.take("a") == 0


def test_idle_buckets_are_forgotten_and_the_count_is_capped() -> None:
    clock = Seconds()
    buckets = TokenBuckets(rate=10, burst=20, clock=clock, max_keys=3)
    for key in ("a", "b", "c"):
        buckets.take(key)
    clock.now += 1
    buckets.take("d")  # over max_keys: the least recently seen ("a") goes
    assert len(buckets) == 3
    clock.now += 2  # 2 s = burst / rate: a, b, c and d have refilled, so they are dropped
    buckets.take("e")
    assert len(buckets) == 1
    assert [buckets.take("b") for _ in range(20)] == [0] * 20  # forgotten means a full bucket


def test_a_bucket_refuses_nonsense_settings() -> None:
    for rate, burst in ((0, 1), (-1, 1), (1, 0)):
        with pytest.raises(ValueError):
            TokenBuckets(rate=rate, burst=burst, clock=Seconds())


# --- the body limit, at the ASGI level ---


def run_asgi(app: Any, headers: list[tuple[bytes, bytes]], chunks: list[bytes]) -> tuple[int, Any]:
    """Send one POST in `chunks` through `app`; the status and the decoded JSON body."""
    incoming: list[Message] = [
        {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
        for i, chunk in enumerate(chunks)
    ]
    sent: list[Message] = []

    async def receive() -> Message:
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/v1/captures", "headers": headers}
    asyncio.run(app(scope, receive, send))
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], json.loads(body)


async def echo_size(scope: Scope, receive: Receive, send: Send) -> None:
    """An app that answers with the size of the body it was given."""
    size, more = 0, True
    while more:
        message = await receive()
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    payload = json.dumps({"size": size}).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": payload})


def test_a_body_that_lies_about_its_length_is_cut_off_at_the_limit() -> None:
    limited = BodySizeLimit(echo_size, max_bytes=1000)
    status, body = run_asgi(limited, [(b"content-length", b"10")], [b"x" * 600, b"x" * 600])
    assert status == 413 and body["error"]["type"] == "body_too_large"
    assert "PROV_MAX_BODY_BYTES" in body["error"]["message"]


def test_a_body_of_exactly_the_limit_passes_whole() -> None:
    limited = BodySizeLimit(echo_size, max_bytes=1000)
    assert run_asgi(limited, [], [b"x" * 400, b"x" * 600]) == (200, {"size": 1000})
    declared = [(b"content-length", b"1000")]
    assert run_asgi(limited, declared, [b"x" * 1000]) == (200, {"size": 1000})
    status, body = run_asgi(limited, [(b"content-length", b"1001")], [b"x" * 1001])
    assert status == 413 and body["error"]["type"] == "body_too_large"


# --- settings ---


def test_limit_settings_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = LogConfig.from_env(tmp_path)
    for name in ("PROV_RATE_LIMIT", "PROV_RATE_BURST", "PROV_MAX_IMAGE_PIXELS"):
        monkeypatch.delenv(name, raising=False)
    defaults = RegistrySettings.from_env(log)
    assert (defaults.rate_limit, defaults.rate_burst) == (20.0, 40)
    assert defaults.max_image_pixels == DEFAULT_MAX_PIXELS == 89_478_485
    assert defaults.rate_limited

    monkeypatch.setenv("PROV_RATE_LIMIT", "0.5")
    monkeypatch.setenv("PROV_RATE_BURST", "3")
    monkeypatch.setenv("PROV_MAX_IMAGE_PIXELS", "1000000")
    settings = RegistrySettings.from_env(log)
    assert (settings.rate_limit, settings.rate_burst, settings.max_image_pixels) == (
        0.5,
        3,
        1_000_000,
    )
    monkeypatch.setenv("PROV_RATE_LIMIT", "0")
    assert not RegistrySettings.from_env(log).rate_limited
    for name in ("PROV_LOOKUP_MAX_PIXELS", "PROV_DECODE_CONCURRENCY", "PROV_DECODE_QUEUE"):
        monkeypatch.delenv(name, raising=False)
    defaults = RegistrySettings.from_env(log)
    assert defaults.lookup_max_pixels == 40_000_000
    cpus = os.cpu_count() or 1
    assert (defaults.decode_concurrency, defaults.decode_queue_size) == (cpus, 2 * cpus)
    monkeypatch.setenv("PROV_LOOKUP_MAX_PIXELS", "1000")
    monkeypatch.setenv("PROV_DECODE_CONCURRENCY", "3")
    decoding = RegistrySettings.from_env(log)
    assert (decoding.lookup_max_pixels, decoding.decode_queue_size) == (1000, 6)
    monkeypatch.setenv("PROV_DECODE_QUEUE", "0")
    assert RegistrySettings.from_env(log).decode_queue_size == 0
    monkeypatch.setenv("PROV_RATE_LIMIT", "20")
    monkeypatch.setenv("PROV_RATE_BURST", "0")
    assert not RegistrySettings.from_env(log).rate_limited


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("PROV_RATE_LIMIT", "fast", "not a number"),
        ("PROV_RATE_LIMIT", "nan", "not a finite number"),
        ("PROV_RATE_LIMIT", "-1", "is negative; use 0 (no limit)"),
        ("PROV_RATE_BURST", "-1", "is negative; use 0 (no limit)"),
        ("PROV_RATE_BURST", "1.5", "not an integer"),
        ("PROV_MAX_IMAGE_PIXELS", "0", "outside 1 to"),
        ("PROV_MAX_IMAGE_PIXELS", str(MAX_IMAGE_PIXELS_CEILING + 1), "outside 1 to"),
        ("PROV_LOOKUP_MAX_PIXELS", "0", "outside 1 to"),
        ("PROV_LOOKUP_MAX_PIXELS", "40MP", "not an integer"),
        ("PROV_DECODE_CONCURRENCY", "0", "must be at least 1"),
        ("PROV_DECODE_QUEUE", "-1", "is negative; use 0 (refuse when every decode slot"),
        ("PROV_DECODE_QUEUE", "many", "not an integer"),
    ],
)
def test_bad_limit_settings_are_refused_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str, says: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError, match=re.escape(says)) as caught:
        RegistrySettings.from_env(LogConfig.from_env(tmp_path))
    assert name in str(caught.value)


# --- image pixels ---


def test_the_pixel_limit_is_checked_before_any_pixel_is_decoded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_decoding(self: ImageFile.ImageFile) -> Any:
        raise AssertionError("pixel data was decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    with pytest.raises(TooLargeError, match="19200 pixels, limit 19199") as caught:
        query_hashes(SMALL, "found.png", max_pixels=19_199)
    assert caught.value.code == "image_too_large"
    assert exit_code_for(caught.value) == EXIT_BAD_INPUT


# --- the API, on each database ---


@pytest.fixture
def server_settings(writable_settings: RegistrySettings) -> RegistrySettings:
    return replace(writable_settings, max_batch=3)


@contextmanager
def serve(
    settings: RegistrySettings, clock: Seconds | None = None, address: str = "testclient"
) -> Iterator[TestClient]:
    app = create_app(ApiSettings(settings, monotonic=clock or Seconds()))
    try:
        with TestClient(app, client=(address, 50000)) as test_client:
            yield test_client
    finally:
        app.state.prov.registry.close()
        app.state.prov.store.engine.dispose()


def limited(settings: RegistrySettings, rate: float, burst: int) -> RegistrySettings:
    return replace(settings, rate_limit=rate, rate_burst=burst)


@pytest.fixture
def device_pki() -> DevicePKI:
    return make_pki(datetime.now(UTC), intermediate=True)


def test_a_batch_over_the_limit_is_413_and_logs_nothing(
    server_settings: RegistrySettings, device_pki: DevicePKI
) -> None:
    with serve(server_settings) as client:
        size = client.get("/v1/log").json()["tree_size"]
        records = [record(device_pki.device, 1, n, now_ms()) for n in range(4)]
        message = error_of(
            client.post("/v1/captures", json={"records": records}), 413, "batch_too_large"
        )
        assert "at most 3 per submission (PROV_MAX_BATCH)" in message
        assert "smaller batches" in message
        assert client.get("/v1/log").json()["tree_size"] == size


def test_an_image_over_the_pixel_limit_is_413_on_both_lookup_paths(
    server_settings: RegistrySettings,
) -> None:
    small_limit = replace(server_settings, max_image_pixels=19_199)
    upload = {"image": ("found.png", SMALL, "image/png")}
    with serve(small_limit) as client:
        message = error_of(client.post("/v1/lookup", files=upload), 413, "image_too_large")
        assert "found.png" in message and "limit 19199" in message
        page = client.post("/", files=upload)
        assert page.status_code == 413 and 'id="error"' in page.text and "limit 19199" in page.text
    with serve(server_settings) as client:  # the default limit takes it
        assert client.post("/v1/lookup", files=upload).json()["verdict"] == "not-found"


def _routes() -> list[BaseRoute]:
    app = FastAPI()
    for module in ROUTERS:
        app.include_router(module.router)
    return app.routes


LIMITED = LimitedRoutes.of(_routes())


def test_the_limited_routes_are_the_writes_and_every_lookup() -> None:
    assert LIMITED.listing() == [
        ("GET", "/v1/c2pa/matches/byBinding"),  # the GET twin of POST byBinding
        ("POST", "/"),
        ("POST", "/v1/c2pa/ingest"),
        ("POST", "/v1/c2pa/matches/byBinding"),
        ("POST", "/v1/c2pa/matches/byContent"),
        ("POST", "/v1/captures"),
        ("POST", "/v1/devices"),
        ("POST", "/v1/lookup"),
        ("POST", "/v1/lookups"),
        ("POST", "/v1/revocations"),
        ("POST", "/v1/vendors"),
    ]
    assert ("GET", "/v1/c2pa/matches/byBinding") in LIMITED
    assert ("GET", "/") not in LIMITED and ("GET", "/checkpoint") not in LIMITED


@pytest.mark.parametrize(("method", "path"), LIMITED.listing())
def test_each_limited_route_answers_429_with_retry_after(
    server_settings: RegistrySettings, method: str, path: str
) -> None:
    clock = Seconds()

    def call() -> httpx.Response:
        response: httpx.Response = client.request(
            method, path, json={} if method == "POST" else None
        )
        return response

    with serve(limited(server_settings, rate=0.4, burst=2), clock) as client:
        # Refused requests spend tokens too: bad input costs the server as much to refuse.
        for _ in range(2):
            assert call().status_code not in (413, 429)
        over = call()
        message = error_of(over, 429, "rate_limited")
        assert over.headers["retry-after"] == "3"  # 1 token at 0.4/s: 2.5 s, rounded up
        assert "PROV_RATE_LIMIT" in message and "retry in 3 s" in message
        # Reads stay open, and so does another client's bucket.
        assert client.get("/checkpoint").status_code == 200
        assert client.get("/v1/log").status_code == 200
        clock.now += int(over.headers["retry-after"])
        assert call().status_code != 429


def test_clients_are_told_apart_by_address(server_settings: RegistrySettings) -> None:
    clock = Seconds()
    settings = limited(server_settings, rate=1, burst=1)
    app = create_app(ApiSettings(settings, monotonic=clock))
    one, two = TestClient(app, client=("192.0.2.1", 1)), TestClient(app, client=("192.0.2.2", 1))
    try:
        assert one.post("/v1/devices", json={}).status_code == 400
        assert one.post("/v1/devices", json={}).status_code == 429
        # The same address from another port is the same client.
        one_again = TestClient(app, client=("192.0.2.1", 2))
        assert one_again.post("/v1/devices", json={}).status_code == 429
        assert two.post("/v1/devices", json={}).status_code == 400
    finally:
        app.state.prov.registry.close()
        app.state.prov.store.engine.dispose()


def test_rate_limit_zero_is_off(server_settings: RegistrySettings) -> None:
    with serve(limited(server_settings, rate=0, burst=40)) as client:
        statuses = {client.post("/v1/devices", json={}).status_code for _ in range(100)}
    assert statuses == {400}


def test_the_http_client_waits_out_a_429_and_retries(
    server_settings: RegistrySettings, device_pki: DevicePKI
) -> None:
    clock = Seconds()
    with serve(limited(server_settings, rate=1, burst=1), clock) as test_client:
        client = HttpClient("http://testserver", http=test_client, sleep=clock.sleep)
        client.add_vendor("Example Camera Co.", "camera", device_pki.root.der, TOKEN)
        client.enroll_device(device_pki.device.der, device_pki.chain_der)
        t = now_ms() - 1000
        results = client.submit_captures([record(device_pki.device, 1, 1, t)])
        assert [r["accepted"] for r in results] == [True]
        assert clock.slept == [1, 1]  # once before the device, once before the capture

        patient = HttpClient("http://testserver", http=test_client, sleep=clock.sleep, retries=0)
        with pytest.raises(RateLimitedError, match="PROV_RATE_LIMIT") as caught:
            patient.submit_captures([record(device_pki.device, 2, 2, t)])
        assert caught.value.retry_after_s == 1 and caught.value.code == "rate_limited"
        assert exit_code_for(caught.value) == EXIT_UNAVAILABLE  # busy: try again later


def test_the_http_client_bounds_what_it_waits(server_settings: RegistrySettings) -> None:
    clock = Seconds()
    with serve(limited(server_settings, rate=0.001, burst=1), clock) as test_client:
        client = HttpClient("http://testserver", http=test_client, sleep=clock.sleep, retries=3)
        assert test_client.post("/v1/devices", json={}).status_code == 400
        with pytest.raises(RateLimitedError):
            client.enroll_device(b"not a certificate", [])
    assert clock.slept == [60, 60, 60]  # Retry-After 1000 s, capped; three retries, then stop


# --- the command line ---


@pytest.fixture
def no_prov_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("PROV_"):
            monkeypatch.delenv(name)


def write_records(folder: Path, pki: DevicePKI, count: int) -> Path:
    path = folder / "records.jsonl"
    t = now_ms() - 1000
    path.write_text(
        "".join(json.dumps(record(pki.device, s, s, t)) + "\n" for s in range(1, count + 1))
    )
    return path


def test_prov_submit_of_a_batch_over_the_limit_is_bad_input(
    tmp_path: Path,
    database_url: str,
    device_pki: DevicePKI,
    monkeypatch: pytest.MonkeyPatch,
    no_prov_environment: None,
) -> None:
    prov = Prov(tmp_path, database_url)
    prov.init()
    monkeypatch.setenv("PROV_MAX_BATCH", "2")
    records = write_records(tmp_path, device_pki, 3)
    result = prov("submit", str(records), "--batch-size", "3")
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    assert "at most 2 per submission (PROV_MAX_BATCH)" in result.output


def test_prov_submit_to_a_rate_limited_server_gets_everything_in(
    tmp_path: Path, database_url: str, device_pki: DevicePKI, no_prov_environment: None
) -> None:
    data_dir = tmp_path / "server"
    Prov(data_dir, database_url).init()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROV_")}
    env |= {"PROV_ADMIN_TOKEN": TOKEN, "PROV_RATE_LIMIT": "1", "PROV_RATE_BURST": "1"}
    options = ["--data-dir", str(data_dir), "--database", database_url]
    records = write_records(tmp_path, device_pki, 3)
    with prov_serve(options, tmp_path / "serve.log", env) as base_url:
        client = HttpClient(base_url)
        client.add_vendor("Example Camera Co.", "camera", device_pki.root.der, TOKEN)
        client.enroll_device(device_pki.device.der, device_pki.chain_der)
        client.close()
        run = [
            "--data-dir", str(tmp_path / "client"), "--server", base_url,
            "submit", str(records), "--batch-size", "1", "--json",
        ]  # fmt: skip
        result = CliRunner().invoke(main, run)
        assert result.exit_code == 0, result.output
        summary = json.loads(result.stdout)
        assert summary["accepted"] == 3, summary
    # Five writes at 1 a second, back to back: the server refused some, and the client waited.
    assert " 429 " in (tmp_path / "serve.log").read_text()
