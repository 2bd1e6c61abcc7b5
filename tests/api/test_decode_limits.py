"""Image lookups cannot exhaust memory: the lookup pixel cap refuses a one-colour 9,400 x 9,400
PNG (274 KB, 88 MP) before decoding it, a camera's JPEG still looks up through its draft
decode, and a full decode gate answers 503 with Retry-After at once, on every route that
decodes."""

import io
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from api import create_app
from api.settings import ApiSettings
from cli.client import HttpClient
from registry import RegistrySettings
from registry.config import DEFAULT_LOOKUP_MAX_PIXELS
from registry.entries.sdk import sign_capture
from registry.imaging.gate import DecodeGate
from testkit.pki import make_pki
from tests.support.prov_cli import Prov
from tests.support.registry_fixtures import TOKEN, as_json
from tests.support.registry_fixtures import large_jpeg as jpeg
from tests.support.serving import Server

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def bomb() -> bytes:
    """The issue's PNG: 9,400 x 9,400 pixels of one colour, ~274 KB."""
    out = io.BytesIO()
    Image.new("RGB", (9400, 9400), (200, 30, 90)).save(out, "PNG")
    data = out.getvalue()
    assert len(data) < 400_000
    return data


@contextmanager
def serve(settings: RegistrySettings) -> Iterator[TestClient]:
    app = create_app(ApiSettings(settings))
    try:
        with TestClient(app) as client:
            yield client
    finally:
        app.state.prov.close()


def test_the_pixel_bomb_is_refused_by_every_lookup_route(
    writable_settings: RegistrySettings, bomb: bytes
) -> None:
    assert writable_settings.lookup_max_pixels == DEFAULT_LOOKUP_MAX_PIXELS == 40_000_000
    with serve(writable_settings) as client:
        refused = client.post("/v1/lookup", files={"image": ("bomb.png", bomb, "image/png")})
        assert refused.status_code == 413, refused.text
        error = refused.json()["error"]
        assert error["type"] == "image_too_large"
        assert "9400x9400 = 88360000 pixels decoded, limit 40000000" in error["message"]
        assert "PROV_LOOKUP_MAX_PIXELS" in error["message"]
        headers = {"Content-Type": "image/png"}
        by_content = client.post("/v1/c2pa/matches/byContent", content=bomb, headers=headers)
        assert by_content.status_code == 413
        assert by_content.json()["error"]["type"] == "image_too_large"
        page = client.post("/", files={"image": ("bomb.png", bomb, "image/png")})
        assert page.status_code == 413 and "PROV_LOOKUP_MAX_PIXELS" in page.text


def _peak_rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")
def test_the_pixel_bomb_costs_a_real_server_little_memory(
    tmp_path: Path, database_url: str, bomb: bytes
) -> None:
    data_dir = tmp_path / "server"
    Prov(data_dir, database_url).init()
    options = ["--data-dir", str(data_dir), "--database", database_url, "serve"]
    server = Server(options, "/checkpoint", tmp_path / "serve.log").start()
    try:
        assert server.process is not None
        before = _peak_rss_bytes(server.process.pid)
        upload = {"image": ("bomb.png", bomb, "image/png")}
        for _ in range(3):
            answer = httpx.post(f"{server.base}/v1/lookup", files=upload, timeout=120)
            assert answer.status_code == 413, answer.text
        grown = _peak_rss_bytes(server.process.pid) - before
        # Decoding it would take ~0.7 GiB (265 MB of RGB pixels, twice over, and more).
        assert grown < 100 * MiB, f"peak RSS grew {grown / MiB:.0f} MiB"
    finally:
        server.stop()


