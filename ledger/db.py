"""Engine and sessions, on SQLite (embedded default) or PostgreSQL (`DATABASE_URL`).

The schema is owned by Alembic (`ledger/migrations`); `migrate(engine)` brings any database to
head, and is what `relance` runs before touching a database.
"""
from __future__ import annotations

import hashlib
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from sqlalchemy import event, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine
from sqlalchemy.pool import StaticPool
from sqlmodel import Session, create_engine

import ledger.tables
from ledger.config import get_settings

MIGRATIONS = Path(__file__).parent / "migrations"

# SQLite has no decimal type: amounts are stored as NUMERIC affinity and quantised on the way out
warnings.filterwarnings("ignore", category=sa_exc.SAWarning, message=".*Decimal objects natively.*")


def normalise_url(url: str) -> str:
    """Accept the usual `postgresql://` spelling and use psycopg 3 for it."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def make_engine(url: str, *, schema: str | None = None, echo: bool = False) -> Engine:
    """An engine for `url`; `schema` pins PostgreSQL's search_path (tests run in their own)."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
        memory = url in ("sqlite://", "sqlite:///:memory:")
        kwargs: dict = {"connect_args": {"check_same_thread": False, "timeout": 30}}
        if memory:
            kwargs["poolclass"] = StaticPool
        else:  # one connection per request thread (FastAPI runs up to 40 at once)
            kwargs.update(pool_size=10, max_overflow=40)
        engine = create_engine(url, echo=echo, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    connect_args = {"options": f"-csearch_path={schema}"} if schema else {}
    return create_engine(url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=40,
                         connect_args=connect_args)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def import_table_modules() -> None:
    """Every table is on SQLModel's metadata once `ledger.tables` is imported (this module
    imports it): kept as the one call migrations and tests make before reading the metadata."""
    assert ledger.tables.__all__


def migrate(engine: Engine) -> None:
    """Upgrade the database behind `engine` to the latest migration (one head: see 0008)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


@lru_cache
def get_engine() -> Engine:
    """The application's engine, from settings; migrated on first use."""
    engine = make_engine(get_settings().database_url)
    migrate(engine)
    return engine


@contextmanager
def session_scope(engine: Engine | None = None) -> Iterator[Session]:
    """A session whose work commits as one transaction, or rolls back whole."""
    with Session(engine or get_engine(), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


# --- advisory locks ------------------------------------------------------------------------------

ADVISORY_LOCK_CHUNK = 1000


def lock_namespace(session: Session) -> str:
    """What an advisory lock's name is scoped to: PostgreSQL's advisory locks are shared by the
    whole server, so two ledgers (databases, or schemas of one database, as the test runs use) must
    not take each other's locks. Asked each time: a session's search_path decides its schema."""
    database, schema = session.execute(text("SELECT current_database(), current_schema()")).one()
    return f"{database}\x00{schema}"


def advisory_lock_key(namespace: str, name: str) -> int:
    """A signed 64-bit key for `name` within `namespace` (pg_advisory_xact_lock takes a bigint)."""
    digest = hashlib.blake2b(f"{namespace}\x00{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def advisory_xact_locks(session: Session, names: Iterable[str]) -> None:
    """PostgreSQL: take transaction-level advisory locks on `names` in this ledger (database and
    schema), released at commit or rollback; other backends: nothing (SQLite has one writer).
    One sorted list of keys: every transaction takes them in the same order, so none deadlock."""
    if session.get_bind().dialect.name != "postgresql":
        return
    namespace = lock_namespace(session)
    keys = sorted({advisory_lock_key(namespace, name) for name in names})
    for start in range(0, len(keys), ADVISORY_LOCK_CHUNK):
        session.execute(text("SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:keys AS bigint[])) AS k"),
                        {"keys": keys[start:start + ADVISORY_LOCK_CHUNK]})
