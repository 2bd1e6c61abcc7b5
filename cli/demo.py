"""`prov demo`: the registry end to end on a temporary SQLite database, over real HTTP.

A camera vendor and a generator vendor register their roots; three cameras (ES256 and Ed25519)
and one model release enroll; the devices sign captures of generated pictures and submit them;
every accepted record comes back with an inclusion proof that is verified here, offline, against
the log's signed checkpoint. Then a consistency proof shows the log only grew, a witness in its
own process cosigns, a fact-checker looks up a resized copy and verifies its bundle, a C2PA
camera's file is ingested and found again without its manifest, and a planted launderer tops the
origin report.

Everything goes through cli/client.HttpClient against the server started here, as a remote
user of the registry would; one function per numbered step of the output.
"""

import base64
import dataclasses
import json
import secrets
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from cryptography.x509.oid import ExtendedKeyUsageOID
from rich.console import Console
from rich.table import Table

from cli.client import HttpClient
from cli.demo_setup import (
    ORIGIN,
    WITNESS,
    Cast,
    create_log,
    device_id,
    make_cast,
    picture,
    reencode,
    registry_server,
    witness_process,
)
from ledger import Verifier, hash_leaf, open_checkpoint, verify_consistency, verify_inclusion
from ledger.cosignature import Cosignature, CosignatureVerifier, verify_cosignatures
from registry import RegistrySettings
from registry.bundle.verify import verify_bundle
from registry.entries.formats import CaptureRecord
from registry.entries.sdk import sign_capture
from registry.imaging.hashing import query_hashes
from registry.open import now_ms
from testkit.c2pa import sign_jpeg
from testkit.pki import C2PA_CLAIM_SIGNING, IssuedCert, make_device

EMAIL_PROTECTION = ExtendedKeyUsageOID.EMAIL_PROTECTION
console = Console(soft_wrap=True)


@dataclasses.dataclass(frozen=True)
class Demo:
    """What every step needs: the client of the demo server and the keys to check it with."""

    client: HttpClient
    token: str
    log_key: Verifier
    witness_key: CosignatureVerifier


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
    log, signer = create_log(directory)
    console.print(f"1. created log [bold]{ORIGIN}[/] on SQLite in {directory}")
    token = secrets.token_urlsafe(16)
    with witness_process(directory / "witness", signer.verifier.vkey) as (witness_url, witness_key):
        console.print(
            f"1b. started witness [bold]{WITNESS}[/] in its own process ({witness_url}); the log "
            "pushes each new checkpoint to it"
        )
        log = dataclasses.replace(
            log, witnesses=f"{witness_url} {witness_key.vkey}", witness_interval_s=0.3
        )
        settings = RegistrySettings(log=log, admin_token=token, verify_workers=0)
        with registry_server(settings) as base:
            client = HttpClient(base, timeout=30)
            try:
                _scenario(Demo(client, token, signer.verifier, witness_key), captures)
            finally:
                client.close()
    console.print(f"\nverifier key: {signer.verifier.vkey}")


def _scenario(run: Demo, captures: int) -> None:
    cast = make_cast(datetime.now(UTC))
    _register_vendors(run, cast)
    _enroll_devices(run, cast)
    first = run.client.log_info()["tree_size"]
    first_root = open_checkpoint(run.client.checkpoint(), run.log_key).root_hash
    records, results = _submit_captures(run, cast, captures)
    _verify_receipts(run, records, results)
    size = _check_consistency(run, first, first_root)
    _show_cosignature(run, size)
    info = run.client.device(device_id(cast.model))
    console.print(
        f"6. GET /v1/devices/…: the model release belongs to {info['vendor_name']!r} (role {info['role']}), {info['captures']} disclosures"
    )
    _lookup_and_verify(run)
    _c2pa_camera(run, cast.camera_ca, cast.now)
    _plant_a_launderer(run, cast.cameras[1], model_seed=300, counter=captures + 1)


