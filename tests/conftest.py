"""Shared fixtures: every data-layer and API test runs on SQLite and, when TEST_DATABASE_URL is
set, on PostgreSQL too, each run in a schema of its own that is dropped at the end.

Every ledger a test leaves behind is checked against the ledger's invariants
(`ledger.invariants`, what `relance check` runs): after each test using `db`, when the shared
engine is dropped, and at the end of the run for every SQLite file any engine opened (the
end-to-end server's, the CLI's, the demo's). A violation fails the run loudly."""
from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, SQLModel

from ledger.db import import_table_modules, make_engine, migrate
from ledger.invariants import check_ledger

import_table_modules()

ROOT = Path(__file__).resolve().parents[1]
# the public IBM sample travels with the tests (tests/data/ibm_ar/PROVENANCE.md says where it came from)
IBM_DIR = ROOT / "tests" / "data" / "ibm_ar"
PG_URL = os.environ.get("TEST_DATABASE_URL")
REQUIRE_PG = os.environ.get("RELANCE_REQUIRE_PG") == "1"
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


def pytest_sessionstart(session):
    if REQUIRE_PG and not PG_URL:
        raise pytest.UsageError("RELANCE_REQUIRE_PG=1 but TEST_DATABASE_URL is not set")
    if PG_URL:
        try:
            probe = make_engine(PG_URL)
            with probe.connect() as connection:
                connection.execute(text("SELECT 1"))
            probe.dispose()
        except Exception as exc:  # an unreachable server: fail in CI, say so on a laptop
            if REQUIRE_PG:
                raise pytest.UsageError(f"PostgreSQL at TEST_DATABASE_URL is unreachable: {exc}") from None
            BACKENDS.remove("postgresql")


def pytest_report_header(config):
    if PG_URL:
        return f"PostgreSQL suite: on ({PG_URL})"
    return "PostgreSQL suite: SKIPPED (set TEST_DATABASE_URL to run it)"


# SQLite files any engine of this run connected to (engines come and go; the files stay)
_SQLITE_FILES: set[str] = set()


@event.listens_for(Engine, "engine_connect")
def _remember_sqlite_file(connection) -> None:
    url = connection.engine.url
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        _SQLITE_FILES.add(str(Path(url.database).resolve()))


def assert_ledger_holds(engine, where: str) -> None:
    """Fail with the list of violations when the ledger behind `engine` breaks an invariant."""
    violations = check_ledger(engine)
    if violations:
        listed = "\n".join(f"  - {v.sentence('en')}" for v in violations[:50])
        pytest.fail(f"ledger invariants violated ({where}):\n{listed}", pytrace=False)


@pytest.fixture(scope="session", autouse=True)
def _ledgers_hold_at_the_end():
    """At the end of the run: every SQLite ledger file still on disk obeys the invariants."""
    yield
    broken = []
    for path in sorted(_SQLITE_FILES):
        if not Path(path).exists():
            continue
        probe = make_engine(f"sqlite:///{path}")
        try:
            violations = check_ledger(probe)
        except DBAPIError:  # not a ledger (MLflow's store, a file without our tables)
            continue
        finally:
            probe.dispose()
        broken += [f"  - {path}: {v.sentence('en')}" for v in violations[:20]]
    if broken:
        pytest.fail("ledger invariants violated at the end of the run:\n" + "\n".join(broken),
                    pytrace=False)


@pytest.fixture(scope="session")
def shared_ibm() -> Path:
    assert IBM_DIR.exists(), f"the IBM sample is missing from the repository ({IBM_DIR})"
    return IBM_DIR


def _pg_engine(schema: str):
    admin = make_engine(PG_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    return make_engine(PG_URL, schema=schema)


def _drop_pg_schema(schema: str) -> None:
    admin = make_engine(PG_URL)
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(scope="session", params=BACKENDS)
def engine(request, tmp_path_factory):
    """A migrated engine per backend, for the whole run."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("db") / "relance.db"
        engine = make_engine(f"sqlite:///{path}")
        migrate(engine)
        yield engine
        try:
            assert_ledger_holds(engine, "sqlite, end of run")
        finally:
            engine.dispose()
        return
    schema = f"relance_test_{worker}_{uuid.uuid4().hex[:8]}"
    engine = _pg_engine(schema)
    migrate(engine)
    engine.url_schema = schema  # type: ignore[attr-defined]
    yield engine
    try:
        assert_ledger_holds(engine, "postgresql, end of run")
    finally:
        engine.dispose()
        _drop_pg_schema(schema)


def _clean(engine) -> None:
    tables = [t for t in reversed(SQLModel.metadata.sorted_tables)]
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in tables)
            connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                connection.execute(table.delete())


@pytest.fixture
def db(engine):
    """The engine, checked against the ledger's invariants, then emptied after the test."""
    yield engine
    try:
        assert_ledger_holds(engine, f"{engine.dialect.name}, after the test")
    finally:
        _clean(engine)


@pytest.fixture
def session(db):
    with Session(db, expire_on_commit=False) as session:
        yield session


@pytest.fixture
def app(db):
    """The app on the test database, serving no model (rules) unless a test swaps `app.state.risk`."""
    from serving.app import create_app
    from serving.risk import RiskService

    return create_app(engine=db, risk=RiskService())


@pytest.fixture
def client(app):
    from fastapi.testclient import TestClient

    with TestClient(app) as client:
        yield client


@pytest.fixture
def keys(db) -> dict[str, str]:
    """One API key per role, as `Authorization` headers."""
    from serving.auth import ROLES, create_key

    with Session(db) as session:
        created = {role: create_key(session=session, role=role, name=f"test-{role}") for role in ROLES}
        session.commit()
    return {role: {"Authorization": f"Bearer {key}"} for role, key in created.items()}


def give_portfolio(engine, customer_ids=None, agent: str = "test-agent") -> None:
    """Assign customers (default: every customer) to `agent`, the name of `keys["agent"]`: an
    agent's key sees its own portfolio only."""
    from sqlalchemy import update

    from ledger.tables import Customer

    query = update(Customer).values(assigned_agent=agent)
    if customer_ids is not None:
        query = query.where(Customer.customer_id.in_(list(customer_ids)))
    with engine.begin() as connection:
        connection.execute(query)
