"""Alembic migrations: the only way the schema changes. `upgrade(url)` brings a database to head."""

from pathlib import Path

from alembic import command
from alembic.config import Config

from ledger.database import open_engine, translate_database_errors

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
