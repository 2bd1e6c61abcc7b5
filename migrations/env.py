"""Alembic environment: runs migrations on the URL in the config (see migrations.upgrade)."""

import os

from alembic import context

from ledger.database import open_engine
from ledger.schema import metadata as log_metadata
from registry.admission.schema import metadata as registry_metadata

config = context.config
target_metadata = [log_metadata, registry_metadata]


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url") or os.environ.get("PROV_DATABASE_URL")
    if not url:
        raise RuntimeError("no database URL: set PROV_DATABASE_URL or use migrations.upgrade(url)")
    engine = open_engine(url, create=True)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("offline (SQL script) migrations are not supported")
run_migrations_online()
