"""One bulk writer for the large writes: ingestion's upserts and a dunning run's planned actions,
reminders and events.

Bulk paths go straight to the driver: SQLAlchemy's per-value processing costs more than the
database itself at 100,000 rows, and multi-row `INSERT … VALUES … RETURNING` statements are slow
to build and parse at a million rows (psycopg re-parses each huge statement). So `write_rows`
sends driver values in one of three ways:

- small sets (and SQLite without RETURNING): `executemany` of one `INSERT … VALUES` statement;
- PostgreSQL, large, no conflict clause and nothing returned: COPY straight into the table;
- otherwise: the rows go first into a temporary load table (COPY on PostgreSQL, executemany on
  SQLite), then into the real table with one `INSERT … SELECT … [ON CONFLICT …] [RETURNING …]`
  in the caller's order: the unique key still decides, in the database, which rows are new.

Everything happens in the caller's transaction (advisory locks and all-or-nothing still hold).
"""
from __future__ import annotations

import datetime as dt
import functools
import json
import operator
import re
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, String, any_, bindparam, func, literal_column, select
from sqlalchemy.dialects import postgresql

COPY_MIN = 2_000  # below this, executemany beats creating a temporary table
LOAD_BATCH = 50_000  # rows per round through the load table
EXECUTEMANY_CHUNK = 20_000


def write_rows(connection, table_name: str, columns: Sequence[str], params: list[tuple], *,
               conflict: str | None = None, returning: Sequence[str] = ()) -> list[tuple]:
    """Insert `params` (driver values, in `columns` order) into `table_name`; `conflict` is an
    `ON CONFLICT …` clause, `returning` the columns to hand back for the rows actually inserted
    (in the caller's order). Returns those rows (empty without `returning`)."""
    if not params:
        return []
    postgres = connection.dialect.name == "postgresql"
    names = ", ".join(f'"{c}"' for c in columns)
    if not returning and (not postgres or len(params) < COPY_MIN):
        marks = ", ".join(["%s" if postgres else "?"] * len(columns))
        sql = f'INSERT INTO "{table_name}" ({names}) VALUES ({marks})' + (f" {conflict}" if conflict else "")
        for start in range(0, len(params), EXECUTEMANY_CHUNK):
            connection.exec_driver_sql(sql, params[start:start + EXECUTEMANY_CHUNK])
        return []
    cursor = connection.connection.driver_connection.cursor()
    try:
        if postgres and conflict is None and not returning:
            copy_rows(cursor, f'COPY "{table_name}" ({names}) FROM STDIN', params)
            return []
        return _through_load_table(cursor, table_name, names, len(columns), params, postgres=postgres,
                                   conflict=conflict, returning=returning)
    finally:
        cursor.close()


def _through_load_table(cursor, table_name: str, names: str, width: int, params: list[tuple], *,
                        postgres: bool, conflict: str | None, returning: Sequence[str]) -> list[tuple]:
    load = f"relance_load_{table_name}"  # rebuilt per call: the columns differ between calls
    # qualified: only ever our own temporary table, never a real one of that name
    cursor.execute(f'DROP TABLE IF EXISTS {"pg_temp" if postgres else "temp"}."{load}"')
    if postgres:
        cursor.execute(f'CREATE TEMP TABLE "{load}" ON COMMIT DROP AS '
                       f'SELECT {names}, 0::bigint AS relance_seq FROM "{table_name}" WITH NO DATA')
    else:
        cursor.execute(f'CREATE TEMP TABLE "{load}" AS '
                       f'SELECT {names}, 0 AS relance_seq FROM main."{table_name}" WHERE 0')
    # ordered by the caller's order, so ids follow it as they did with VALUES lists
    statement = (f'INSERT INTO "{table_name}" ({names}) SELECT {names} FROM "{load}" '
                 "WHERE true ORDER BY relance_seq")
    if conflict:
        statement += f" {conflict}"
    if returning:
        statement += f" RETURNING {', '.join(returning)}"
    inserted: list[tuple] = []
    for start in range(0, len(params), LOAD_BATCH):
        cursor.execute(f'DELETE FROM "{load}"')
        batch = [(*values, start + n) for n, values in enumerate(params[start:start + LOAD_BATCH])]
        if postgres:
            copy_rows(cursor, f'COPY "{load}" ({names}, relance_seq) FROM STDIN', batch)
        else:
            cursor.executemany(f'INSERT INTO "{load}" VALUES ({", ".join("?" * (width + 1))})', batch)
        cursor.execute(statement)
        if returning:
            inserted.extend(tuple(r) for r in cursor.fetchall())
    return inserted


