"""Inputs the API once answered with a 500, on SQLite and PostgreSQL: NUL characters in logged
strings and in paths, integers past PostgreSQL's BIGINT, and a database that goes away (whose
URL the answer must not show). Also: a revocation or a vendor root sent twice."""

import dataclasses
import hashlib
import logging
import re
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from api import create_app
from ledger.tiles import format_tile_index
from registry import RegistrySettings
from registry.entries.codec import b64
from registry.entries.sdk import sign_revocation
from testkit.pki import DevicePKI, IssuedCert, make_pki
from tests.support.databases import POSTGRES_URL
from tests.support.registry_fixtures import record

TOKEN = "op-token"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
BIG = [2**63, 2**63 + 1, 2**64, 10**30]


@pytest.fixture
def app_client(writable_settings: RegistrySettings) -> Iterator[TestClient]:
    """The API on the test database; a server error is answered (500), never raised here."""
    app = create_app(dataclasses.replace(writable_settings, admin_token=TOKEN))
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            yield client
    finally:
        app.state.prov.registry.close()
        app.state.prov.store.engine.dispose()


@pytest.fixture
def pki() -> DevicePKI:
    return make_pki(datetime.now(UTC), intermediate=True)


@pytest.fixture
def enrolled(app_client: TestClient, pki: DevicePKI) -> DevicePKI:
    ok(app_client.post("/v1/vendors", json=vendor_body(pki.root), headers=ADMIN))
    ok(app_client.post("/v1/devices", json=device_body(pki.device, pki.chain_der)))
    return pki


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def vendor_body(root: IssuedCert, role: str = "camera") -> dict[str, Any]:
    return {"name": "Example Camera Co.", "role": role, "root": b64(root.der)}


def device_body(device: IssuedCert, chain: Sequence[bytes] = ()) -> dict[str, Any]:
    return {"cert": b64(device.der), "chain": [b64(c) for c in chain]}


def revocation_by(ca: IssuedCert, device: IssuedCert, since: int, reason: str) -> dict[str, Any]:
    device_id = hashlib.sha256(device.der).hexdigest()
    return sign_revocation(device_id, since, reason, ca.private_key, ca.certificate)


def tree_size(client: TestClient) -> int:
    size: int = ok(client.get("/v1/log"))["tree_size"]
    return size


def ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


def error_of(response: httpx.Response, status: int) -> dict[str, str]:
    assert response.status_code == status, response.text
    error: dict[str, str] = response.json()["error"]
    return error


# --- NUL in logged strings ---


def test_a_nul_in_one_claim_is_rejected_alone_and_the_rest_of_the_batch_is_logged(
    app_client: TestClient, enrolled: DevicePKI
) -> None:
    t = now_ms() - 10_000
    bad = record(enrolled.device, 2, 2, t)
    bad["claim"]["media_type"] = "image/png\x00"
    records = [record(enrolled.device, 1, 1, t), bad, record(enrolled.device, 3, 3, t)]
    size = tree_size(app_client)

    body = ok(app_client.post("/v1/captures", json={"records": records}))

    assert [r["accepted"] for r in body["results"]] == [True, False, True]
    refused = body["results"][1]
    assert refused["code"] == "nul_in_string"
    assert "record.claim.media_type" in refused["reason"]
    assert tree_size(app_client) == size + 2


def test_a_nul_in_a_vendor_name_is_malformed(app_client: TestClient, pki: DevicePKI) -> None:
    body = {**vendor_body(pki.root), "name": "Example\x00Camera"}

    error = error_of(app_client.post("/v1/vendors", json=body, headers=ADMIN), 400)

    assert error["type"] == "nul_in_string" and "vendor.name" in error["message"]
    assert tree_size(app_client) == 0


def test_a_nul_in_a_revocation_reason_is_malformed(
    app_client: TestClient, enrolled: DevicePKI
) -> None:
    revocation = revocation_by(enrolled.root, enrolled.device, now_ms(), "lost\x00")
    size = tree_size(app_client)

    error = error_of(app_client.post("/v1/revocations", json=revocation), 400)

    assert error["type"] == "nul_in_string" and "revocation.reason" in error["message"]
    assert tree_size(app_client) == size


@pytest.mark.parametrize(
    "path",
    [
        "/v1/devices/%00",
        "/v1/devices/ab%00cd",
        "/v1/origins/%00",
        "/v1/status/0/proofs/%00",
        "/v1/manifests/capture-%00",
        "/v1/matches/byBinding?alg=%00&value=%00",
        "/v1/log/proof/inclusion?leaf_hash=%00",
        "/tile/0/%00",
    ],
)
def test_a_nul_in_a_path_or_query_is_not_a_server_error(app_client: TestClient, path: str) -> None:
    response = app_client.get(path)

    assert 400 <= response.status_code < 500, (path, response.text)


# --- integers past BIGINT ---


@pytest.mark.parametrize("index", BIG)
def test_a_tile_index_past_bigint_is_not_found(app_client: TestClient, index: int) -> None:
    tile_index = format_tile_index(index)
    for path in (
        f"/tile/0/{tile_index}",
        f"/tile/entries/{tile_index}.p/3",
        f"/tile/5/{tile_index}",
    ):
        response = app_client.get(path)
        assert response.status_code == 404, (path, response.text)


