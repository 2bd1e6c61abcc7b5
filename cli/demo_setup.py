"""`prov demo`'s stage: the log, its witness process, the server, the PKI and the pictures.

cli/demo.py runs the scenario on it; nothing here talks to the registry's API.
"""

import dataclasses
import hashlib
import io
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import click
import uvicorn
from PIL import Image, ImageDraw

import migrations
from api import create_app
from ledger import LogConfig, LogStore, Signer, open_engine
from ledger.cosignature import CosignatureVerifier
from ledger.witness import write_new_cosigner
from registry import RegistrySettings
from registry.open import now_ms, registry_sequencer
from testkit.pki import IssuedCert, make_device, make_intermediate, make_root

ORIGIN = "demo.provenance-ledger.example/log"
WITNESS = "witness.demo.provenance-ledger.example/w1"


@dataclasses.dataclass(frozen=True)
class Cast:
    """The demo's PKI: a camera vendor (root, issuing CA, three cameras) and a generator
    vendor (root, one model release)."""

    now: datetime
    camera_root: IssuedCert
    camera_ca: IssuedCert
    cameras: list[IssuedCert]
    model_root: IssuedCert
    model: IssuedCert


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def registry_server(settings: RegistrySettings) -> Iterator[str]:
    """The registry's HTTP API in a thread of this process, at the base URL yielded."""
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), port=port, log_level="warning", proxy_headers=False)
    )
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True


@contextmanager
def witness_process(directory: Path, log_vkey: str) -> Iterator[tuple[str, CosignatureVerifier]]:
    """`prov witness serve` in its own process, with its own key and SQLite database."""
    key_file, url = directory / "witness.key", f"sqlite:///{directory.resolve() / 'witness.db'}"
    cosigner = write_new_cosigner(key_file, WITNESS)
    migrations.upgrade(url)
    port = _free_port()
    prov = shutil.which("prov") or str(Path(sys.executable).parent / "prov")
    process = subprocess.Popen(
        [prov, "witness", "serve", "--log", log_vkey, "--key-file", str(key_file),
         "--database", url, "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        _await_witness(base, process)
        yield base, cosigner.verifier
    finally:
        process.terminate()
        process.wait(timeout=10)


def _await_witness(base: str, process: subprocess.Popen[bytes]) -> None:
    """Wait (up to 30 s) until the witness answers GET /."""
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(base + "/", timeout=1):  # noqa: S310 (localhost only)
                return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise click.ClickException("the demo witness did not start") from None
            time.sleep(0.1)


def make_cast(now: datetime) -> Cast:
    camera_root = make_root(now, common_name="Example Camera Co. Root CA")
    camera_ca = make_intermediate(camera_root, now)
    cameras = [
        make_device(camera_ca, now, key="ES256", common_name="X100 #0001"),
        make_device(camera_ca, now, key="ES256", common_name="X100 #0002"),
        make_device(camera_ca, now, key="Ed25519", common_name="Z9 #0001"),
    ]
    organization = "Example Diffusion Labs"
    model_root = make_root(now, common_name=f"{organization} Root CA", organization=organization)
    model = make_device(
        model_root, now, key="Ed25519", common_name="diffusion-xl 2.1", organization=organization
    )
    return Cast(now, camera_root, camera_ca, cameras, model_root, model)


def device_id(device: IssuedCert) -> str:
    return hashlib.sha256(device.der).hexdigest()


def reencode(jpeg: bytes, size: tuple[int, int] | None, quality: int | None) -> bytes:
    """`jpeg` decoded and saved again as a JPEG (resized to `size` if given): the metadata is
    gone and the pixels changed, as on any site that re-serves a picture."""
    image = Image.open(io.BytesIO(jpeg)).convert("RGB")
    if size is not None:
        image = image.resize(size)
    out = io.BytesIO()
    image.save(out, "JPEG", **({} if quality is None else {"quality": quality}))
    return out.getvalue()


def picture(seed: int) -> bytes:
    """A generated 'photo': a gradient sky, a sun and hills placed by the seed."""
    width, height = 640, 480
    image = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)
    for y in range(height):
        draw.line(
            [(0, y), (width, y)], fill=(40 + y // 4, 90 + (seed * 17 + y) % 100, 200 - y // 5)
        )
    draw.ellipse((seed * 53 % 500, 40, seed * 53 % 500 + 90, 130), fill=(255, 220, 120))
    for i in range(3):
        x = (seed * 97 + i * 211) % width
        draw.polygon(
            [(x - 200, height), (x, 250 + (seed + i) * 13 % 80), (x + 200, height)],
            fill=(30 + i * 40, 120, 60),
        )
    out = io.BytesIO()
    image.save(out, "JPEG", quality=88)
    return out.getvalue()


def create_log(directory: Path) -> tuple[LogConfig, Signer]:
    log = LogConfig.from_env(directory, database_url=f"sqlite:///{directory.resolve() / 'log.db'}")
    signer = log.write_new_key(ORIGIN)
    migrations.upgrade(log.database_url)
    registry_sequencer(LogStore(open_engine(log.database_url)), signer, now_ms).initialize()
    return log, signer
