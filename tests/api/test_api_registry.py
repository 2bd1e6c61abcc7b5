"""The registry's HTTP write side (/v1/vendors, /v1/devices, /v1/captures, /v1/revocations), on
SQLite and PostgreSQL.

The app is built from RegistrySettings over a migrated, initialized log whose key file holds the
`signer` fixture's key. Its Registry uses the wall clock, so certificates are made around
`datetime.now(UTC)` and captures are dated with the current time. Every receipt is checked the
way a client would: its inclusion proof against the signed checkpoint it came with, and its leaf
hash against the entry the log serves.
"""

import base64
import dataclasses
import hashlib
import json
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from ledger import (
    LogConfig,
    Signer,
    hash_leaf,
    open_checkpoint,
    verify_inclusion,
)
from registry import RegistrySettings
from registry.entries.codec import parse_entry
from registry.entries.sdk import sign_revocation
from registry.wording import iso_utc
from testkit.pki import DevicePKI, IssuedCert, make_device, make_pki, make_root
from tests.support.registry_fixtures import record, serving_app, signed_claim

TOKEN = "op-token"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
MAX_BATCH = 20
MAX_BODY = 200_000


# --- helpers ---


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def vendor_body(root: IssuedCert, role: str = "camera") -> dict[str, Any]:
    return {"name": "Example Camera Co.", "role": role, "root": b64(root.der)}


def device_body(device: IssuedCert, chain: Sequence[bytes] = ()) -> dict[str, Any]:
    return {"cert": b64(device.der), "chain": [b64(c) for c in chain]}


def ok_json(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


def assert_error(response: httpx.Response, status: int, kind: str) -> str:
    """The response is the API's JSON error of `status` and `kind`; returns its message."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error["type"] == kind
    message: str = error["message"]
    assert message.strip()
    return message


def assert_receipt(client: TestClient, receipt: dict[str, Any], signer: Signer) -> dict[str, Any]:
    """The receipt's proof verifies against its signed checkpoint, and its leaf hash is the
    hash of the entry the log serves at its index; returns that entry, parsed."""
    checkpoint = open_checkpoint(receipt["checkpoint"].encode(), signer.verifier)
    assert receipt["tree_size"] == checkpoint.size
    leaf_hash = base64.b64decode(receipt["leaf_hash"])
    verify_inclusion(
        leaf_hash,
        receipt["index"],
        checkpoint.size,
        [base64.b64decode(h) for h in receipt["inclusion_proof"]],
        checkpoint.root_hash,
    )
    served = ok_json(client.get(f"/v1/log/entries/{receipt['index']}"))
    leaf = base64.b64decode(served["data"])
    assert hash_leaf(leaf) == leaf_hash
    return dict(parse_entry(leaf))


def tree_size(client: TestClient) -> int:
    size: int = ok_json(client.get("/v1/log"))["tree_size"]
    return size


def submit(client: TestClient, records: list[Any]) -> dict[str, Any]:
    body: dict[str, Any] = ok_json(client.post("/v1/captures", json={"records": records}))
    return body


def revocation_by(ca: IssuedCert, device: IssuedCert, since: int, reason: str) -> dict[str, Any]:
    return sign_revocation(sha256_hex(device.der), since, reason, ca.private_key, ca.certificate)


# --- fixtures ---


@pytest.fixture
def settings(writable_settings: RegistrySettings) -> RegistrySettings:
    return dataclasses.replace(
        writable_settings, admin_token=TOKEN, max_batch=MAX_BATCH, max_body_bytes=MAX_BODY
    )


serve = serving_app


@pytest.fixture
def client(settings: RegistrySettings) -> Iterator[TestClient]:
    with serve(settings) as test_client:
        yield test_client


@pytest.fixture
def pki() -> DevicePKI:
    """A vendor root, an intermediate and a device, valid now (the app's clock is the wall's)."""
    return make_pki(datetime.now(UTC), intermediate=True)


@pytest.fixture
def vendor(client: TestClient, pki: DevicePKI) -> dict[str, Any]:
    """The receipt of `pki`'s root, registered as a camera vendor."""
    receipt: dict[str, Any] = ok_json(
        client.post("/v1/vendors", json=vendor_body(pki.root), headers=ADMIN)
    )
    return receipt


@pytest.fixture
def enrolled(client: TestClient, pki: DevicePKI, vendor: dict[str, Any]) -> DevicePKI:
    """`pki` with its vendor registered and its device enrolled."""
    ok_json(client.post("/v1/devices", json=device_body(pki.device, pki.chain_der)))
    return pki


# --- POST /v1/vendors ---


def test_vendor_is_logged_with_a_verifiable_receipt(
    client: TestClient, pki: DevicePKI, signer: Signer
) -> None:
    receipt = ok_json(client.post("/v1/vendors", json=vendor_body(pki.root), headers=ADMIN))

    entry = assert_receipt(client, receipt, signer)
    assert receipt["duplicate"] is False
    assert (entry["kind"], entry["role"]) == ("vendor/v1", "camera")
    assert base64.b64decode(entry["root"]) == pki.root.der


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": f"Bearer {TOKEN}-and-more"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": "Bearer "},
    ],
    ids=["none", "wrong", "longer", "not-bearer", "empty"],
)
def test_vendor_needs_the_admin_token(
    client: TestClient, pki: DevicePKI, headers: dict[str, str]
) -> None:
    response = client.post("/v1/vendors", json=vendor_body(pki.root), headers=headers)

    message = assert_error(response, 401, "bad_admin_token")
    assert message.startswith("the admin token is missing or wrong: ")
    for fix in ("--admin-token", "PROV_ADMIN_TOKEN", "Authorization: Bearer"):
        assert fix in message  # the message names where the token goes (issue 17)
    assert tree_size(client) == 0


