"""Health checks, metrics and request logs, in process (TestClient, one process's registry):
/healthz never touches the database, /readyz says what is not ready, /metrics counts by route
template (a raw path is never a label), refusals by reason, batches, reports and witness
pushes. The same against a real `prov serve --workers 2` is tests/cli/test_serve_observe.py."""

import base64
import logging
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from api import create_app
from api.logs import ACCESS_LOGGER, JsonFormatter
from api.metrics import Metrics, count_pushes
from api.settings import ApiSettings
from ledger import LogStore, Signer
from ledger.witnessing import PushResult
from registry import RegistrySettings
from registry.open import registry_sequencer
from testkit.pki import make_pki
from tests.support.clocks import FixedClock
from tests.support.databases import POSTGRES_URL
from tests.support.prometheus import sample
from tests.support.registry_fixtures import TOKEN, now_of

ADMIN = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def app_settings(writable_settings: RegistrySettings) -> ApiSettings:
    # Fixed monotonic time: the rate limit's buckets never refill within a test.
    return ApiSettings(writable_settings, monotonic=lambda: 100.0, log_requests=True)


@pytest.fixture
def client(app_settings: ApiSettings) -> Iterator[TestClient]:
    app = create_app(app_settings)
    try:
        with TestClient(app) as test_client:
            yield test_client
    finally:
        app.state.prov.close()


def _vendor(clock: FixedClock) -> dict[str, str]:
    root = make_pki(now_of(clock)).root.der
    return {"name": "Observed Co.", "role": "camera", "root": base64.b64encode(root).decode()}


