"""Engines for the log's database: a SQLite file (WAL) or any SQLAlchemy URL, e.g. PostgreSQL.

Contract for writers: `locked_transaction` holds the log's write lock until it commits, so two
sequencers (threads, processes or machines sharing one PostgreSQL) can never both extend the
same tree size. Commits are durable once they return (SQLite `synchronous=FULL`).
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from ledger.errors import ConfigurationError

# pg_advisory_xact_lock key: the ASCII of "provlog\0" read as a signed 64-bit integer.
POSTGRES_LOCK_KEY = int.from_bytes(b"provlog\x00", "big", signed=True)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take BEGIN out of the driver's hands so writers can ask for BEGIN IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.execute("PRAGMA cache_size=-65536")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")


def open_engine(url: str) -> Engine:
    """An engine for `url`; SQLite files get WAL mode and explicit transaction control."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigurationError(
            f"database URL {url!r} is not a SQLAlchemy URL; use e.g. sqlite:///prov.db or "
            "postgresql+psycopg://user@host/dbname"
        ) from None
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(parsed, connect_args={"timeout": 60})
        _configure_sqlite(engine)
        return engine
    return create_engine(parsed, pool_pre_ping=True)


@contextmanager
def locked_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction holding the log's write lock; commits on success, rolls back on error."""
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            connection = connection.execution_options(sqlite_begin="IMMEDIATE")
        with connection.begin():
            if engine.dialect.name == "postgresql":
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": POSTGRES_LOCK_KEY}
                )
            elif engine.dialect.name != "sqlite":
                raise ConfigurationError(
                    f"the log needs SQLite or PostgreSQL for its write lock, not {engine.dialect.name}"
                )
            yield connection