def test_vendor_role_must_be_camera_or_generator(client: TestClient, pki: DevicePKI) -> None:
    response = client.post("/v1/vendors", json=vendor_body(pki.root, "printer"), headers=ADMIN)

    assert "'printer'" in assert_error(response, 400, "bad_role")


def test_vendor_root_must_be_base64(client: TestClient, pki: DevicePKI) -> None:
    body = {**vendor_body(pki.root), "root": "not base64!"}

    message = assert_error(client.post("/v1/vendors", json=body, headers=ADMIN), 400, "bad_root")

    assert "'root'" in message


def test_vendor_root_must_be_a_certificate(client: TestClient, pki: DevicePKI) -> None:
    body = {**vendor_body(pki.root), "root": b64(b"not a certificate")}

    response = client.post("/v1/vendors", json=body, headers=ADMIN)

    assert "vendor root is not a DER X.509 certificate" in assert_error(
        response, 400, "cert_malformed"
    )


def test_same_vendor_root_twice_returns_the_existing_entry(
    client: TestClient, pki: DevicePKI, vendor: dict[str, Any], signer: Signer
) -> None:
    again = ok_json(client.post("/v1/vendors", json=vendor_body(pki.root), headers=ADMIN))

    assert (again["duplicate"], vendor["duplicate"]) == (True, False)
    assert again["index"] == vendor["index"]
    assert_receipt(client, again, signer)
    assert tree_size(client) == 1


# --- POST /v1/devices ---


def test_device_enrolls_with_a_verifiable_receipt(
    client: TestClient, pki: DevicePKI, vendor: dict[str, Any], signer: Signer
) -> None:
    receipt = ok_json(client.post("/v1/devices", json=device_body(pki.device, pki.chain_der)))

    entry = assert_receipt(client, receipt, signer)
    assert receipt["duplicate"] is False and receipt["index"] == vendor["index"] + 1
    assert (entry["kind"], entry["vendor"]) == ("device/v1", sha256_hex(pki.root.der))
    assert base64.b64decode(entry["cert"]) == pki.device.der
    assert [base64.b64decode(c) for c in entry["chain"]] == list(pki.chain_der)