def test_healthz_and_readyz_answer_on_a_ready_server(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert body["status"] == "ready" and body["database"] == {"ok": True, "tree_size": 0}
    assert body["index"]["loaded"] is True and body["index"]["captures"] == 0
    assert body["sequencer_lock"] is False and body["log_key"] is True


def _make_database_unreachable(client: TestClient, url: str) -> None:
    """SQLite: the file moved away (a new connection finds no log there); PostgreSQL: the
    database dropped, its sessions ended."""
    state = client.app.state.prov  # type: ignore[attr-defined]
    state.store.engine.dispose()
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = Path(str(parsed.database))
        path.rename(path.with_suffix(".moved"))
        return
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE "{parsed.database}" WITH (FORCE)'))
    admin.dispose()


def test_readyz_is_503_when_the_database_is_gone_and_healthz_still_200(
    client: TestClient, migrated_url: str
) -> None:
    _make_database_unreachable(client, migrated_url)

    assert client.get("/healthz").status_code == 200  # liveness never asks the database
    ready = client.get("/readyz")
    assert ready.status_code == 503, ready.text
    database = ready.json()["database"]
    assert database["ok"] is False and "does not answer" in database["error"]
    # The public answer names neither the host nor the database: those stay in the server log.
    assert str(make_url(migrated_url).database) not in ready.text


def test_readyz_shows_the_lock_while_this_process_holds_it(
    client: TestClient, store: LogStore, signer: Signer, clock: FixedClock
) -> None:
    observer = client.app.state.prov.metrics.sequencer  # type: ignore[attr-defined]
    sequencer = registry_sequencer(store, signer, clock, observer=observer)

    inside = sequencer.run_locked(lambda _connection, _latest: client.get("/readyz").json())

    assert inside["sequencer_lock"] is True
    assert client.get("/readyz").json()["sequencer_lock"] is False


def test_metrics_label_requests_by_route_template_never_by_raw_path(client: TestClient) -> None:
    device = uuid.uuid4().hex * 2
    nowhere = f"/no/such/{uuid.uuid4().hex}"
    assert client.get(f"/v1/devices/{device}").status_code == 404
    assert client.get(nowhere).status_code == 404
    client.request("BREW", "/checkpoint")  # a method is client input too

    shown = client.get("/metrics")
    assert shown.headers["content-type"].startswith("text/plain")
    metrics = shown.text
    assert device not in metrics and nowhere not in metrics and "BREW" not in metrics
    route = "/v1/devices/{device_id}"
    count = "prov_http_requests_total"
    assert sample(metrics, count, route=route, method="GET", status="404") == 1
    assert sample(metrics, count, route="unmatched", method="GET", status="404") == 1
    assert sample(metrics, count, route="/checkpoint", method="other", status="405") == 1
    seconds = "prov_http_request_duration_seconds_count"
    assert sample(metrics, seconds, route=route, method="GET") == 1
    assert "process_cpu_seconds_total" in metrics  # one process: its own metrics are there


def test_refusals_are_counted_by_reason(writable_settings: RegistrySettings) -> None:
    registry = replace(writable_settings, rate_limit=1, rate_burst=1, max_body_bytes=200)
    app = create_app(ApiSettings(registry, monotonic=lambda: 100.0))
    try:
        with TestClient(app) as client:
            assert client.post("/v1/captures", content=b"x" * 500).status_code == 413
            assert client.post("/v1/vendors", json={}).status_code == 429  # bucket spent above
            too_many = client.post("/v1/vendors", json={})
            assert too_many.status_code == 429
            metrics = client.get("/metrics").text
    finally:
        app.state.prov.close()
    assert sample(metrics, "prov_rejections_total", reason="body_too_large") == 1
    assert sample(metrics, "prov_rejections_total", reason="rate_limited") == 2
    count = "prov_http_requests_total"
    # Refused before routing, and still counted under the route it was meant for.
    assert sample(metrics, count, route="/v1/vendors", method="POST", status="429") == 2


def test_a_batch_shows_in_the_sequencer_metrics(client: TestClient, clock: FixedClock) -> None:
    assert client.post("/v1/vendors", json=_vendor(clock), headers=ADMIN).status_code == 200

    metrics = client.get("/metrics").text
    assert sample(metrics, "prov_sequencer_batches_total") == 1
    assert sample(metrics, "prov_sequencer_entries_total") == 1
    assert sample(metrics, "prov_sequencer_batch_seconds_count") == 1
    assert sample(metrics, "prov_tree_size") == 1
    assert sample(metrics, "prov_sequencer_lock_held") == 0
    assert sample(metrics, "prov_index_entries") == 0


def test_report_computations_count_only_what_the_cache_missed(client: TestClient) -> None:
    for _ in range(3):
        assert client.get("/v1/clusters").status_code == 200
    assert sample(client.get("/metrics").text, "prov_report_computations_total") == 1


def test_witness_pushes_are_counted_by_witness_and_outcome() -> None:
    metrics = Metrics(multiprocess=False)
    count = count_pushes(metrics.witness_pushes)
    count([PushResult("w1", 5, 1234), PushResult("w2", 5, None, "cannot reach witness w2")])
    count([PushResult("w1", 5, None)])

    text_ = metrics.exposition().decode()
    name = "prov_witness_pushes_total"
    assert sample(text_, name, witness="w1", outcome="cosigned") == 1
    assert sample(text_, name, witness="w1", outcome="up_to_date") == 1
    assert sample(text_, name, witness="w2", outcome="failed") == 1


def test_a_request_log_line_holds_no_header_query_or_body(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "query-secret-" + uuid.uuid4().hex
    with caplog.at_level(logging.INFO, logger=ACCESS_LOGGER):
        client.post(f"/v1/vendors?token={secret}", json={"root": secret}, headers=ADMIN)
    (record,) = [r for r in caplog.records if r.name == ACCESS_LOGGER]
    line = JsonFormatter().format(record)
    assert secret not in line and TOKEN not in line
    fields = record.fields  # type: ignore[attr-defined]
    assert fields["path"] == "/v1/vendors" and fields["route"] == "/v1/vendors"
    assert fields["method"] == "POST" and fields["status"] == 400
    assert set(fields) == {"method", "route", "path", "status", "duration_ms", "client", "bytes"}
    assert fields["bytes"] > 0
