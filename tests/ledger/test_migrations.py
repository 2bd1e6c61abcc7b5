"""The schema comes only from Alembic, and the models never drift from the migrations."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, inspect

import migrations
from ledger import open_engine
from ledger.schema import metadata as log_metadata
from registry.admission.schema import metadata as registry_metadata


def all_tables() -> MetaData:
    combined = MetaData()
    for metadata in (log_metadata, registry_metadata):
        for table in metadata.tables.values():
            table.to_metadata(combined)
    return combined


def test_models_match_migrations(migrated_url: str) -> None:
    engine = open_engine(migrated_url)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), all_tables())
    engine.dispose()
    assert diff == [], f"models and migrations differ; write a migration for: {diff}"


def test_upgrade_is_idempotent_and_downgrade_removes_everything(database_url: str) -> None:
    migrations.upgrade(database_url)
    migrations.upgrade(database_url)
    engine = open_engine(database_url)
    assert set(all_tables().tables) <= set(inspect(engine).get_table_names())
    from alembic import command

    command.downgrade(migrations.alembic_config(database_url), "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()
