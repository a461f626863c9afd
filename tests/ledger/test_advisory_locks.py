"""Advisory locks are per ledger: PostgreSQL shares them across the whole server, so the ingestion
locks of one schema (or database) must not make another schema's transactions wait — the test
runs, each in a schema of its own, used to block each other — while within one schema they still
serialise."""
from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from ledger.db import advisory_lock_key, advisory_xact_locks, lock_namespace, make_engine
from tests.conftest import PG_URL

pytestmark = pytest.mark.skipif(not PG_URL, reason="advisory locks are PostgreSQL's (TEST_DATABASE_URL)")


@pytest.fixture
def two_schemas():
    names = [f"relance_lock_{uuid.uuid4().hex[:8]}" for _ in range(2)]
    admin = make_engine(PG_URL)
    with admin.begin() as connection:
        for name in names:
            connection.execute(text(f'CREATE SCHEMA "{name}"'))
    engines = [make_engine(PG_URL, schema=name) for name in names]
    yield names, engines
    for engine in engines:
        engine.dispose()
    with admin.begin() as connection:
        for name in names:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
    admin.dispose()


def _try_lock(engine, name: str) -> bool:
    """Take `name`'s lock in a new transaction, waiting at most 300 ms; True when granted."""
    with Session(engine) as session:
        session.execute(text("SET LOCAL lock_timeout = '300ms'"))
        try:
            advisory_xact_locks(session, [name])
        except OperationalError as exc:
            assert "lock timeout" in str(exc)
            return False
        session.rollback()
        return True


def test_namespace_names_the_database_and_the_schema(two_schemas):
    names, engines = two_schemas
    with Session(engines[0]) as first, Session(engines[1]) as second:
        database = first.execute(text("SELECT current_database()")).scalar_one()
        assert lock_namespace(first) == f"{database}\x00{names[0]}"
        assert lock_namespace(second) == f"{database}\x00{names[1]}"
        assert advisory_lock_key(lock_namespace(first), "C1") != advisory_lock_key(lock_namespace(second), "C1")


def test_a_lock_held_in_one_schema_blocks_that_schema_only(two_schemas):
    _, (engine_a, engine_b) = two_schemas
    with Session(engine_a) as holder:
        advisory_xact_locks(holder, ["C1", "\x00record-bucket\x00invoice\x007"])
        # the same customer id in another ledger: granted at once
        assert _try_lock(engine_b, "C1")
        assert _try_lock(engine_b, "\x00record-bucket\x00invoice\x007")
        # in the holder's own ledger: waits (here, times out)
        assert not _try_lock(engine_a, "C1")
        assert not _try_lock(engine_a, "\x00record-bucket\x00invoice\x007")
        # another name in the holder's ledger is free
        assert _try_lock(engine_a, "C2")
        holder.rollback()
    assert _try_lock(engine_a, "C1")  # released with the transaction


def test_sqlite_takes_no_advisory_lock(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    with Session(engine) as session:
        advisory_xact_locks(session, ["C1"])  # nothing to take: SQLite has one writer
        assert session.execute(text("SELECT 1")).scalar_one() == 1
    engine.dispose()
