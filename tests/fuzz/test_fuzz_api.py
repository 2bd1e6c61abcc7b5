"""The HTTP API fuzzed from its own OpenAPI schema with schemathesis, against a real `prov serve`
on SQLite and on PostgreSQL.

The log holds a vendor, an enrolled device and a capture, so generated indexes and ids can land
on real entries and bundles; the server has a real operator token, and every generated request
is sent either with it or without it, so the vendor route is fuzzed on both sides of its check.
Every operation gets schema-conforming ("positive") and schema-violating ("negative") requests.
Whatever a request holds, the server must not fail (no 5xx) and every 4xx must be the API's
JSON error `{"error": {"type": str, "message": str}}`.

The web pages (`/`, `/origins`) are HTML and outside the schema; they are checked below with
bad input of their own.
"""

import base64
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.core.result import Ok

from ledger import LogConfig, LogStore, Signer
from ledger.note import write_private_key_file
from registry import RegistrySettings
from registry.entries.sdk import sign_capture
from registry.open import registry_sequencer
from testkit.pki import make_pki
from tests.support.clocks import FixedClock
from tests.support.prov_cli import Prov
from tests.support.registry_fixtures import picture, serving_app
from tests.support.serving import prov_serve

TOKEN = "fuzz-operator-token"
ORIGIN = "example.org/provenance/fuzz"
EXAMPLES = 80  # per operation and generation mode; ~15 s a database for all of them
REQUEST_TIMEOUT_S = 30  # a hang bound, not a performance claim
# Nothing to violate: free-form text in the path, or a body that may be any bytes (a file).
UNCONSTRAINED = {"GET /tile/{path}", "GET /v1/devices/{device_id}", "POST /v1/c2pa/ingest"}

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Served:
    base_url: str
    capture_index: int


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _populate(base_url: str) -> int:
    """A vendor, its device and one capture, through the API; the capture's index."""
    pki = make_pki(datetime.now(UTC), intermediate=True)
    with httpx.Client(base_url=base_url, timeout=REQUEST_TIMEOUT_S) as client:
        vendor = client.post(
            "/v1/vendors",
            json={"name": "Fuzz Camera Co.", "role": "camera", "root": _b64(pki.root.der)},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert vendor.status_code == 200, vendor.text
        device = client.post(
            "/v1/devices",
            json={"cert": _b64(pki.device.der), "chain": [_b64(c) for c in pki.chain_der]},
        )
        assert device.status_code == 200, device.text
        record = sign_capture(
            picture(7),
            pki.device.private_key,
            pki.device.certificate,
            1,
            time.time_ns() // 1_000_000,
        )
        captures = client.post("/v1/captures", json={"records": [record]})
        assert captures.status_code == 200, captures.text
        result = captures.json()["results"][0]
        assert result["accepted"], result
        index: int = result["index"]
        return index


@pytest.fixture
def served(tmp_path: Path, database_url: str) -> Iterator[Served]:
    """`prov serve` with an operator token on a populated log in `database_url`."""
    data_dir = tmp_path / "data"
    Prov(data_dir, database_url).init(ORIGIN)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROV_")}
    env["PROV_ADMIN_TOKEN"] = TOKEN
    options = ["--data-dir", str(data_dir), "--database", database_url]
    with prov_serve(options, tmp_path / "serve.log", env) as base_url:
        yield Served(base_url, _populate(base_url))


def assert_api_answer(response: Any, what: str) -> None:
    """No server error, and a client error is the API's JSON error body."""
    status: int = response.status_code
    assert status < 500, f"{what} -> {status}: {response.content[:500]!r}"
    if status < 400:
        return
    content_type = response.headers.get("content-type")
    content_type = content_type[0] if isinstance(content_type, list) else content_type
    assert content_type == "application/json", f"{what} -> {status} as {content_type}"
    body = response.json()
    assert isinstance(body, dict) and set(body) == {"error"}, f"{what} -> {body!r}"
    error = body["error"]
    assert isinstance(error, dict) and set(error) == {"type", "message"}, f"{what} -> {body!r}"
    assert isinstance(error["type"], str) and error["type"], f"{what} -> {body!r}"
    assert isinstance(error["message"], str) and error["message"].strip(), f"{what} -> {body!r}"


def _fuzz(base_url: str, operation: Any, mode: GenerationMode) -> list[tuple[bool, int]]:
    """EXAMPLES generated requests to one operation: (sent with the token, status) of each."""
    answers: list[tuple[bool, int]] = []

    @given(case=operation.as_strategy(generation_mode=mode), with_token=st.booleans())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any, with_token: bool) -> None:
        headers = {"Authorization": f"Bearer {TOKEN}"} if with_token else {}
        response = case.call(base_url=base_url, headers=headers, timeout=REQUEST_TIMEOUT_S)
        answers.append((with_token, response.status_code))
        assert_api_answer(response, case.as_curl_command())

    run()
    return answers