def test_device_without_a_c2pa_eku_is_rejected(
    client: TestClient, pki: DevicePKI, vendor: dict[str, Any]
) -> None:
    no_eku = make_device(pki.intermediates[0], datetime.now(UTC), eku=None)

    response = client.post("/v1/devices", json=device_body(no_eku, pki.chain_der))

    assert assert_error(response, 422, "cert_no_eku") == (
        "certificate has no C2PA claim-signing or document-signing EKU"
    )


def test_device_of_an_unregistered_root_is_rejected(
    client: TestClient, vendor: dict[str, Any]
) -> None:
    now = datetime.now(UTC)
    stranger = make_device(make_root(now), now)  # the registered root's names, another key

    response = client.post("/v1/devices", json=device_body(stranger))

    message = assert_error(response, 422, "cert_untrusted_chain")
    assert message.startswith("chain does not lead to a registered vendor root")


def test_expired_device_is_rejected(
    client: TestClient, pki: DevicePKI, vendor: dict[str, Any]
) -> None:
    expired = make_device(pki.intermediates[0], datetime.now(UTC), validity="expired")

    response = client.post("/v1/devices", json=device_body(expired, pki.chain_der))

    assert assert_error(response, 422, "cert_expired").startswith("certificate expired at ")


def test_same_device_twice_returns_the_existing_entry(
    client: TestClient, enrolled: DevicePKI, signer: Signer
) -> None:
    size = tree_size(client)

    again = ok_json(client.post("/v1/devices", json=device_body(enrolled.device)))

    assert again["duplicate"] is True and again["index"] == size - 1
    assert_receipt(client, again, signer)
    assert tree_size(client) == size


# --- GET /v1/devices/{device_id} ---


def test_device_lookup_counts_its_captures(client: TestClient, enrolled: DevicePKI) -> None:
    device_id = sha256_hex(enrolled.device.der)
    t = now_ms() - 1000
    submit(client, [record(enrolled.device, seed, seed, t) for seed in (1, 2, 3)])

    info = ok_json(client.get(f"/v1/devices/{device_id}"))

    assert info["device_id"] == device_id
    assert info["vendor_id"] == sha256_hex(enrolled.root.der)
    assert info["algorithm"] == "ES256"
    assert info["captures"] == 3
    assert info["revocations"] == []


def test_unknown_device_is_not_found(client: TestClient) -> None:
    response = client.get(f"/v1/devices/{'ab' * 32}")

    assert "is not enrolled" in assert_error(response, 404, "unknown_device")


@pytest.mark.parametrize(
    ("device_id", "says"),
    [("not-hex", "is not hexadecimal"), ("ab" * 33, "longer than"), ("abcdef0", "at least 8")],
)
def test_malformed_device_id_is_rejected(client: TestClient, device_id: str, says: str) -> None:
    message = assert_error(client.get(f"/v1/devices/{device_id}"), 400, "bad_device")

    assert f"device id {device_id!r}" in message and says in message


@pytest.mark.parametrize("device_id", ["AB" * 32, "ab" * 31, "abababab"])
def test_a_device_id_prefix_in_either_case_is_looked_up(client: TestClient, device_id: str) -> None:
    # Any 8 or more hex characters, either case, name the device they start (none here).
    assert "is not enrolled" in assert_error(
        client.get(f"/v1/devices/{device_id}"), 404, "unknown_device"
    )


# --- POST /v1/captures ---


@pytest.fixture
def mixed_batch(client: TestClient, enrolled: DevicePKI) -> tuple[list[dict[str, Any]], Any]:
    """Five good records with a forged one and one from an unknown device among them (at
    positions 2 and 5); returns the records sent and the response body."""
    t = now_ms() - 1000
    good = [record(enrolled.device, seed, seed, t) for seed in range(1, 6)]
    forged = record(enrolled.device, 6, 6, t)
    forged["claim"]["counter"] = 999  # the signature no longer covers the claim
    stranger = record(make_pki(datetime.now(UTC)).device, 7, 1, t)
    records = [good[0], good[1], forged, good[2], good[3], stranger, good[4]]
    return records, submit(client, records)


