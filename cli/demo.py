"""`prov demo`: the registry end to end on a temporary SQLite database, over real HTTP.

A camera vendor and a generator vendor register their roots; three cameras (ES256 and Ed25519)
and one model release enroll; the devices sign captures of generated pictures and submit them;
every accepted record comes back with an inclusion proof that is verified here, offline, against
the log's signed checkpoint. Then a consistency proof shows the log only grew.
"""

import base64
import dataclasses
import hashlib
import io
import json
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import uvicorn
from cryptography.x509.oid import ExtendedKeyUsageOID
from PIL import Image, ImageDraw
from rich.console import Console
from rich.table import Table

import migrations
from api import create_app
from ledger import (
    LogConfig,
    LogStore,
    Sequencer,
    Verifier,
    hash_leaf,
    open_checkpoint,
    open_engine,
    verify_consistency,
    verify_inclusion,
)
from ledger.cosignature import Cosignature, CosignatureVerifier, verify_cosignatures
from ledger.witness import write_new_cosigner
from registry import RegistrySettings
from registry.bundle.verify import verify_bundle
from registry.entries.codec import b64
from registry.entries.sdk import sign_capture
from registry.imaging.hashing import query_hashes
from testkit.c2pa import sign_jpeg
from testkit.pki import (
    C2PA_CLAIM_SIGNING,
    IssuedCert,
    make_device,
    make_intermediate,
    make_root,
)

ORIGIN = "demo.provenance-ledger.example/log"
WITNESS = "witness.demo.provenance-ledger.example/w1"
console = Console(soft_wrap=True)


EMAIL_PROTECTION = ExtendedKeyUsageOID.EMAIL_PROTECTION


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _call(
    base: str, method: str, path: str, body: Any = None, token: str | None = None, raw: bool = False
) -> Any:
    payload = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=payload, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (localhost only)
        data: bytes = response.read()
    return data if raw or path == "/checkpoint" else json.loads(data)


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


def _device_id(device: IssuedCert) -> str:
    return hashlib.sha256(device.der).hexdigest()


@click.command()
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False),
    help="Keep the demo log here [a temporary directory, removed after].",
)
@click.option(
    "--captures",
    default=4,
    show_default=True,
    type=click.IntRange(1, 1000),
    help="Captures per camera.",
)
def demo(data_dir: str | None, captures: int) -> None:
    """Run the registry end to end: vendors, devices, signed captures, proofs verified offline."""
    directory = Path(data_dir) if data_dir else Path(tempfile.mkdtemp(prefix="prov-demo-"))
    if data_dir:
        shutil.rmtree(directory, ignore_errors=True)
    try:
        _run(directory, captures)
    finally:
        if not data_dir:
            shutil.rmtree(directory, ignore_errors=True)


