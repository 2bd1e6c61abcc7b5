"""/healthz, /readyz and /metrics against a real `prov serve --workers 2`, with JSON logs, on
SQLite and PostgreSQL: counts summed across both workers, a submission's batch and tree size,
the private metrics directory made and removed by the command, no secret in any log line,
and (PostgreSQL) /readyz 503 once the database is gone."""

import base64
import json
import os
import signal
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from testkit.pki import make_pki
from tests.support.clocks import FixedClock
from tests.support.databases import POSTGRES_URL
from tests.support.prometheus import sample
from tests.support.prov_cli import Prov
from tests.support.registry_fixtures import now_of
from tests.support.serving import Server

TOKEN = "admin-token-that-must-never-be-logged"
PASSWORD = "db-password-that-must-never-be-logged"
MAX_REQUESTS = 400  # GET /v1/log until both workers served some, each on a fresh connection
READY_SECONDS = 90  # two workers and their signature processes on a busy 2-core machine


@dataclass
class Served:
    server: Server
    log: Path
    tmp: Path  # the server's TMPDIR, where its metrics directory lives


def _with_password(url: str) -> str:
    """PostgreSQL here trusts local connections, so any password works: one to look for."""
    if not url.startswith("postgresql"):
        return url
    return make_url(url).set(password=PASSWORD).render_as_string(hide_password=False)


@contextmanager
def serving(tmp_path: Path, database_url: str) -> Iterator[Served]:
    """`prov serve --workers 2` with JSON logs, the admin token and a database password set."""
    url = _with_password(database_url)
    Prov(tmp_path / "data", url).init()
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROV_", "PROMETHEUS"))}
    env.update(PROV_LOG_FORMAT="json", PROV_ADMIN_TOKEN=TOKEN, TMPDIR=str(tmp))
    env.update(PROV_VERIFY_WORKERS="1", PROV_RATE_LIMIT="0")
    log = tmp_path / "serve.log"
    options = ["--data-dir", str(tmp_path / "data"), "--database", url, "serve", "--workers", "2"]
    server = Server(options, "/readyz", log, env).start(READY_SECONDS)
    try:
        yield Served(server, log, tmp)
    finally:
        server.stop()


def _log_lines(log: Path) -> list[dict[str, object]]:
    """Every line the server wrote, each of which must be one JSON object. Read while the
    server runs, the last line may still be being written: only finished lines are judged."""
    finished = log.read_text().rpartition("\n")[0]
    return [json.loads(line) for line in finished.splitlines() if line.strip()]


def _add_vendor(base: str) -> None:
    root = make_pki(now_of(FixedClock())).root.der
    vendor = {"name": "Served Co.", "role": "camera", "root": base64.b64encode(root).decode()}
    headers = {"Authorization": f"Bearer {TOKEN}"}
    answer = httpx.post(f"{base}/v1/vendors", json=vendor, headers=headers, timeout=30)
    assert answer.status_code == 200, answer.text


def _pids_serving(log: Path, route: str, status: int = 200) -> set[object]:
    """The workers that answered `route` with `status`, by their request log lines."""
    lines = _log_lines(log)
    return {
        line["pid"] for line in lines if (line.get("route"), line.get("status")) == (route, status)
    }


def _until_both_workers_serve(served: Served, route: str) -> int:
    """GET `route` (fresh connections) until both workers answered it; how many were sent.
    The second worker may still be starting when the first answers (Server.start)."""
    for sent in range(1, MAX_REQUESTS + 1):
        assert httpx.get(f"{served.server.base}{route}", timeout=10).status_code == 200
        if sent % 10 == 0 and len(_pids_serving(served.log, route)) == 2:
            return sent
    raise AssertionError(f"one worker answered all {MAX_REQUESTS} requests for {route}")


def _check_health(base: str) -> None:
    assert httpx.get(f"{base}/healthz", timeout=10).json() == {"status": "ok"}
    ready = httpx.get(f"{base}/readyz", timeout=10)
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert body["database"]["ok"] is True and body["index"]["loaded"] is True
    assert body["sequencer_lock"] is False and body["log_key"] is True


@pytest.fixture
def served(tmp_path: Path, database_url: str) -> Iterator[Served]:
    with serving(tmp_path, database_url) as running:
        yield running


def test_workers_sum_their_metrics_and_log_json_without_secrets(served: Served) -> None:
    base = served.server.base
    (metrics_dir,) = served.tmp.glob("prov-metrics-*")
    assert stat.S_IMODE(metrics_dir.stat().st_mode) == 0o700
    _check_health(base)
    sent = _until_both_workers_serve(served, "/v1/log")
    _add_vendor(base)
    httpx.get(f"{base}/v1/log?token={TOKEN}", headers={"X-Api-Key": TOKEN}, timeout=10)

    metrics = httpx.get(f"{base}/metrics", timeout=10).text
    count = "prov_http_requests_total"
    assert sample(metrics, count, route="/v1/log", method="GET", status="200") == sent + 1
    assert sample(metrics, "prov_sequencer_batches_total") == 1
    assert sample(metrics, "prov_sequencer_entries_total") == 1
    assert sample(metrics, "prov_tree_size") == 1

    lines = _log_lines(served.log)
    requests = [line for line in lines if line.get("logger") == "prov.access"]
    served_log = [line for line in requests if line["route"] == "/v1/log"]
    assert len(served_log) == sent + 1
    assert all(line["path"] == "/v1/log" for line in served_log)  # no query string
    assert any(line["logger"] == "uvicorn.error" for line in lines)  # uvicorn's own, as JSON
    raw = served.log.read_text()
    assert TOKEN not in raw and PASSWORD not in raw

    served.server.stop()
    assert not list(served.tmp.glob("prov-metrics-*")), "the metrics directory was left behind"


@pytest.mark.postgres
def test_readyz_is_503_on_every_worker_once_the_database_is_gone(
    tmp_path: Path, postgresql_url: str
) -> None:
    """PostgreSQL only: a SQLite file cannot be taken from a server's open connections (the
    in-process test moves it away between connections instead)."""
    with serving(tmp_path, postgresql_url) as served:
        base = served.server.base
        _check_health(base)
        _until_both_workers_serve(served, "/readyz")  # both started before the database goes
        admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            name = make_url(postgresql_url).database
            connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()

        for _ in range(MAX_REQUESTS):  # fresh connections, until both workers answered
            ready = httpx.get(f"{base}/readyz", timeout=30)
            assert ready.status_code == 503, ready.text
            assert ready.json()["database"]["ok"] is False
            if len(_pids_serving(served.log, "/readyz", 503)) == 2:
                break
        assert len(_pids_serving(served.log, "/readyz", 503)) == 2
        assert httpx.get(f"{base}/healthz", timeout=10).status_code == 200

        # A worker started now cannot open the log: it says so in one JSON line and exits
        # (uvicorn starts another), never a traceback in the JSON log.
        victim = next(iter(_pids_serving(served.log, "/readyz", 503)))
        assert isinstance(victim, int)
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            refused = [e for e in _log_lines(served.log) if e.get("event") == "worker_cannot_start"]
            if refused:
                break
            time.sleep(0.2)
        assert refused, "no worker_cannot_start line after a worker was restarted"
        database_gone = {"not_configured", "storage_unavailable"}
        assert refused[0]["code"] in database_gone, refused[0]
        assert "cannot start" in str(refused[0]["message"])
