"""Engines for the log's database: a SQLite file (WAL) or any SQLAlchemy URL, e.g. PostgreSQL.

Contract for writers: `locked_transaction` holds the log's write lock until it commits, so two
sequencers (threads, processes or machines sharing one PostgreSQL) can never both extend the
same tree size. Commits are durable once they return (SQLite `synchronous=FULL`).
"""

import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Table, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError, ProgrammingError

from ledger.errors import ConfigurationError

# pg_advisory_xact_lock keys: ASCII names read as signed 64-bit integers.
SEQUENCER_LOCK = int.from_bytes(b"provlog\x00", "big", signed=True)
STORAGE_UNAVAILABLE = "storage_unavailable"  # the code of a database that cannot be used
POOL_SIZE = 20  # PostgreSQL connections a process keeps, opened as needed

# How long a lock holder may sit idle inside its transaction before PostgreSQL ends its session.
# A batch's statements follow each other within milliseconds; 30 s only ever trips on a holder
# that stopped (SIGSTOP, a paused VM, a network partition).
STALL_TIMEOUT_S = 30.0


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take BEGIN out of the driver's hands so writers can ask for BEGIN IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA page_size=16384")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.execute("PRAGMA cache_size=-65536")
        cursor.execute("PRAGMA wal_autocheckpoint=4096")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")


def open_engine(url: str, *, create: bool = False) -> Engine:
    """An engine for `url`; SQLite files get WAL mode and explicit transaction control.

    A SQLite file that does not exist is an error unless `create` (only migrations create).
    """
    try:
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite":
            path = parsed.database
            if not create and path and path != ":memory:" and not Path(path).exists():
                raise ConfigurationError(
                    f"no log database at {path}: create it with `prov init`, or point "
                    "--database (PROV_DATABASE_URL) at an existing log"
                )
            engine = create_engine(parsed, connect_args={"timeout": 60})
            _configure_sqlite(engine)
            return engine
        # No pool_pre_ping: it costs a round trip per request; a dropped connection surfaces
        # as an error on that request and the pool replaces it.
        # SQLAlchemy's default pool keeps 5 connections and closes each one above them when it
        # is returned, so under concurrent reads most requests paid a new connection
        # (bench/load_bench.py: proofs at p99 270 ms, p50 8 ms). Connections open as needed;
        # at most 40 a process, within PostgreSQL's default 100 for two server processes.
        return create_engine(parsed, pool_recycle=3600, pool_size=POOL_SIZE, max_overflow=POOL_SIZE)
    except ArgumentError:
        problem = "is not a SQLAlchemy URL"
    except (NoSuchModuleError, ImportError) as exc:
        problem = f"names a database driver that is not installed ({exc})"
    raise ConfigurationError(
        f"database URL {_without_password(url)!r} {problem}; use e.g. sqlite:///prov.db or "
        "postgresql+psycopg://user@host/dbname"
    )


def _without_password(url: str) -> str:
    """`url` with any password masked, even when it does not parse as a URL."""
    return re.sub(r"(://[^/:@]*:)[^/@]*@", r"\1***@", url)


def describe(engine: Engine) -> str:
    """The engine's URL without its password, for messages."""
    return engine.url.render_as_string(hide_password=True)


@contextmanager
def translate_database_errors(engine: Engine) -> Iterator[None]:
    """Turn "cannot connect" and "no such table" into a message that says what to do.

    The message names the database (without its password) for the operator; the API answers
    code `storage_unavailable` with a generic message instead (api.errors), and logs this one."""
    try:
        yield
    except (OperationalError, ProgrammingError) as exc:
        raise ConfigurationError(
            f"cannot use the log database {describe(engine)}: {str(exc.orig).strip()}. Check "
            "--database (PROV_DATABASE_URL), or create the log with `prov init`",
            code=STORAGE_UNAVAILABLE,
        ) from exc


@contextmanager
def locked_transaction(
    engine: Engine, lock: int = SEQUENCER_LOCK, *, stall_timeout_s: float = STALL_TIMEOUT_S
) -> Iterator[Connection]:
    """A transaction holding write lock `lock`; commits on success, rolls back on error.

    On SQLite every writer holds the one database write lock (BEGIN IMMEDIATE), whatever `lock`.
    On PostgreSQL the lock is released when the holder's transaction ends, when its connection
    drops (a killed process), or when it sits idle inside the transaction for `stall_timeout_s`
    (a frozen process, a paused VM, a partition): the server then ends its session, so a stuck
    holder cannot keep every other sequencer out, and its batch is rolled back, never committed.
    """
    with translate_database_errors(engine), engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            connection = connection.execution_options(sqlite_begin="IMMEDIATE")
        with connection.begin():
            if engine.dialect.name == "postgresql":
                timeout_ms = max(1, round(stall_timeout_s * 1000))
                connection.execute(
                    text(f"SET LOCAL idle_in_transaction_session_timeout = {timeout_ms}")
                )
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock})
            elif engine.dialect.name != "sqlite":
                raise ConfigurationError(
                    "the log needs SQLite or PostgreSQL for its write lock, "
                    f"not {engine.dialect.name}"
                )
            yield connection


def insert_named(
    connection: Connection, table: Table, rows: Sequence[Mapping[str, object]]
) -> None:
    """`insert_rows` for rows given by column name: each row must name every column exactly
    once, so a column added to the table cannot be filled from the wrong position."""
    names = [column.name for column in table.columns]
    for row in rows:
        if set(row) != set(names):
            raise ValueError(
                f"a {table.name} row names {sorted(row)}, not the table's columns {sorted(names)}"
            )
    insert_rows(connection, table, [tuple(row[name] for name in names) for row in rows])


def insert_rows(connection: Connection, table: Table, rows: Sequence[Sequence[Any]]) -> None:
    """INSERT many rows given as tuples in the table's column order, straight to the driver.

    For hot paths only: SQLAlchemy's per-row parameter processing costs more than the insert.
    """
    if not rows:
        return
    marker = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    columns = ", ".join(column.name for column in table.columns)
    markers = ", ".join([marker] * len(table.columns))
    connection.exec_driver_sql(
        f"INSERT INTO {table.name} ({columns}) VALUES ({markers})", list(map(tuple, rows))
    )
