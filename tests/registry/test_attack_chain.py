"""Issue 13, hole 2: a stranger must not take over revocation of a device by enrolling its
(public) certificate first with a poisoned chain - a self-made certificate bearing the issuing
CA's name - and then revoking it with that certificate's key. The issuer, and everything else
taken from the chain, comes from the path the X.509 verifier built; certificates off that path
are dropped before the device/v1 entry is built, and `prov audit replay` reports an old log that
holds them. Through the HTTP API as an outsider, on SQLite and PostgreSQL."""

import base64
import dataclasses
import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ledger import Signer
from registry import Registry, RegistrySettings
from registry.audit.replay import replay_log
from registry.entries.codec import (
    DEVICE,
    REVOCATION,
    parse_entry_as,
    revocation_message,
)
from registry.entries.sdk import sign_message, sign_revocation
from testkit.pki import DevicePKI, IssuedCert, make_pki, make_root
from tests.support.clocks import FixedClock
from tests.support.in_process import served
from tests.support.registry_fixtures import TOKEN, now_of, record, serving_app, smuggle

ADMIN = {"Authorization": f"Bearer {TOKEN}"}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


def impostor_of(ca: IssuedCert, now: datetime) -> IssuedCert:
    """A certificate the stranger makes with their own key and the CA's exact subject name."""
    return make_root(
        now,
        common_name=ca.certificate.subject.rfc4514_string().split("CN=")[1].split(",")[0],
        organization="Example Camera Co.",
    )


def revocation_by(ca: IssuedCert, device: IssuedCert, since: int, reason: str) -> dict[str, Any]:
    return sign_revocation(sha256_hex(device.der), since, reason, ca.private_key, ca.certificate)


@pytest.fixture
def client(writable_settings: RegistrySettings) -> Iterator[TestClient]:
    with serving_app(dataclasses.replace(writable_settings, admin_token=TOKEN)) as test_client:
        yield test_client


@pytest.fixture
def victim(client: TestClient) -> DevicePKI:
    """A vendor (root and device CA) registered; its device not enrolled yet."""
    pki = make_pki(datetime.now(UTC), intermediate=True)
    body = {"name": "Example Camera Co.", "role": "camera", "root": b64(pki.root.der)}
    assert client.post("/v1/vendors", json=body, headers=ADMIN).status_code == 200
    return pki


def test_stranger_cannot_revoke_via_poisoned_chain(client: TestClient, victim: DevicePKI) -> None:
    ca = victim.intermediates[0]
    impostor = impostor_of(ca, datetime.now(UTC))
    assert impostor.certificate.subject == ca.certificate.subject
    poisoned = {"cert": b64(victim.device.der), "chain": [b64(impostor.der), b64(ca.der)]}

    enrolled = client.post("/v1/devices", json=poisoned)

    stolen = client.post(
        "/v1/revocations", json=revocation_by(impostor, victim.device, 0, "stranger's revocation")
    )

    device_id = sha256_hex(victim.device.der)
    assert stolen.status_code == 422, stolen.text
    assert stolen.json()["error"]["type"] == "revocation_bad_signer"
    assert client.get(f"/v1/devices/{device_id}").json()["revocations"] == []
    # The stranger may enroll the public certificate, but only what the verifier's path holds is
    # logged: the impostor is dropped, and the device's issuer is the real CA.
    assert enrolled.status_code == 200, enrolled.text
    entry = parse_entry_as(
        base64.b64decode(client.get(f"/v1/log/entries/{enrolled.json()['index']}").json()["data"]),
        DEVICE,
    )
    assert entry["chain"] == [b64(ca.der)]
    info = client.get(f"/v1/devices/{device_id}").json()
    assert info["issuer_id"] == sha256_hex(ca.der)

    capture = client.post(
        "/v1/captures", json={"records": [record(victim.device, 1, 1, now_ms() - 1000)]}
    ).json()["results"][0]
    assert capture["accepted"] is True and capture["flags"] == []

    # The vendor's own enrolment is a duplicate of the (clean) entry, and its CA still revokes.
    again = client.post(
        "/v1/devices", json={"cert": b64(victim.device.der), "chain": [b64(ca.der)]}
    ).json()
    assert again["duplicate"] is True and again["index"] == enrolled.json()["index"]
    honest = client.post(
        "/v1/revocations", json=revocation_by(ca, victim.device, now_ms(), "key extracted")
    )
    assert honest.status_code == 200, honest.text
    assert len(client.get(f"/v1/devices/{device_id}").json()["revocations"]) == 1


def test_impostor_placed_anywhere_in_the_chain_is_dropped(
    client: TestClient, victim: DevicePKI
) -> None:
    ca = victim.intermediates[0]
    impostor = impostor_of(ca, datetime.now(UTC))
    stranger_root = make_root(datetime.now(UTC), common_name="Someone Else Root")
    chain = [b64(ca.der), b64(stranger_root.der), b64(impostor.der), b64(victim.root.der)]

    enrolled = client.post("/v1/devices", json={"cert": b64(victim.device.der), "chain": chain})

    assert enrolled.status_code == 200, enrolled.text
    leaf = client.get(f"/v1/log/entries/{enrolled.json()['index']}").json()["data"]
    # The path's intermediates, issuer first; the root is the vendor entry's, not repeated.
    assert parse_entry_as(base64.b64decode(leaf), DEVICE)["chain"] == [b64(ca.der)]
    for signer in (impostor, stranger_root):
        response = client.post(
            "/v1/revocations", json=revocation_by(signer, victim.device, 0, "stranger")
        )
        assert response.json()["error"]["type"] == "revocation_bad_signer"


def test_replay_reports_an_old_poisoned_chain_and_the_revocation_it_enabled(
    registry: Registry, clock: FixedClock, signer: Signer, tmp_path: Path
) -> None:
    pki = make_pki(now_of(clock), intermediate=True)
    ca = pki.intermediates[0]
    impostor = impostor_of(ca, now_of(clock))
    registry.add_vendor("Example Camera Co.", "camera", pki.root.der, TOKEN)
    device_id = sha256_hex(pki.device.der)
    # What the old admission logged: the chain as submitted, impostor included.
    poisoned = {
        "kind": DEVICE, "logged_at": clock.now_ms, "cert": b64(pki.device.der),
        "chain": [b64(impostor.der), b64(ca.der)], "vendor": sha256_hex(pki.root.der),
    }  # fmt: skip
    body = {
        "kind": REVOCATION, "device": device_id, "compromised_since": 0,
        "reason": "stranger", "signer": sha256_hex(impostor.der),
    }  # fmt: skip
    signature = sign_message(impostor.private_key, revocation_message(body))
    revocation = {**body, "logged_at": clock.now_ms, "sig": b64(signature)}
    first = smuggle(registry, signer, clock, [poisoned, revocation])
    registry.reindex()

    with served(registry, signer, tmp_path) as remote:
        report = replay_log(remote, signer.verifier, workers=1)

    found = {(i.index, i.code) for i in report.invalid}
    assert found == {(first, "chain_off_path"), (first + 1, "revocation_bad_signer")}
    # Rebuilt from that log, the derived rows still name the real CA as the issuer.
    assert registry.device(device_id)["issuer_id"] == sha256_hex(ca.der)
