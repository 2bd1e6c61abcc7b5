"""The log's side of witnessing: pushing checkpoints to a witness, serving its cosignatures,
bundles that carry them, and the witnessed time `prov verify` states. The witness runs as its
own app (TestClient) with its own database, or as a real `prov witness serve` process."""

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import delete

import migrations
from api import create_app
from api.witness_app import WitnessSettings, create_witness_app
from cli.main import main
from ledger import LogConfig, LogStore, Sequencer, Signer
from ledger.cosignature import Cosigner, verify_cosignatures
from ledger.errors import LedgerError
from ledger.note import write_private_key_file
from ledger.schema import log_checkpoints, log_cosignatures, log_entry_bundles, log_tiles
from ledger.witnessing import WitnessEndpoint, WitnessPusher, parse_witnesses
from registry import Registry
from registry.bundle.build import build_bundle
from registry.bundle.verify import verify_bundle
from testkit.pki import DevicePKI
from tests.support.clocks import FixedClock
from tests.support.registry_fixtures import record
from tests.support.serving import PROV, prov_serve, witness_serve

WITNESS = "witness.example.org/w1"
SIGNATURE_LINE = "\u2014 ".encode()  # note signature lines start with an em dash
NOW_S = 1_790_000_100  # the witness's clock: shortly after the FixedClock's captures


@pytest.fixture
def cosigner() -> Cosigner:
    return Cosigner.generate(WITNESS)


@pytest.fixture
def witness_http(tmp_path: Path, signer: Signer, cosigner: Cosigner) -> Iterator[TestClient]:
    """A witness for the test log, on its own SQLite database."""
    url = f"sqlite:///{tmp_path / 'witness.db'}"
    migrations.upgrade(url)
    key_file = tmp_path / "witness.key"
    write_private_key_file(key_file, cosigner.to_string(), "witness")
    app = create_witness_app(
        WitnessSettings(url, key_file, [signer.verifier.vkey], clock=lambda: NOW_S)
    )
    with TestClient(app) as client:
        yield client


def pusher(store: LogStore, cosigner: Cosigner, client: TestClient) -> WitnessPusher:
    return WitnessPusher(
        store, [WitnessEndpoint("http://testserver", cosigner.verifier)], http=client
    )


def test_witness_config_parses_and_names_mistakes(cosigner: Cosigner) -> None:
    vkey = cosigner.verifier.vkey
    (one, two) = parse_witnesses(f"http://a:1 {vkey};\n https://b/w  {vkey}\n")
    assert (one.url, two.url, one.key) == ("http://a:1", "https://b/w", cosigner.verifier)
    for bad in (f"a:1 {vkey}", "http://a:1", f"http://a:1 {vkey} extra"):
        with pytest.raises(LedgerError, match="must be 'URL VKEY'"):
            parse_witnesses(bad)


def test_push_cosign_and_serve_the_cosignature(
    sequencer: Sequencer, store: LogStore, signer: Signer, cosigner: Cosigner,
    witness_http: TestClient, tmp_path: Path,
) -> None:  # fmt: skip
    sequencer.append([b"a", b"b", b"c"])
    push = pusher(store, cosigner, witness_http)
    (first,) = push.push()
    assert (first.error, first.tree_size, first.timestamp) == (None, 3, NOW_S)
    assert push.push()[0].timestamp is None  # nothing new: not sent again
    sequencer.append([b"d"] * 300)
    (grown,) = push.push()  # from size 3, with a consistency proof
    assert (grown.error, grown.tree_size) == (None, 303)

    key_file = tmp_path / "log.key"
    write_private_key_file(key_file, signer.to_string(), "log")
    log_url = store.engine.url.render_as_string(hide_password=False)
    with TestClient(create_app(LogConfig(tmp_path, log_url, key_file))) as log_http:
        served = log_http.get("/checkpoint").content
    (cosignature,) = verify_cosignatures(served, [cosigner.verifier])
    assert cosignature.timestamp == NOW_S and served.count(b"\n" + SIGNATURE_LINE) == 2


def test_push_resyncs_when_the_log_forgot_what_the_witness_cosigned(
    sequencer: Sequencer, store: LogStore, cosigner: Cosigner, witness_http: TestClient
) -> None:
    sequencer.append([b"a"] * 10)
    pusher(store, cosigner, witness_http).push()
    with store.engine.begin() as connection:
        connection.execute(delete(log_cosignatures))
    sequencer.append([b"b"] * 5)
    (result,) = pusher(store, cosigner, witness_http).push()  # sends old 0, gets 409 "10"
    assert (result.error, result.tree_size) == (None, 15)


def test_a_forked_log_is_refused_by_its_witness(
    store: LogStore, signer: Signer, clock: FixedClock, cosigner: Cosigner, witness_http: TestClient
) -> None:
    sequencer = Sequencer(store, signer, clock)
    sequencer.initialize()
    sequencer.append([b"honest"] * 20)
    pusher(store, cosigner, witness_http).push()
    # The operator wipes the log and writes another history of a larger size.
    with store.engine.begin() as connection:
        for table in (log_tiles, log_entry_bundles, log_checkpoints, log_cosignatures):
            connection.execute(delete(table))
    forked = Sequencer(store, signer, clock)
    forked.initialize()
    forked.append([b"rewritten"] * 30)
    (result,) = pusher(store, cosigner, witness_http).push()
    assert result.timestamp is None and result.error is not None
    assert "HTTP 422" in result.error and "consistency proof does not verify" in result.error