def test_a_camera_jpeg_over_the_lookup_cap_still_looks_up_and_matches(
    writable_settings: RegistrySettings,
) -> None:
    photo = jpeg((8000, 6000))  # 48 MP, over the 40 MP cap; prep-v1 decodes it at 1000 x 750
    pki = make_pki(datetime.now(UTC), intermediate=True)
    now_ms = time.time_ns() // 1_000_000
    with serve(writable_settings) as test_client:
        client = HttpClient("http://testserver", http=test_client)
        client.add_vendor("Example Camera Co.", "camera", pki.root.der, TOKEN)
        client.enroll_device(pki.device.der, pki.chain_der)
        signed = sign_capture(photo, pki.device.private_key, pki.device.certificate, 1, now_ms)
        assert [r["accepted"] for r in client.submit_captures([as_json(signed)])] == [True]
        upload = {"image": ("camera.jpg", photo, "image/jpeg")}
        found = test_client.post("/v1/lookup", files=upload)
        assert found.status_code == 200, found.text
        assert found.json()["verdict"] == "registered"


# --- the decode gate, full ---


class HeldGate:
    """A gate of one slot and no queue whose first decode waits until `release()`."""

    def __init__(self) -> None:
        self.entered, self.released = threading.Event(), threading.Event()
        self.gate = DecodeGate(concurrency=1, queue=0, on_enter=self._hold)

    def _hold(self) -> None:
        if not self.entered.is_set():
            self.entered.set()
            assert self.released.wait(timeout=120)

    def release(self) -> None:
        self.released.set()


def _lookup(client: TestClient, data: bytes) -> httpx.Response:
    response: httpx.Response = client.post(
        "/v1/lookup", files={"image": ("found.jpg", data, "image/jpeg")}
    )
    return response


def _page(client: TestClient, data: bytes) -> httpx.Response:
    response: httpx.Response = client.post("/", files={"image": ("found.jpg", data, "image/jpeg")})
    return response


def _by_content(client: TestClient, data: bytes) -> httpx.Response:
    response: httpx.Response = client.post(
        "/v1/c2pa/matches/byContent", content=data, headers={"Content-Type": "image/jpeg"}
    )
    return response


def _ingest(client: TestClient, data: bytes) -> httpx.Response:
    response: httpx.Response = client.post(
        "/v1/c2pa/ingest", content=data, headers={"Content-Type": "image/jpeg"}
    )
    return response


DECODING_ROUTES: dict[str, Callable[[TestClient, bytes], httpx.Response]] = {
    "lookup": _lookup,
    "page": _page,
    "byContent": _by_content,
    "ingest": _ingest,
}


@pytest.mark.parametrize("second", sorted(DECODING_ROUTES))
def test_a_full_decode_gate_answers_503_with_retry_after_then_serves(
    writable_settings: RegistrySettings, second: str
) -> None:
    photo = jpeg((640, 480))
    held = HeldGate()
    settings = replace(writable_settings, rate_limit=0)
    with serve(settings) as client:
        client.app.state.prov.decode_gate = held.gate  # type: ignore[attr-defined]
        first: list[httpx.Response] = []
        holder = threading.Thread(target=lambda: first.append(_lookup(client, photo)))
        holder.start()
        try:
            assert held.entered.wait(timeout=120)
            busy = DECODING_ROUTES[second](client, photo)
            assert busy.status_code == 503, busy.text
            assert busy.headers["retry-after"] == "1"
            if second == "page":
                assert "PROV_DECODE_CONCURRENCY" in busy.text
            else:
                assert busy.json()["error"]["type"] == "overloaded"
        finally:
            held.release()
            holder.join(timeout=120)
        assert first[0].status_code == 200 and first[0].json()["verdict"] == "not-found"
        again = DECODING_ROUTES[second](client, photo)
        assert again.status_code != 503, again.text
        assert held.gate.counts() == (0, 0)


def test_json_lookups_do_not_wait_for_the_decode_gate(
    writable_settings: RegistrySettings,
) -> None:
    held = HeldGate()
    with serve(writable_settings) as client:
        client.app.state.prov.decode_gate = held.gate  # type: ignore[attr-defined]
        holder = threading.Thread(target=lambda: _lookup(client, jpeg((640, 480))))
        holder.start()
        try:
            assert held.entered.wait(timeout=120)
            hashes = client.post("/v1/lookup", json={"pdq": "00" * 32, "pdq_quality": 100})
            assert hashes.status_code == 200, hashes.text
        finally:
            held.release()
            holder.join(timeout=120)
