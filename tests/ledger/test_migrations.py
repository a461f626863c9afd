"""The Alembic history has one head, and a migrated database matches the tables in the code."""
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlmodel import SQLModel

from ledger.db import MIGRATIONS


def test_one_head():
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert len(ScriptDirectory.from_config(config).get_heads()) == 1


def test_migrated_schema_matches_the_models(engine):
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    # types differ in spelling between dialects (AutoString vs VARCHAR): only tables, columns
    # and indexes missing from the database count (report indexes live in migrations only)
    structural = [d for d in diff if isinstance(d, tuple) and d[0] in
                  ("add_table", "remove_table", "add_column", "remove_column", "add_index")]
    assert structural == []
