"""Alembic migrations: the only way the schema changes. `upgrade(url)` brings a database to head."""

import contextlib
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from ledger.database import open_engine, translate_database_errors
from ledger.errors import ConfigurationError

MIGRATIONS_DIR = Path(__file__).resolve().parent


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolation would eat '%' in passwords.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at `url`; an unreachable or unusable database is a ConfigurationError."""
    engine = open_engine(url, create=True)  # rejects a malformed URL before Alembic does
    try:
        with translate_database_errors(engine):
            command.upgrade(alembic_config(url), revision)
    finally:
        engine.dispose()


# For `prov init`, which must leave nothing behind when it fails (cli/operator_commands.py).


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL; None for another database (or not a URL)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(str(parsed.database))


def holds_tables(url: str) -> bool:
    """Whether the database holds any table; True when that cannot be told (then nothing is
    dropped): a database that cannot be reached gets no tables from `prov init` either."""
    try:
        engine = open_engine(url)
    except ConfigurationError:
        return True
    try:
        with engine.connect() as connection:
            return bool(inspect(connection).get_table_names())
    except SQLAlchemyError:
        return True
    finally:
        engine.dispose()


def drop_all_tables(url: str) -> None:
    """Drop every table of a database `prov init` found empty; best effort, since the failure
    that brought us here is what the operator needs to see."""
    with contextlib.suppress(ConfigurationError, SQLAlchemyError):
        engine = open_engine(url)
        try:
            tables = MetaData()
            with engine.begin() as connection:
                tables.reflect(connection)
                tables.drop_all(connection)
        finally:
            engine.dispose()