def test_the_api_survives_its_own_schema_fuzzed(served: Served) -> None:
    schema = schemathesis.openapi.from_url(f"{served.base_url}/openapi.json")
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        operations.append(result.ok())
    labels = sorted(op.label for op in operations)
    assert "POST /v1/vendors" in labels and "GET /tile/{path}" in labels, labels
    answers: dict[str, list[tuple[bool, int]]] = {}
    for operation in operations:
        answers[operation.label] = _fuzz(served.base_url, operation, GenerationMode.POSITIVE)
        # An operation without parameters or body has nothing to violate.
        if operation.body or any(True for _ in operation.iter_parameters()):
            try:
                answers[operation.label] += _fuzz(
                    served.base_url, operation, GenerationMode.NEGATIVE
                )
            except Unsatisfiable:
                # Free-form text or bytes: any value is valid, there is nothing to violate.
                assert operation.label in UNCONSTRAINED, operation.label
    assert all(answers.values()), answers
    # The operator's route was fuzzed on both sides of its token check.
    vendor = answers["POST /v1/vendors"]
    assert (False, 401) in vendor, vendor
    assert any(token and status != 401 for token, status in vendor), vendor
    # The populated log is still whole and served: fuzzing broke nothing.
    bundle = httpx.get(f"{served.base_url}/v1/bundles/{served.capture_index}", timeout=30)
    assert bundle.status_code == 200, bundle.text


# --- what the fuzzer found, and the web pages (HTML, outside the schema) ---


@pytest.fixture
def client(
    tmp_path: Path, migrated_url: str, store: LogStore, signer: Signer, clock: FixedClock
) -> Iterator[TestClient]:
    """The app in-process on an initialized, empty log, with an operator token."""
    key_file = tmp_path / "log.key"
    write_private_key_file(key_file, signer.to_string(), "log")
    registry_sequencer(store, signer, clock).initialize()
    with serving_app(
        RegistrySettings(
            log=LogConfig(tmp_path, migrated_url, key_file), admin_token=TOKEN, verify_workers=0
        )
    ) as test_client:
        yield test_client


def _probe(**fields: Any) -> dict[str, Any]:
    return {"name": "original", "pdq": "ab" * 32, "quality": 90, "phash": "cd" * 8} | fields


HOSTILE_LOOKUPS = {
    # json.loads raised RecursionError (a 500) on arrays nested deeper than the interpreter's stack.
    "nested arrays": b"[" * 100_000 + b"]" * 100_000,
    "nested pdq": b'{"pdq":' + b"[" * 100_000 + b"]" * 100_000 + b',"pdq_quality":90}',
    # A probe name that is not a string was looked up in a dict: TypeError, a 500.
    "list name": json.dumps({"probes": [_probe(name=[])]}).encode(),
    "object name": json.dumps({"probes": [_probe(name={})]}).encode(),
    # bytes.fromhex skips whitespace: these passed as hex, and the sha256 was echoed back.
    "spaced pdq": json.dumps({"probes": [_probe(pdq=" " + "00" * 31 + " ")]}).encode(),
    "spaced sha256": json.dumps(
        {"pdq": "ab" * 32, "pdq_quality": 90, "sha256": " " + "0" * 62 + " "}
    ).encode(),
}


@pytest.mark.parametrize("name", HOSTILE_LOOKUPS)
def test_hostile_json_lookups_are_malformed(client: TestClient, name: str) -> None:
    response = client.post(
        "/v1/lookup", content=HOSTILE_LOOKUPS[name], headers={"content-type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert_api_answer(response, name)


@pytest.mark.parametrize("index", [2**63, 2**64 + 5, 10**30, -(2**63) - 1, 1])
def test_bundle_index_beyond_the_database_integers_is_not_found(
    client: TestClient, index: int
) -> None:
    # 2**63 overflowed the database's integer column inside the query: a 500 on both databases.
    response = client.get(f"/v1/bundles/{index}")
    assert response.status_code == 404, response.text
    assert response.json()["error"]["type"] == "not_a_capture"


def test_the_web_page_answers_bad_uploads_in_words(client: TestClient) -> None:
    """POST / is a page for people: a bad upload is shown on the page (HTML, with the status
    of api/errors.py's table), not as JSON."""
    uploads: list[dict[str, Any]] = [
        {"files": {"image": ("x.jpg", b"\xff\xd8\xff not really a JPEG", "image/jpeg")}},
        {"files": {"image": ("empty.png", b"", "image/png")}},
        {"data": {"image": "a text field, not a file"}},
    ]
    for upload in uploads:
        response = client.post("/", **upload)
        assert response.status_code == 400, response.text
        assert response.headers["content-type"].startswith("text/html")
        assert 'id="error"' in response.text, response.text
    # Not a form at all: the form parser's own error, as the API's JSON error.
    garbage = client.post(
        "/", content=b"--x\r\nnot a part", headers={"content-type": "multipart/form-data"}
    )
    assert garbage.status_code == 400, garbage.text
    assert_api_answer(garbage, "POST / with a broken form")


@pytest.mark.parametrize(
    "query", ["at=-1", "at=99999999999999999999999", "top=0", "top=201", "at=x", "top=1e3"]
)
def test_the_origins_page_rejects_bad_parameters_as_json(client: TestClient, query: str) -> None:
    response = client.get(f"/origins?{query}")
    assert 400 <= response.status_code < 500, response.text
    assert_api_answer(response, f"/origins?{query}")
