"""A log restored from a backup older than what it published refuses to sequence: it would fork.

Real backups and restores: `sqlite3 DB ".backup FILE"` and `pg_dump -Fc` / `pg_restore` into a
fresh database. The mark of the largest checkpoint published lives beside the log key
(ledger.published), so the restore does not roll it back; and where the operator lost that
too, a witness that cosigned more says so with its 409.
"""

import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import make_url

from ledger import LogConfig
from ledger.witness import write_new_cosigner
from tests.support.crash_harness import LogUnderTest, RecordSource
from tests.support.databases import POSTGRES_URL
from tests.support.serving import PROV, Server

CODE = "log_behind_published"


class Backups:
    """Backs up and restores the log's database with the database's own tools."""

    def __init__(self, database_url: str, directory: Path) -> None:
        self.url = make_url(database_url)
        self.directory = directory
        self._made: list[str] = []

    def backup(self, name: str) -> Path:
        target = self.directory / name
        if self.url.get_backend_name() == "sqlite":
            assert self.url.database is not None
            _run("sqlite3", self.url.database, f".backup {target}")
        else:
            _run("pg_dump", "-Fc", "-f", str(target), _libpq(self.url.database))
        return target

    def restore(self, backup: Path) -> str:
        """Restore `backup`; the URL of the restored database (PostgreSQL: a fresh one)."""
        if self.url.get_backend_name() == "sqlite":
            assert self.url.database is not None
            for suffix in ("-wal", "-shm"):
                Path(self.url.database + suffix).unlink(missing_ok=True)
            shutil.copyfile(backup, self.url.database)
            return self.url.render_as_string(hide_password=False)
        name = f"prov_restored_{uuid.uuid4().hex[:12]}"
        with _admin() as admin:
            admin.execute(text(f'CREATE DATABASE "{name}"'))
        self._made.append(name)
        _run("pg_restore", "--no-owner", "-d", _libpq(name), str(backup))
        return self.url.set(database=name).render_as_string(hide_password=False)

    def close(self) -> None:
        with _admin() as admin:
            for name in self._made:
                admin.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextmanager
def _admin() -> Iterator[Connection]:
    engine = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()


def _libpq(database: str | None) -> str:
    return (
        make_url(POSTGRES_URL)
        .set(drivername="postgresql", database=database)
        .render_as_string(hide_password=False)
    )


def _run(*command: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 0, f"{command}: {done.stderr}"


@pytest.fixture
def backups(database_url: str, tmp_path: Path) -> Iterator[Backups]:
    made = Backups(database_url, tmp_path)
    yield made
    if made.url.get_backend_name() != "sqlite":
        made.close()


def _submit(base: str, source: RecordSource, count: int = 3) -> httpx.Response:
    return httpx.post(f"{base}/v1/captures", json={"records": source.batch(count)}, timeout=60)


def _serve(log: LogUnderTest, url: str, log_file: Path, **env: str) -> Server:
    server = log.server(log_file, {"PROV_DATABASE_URL": url, "PROV_VERIFY_WORKERS": "0", **env})
    return server.start(ready_seconds=60)


def _assert_refused(server: Server, source: RecordSource, behind: int, published: int) -> None:
    refused = _submit(server.base, source)
    assert refused.status_code == 503, refused.text
    error = refused.json()["error"]
    assert error["type"] == CODE
    assert f"at size {behind}" in error["message"]
    assert f"at or past size {published}" in error["message"]
    assert "start a new log" in error["message"]
    assert httpx.get(f"{server.base}/checkpoint", timeout=30).status_code == 200  # reads go on
    assert f"REFUSING TO SEQUENCE ({CODE})" in " ".join(server.log.read_text().split())


def _status(log: LogUnderTest, url: str) -> dict[str, Any]:
    """`prov log status --json`, in its own process: this one keeps no connection to a database
    file the test then replaces."""
    options = ["--data-dir", str(log.data_dir), "--database", url, "log", "status", "--json"]
    done = subprocess.run([str(PROV), *options], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def test_a_restore_behind_a_published_checkpoint_refuses_and_a_current_one_continues(
    database_url: str, backups: Backups, tmp_path: Path
) -> None:
    log = LogUnderTest.create(tmp_path / "data", database_url, devices=1)
    source = RecordSource(log.devices, seed=1)
    server = _serve(log, database_url, tmp_path / "serve.log")
    try:
        assert _submit(server.base, source).status_code == 200
        old = backups.backup("old.backup")
        old_size = _status(log, database_url)["tree_size"]
        assert _submit(server.base, source).status_code == 200  # publishes a larger checkpoint
        published = _status(log, database_url)["tree_size"]
        current = backups.backup("current.backup")
        server.stop()

        restored = backups.restore(old)
        server = _serve(log, restored, tmp_path / "restored.log")
        _assert_refused(server, source, behind=old_size, published=published)
        status = _status(log, restored)
        assert status["published"] == published
        assert status["refusing"]["code"] == CODE
        server.stop()

        restored = backups.restore(current)  # the non-fork case: the backup is current
        server = _serve(log, restored, tmp_path / "current.log")
        assert _submit(server.base, source).status_code == 200
        assert _status(log, restored)["refusing"] is None
    finally:
        server.stop()


def _witness(tmp_path: Path, log: LogUnderTest) -> tuple[Server, str]:
    key_file = tmp_path / "witness.key"
    cosigner = write_new_cosigner(key_file, "witness.example/restore")
    arguments = ["witness", "serve", "--log", log.log_key.vkey, "--key-file", str(key_file)]
    arguments += ["--database", f"sqlite:///{tmp_path / 'witness.db'}"]
    server = Server(arguments, "/", tmp_path / "witness.log", dict(os.environ))
    return server.start(ready_seconds=60), cosigner.verifier.vkey


def _wait_cosigned(base: str, witness: str, size: int) -> None:
    deadline = time.monotonic() + 60
    while True:
        note = httpx.get(f"{base}/checkpoint", timeout=30).text
        if f"\n{size}\n" in note and f"— {witness}" in note:
            return
        assert time.monotonic() < deadline, note
        time.sleep(0.2)


def test_a_witness_that_cosigned_more_makes_a_restored_log_refuse_without_the_mark(
    database_url: str, backups: Backups, tmp_path: Path
) -> None:
    """The operator lost the mark too: the witness's 409 at start proves the log is behind."""
    log = LogUnderTest.create(tmp_path / "data", database_url, devices=1)
    source = RecordSource(log.devices, seed=2)
    witness, vkey = _witness(tmp_path, log)
    env = {"PROV_WITNESSES": f"{witness.base} {vkey}", "PROV_WITNESS_INTERVAL": "0.2"}
    server = _serve(log, database_url, tmp_path / "serve.log", **env)
    try:
        assert _submit(server.base, source).status_code == 200
        old = backups.backup("old.backup")
        old_size = _status(log, database_url)["tree_size"]
        assert _submit(server.base, source).status_code == 200
        cosigned = _status(log, database_url)["tree_size"]
        _wait_cosigned(server.base, "witness.example/restore", cosigned)
        server.stop()

        LogConfig.from_env(log.data_dir).published_file.unlink()
        restored = backups.restore(old)
        server = _serve(log, restored, tmp_path / "restored.log", **env)
        _assert_refused(server, source, behind=old_size, published=cosigned)
        assert "witness.example/restore" in _submit(server.base, source).json()["error"]["message"]
    finally:
        server.stop()
        witness.stop()
