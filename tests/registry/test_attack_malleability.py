"""Issue 13, hole 3: ECDSA malleability must not frame an honest camera. Anyone can turn a
public ES256 capture's (r, s) into (r, n - s), a second valid signature over the same claim;
logged as a new record, it repeated the device's counter and /origins labelled the device
"cloned or extracted key". Admission takes only low-S ES256 signatures, a claim already logged
is a duplicate whatever its signature, and `prov audit replay` reports both in an old log.
Through the HTTP API as an outsider, on SQLite and PostgreSQL."""

import base64
import dataclasses
import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ledger import Signer
from registry import Registry, RegistrySettings
from registry.audit.replay import replay_log
from registry.entries.codec import CAPTURE, capture_message
from registry.entries.sdk import sign_message
from registry.origins.facts import load_facts
from registry.origins.report import build_report
from testkit.pki import DevicePKI, KeyType, make_pki
from tests.support.clocks import FixedClock
from tests.support.in_process import served
from tests.support.registry_fixtures import TOKEN, record, serving_app, smuggle

ADMIN = {"Authorization": f"Bearer {TOKEN}"}
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


def flipped(capture: dict[str, Any]) -> dict[str, Any]:
    """The same claim with (r, n - s): what anyone can make from a public ES256 capture."""
    signature = base64.b64decode(capture["sig"])
    s = int.from_bytes(signature[32:], "big")
    return {**capture, "sig": b64(signature[:32] + (P256_ORDER - s).to_bytes(32, "big"))}


def high_and_low(capture: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    s = int.from_bytes(base64.b64decode(capture["sig"])[32:], "big")
    other = flipped(capture)
    return (capture, other) if s > P256_ORDER // 2 else (other, capture)


def resigned(capture: dict[str, Any], pki: DevicePKI) -> dict[str, Any]:
    """A fresh (randomized, low-S) signature by the device over the very same claim."""
    message = capture_message(capture["claim"])
    while True:
        signature = sign_message(pki.device.private_key, message)
        if b64(signature) != capture["sig"]:
            return {**capture, "sig": b64(signature)}


@pytest.fixture
def client(writable_settings: RegistrySettings) -> Iterator[TestClient]:
    with serving_app(dataclasses.replace(writable_settings, admin_token=TOKEN)) as test_client:
        yield test_client


def enroll(client: TestClient, device_key: KeyType = "ES256") -> DevicePKI:
    pki = make_pki(datetime.now(UTC), intermediate=True, device_key=device_key)
    body = {"name": "Example Camera Co.", "role": "camera", "root": b64(pki.root.der)}
    assert client.post("/v1/vendors", json=body, headers=ADMIN).status_code == 200
    device = {"cert": b64(pki.device.der), "chain": [b64(c) for c in pki.chain_der]}
    assert client.post("/v1/devices", json=device).status_code == 200
    return pki


def submit(client: TestClient, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    response = client.post("/v1/captures", json={"records": records})
    assert response.status_code == 200, response.text
    results: list[dict[str, Any]] = response.json()["results"]
    return results


def tree_size(client: TestClient) -> int:
    size: int = client.get("/v1/log").json()["tree_size"]
    return size


def test_sdk_signs_low_s() -> None:
    pki = make_pki(datetime.now(UTC))
    for _ in range(40):  # a random s is high half the time: 40 in a row by chance is 2**-40
        signature = sign_message(pki.device.private_key, b"message")
        assert int.from_bytes(signature[32:], "big") <= P256_ORDER // 2


def test_high_s_capture_is_refused(client: TestClient) -> None:
    pki = enroll(client)
    high, low = high_and_low(record(pki.device, 1, 1, now_ms() - 1000))
    size = tree_size(client)

    refused = submit(client, [high])[0]

    assert (refused["accepted"], refused["code"]) == (False, "high_s_signature")
    assert "low-S" in refused["reason"]
    assert tree_size(client) == size
    assert submit(client, [low])[0]["accepted"] is True


def test_resigned_claim_is_a_duplicate_not_a_counter_repeat(client: TestClient) -> None:
    pki = enroll(client)
    honest = record(pki.device, 1, 7, now_ms() - 1000)
    first = submit(client, [honest])[0]
    assert first["accepted"] is True and first["duplicate"] is False
    size = tree_size(client)

    # The malleated copy (whichever of the pair the SDK did not send) and a genuine re-signature.
    results = submit(client, [flipped(honest), resigned(honest, pki)])

    assert results[0]["accepted"] is False and results[0]["code"] == "high_s_signature"
    again = results[1]
    assert again["accepted"] is True and again["duplicate"] is True
    assert again["index"] == first["index"] and again["counter_status"] is None
    assert tree_size(client) == size
    device = hashlib.sha256(pki.device.der).hexdigest()
    assert client.get(f"/v1/devices/{device}").json()["captures"] == 1
    origin = client.get(f"/v1/origins/{device}")
    assert origin.status_code == 404 and origin.json()["error"]["type"] == "no_signals"


def test_resigned_claim_in_the_same_batch_is_a_duplicate(client: TestClient) -> None:
    pki = enroll(client)
    honest = record(pki.device, 2, 3, now_ms() - 1000)
    size = tree_size(client)

    results = submit(client, [honest, resigned(honest, pki), resigned(honest, pki)])

    assert all(r["accepted"] for r in results)
    assert [r["duplicate"] for r in results] == [False, True, True]
    assert {r["index"] for r in results} == {size}
    assert tree_size(client) == size + 1


def test_ed25519_claim_twice_is_a_duplicate(client: TestClient) -> None:
    pki = enroll(client, "Ed25519")
    honest = record(pki.device, 3, 1, now_ms() - 1000)

    first, again = submit(client, [honest, honest])
    later = submit(client, [honest])[0]

    assert first["duplicate"] is False and again["duplicate"] is later["duplicate"] is True
    assert first["index"] == again["index"] == later["index"]


def test_replay_reports_high_s_and_a_claim_logged_twice(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock, signer: Signer, tmp_path: Path
) -> None:
    honest = record(enrolled.device, 1, 5, clock.now_ms - 1000)
    high, low = high_and_low(honest)
    logged = registry.submit_captures([low])[0]
    assert logged.receipt is not None
    # What the old admission logged: the malleated copy, and a re-signature of the same claim.
    copies = [
        {"kind": CAPTURE, "logged_at": clock.now_ms, "claim": c["claim"], "sig": c["sig"]}
        for c in (high, resigned(low, enrolled))
    ]
    first = smuggle(registry, signer, clock, list(copies))

    with served(registry, signer, tmp_path) as remote:
        report = replay_log(remote, signer.verifier, workers=1)

    found = {(i.index, i.code) for i in report.invalid}
    assert found == {
        (first, "high_s_signature"),
        (first, "duplicate_claim"),
        (first + 1, "duplicate_claim"),
    }
    duplicate = next(i for i in report.invalid if i.index == first + 1)
    assert f"entry {logged.receipt.index}" in duplicate.reason

    # Rebuilt from that log, the copies are duplicates, not counter repeats of the device.
    registry.reindex()
    facts = load_facts(registry.store)
    report_json = json.loads(json.dumps(build_report(facts)))
    assert report_json["devices"] == []