def _run(directory: Path, captures: int) -> None:
    log = LogConfig.from_env(directory, database_url=f"sqlite:///{directory.resolve() / 'log.db'}")
    signer = log.write_new_key(ORIGIN)
    migrations.upgrade(log.database_url)
    store = LogStore(open_engine(log.database_url))
    Sequencer(store, signer, lambda: time.time_ns() // 1_000_000).initialize()
    token = secrets.token_urlsafe(16)
    console.print(f"1. created log [bold]{ORIGIN}[/] on SQLite in {directory}")
    witness_url, witness_key, witness = _start_witness(directory / "witness", signer.verifier.vkey)
    console.print(
        f"1b. started witness [bold]{WITNESS}[/] in its own process ({witness_url}); the log "
        "pushes each new checkpoint to it"
    )
    log = dataclasses.replace(
        log, witnesses=f"{witness_url} {witness_key.vkey}", witness_interval_s=0.3
    )
    settings = RegistrySettings(log=log, admin_token=token, verify_workers=0)

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    try:
        _scenario(base, token, signer.verifier.vkey, witness_key, store, captures)
    finally:
        server.should_exit = True
        witness.terminate()
        witness.wait(timeout=10)


def _start_witness(
    directory: Path, log_vkey: str
) -> tuple[str, CosignatureVerifier, subprocess.Popen[bytes]]:
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
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(base + "/", timeout=1):  # noqa: S310 (localhost only)
                return base, cosigner.verifier, process
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise click.ClickException("the demo witness did not start") from None
            time.sleep(0.1)


def _scenario(
    base: str,
    token: str,
    vkey: str,
    witness_key: CosignatureVerifier,
    store: LogStore,
    captures: int,
) -> None:
    log_key = Verifier.from_vkey(vkey)
    now = datetime.now(UTC)
    camera_root = make_root(now, common_name="Example Camera Co. Root CA")
    camera_ca = make_intermediate(camera_root, now)
    cameras = [
        make_device(camera_ca, now, key="ES256", common_name="X100 #0001"),
        make_device(camera_ca, now, key="ES256", common_name="X100 #0002"),
        make_device(camera_ca, now, key="Ed25519", common_name="Z9 #0001"),
    ]
    model_root = make_root(
        now, common_name="Example Diffusion Labs Root CA", organization="Example Diffusion Labs"
    )
    model = make_device(
        model_root,
        now,
        key="Ed25519",
        common_name="diffusion-xl 2.1",
        organization="Example Diffusion Labs",
    )

    for name, role, root in [
        ("Example Camera Co.", "camera", camera_root),
        ("Example Diffusion Labs", "generator", model_root),
    ]:
        receipt = _call(
            base, "POST", "/v1/vendors", {"name": name, "role": role, "root": b64(root.der)}, token
        )
        console.print(f"2. POST /v1/vendors: {name} ({role}) logged at index {receipt['index']}")
    for device, chain in [(c, [camera_ca]) for c in cameras] + [(model, [])]:
        body = {"cert": b64(device.der), "chain": [b64(c.der) for c in chain]}
        receipt = _call(base, "POST", "/v1/devices", body)
        algorithm = "Ed25519" if "Ed25519" in type(device.private_key).__name__ else "ES256"
        console.print(
            f"3. POST /v1/devices: {device.certificate.subject.rfc4514_string()} ({algorithm}) at index {receipt['index']}"
        )

    first = _call(base, "GET", "/v1/log")["tree_size"]
    first_root = open_checkpoint(_call(base, "GET", "/checkpoint"), log_key).root_hash
    now_ms = time.time_ns() // 1_000_000
    records = []
    for number, device in enumerate([*cameras, model]):
        for i in range(captures if device is not model else 2):
            seed = number * 100 + i
            records.append(
                sign_capture(
                    picture(seed),
                    device.private_key,
                    device.certificate,
                    i + 1,
                    now_ms - 1000 * (captures - i),
                    name=f"demo-{seed}.jpg",
                )
            )
    response = _call(base, "POST", "/v1/captures", {"records": records})
    console.print(
        f"4. POST /v1/captures: {response['accepted']} accepted, {response['rejected']} rejected (signed by the devices just now)"
    )

    table = Table("record", "device", "index", "counter", "proof", "verified offline")
    for result, sent in zip(response["results"], records, strict=True):
        checkpoint = open_checkpoint(result["checkpoint"].encode(), log_key)
        leaf = base64.b64decode(_call(base, "GET", f"/v1/log/entries/{result['index']}")["data"])
        assert json.loads(leaf)["claim"] == sent["claim"]
        proof = [base64.b64decode(h) for h in result["inclusion_proof"]]
        verify_inclusion(
            hash_leaf(leaf), result["index"], checkpoint.size, proof, checkpoint.root_hash
        )
        table.add_row(
            str(result["position"]),
            sent["claim"]["device"][:12],
            str(result["index"]),
            result["counter_status"],
            f"{len(proof)} hashes",
            "[green]yes[/]",
        )
    console.print(table)

    latest = open_checkpoint(_call(base, "GET", "/checkpoint"), log_key)
    consistency = _call(base, "GET", f"/v1/log/proof/consistency?first={first}")
    verify_consistency(
        first,
        latest.size,
        first_root,
        latest.root_hash,
        [base64.b64decode(h) for h in consistency["consistency_path"]],
    )
    console.print(
        f"5. the log at {first} entries is a prefix of the log at {latest.size}: consistency proof verified"
    )
    cosignature = _await_cosignature(base, latest.size, witness_key)
    console.print(
        f"5b. witness {witness_key.name} cosigned the checkpoint at {latest.size} entries "
        f"(time {datetime.fromtimestamp(cosignature.timestamp, UTC):%Y-%m-%d %H:%M:%S} UTC): "
        "third-party evidence that every capture above existed by then"
    )
    info = _call(base, "GET", f"/v1/devices/{_device_id(model)}")
    console.print(
        f"6. GET /v1/devices/…: the model release belongs to {info['vendor_name']!r} (role {info['role']}), {info['captures']} disclosures"
    )
    # A fact-checker finds a re-encoded, resized copy of the first camera picture online.
    found = Image.open(io.BytesIO(picture(0))).convert("RGB").resize((480, 360))
    out = io.BytesIO()
    found.save(out, "JPEG", quality=60)
    lookup = _lookup(base, out.getvalue())
    best = lookup["matches"][0]
    console.print(
        f"7. POST /v1/lookup (a resized, re-encoded copy): [bold]{lookup['verdict']}[/] — entry "
        f"{best['leaf_index']}, PDQ distance {best['pdq_distance']}, {best['vendor_name']}"
    )
    bundle = _call(base, "GET", f"/v1/bundles/{best['leaf_index']}", raw=True)
    report = verify_bundle(
        bundle, log_key, query_hashes(out.getvalue()), witnesses=[witness_key], min_witnesses=1
    )
    for check in report.checks:
        console.print(
            f"   {'ok' if check.ok else 'FAIL'} {check.name}: {check.detail}", highlight=False
        )
    for claim in report.times:
        console.print(f"   {claim.describe()}", highlight=False)
    if not report.ok:
        raise click.ClickException("the demo's proof bundle did not verify")
    console.print(
        "8. the proof bundle verified offline with nothing but the log's and the witness's keys"
    )
    _c2pa_camera(base, camera_ca, now)
    _plant_a_launderer(base, cameras[1], model_seed=300, counter=captures + 1)
    console.print(f"\nverifier key: {vkey}")


def _c2pa_camera(base: str, camera_ca: IssuedCert, now: datetime) -> None:
    """A camera that signs Content Credentials: its file is logged as it is, and a C2PA client
    holding a stripped copy finds it through the soft-binding API."""
    device = make_device(
        camera_ca, now, common_name="X200 #0001", eku=(C2PA_CLAIM_SIGNING, EMAIL_PROTECTION)
    )
    shot = io.BytesIO()
    Image.open(io.BytesIO(picture(400))).convert("RGB").save(shot, "JPEG", quality=92)
    signed = sign_jpeg(shot.getvalue(), device, [camera_ca], now)
    logged = _post_bytes(base, "/v1/c2pa/ingest", signed)
    console.print(
        f"8c. POST /v1/c2pa/ingest (a C2PA-signed JPEG, validated offline against the vendor "
        f"roots): c2pa-capture/v1 at index {logged['index']}; its signer enrolled as a device"
    )
    stripped = io.BytesIO()
    Image.open(io.BytesIO(signed)).convert("RGB").resize((480, 360)).save(stripped, "JPEG")
    found = _post_bytes(base, "/v1/c2pa/matches/byContent", stripped.getvalue())["matches"]
    manifest = _call(base, "GET", f"/v1/c2pa/manifests/{found[0]['manifestId']}", raw=True)
    console.print(
        f"8d. POST /v1/c2pa/matches/byContent (manifest stripped, resized): {found[0]['manifestId']}, "
        f"similarity {found[0]['similarityScore']}; its C2PA manifest store ({len(manifest)} bytes) "
        "rebuilt from the log"
    )


def _post_bytes(base: str, path: str, data: bytes) -> Any:
    request = urllib.request.Request(base + path, data=data, method="POST")
    request.add_header("Content-Type", "image/jpeg")
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (localhost only)
        return json.loads(response.read())


def _plant_a_launderer(base: str, camera: IssuedCert, model_seed: int, counter: int) -> None:
    """A camera photographs an image the generator disclosed: the report must put it on top."""
    shown = Image.open(io.BytesIO(picture(model_seed))).convert("RGB").resize((600, 450))
    out = io.BytesIO()
    shown.save(out, "JPEG", quality=85)
    record = sign_capture(
        out.getvalue(), camera.private_key, camera.certificate, counter,
        time.time_ns() // 1_000_000, name="rephotographed.jpg",
    )  # fmt: skip
    (result,) = _call(base, "POST", "/v1/captures", {"records": [record]})["results"]
    console.print(
        f"9. planted: {camera.certificate.subject.rfc4514_string()} registers a photo of a "
        f"generator's disclosed image (entry {result['index']})"
    )
    report = json.loads(_call(base, "GET", "/v1/clusters", raw=True))
    top = report["devices"][0]
    evidence = top["signals"].get("laundered_synthetic", {}).get("evidence", [])
    console.print(
        f"10. GET /v1/clusters at tree size {report['checkpoint']['tree_size']}: top origin "
        f"{top['device'][:16]}… ({top['vendor_name']}), score {top['score'] / 1000:.2f}: "
        f"{'; '.join(top['reasons'])} — evidence entries {evidence}",
        highlight=False,
    )
    if top["device"] != _device_id(camera) or not evidence:
        raise click.ClickException("the planted launderer is not the top suspicious origin")


def _await_cosignature(base: str, size: int, witness: CosignatureVerifier) -> Cosignature:
    """Wait (up to 20 s) until the log serves its checkpoint at `size` cosigned by `witness`."""
    deadline = time.monotonic() + 20
    while True:
        note = _call(base, "GET", "/checkpoint", raw=True)
        found = verify_cosignatures(note, [witness])
        if found and note.split(b"\n")[1] == str(size).encode():
            return found[0]
        if time.monotonic() > deadline:
            raise click.ClickException("the witness did not cosign the log's checkpoint in 20 s")
        time.sleep(0.2)


def _lookup(base: str, image: bytes) -> Any:
    boundary = "provdemo" + secrets.token_hex(8)
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="found.jpg"\r\n'
            f"Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + image
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(base + "/v1/lookup", data=body, method="POST")
    request.add_header("Content-Type", f"multipart/form-data; boundary={boundary}")
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (localhost only)
        return json.loads(response.read())