def test_bundle_carries_the_latest_checkpoint_cosigned_and_verify_states_witnessed_time(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock, signer: Signer, cosigner: Cosigner,
    witness_http: TestClient, tmp_path: Path,
) -> None:  # fmt: skip
    (result,) = registry.submit_captures([record(enrolled.device, 3, 1, clock.now_ms - 5_000)])
    assert result.receipt is not None
    index = result.receipt.index
    pusher(registry.store, cosigner, witness_http).push()
    registry.submit_captures([record(enrolled.device, 4, 2, clock.now_ms)])
    # Bundles are at the latest checkpoint (issue 15: the freshest revocation status), with the
    # cosignatures it has so far: none yet, so the witnesses cannot date it...
    early = build_bundle(registry.store, index)
    assert not verify_cosignatures(json.loads(early)["checkpoint"].encode(), [cosigner.verifier])
    waited = verify_bundle(early, signer.verifier, witnesses=[cosigner.verifier], min_witnesses=1)
    assert not waited.ok and "0 of the 1 witnesses required" in waited.checks[-1].detail
    # ... until the witness cosigns it.
    pusher(registry.store, cosigner, witness_http).push()
    data = build_bundle(registry.store, index)
    bundle = json.loads(data)
    assert verify_cosignatures(bundle["checkpoint"].encode(), [cosigner.verifier])
    assert bundle["checkpoint"].startswith(registry.store.latest_checkpoint().note.decode())

    report = verify_bundle(data, signer.verifier, witnesses=[cosigner.verifier], min_witnesses=1)
    assert report.ok, report.checks
    times = {t.what: t for t in report.times}
    assert times["existed no later than"].at_ms == NOW_S * 1000
    assert WITNESS in times["existed no later than"].vouched_by
    assert "device" in times["captured"].vouched_by and "operator" in times["logged"].vouched_by

    unwitnessed = verify_bundle(data, signer.verifier)
    assert unwitnessed.ok and "existed no later than" not in {t.what for t in unwitnessed.times}
    two = verify_bundle(data, signer.verifier, witnesses=[cosigner.verifier], min_witnesses=2)
    assert not two.ok and "1 of the 2 witnesses required" in two.checks[-1].detail
    stranger = Cosigner.generate("witness.example.org/w2").verifier
    none = verify_bundle(data, signer.verifier, witnesses=[stranger], min_witnesses=1)
    assert not none.ok and "0 of the 1 witnesses required" in none.checks[-1].detail

    path = tmp_path / "b.json"
    path.write_bytes(data)
    shown = CliRunner().invoke(
        main,
        [
            "verify",
            str(path),
            "--log-key",
            signer.verifier.vkey,
            "--witness-key",
            cosigner.verifier.vkey,
        ],
    )
    assert shown.exit_code == 0, shown.output
    assert "existed no later than 2026-" in shown.output or "existed no later than" in shown.output
    assert f"witness {WITNESS}" in shown.output


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # offline: one is enough
def test_every_byte_of_a_cosigned_bundle_matters(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock, signer: Signer, cosigner: Cosigner,
    witness_http: TestClient,
) -> None:  # fmt: skip
    (result,) = registry.submit_captures([record(enrolled.device, 3, 1, clock.now_ms - 5_000)])
    pusher(registry.store, cosigner, witness_http).push()
    assert result.receipt is not None
    data = build_bundle(registry.store, result.receipt.index)
    # The cosignature line, as JSON escapes it inside the bundle's checkpoint string.
    start = data.index(b"\\u2014 " + WITNESS.encode())
    accepted = []
    for position in range(start, start + 140):  # the witness's cosignature line
        tampered = bytearray(data)
        tampered[position] ^= 0x01
        try:
            report = verify_bundle(
                bytes(tampered), signer.verifier, witnesses=[cosigner.verifier], min_witnesses=1
            )
        except LedgerError:
            continue
        if report.ok:
            accepted.append(position)
    assert accepted == []


@pytest.mark.parametrize("workers", [1, 2])
def test_prov_serve_pushes_to_a_witness_process(
    tmp_path: Path, registry: Registry, signer: Signer, migrated_url: str, workers: int
) -> None:
    """With --workers 2, the supervising process pushes (the workers do not)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROV_")}
    storage = [
        "--key-file",
        str(tmp_path / "w.key"),
        "--database",
        f"sqlite:///{tmp_path / 'w.db'}",
    ]
    init = subprocess.run(
        [str(PROV), "witness", "init", "--name", WITNESS, *storage],
        capture_output=True, text=True, env=env, check=True,
    )  # fmt: skip
    vkey = init.stdout.split("verifier key:")[1].split()[0]
    key_file = tmp_path / "log.key"
    write_private_key_file(key_file, signer.to_string(), "log")
    with witness_serve(
        ["--log", signer.verifier.vkey, *storage], tmp_path / "w.log", env
    ) as witness:
        served_env = {**env, "PROV_WITNESSES": f"{witness} {vkey}", "PROV_WITNESS_INTERVAL": "0.2"}
        options = ["--data-dir", str(tmp_path), "--database", migrated_url]
        with prov_serve(
            options, tmp_path / "serve.log", served_env, serve_options=["--workers", str(workers)]
        ) as base:
            deadline = time.monotonic() + 20
            while SIGNATURE_LINE + WITNESS.encode() not in (
                note := httpx.get(f"{base}/checkpoint").content
            ):
                assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
                time.sleep(0.2)
        pushed = CliRunner(env=served_env).invoke(main, [*options, "log", "witness"])
    assert pushed.exit_code == 0, pushed.output
    assert "up to date" in pushed.output or "cosigned" in pushed.output
    from ledger.cosignature import CosignatureVerifier

    assert verify_cosignatures(note, [CosignatureVerifier.from_vkey(vkey)])