def copy_rows(cursor, statement: str, params: list[tuple]) -> None:
    """COPY `params` in PostgreSQL's text format, built a column at a time (`map` in C): psycopg's
    `write_row` adapts every value in Python, which costs more than the server's work at
    100,000 rows. A column of a type not handled here (JSON objects…) falls back to `write_row`."""
    with cursor.copy(statement) as copy:
        for start in range(0, len(params), LOAD_BATCH):
            chunk = params[start:start + LOAD_BATCH]
            columns = [_copy_column(list(column)) for column in zip(*chunk)]
            if any(column is None for column in columns):
                for values in chunk:
                    copy.write_row(values)
                continue
            copy.write("\n".join(map("\t".join, zip(*columns))) + "\n")


_COPY_ESCAPE = str.maketrans({"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"})
_COPY_SPECIAL = re.compile("[\\\\\n\r\t]")


def _copy_text(value: str) -> str:
    return value.translate(_COPY_ESCAPE) if _COPY_SPECIAL.search(value) else value


def _copy_bool(value: bool) -> str:
    return "t" if value else "f"


_COPY_CONVERT: dict[type, Any] = {str: _copy_text, Decimal: str, int: str, float: repr, dt.date: dt.date.isoformat,
                                  dt.datetime: dt.datetime.isoformat, bool: _copy_bool}


def _copy_column(values: list[Any]) -> list[str] | None:
    """One column as COPY text (NULL as \\N), or None for a type COPY text is not built for here."""
    kinds = set(map(type, values))
    has_null = type(None) in kinds
    kinds.discard(type(None))
    if not kinds <= _COPY_CONVERT.keys():
        return None
    if kinds == {str}:
        if not _COPY_SPECIAL.search("".join(v for v in values if v is not None) if has_null
                                    else "".join(values)):
            return [v if v is not None else "\\N" for v in values] if has_null else values
        # each distinct text escaped once: a run's actions share a few thousand reasons texts
        # (the hash of a shared str object is computed once by Python)
        escaped = {v: _copy_text(v) for v in set(values) if v is not None}
        escaped[None] = "\\N"  # type: ignore[index]
        return list(map(escaped.__getitem__, values))
    if len(kinds) == 1 and not has_null:
        return list(map(_COPY_CONVERT[kinds.pop()], values))
    convert = _COPY_CONVERT
    return ["\\N" if v is None else convert[v.__class__](v) for v in values]


def on_conflict(key: Sequence[str], update: Sequence[str] = ()) -> str:
    """`ON CONFLICT (key) DO UPDATE SET …` for `update`, else `DO NOTHING`."""
    target = ", ".join(f'"{c}"' for c in key)
    if not update:
        return f"ON CONFLICT ({target}) DO NOTHING"
    return f"ON CONFLICT ({target}) DO UPDATE SET " + ", ".join(f'"{c}" = excluded."{c}"' for c in update)


def chunks(items: Iterable[Any], size: int = 500) -> Iterator[list[Any]]:
    """Consecutive slices of `size` (an `IN (…)` list each, within every database's limits)."""
    items = list(items)
    for start in range(0, len(items), size):
        yield items[start:start + size]


def select_in(session, columns: Sequence, column, ids: Iterable[str]) -> Iterator[Any]:
    """Rows of `columns` whose `column` is one of `ids`. PostgreSQL: one statement with an array
    (`= ANY(:ids)`), not a round trip per 500 ids — at 100,000 ids those round trips cost more than
    the lookups; SQLite: one statement too, the ids as one JSON array read by `json_each` (no
    500-parameter lists to expand and bind)."""
    ids = sorted(ids)
    if not ids:
        return
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        yield from session.execute(select(*columns).where(column == any_(bindparam(
            "ids", ids, type_=postgresql.ARRAY(String)))))
        return
    if dialect == "sqlite":
        listed = select(literal_column("value")).select_from(
            func.json_each(bindparam("ids", json.dumps(ids, default=str))))
        yield from session.execute(select(*columns).where(column.in_(listed)))
        return
    for chunk in chunks(ids):
        yield from session.execute(select(*columns).where(column.in_(chunk)))


