"""The HTTP API in-process (FastAPI's TestClient) over a test registry's database, holding the
log key: what a remote auditor or client sees, without a server process."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fastapi.testclient import TestClient

from api import create_app
from ledger import LogConfig, Signer
from ledger.note import write_private_key_file
from ledger.remote import RemoteLog
from registry import Registry, RegistrySettings
from tests.support.registry_fixtures import serving_app


@contextmanager
def served(registry: Registry, signer: Signer, tmp_path: Path) -> Iterator[RemoteLog]:
    key_file = tmp_path / "log.key"
    write_private_key_file(key_file, signer.to_string(), "log")
    url = registry.store.engine.url.render_as_string(hide_password=False)
    app = create_app(RegistrySettings(log=LogConfig(tmp_path, url, key_file), verify_workers=0))
    with TestClient(app) as client:
        yield RemoteLog("http://testserver", http=client)


@contextmanager
def api_client(registry: Registry, signer: Signer, tmp_path: Path) -> Iterator[TestClient]:
    """The HTTP API over the test registry's database, holding the log key."""
    key_file = tmp_path / "log.key"
    write_private_key_file(key_file, signer.to_string(), "log")
    url = registry.store.engine.url.render_as_string(hide_password=False)
    with serving_app(
        RegistrySettings(log=LogConfig(tmp_path, url, key_file), verify_workers=0)
    ) as client:
        yield client