def test_the_issue_path_is_not_found(app_client: TestClient) -> None:
    response = app_client.get("/tile/0/x009/x223/x372/x036/x854/x775/808")

    assert error_of(response, 404)["type"] == "not_found"


def _int_routes(app_client: TestClient) -> list[tuple[str, list[str], list[str]]]:
    """(path, int path parameters, int query parameters) of every GET route taking an int, as
    the API's own OpenAPI schema states them."""
    found = []
    for path, operations in ok(app_client.get("/openapi.json"))["paths"].items():
        parameters = operations.get("get", {}).get("parameters", [])
        ints: dict[str, list[str]] = {"path": [], "query": []}
        for parameter in parameters:
            schema = parameter.get("schema", {})
            types = [schema.get("type"), *(s.get("type") for s in schema.get("anyOf", []))]
            if "integer" in types:
                ints[parameter["in"]].append(parameter["name"])
        if ints["path"] or ints["query"]:
            found.append((path, ints["path"], ints["query"]))
    return found


def test_every_int_parameter_of_every_route_refuses_values_past_bigint(
    app_client: TestClient, enrolled: DevicePKI
) -> None:
    ok(app_client.post("/v1/captures", json={"records": [record(enrolled.device, 1, 1, now_ms())]}))
    routes = _int_routes(app_client)
    assert len(routes) >= 6, routes  # entries, bundles, inclusion, consistency, status, clusters
    for path, path_ints, query_ints in routes:
        for value in [*BIG, -1, -(2**63) - 1]:
            for name in [*path_ints, *query_ints]:
                url = re.sub(r"\{(\w+)(:\w+)?\}", partial(_fill, fuzzed=name, value=value), path)
                extra = {q: (value if q == name else 1) for q in query_ints}
                response = app_client.get(url, params=extra)
                assert 400 <= response.status_code < 500, (url, extra, response.text)


def _fill(match: re.Match[str], fuzzed: str, value: int) -> str:
    param = match[1]
    if param == fuzzed:
        return str(value)
    return {"subject": "00" * 32}.get(param, "1")


# --- the database goes away ---


def test_a_dropped_database_answers_a_generic_error_and_logs_the_detail(
    tmp_path: Any, postgresql_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    import migrations
    from ledger import LogConfig, LogStore, Signer, open_engine
    from ledger.note import write_private_key_file
    from registry.open import registry_sequencer
    from tests.support.clocks import FixedClock

    migrations.upgrade(postgresql_url)
    signer = Signer.generate("example.org/x")
    engine = open_engine(postgresql_url)
    registry_sequencer(LogStore(engine), signer, FixedClock()).initialize()
    engine.dispose()
    key_file = tmp_path / "log.key"
    write_private_key_file(key_file, signer.to_string(), "log")
    settings = RegistrySettings(log=LogConfig(tmp_path, postgresql_url, key_file), verify_workers=0)
    app = create_app(settings)
    database = make_url(postgresql_url).database
    assert database
    with TestClient(app, raise_server_exceptions=False) as client:
        ok(client.get("/v1/log"))
        admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE "{database}" WITH (FORCE)'))
        admin.dispose()
        with caplog.at_level(logging.ERROR):
            answers = [client.get(path) for path in ("/v1/log", "/checkpoint", "/v1/log")]
            answers.append(client.get("/v1/devices/" + "00" * 32))
    app.state.prov.registry.close()
    app.state.prov.store.engine.dispose()
    for response in answers:
        assert response.status_code in (500, 503), response.text
        error = response.json()["error"]
        assert error["type"] in ("storage_unavailable", "storage_error"), error
        for secret in (database, "127.0.0.1", "5432", "postgres", "SELECT", "psycopg"):
            assert secret not in response.text, (secret, response.text)
    assert database in caplog.text  # the detail is in the server's log


# --- the same thing twice ---


def test_the_same_revocation_twice_is_answered_with_the_first_receipt(
    app_client: TestClient, enrolled: DevicePKI
) -> None:
    revocation = revocation_by(enrolled.root, enrolled.device, now_ms() - 1000, "lost")
    first = ok(app_client.post("/v1/revocations", json=revocation))
    size = tree_size(app_client)

    again = ok(app_client.post("/v1/revocations", json=revocation))

    assert (again["index"], again["duplicate"], first["duplicate"]) == (first["index"], True, False)
    assert tree_size(app_client) == size
    other = revocation_by(enrolled.root, enrolled.device, now_ms() - 2000, "lost, earlier")
    third = ok(app_client.post("/v1/revocations", json=other))
    assert (third["index"], third["duplicate"]) == (size, False)


def test_a_vendor_root_logged_under_another_name_is_a_conflict(
    app_client: TestClient, pki: DevicePKI
) -> None:
    first = ok(app_client.post("/v1/vendors", json=vendor_body(pki.root), headers=ADMIN))
    renamed = {**vendor_body(pki.root), "name": "Someone Else"}
    regenerated = vendor_body(pki.root, role="generator")

    for body in (renamed, regenerated):
        error = error_of(app_client.post("/v1/vendors", json=body, headers=ADMIN), 409)
        assert error["type"] == "vendor_conflict"
        assert "'Example Camera Co.' (camera)" in error["message"]
        assert f"index {first['index']}" in error["message"]
    again = ok(app_client.post("/v1/vendors", json=vendor_body(pki.root), headers=ADMIN))
    assert (again["index"], again["duplicate"]) == (first["index"], True)
    assert tree_size(app_client) == 1