# --- driver values -------------------------------------------------------------------------------

def python_defaults(sa_table, given: tuple[str, ...]) -> dict[str, Any]:
    """Python-side defaults of the columns a row leaves out (created_at, on_hold…)."""
    defaults = {}
    for column in sa_table.columns:
        if column.name in given or column.default is None or column.primary_key:
            continue
        default = column.default
        defaults[column.name] = default.arg(None) if default.is_callable else default.arg
    return defaults


def plain_params(rows: list[dict[str, Any]], columns: Sequence[str], sqlite: bool,
                 tail: tuple = ()) -> list[tuple]:
    """Driver parameter tuples for plain columns (text, numbers, dates). On SQLite, Decimal, date
    and datetime become text, converted a column at a time (`map` runs in C; a per-value branch
    costs more than the database). `tail`: values appended to every row (defaults)."""
    get = operator.itemgetter(*columns)
    if len(columns) == 1:
        values = [(get(row),) for row in rows]
    else:
        values = [get(row) for row in rows]
    if not sqlite:
        return [v + tail for v in values] if tail else values
    tail = tuple(driver_value(v, sqlite) for v in tail)
    converted = [_sqlite_column(list(column)) for column in zip(*values)]
    return [v + tail for v in zip(*converted)] if tail else list(zip(*converted))


def bound_params(sa_table, rows: list[dict[str, Any]], columns: Sequence[str], dialect,
                 defaults: dict[str, Any]) -> list[tuple]:
    """Driver parameter tuples bound as SQLAlchemy would bind each column's type (JSON,
    booleans, dates); a row's missing columns take `defaults`."""
    postgres = dialect.name == "postgresql"
    convert = [_bind(sa_table.c[name].type, dialect, postgres) for name in columns]
    return [tuple(f(v) if f else v for v, f in zip(_ordered(row, columns, defaults), convert))
            for row in rows]


def _ordered(row: dict[str, Any], columns: Sequence[str], defaults: dict[str, Any]) -> Iterator[Any]:
    for name in columns:
        yield row[name] if name in row else defaults[name]


def _bind(type_, dialect, postgres: bool):
    process = type_.bind_processor(dialect)
    if postgres and isinstance(type_, JSON) and process is None:
        return lambda value: None if value is None else json.dumps(value)
    return process


@functools.lru_cache(maxsize=64)  # a batch stamps every row with the same few datetimes
def _sqlite_datetime(value: dt.datetime) -> str:
    # stored as SQLAlchemy does on SQLite: UTC, no offset
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


_SQLITE_CONVERT: dict[type, Any] = {Decimal: str, dt.date: dt.date.isoformat,
                                    dt.datetime: _sqlite_datetime}


def _sqlite_column(values: list[Any]) -> list[Any] | tuple:
    kinds = set(map(type, values))
    kinds.discard(type(None))
    if not kinds or not kinds & _SQLITE_CONVERT.keys():
        return values
    if len(kinds) == 1 and None not in values:
        return list(map(_SQLITE_CONVERT[kinds.pop()], values))
    convert = _SQLITE_CONVERT.get
    return [v if (f := convert(v.__class__)) is None else f(v) for v in values]


def driver_tuples(values: list[tuple[Any, ...]], *, sqlite: bool) -> list[tuple[Any, ...]]:
    """Rows of Python values as the driver takes them: as they are on PostgreSQL; on SQLite,
    Decimal, date and datetime columns as text, converted a column at a time."""
    if not sqlite or not values:
        return values
    return list(zip(*(_sqlite_column(list(column)) for column in zip(*values))))


def driver_value(value: Any, sqlite: bool) -> Any:
    """One value as the driver takes it (on SQLite: numbers, dates and datetimes as text)."""
    if not sqlite or value is None:
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime):
        return _sqlite_datetime(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value