def test_batch_reports_each_record_in_order(
    mixed_batch: tuple[list[dict[str, Any]], Any],
) -> None:
    _records, body = mixed_batch

    assert (body["accepted"], body["rejected"]) == (5, 2)
    results = body["results"]
    assert [r["position"] for r in results] == list(range(7))
    assert [r["accepted"] for r in results] == [True, True, False, True, True, False, True]
    assert [r["code"] for r in results] == [
        None,
        None,
        "bad_signature",
        None,
        None,
        "unknown_device",
        None,
    ]
    assert "signature does not verify with the enrolled key of device" in results[2]["reason"]
    assert "is not enrolled" in results[5]["reason"]


def test_each_accepted_capture_has_a_verifiable_receipt(
    client: TestClient, mixed_batch: tuple[list[dict[str, Any]], Any], signer: Signer
) -> None:
    records, body = mixed_batch

    accepted = [
        (sent, r) for sent, r in zip(records, body["results"], strict=True) if r["accepted"]
    ]
    assert len(accepted) == 5
    for sent, result in accepted:
        entry = assert_receipt(client, result, signer)
        assert (entry["kind"], entry["claim"], entry["sig"]) == (
            "capture/v1",
            sent["claim"],
            sent["sig"],
        )
        assert result["counter_status"] == "ok"
        assert result["duplicate"] is False and result["flags"] == []
    indexes = [result["index"] for _sent, result in accepted]
    assert indexes == list(range(indexes[0], indexes[0] + 5))


def test_batch_over_the_limit_is_rejected(client: TestClient, enrolled: DevicePKI) -> None:
    t = now_ms() - 1000
    records = [record(enrolled.device, 1, n, t) for n in range(MAX_BATCH + 1)]
    size = tree_size(client)

    response = client.post("/v1/captures", json={"records": records})

    message = assert_error(response, 413, "batch_too_large")
    assert f"at most {MAX_BATCH} per submission" in message
    assert tree_size(client) == size


def test_body_over_the_size_limit_is_rejected(client: TestClient) -> None:
    body = {"records": [{"padding": "x" * MAX_BODY}]}

    response = client.post("/v1/captures", json=body)

    assert f"exceeds {MAX_BODY} bytes" in assert_error(response, 413, "body_too_large")


def test_body_over_the_size_limit_without_a_content_length_is_rejected(
    client: TestClient,
) -> None:
    payload = json.dumps({"records": [{"padding": "x" * MAX_BODY}]}).encode()

    def chunks() -> Iterator[bytes]:  # streamed, so the request declares no Content-Length
        for start in range(0, len(payload), 16_384):
            yield payload[start : start + 16_384]

    response = client.post(
        "/v1/captures", content=chunks(), headers={"content-type": "application/json"}
    )

    assert_error(response, 413, "body_too_large")


def test_body_without_records_names_the_field(client: TestClient) -> None:
    response = client.post("/v1/captures", json={"recs": []})

    assert "records" in assert_error(response, 400, "malformed")


def test_body_that_is_not_json_is_rejected(client: TestClient) -> None:
    response = client.post(
        "/v1/captures", content=b'{"records": [', headers={"content-type": "application/json"}
    )

    assert_error(response, 400, "malformed")


@pytest.mark.parametrize("firmware", ["2.00\x00", "2.00\x1f", "a" * 101, 200, "", None], ids=repr)
def test_a_signed_claim_with_bad_firmware_is_refused_naming_the_rule(
    client: TestClient, enrolled: DevicePKI, firmware: object
) -> None:
    t = now_ms() - 1000
    good = signed_claim(enrolled.device, 1, 1, t, firmware="2.00")
    bad = signed_claim(enrolled.device, 2, 2, t, firmware=firmware)

    body = submit(client, [good, bad])

    assert [(r["accepted"], r["code"]) for r in body["results"]] == [
        (True, None),
        (False, "bad_firmware"),
    ]
    assert "1 to 100 printable ASCII characters" in body["results"][1]["reason"]
    logged = ok_json(client.get(f"/v1/log/entries/{body['results'][0]['index']}"))
    assert json.loads(base64.b64decode(logged["data"]))["claim"]["firmware"] == "2.00"


