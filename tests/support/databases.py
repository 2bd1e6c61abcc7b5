"""The database fixtures: every storage test runs on SQLite and on a real PostgreSQL server.

PostgreSQL comes from PROV_TEST_POSTGRES_URL (default: the local server at 127.0.0.1:5432,
database `test`, trust auth). Each test gets its own fresh database, built with
`alembic upgrade head`. Without a server the PostgreSQL tests skip with the reason; under
CI=true they fail instead, because CI must never pass without them.
"""

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

import migrations
from ledger import LogStore, Sequencer, Signer, open_engine
from tests.support.clocks import FixedClock

POSTGRES_URL = os.environ.get(
    "PROV_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
ORIGIN = "example.org/provenance/test-log"


def _postgres_unavailable_reason() -> str | None:
    try:
        engine = create_engine(POSTGRES_URL)
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
    except OperationalError as exc:
        return f"no PostgreSQL server at {POSTGRES_URL} ({exc.orig}); set PROV_TEST_POSTGRES_URL"
    return None


_PG_REASON = _postgres_unavailable_reason()


def require_postgres() -> None:
    if _PG_REASON is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true requires the PostgreSQL tests to run: {_PG_REASON}")
    pytest.skip(_PG_REASON)


@pytest.fixture
def postgresql_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    require_postgres()
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    name = f"prov_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'log.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """An empty database of each kind; storage tests take this to run on both."""
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


@pytest.fixture
def migrated_url(database_url: str) -> str:
    migrations.upgrade(database_url)
    return database_url


@pytest.fixture
def signer() -> Signer:
    return Signer.generate(ORIGIN)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def store(migrated_url: str) -> Iterator[LogStore]:
    engine = open_engine(migrated_url)
    yield LogStore(engine)
    engine.dispose()


@pytest.fixture
def sequencer(store: LogStore, signer: Signer, clock: FixedClock) -> Sequencer:
    sequencer = Sequencer(store, signer, clock)
    sequencer.initialize()
    return sequencer
