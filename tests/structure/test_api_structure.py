"""The shape of api/: one settings type with the clocks, one AppState, routers that import no
other router, and an OpenAPI schema that states every JSON body."""

import ast
import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel, ValidationError

from api import create_app
from api.schemas.lookup import ProbesLookupIn, ShortLookupIn
from api.settings import ApiSettings
from api.state import AppState
from ledger.errors import MalformedError
from registry import RegistrySettings
from registry.lookup.query import query_from_json
from testkit.pki import make_pki
from tests.support.clocks import FixedClock
from tests.support.registry_fixtures import TOKEN, now_of

API = Path(__file__).resolve().parents[2] / "api"
GOOD_PROBE = {"name": "original", "pdq": "ab" * 32, "quality": 90, "phash": "cd" * 8}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


@pytest.mark.parametrize("router", sorted((API / "routers").glob("*.py")), ids=lambda p: p.name)
def test_no_router_imports_another(router: Path) -> None:
    assert not {m for m in _imports(router) if m.startswith("api.routers")}, router


def test_modules_and_functions_stay_small() -> None:
    for path in API.rglob("*.py"):
        source = path.read_text()
        assert source.count("\n") <= 400, path
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                assert length <= 60, f"{path}:{node.lineno} {node.name} is {length} lines"


def test_the_app_runs_on_the_clocks_of_its_settings(
    writable_settings: RegistrySettings, clock: FixedClock
) -> None:
    """The registry's clock dates what it logs: a device enrolled at a fixed time says so."""
    fixed_ms = clock.now_ms + 12_345  # a time the test PKI's certificates are valid at
    settings = ApiSettings(writable_settings, monotonic=lambda: 5.0, clock_ms=lambda: fixed_ms)
    app = create_app(settings)
    state = app.state.prov
    assert isinstance(state, AppState) and state.settings is settings
    pki = make_pki(now_of(clock), intermediate=True)
    try:
        with TestClient(app) as client:
            vendor = {"name": "Clock Co.", "role": "camera", "root": _b64(pki.root.der)}
            headers = {"Authorization": f"Bearer {TOKEN}"}
            assert client.post("/v1/vendors", json=vendor, headers=headers).status_code == 200
            device = {"cert": _b64(pki.device.der), "chain": [_b64(c) for c in pki.chain_der]}
            assert client.post("/v1/devices", json=device).status_code == 200
            shown = client.get(f"/v1/devices/{hashlib.sha256(pki.device.der).hexdigest()}").json()
            assert shown["logged_at_ms"] == fixed_ms
    finally:
        state.close()


def _registry_accepts(body: Any) -> bool:
    try:
        query_from_json(body)
    except MalformedError:
        return False
    return True


def _models_accept(body: Any) -> bool:
    for model in (ProbesLookupIn, ShortLookupIn):
        try:
            model.model_validate_json(json.dumps(body))
        except ValidationError:
            continue
        return True
    return False


@pytest.mark.parametrize(
    "body",
    [
        {"probes": [GOOD_PROBE]},
        {"probes": [GOOD_PROBE] * 16, "sha256": "AB" * 32},
        {"pdq": "ab" * 32, "pdq_quality": 90},
        {"pdq": ["ab" * 32] * 8, "pdq_quality": 0, "phash": "cd" * 8, "sha256": "00" * 32},
        {"pdq": "zz" * 32, "pdq_quality": 90},
        {"pdq": "ab" * 31, "pdq_quality": 90},
        {"pdq": ["ab" * 32] * 9, "pdq_quality": 90},
        {"pdq": [], "pdq_quality": 90},
        {"pdq": "ab" * 32, "pdq_quality": 101},
        {"pdq": "ab" * 32, "pdq_quality": True},
        {"pdq": "ab" * 32},
        {"pdq": "ab" * 32, "pdq_quality": 90, "colour": 1},
        {"pdq": "ab" * 32, "pdq_quality": 90, "sha256": "ab"},
        {"probes": []},
        {"probes": [GOOD_PROBE] * 17},
        {"probes": [{**GOOD_PROBE, "name": "sideways"}]},
        {"probes": [{**GOOD_PROBE, "extra": 1}]},
        {"probes": [{**GOOD_PROBE, "phash": "cd"}]},
        {"probes": [{**GOOD_PROBE, "quality": 9.5}]},
        {"probes": [GOOD_PROBE], "pdq": "ab" * 32},
        ["not", "an", "object"],
    ],
)
def test_the_lookup_models_accept_what_the_registry_accepts(body: Any) -> None:
    """The schema's models and registry.lookup.query.query_from_json (the validator) agree."""
    assert _models_accept(body) == _registry_accepts(body)


def test_the_schema_states_request_and_response_bodies(writable_settings: RegistrySettings) -> None:
    app = create_app(writable_settings)
    try:
        paths = app.openapi()["paths"]
    finally:
        app.state.prov.close()
    lookup = paths["/v1/lookup"]["post"]
    json_body = lookup["requestBody"]["content"]["application/json"]["schema"]
    assert len(json_body["oneOf"]) == 2 and "$ref" not in json.dumps(json_body)
    assert "multipart/form-data" in lookup["requestBody"]["content"]
    for path, method in [
        ("/v1/lookup", "post"),
        ("/v1/lookups", "post"),
        ("/v1/devices/{device_id}", "get"),
        ("/v1/c2pa/ingest", "post"),
        ("/v1/origins/{origin_id}", "get"),
        ("/v1/captures", "post"),
        ("/v1/revocations", "post"),
    ]:
        answer = paths[path][method]["responses"]["200"]["content"]["application/json"]
        assert answer["schema"], (path, answer)
    revocation = paths["/v1/revocations"]["post"]["requestBody"]["content"]["application/json"]
    v1, v2 = revocation["schema"]["oneOf"]  # revocation/v1 and revocation/v2
    assert set(v1["required"]) >= {"device", "sig", "signer"}
    assert set(v2["required"]) >= {"scope", "subject", "vendor", "certs", "sig", "signer"}


def test_the_lookup_response_models_name_the_fields_the_registry_answers() -> None:
    """The response models describe registry.lookup's results field for field: a field added
    to a match or a result (or dropped) shows here before the documentation can drift."""
    from dataclasses import fields

    from api.schemas.lookup import CautionOut, LookupOut, MatchOut, ProbeOut, QueryOut
    from registry.cautions import Caution
    from registry.imaging.hashing import ProbeHash
    from registry.lookup.query import LookupResult, Match, Query

    pairs: list[tuple[type[BaseModel], Any]] = [
        (MatchOut, Match), (LookupOut, LookupResult), (CautionOut, Caution), (QueryOut, Query),
        (ProbeOut, ProbeHash),
    ]  # fmt: skip
    for model, answered in pairs:
        assert list(model.model_fields) == [f.name for f in fields(answered)], model.__name__