# --- POST /v1/revocations ---


def test_revocation_by_the_vendor_root_is_logged(
    client: TestClient, enrolled: DevicePKI, signer: Signer
) -> None:
    since = now_ms() - 60_000
    revocation = revocation_by(enrolled.root, enrolled.device, since, "key extracted")

    receipt = ok_json(client.post("/v1/revocations", json=revocation))

    entry = assert_receipt(client, receipt, signer)
    assert (entry["kind"], entry["compromised_since"]) == ("revocation/v1", since)
    assert entry["signer"] == sha256_hex(enrolled.root.der)
    assert receipt["duplicate"] is False


def test_capture_after_the_compromise_is_rejected_as_revoked(
    client: TestClient, enrolled: DevicePKI
) -> None:
    since = now_ms() - 60_000
    ok_json(
        client.post(
            "/v1/revocations", json=revocation_by(enrolled.root, enrolled.device, since, "lost")
        )
    )

    body = submit(client, [record(enrolled.device, 1, 1, since + 1000)])

    assert (body["accepted"], body["rejected"]) == (0, 1)
    result = body["results"][0]
    assert (result["accepted"], result["code"]) == (False, "device_revoked")
    assert f"compromised since {iso_utc(since)}" in result["reason"]


def test_capture_before_the_compromise_is_logged_but_flagged(
    client: TestClient, enrolled: DevicePKI
) -> None:
    since = now_ms() - 60_000
    ok_json(
        client.post(
            "/v1/revocations", json=revocation_by(enrolled.root, enrolled.device, since, "lost")
        )
    )

    result = submit(client, [record(enrolled.device, 1, 1, since - 1000)])["results"][0]

    assert result["accepted"] is True
    assert result["flags"] == ["logged_after_revocation"]


def test_revocation_by_another_ca_is_rejected(client: TestClient, enrolled: DevicePKI) -> None:
    other = make_root(datetime.now(UTC))
    revocation = revocation_by(other, enrolled.device, now_ms(), "x")

    response = client.post("/v1/revocations", json=revocation)

    message = assert_error(response, 422, "revocation_bad_signer")
    assert "neither the vendor root nor the CA that issued" in message


def test_revocation_with_a_tampered_reason_is_rejected(
    client: TestClient, enrolled: DevicePKI
) -> None:
    revocation = revocation_by(enrolled.root, enrolled.device, now_ms(), "lost")
    revocation["reason"] = "changed after signing"

    response = client.post("/v1/revocations", json=revocation)

    message = assert_error(response, 422, "revocation_bad_signature")
    assert message.startswith("revocation signature does not verify")


# --- a server without the log key ---


def test_reader_only_server_refuses_to_enroll(
    settings: RegistrySettings, tmp_path: Path, pki: DevicePKI, vendor: dict[str, Any]
) -> None:
    # The vendor is registered by the writable server; this one shares its database only.
    log = LogConfig(tmp_path, settings.log.database_url, tmp_path / "absent.key")
    reader = RegistrySettings(log=log, admin_token=TOKEN, max_body_bytes=MAX_BODY)

    with serve(reader) as reader_client:
        response = reader_client.post("/v1/devices", json=device_body(pki.device, pki.chain_der))

    assert "log key" in assert_error(response, 503, "not_configured")


# --- documentation ---


def test_openapi_schema_lists_the_registry_paths(client: TestClient) -> None:
    paths = set(ok_json(client.get("/openapi.json"))["paths"])

    assert {
        "/v1/vendors",
        "/v1/devices",
        "/v1/devices/{device_id}",
        "/v1/captures",
        "/v1/revocations",
    } <= paths
