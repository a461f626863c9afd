"""The Alembic history has one head, and a migrated database matches the tables in the code."""
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
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


def _config(connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _structural_diff(connection) -> list:
    diff = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    return [d for d in diff if isinstance(d, tuple) and d[0] in
            ("add_table", "remove_table", "add_column", "remove_column", "add_index")]


def test_new_revisions_come_after_the_date_bounds():
    """A database at 0011 must not count later work as applied: nothing new may be chained
    before it (0016–0019 once were; revision 0023 catches such a database up)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    script = ScriptDirectory.from_config(config)
    before_bounds = {r.revision for r in script.walk_revisions("base", "0011")} - {"0011"}
    assert before_bounds == {f"{n:04d}" for n in range(1, 11)} | {"0012", "0013", "0014", "0015",
                                                                   "0016", "0017", "0018", "0019"}


def test_a_database_left_at_0011_before_0016_gets_the_skipped_revisions(tmp_path):
    """The upgrade path of a database migrated when 0011 came right after 0012: stamped 0011
    without 0016–0019, it reaches the models' schema at head."""
    from alembic import command

    from ledger.db import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    with engine.begin() as connection:
        command.upgrade(_config(connection), "0012")
        command.stamp(_config(connection), "0011")  # what such a database's alembic_version says
    with engine.connect() as connection:
        assert "storedcustomerrisk" not in inspect(connection).get_table_names()
    with engine.begin() as connection:
        command.upgrade(_config(connection), "head")
    with engine.connect() as connection:
        tables = inspect(connection).get_table_names()
        assert {"policyevaluation", "storedcustomerrisk", "receivablesnapshot",
                "storednextaction", "policymodel"} <= set(tables)
        assert _structural_diff(connection) == []
    engine.dispose()