def _register_vendors(run: Demo, cast: Cast) -> None:
    for name, role, root in [
        ("Example Camera Co.", "camera", cast.camera_root),
        ("Example Diffusion Labs", "generator", cast.model_root),
    ]:
        receipt = run.client.add_vendor(name, role, root.der, run.token)
        console.print(f"2. POST /v1/vendors: {name} ({role}) logged at index {receipt['index']}")


def _enroll_devices(run: Demo, cast: Cast) -> None:
    for device, chain in [(c, [cast.camera_ca]) for c in cast.cameras] + [(cast.model, [])]:
        receipt = run.client.enroll_device(device.der, [c.der for c in chain])
        algorithm = "Ed25519" if "Ed25519" in type(device.private_key).__name__ else "ES256"
        console.print(
            f"3. POST /v1/devices: {device.certificate.subject.rfc4514_string()} ({algorithm}) at index {receipt['index']}"
        )


def _submit_captures(
    run: Demo, cast: Cast, captures: int
) -> tuple[list[CaptureRecord], list[dict[str, Any]]]:
    """Each camera signs `captures` pictures and the model release two, all submitted at once."""
    start_ms = now_ms()
    records: list[CaptureRecord] = []
    for number, device in enumerate([*cast.cameras, cast.model]):
        for i in range(captures if device is not cast.model else 2):
            seed = number * 100 + i
            records.append(
                sign_capture(
                    picture(seed),
                    device.private_key,
                    device.certificate,
                    i + 1,
                    start_ms - 1000 * (captures - i),
                    name=f"demo-{seed}.jpg",
                )  # fmt: skip
            )
    results = run.client.submit_captures(records)
    accepted = sum(1 for r in results if r["accepted"])
    console.print(
        f"4. POST /v1/captures: {accepted} accepted, {len(results) - accepted} rejected (signed by the devices just now)"
    )
    return records, results


def _verify_receipts(
    run: Demo, records: list[CaptureRecord], results: list[dict[str, Any]]
) -> None:
    """Each receipt's inclusion proof, checked here against its signed checkpoint."""
    table = Table("record", "device", "index", "counter", "proof", "verified offline")
    for result, sent in zip(results, records, strict=True):
        checkpoint = open_checkpoint(result["checkpoint"].encode(), run.log_key)
        leaf = base64.b64decode(run.client.entry(result["index"])["data"])
        assert json.loads(leaf)["claim"] == sent["claim"]
        proof = [base64.b64decode(h) for h in result["inclusion_proof"]]
        verify_inclusion(
            hash_leaf(leaf), result["index"], checkpoint.size, proof, checkpoint.root_hash
        )
        table.add_row(
            str(result["position"]), sent["claim"]["device"][:12], str(result["index"]),
            result["counter_status"], f"{len(proof)} hashes", "[green]yes[/]",
        )  # fmt: skip
    console.print(table)


def _check_consistency(run: Demo, first: int, first_root: bytes) -> int:
    """The log at `first` entries is a prefix of the latest; returns the latest size."""
    latest = open_checkpoint(run.client.checkpoint(), run.log_key)
    consistency = run.client.consistency_proof(first)
    path = [base64.b64decode(h) for h in consistency["consistency_path"]]
    verify_consistency(first, latest.size, first_root, latest.root_hash, path)
    console.print(
        f"5. the log at {first} entries is a prefix of the log at {latest.size}: consistency proof verified"
    )
    return latest.size


def _show_cosignature(run: Demo, size: int) -> None:
    cosignature = _await_cosignature(run.client, size, run.witness_key)
    console.print(
        f"5b. witness {run.witness_key.name} cosigned the checkpoint at {size} entries "
        f"(time {datetime.fromtimestamp(cosignature.timestamp, UTC):%Y-%m-%d %H:%M:%S} UTC): "
        "third-party evidence that every capture above existed by then"
    )


def _await_cosignature(client: HttpClient, size: int, witness: CosignatureVerifier) -> Cosignature:
    """Wait (up to 20 s) until the log serves its checkpoint at `size` cosigned by `witness`."""
    deadline = time.monotonic() + 20
    while True:
        note = client.checkpoint()
        found = verify_cosignatures(note, [witness])
        if found and note.split(b"\n")[1] == str(size).encode():
            return found[0]
        if time.monotonic() > deadline:
            raise click.ClickException("the witness did not cosign the log's checkpoint in 20 s")
        time.sleep(0.2)


def _lookup_and_verify(run: Demo) -> None:
    """A fact-checker finds a re-encoded, resized copy of the first camera picture online,
    looks it up and checks the best match's bundle offline."""
    copy = reencode(picture(0), (480, 360), quality=60)
    lookup = run.client.lookup_image(copy, "found.jpg")
    best = lookup["matches"][0]
    console.print(
        f"7. POST /v1/lookup (a resized, re-encoded copy): [bold]{lookup['verdict']}[/] — entry "
        f"{best['leaf_index']}, PDQ distance {best['pdq_distance']}, {best['vendor_name']}"
    )
    bundle = run.client.bundle(best["leaf_index"])
    report = verify_bundle(
        bundle, run.log_key, query_hashes(copy), witnesses=[run.witness_key], min_witnesses=1
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


def _c2pa_camera(run: Demo, camera_ca: IssuedCert, now: datetime) -> None:
    """A camera that signs Content Credentials: its file is logged as it is, and a C2PA client
    holding a stripped copy finds it through the soft-binding API."""
    device = make_device(
        camera_ca, now, common_name="X200 #0001", eku=(C2PA_CLAIM_SIGNING, EMAIL_PROTECTION)
    )
    signed = sign_jpeg(reencode(picture(400), None, quality=92), device, [camera_ca], now)
    logged = run.client.ingest_c2pa(signed, "x200-0001.jpg")
    console.print(
        f"8c. POST /v1/c2pa/ingest (a C2PA-signed JPEG, validated offline against the vendor "
        f"roots): c2pa-capture/v1 at index {logged['index']}; its signer enrolled as a device"
    )
    stripped = reencode(signed, (480, 360), quality=None)
    found = run.client.c2pa_matches_by_content(stripped)
    manifest = run.client.c2pa_manifest(found[0]["manifestId"])
    console.print(
        f"8d. POST /v1/c2pa/matches/byContent (manifest stripped, resized): {found[0]['manifestId']}, "
        f"similarity {found[0]['similarityScore']}; its C2PA manifest store ({len(manifest)} bytes) "
        "rebuilt from the log"
    )


def _plant_a_launderer(run: Demo, camera: IssuedCert, model_seed: int, counter: int) -> None:
    """A camera photographs an image the generator disclosed: the report must put it on top."""
    shown = reencode(picture(model_seed), (600, 450), quality=85)
    record = sign_capture(
        shown, camera.private_key, camera.certificate, counter, now_ms(),
        name="rephotographed.jpg",
    )  # fmt: skip
    (result,) = run.client.submit_captures([record])
    console.print(
        f"9. planted: {camera.certificate.subject.rfc4514_string()} registers a photo of a "
        f"generator's disclosed image (entry {result['index']})"
    )
    report = json.loads(run.client.clusters(None))
    top = report["devices"][0]
    evidence = top["signals"].get("laundered_synthetic", {}).get("evidence", [])
    console.print(
        f"10. GET /v1/clusters at tree size {report['checkpoint']['tree_size']}: top origin "
        f"{top['device'][:16]}… ({top['vendor_name']}), score {top['score'] / 1000:.2f}: "
        f"{'; '.join(top['reasons'])} — evidence entries {evidence}",
        highlight=False,
    )
    if top["device"] != device_id(camera) or not evidence:
        raise click.ClickException("the planted launderer is not the top suspicious origin")
