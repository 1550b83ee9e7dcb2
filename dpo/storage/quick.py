"""Read-only queries through the bare database driver, for commands that must start fast.

SQLAlchemy, SQLModel and alembic take ≈ 0.4 s to import — several times what `dpo jobs list`
needs in all. `reader()` opens the configured database with sqlite3 or psycopg2 directly when
its schema is already at `schema_head()`; anything else (no database file yet, an older schema, a
server that refuses, a URL the bare driver cannot read) takes the full path, `ready_engine()`,
which creates or upgrades SQLite and explains what is wrong with PostgreSQL.

Statements are plain SQL with `?` placeholders, written for both SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from dpo.config import configured_database_url

VERSIONS = Path(__file__).parent / "migrations" / "versions"


@cache
def schema_head() -> str:
    """The newest migration's revision, without alembic: migration files are named
    `NNNN_<message>.py` for revision NNNN (tests/test_startup.py checks it against alembic)."""
    return max(p.name[:4] for p in VERSIONS.glob("[0-9][0-9][0-9][0-9]_*.py"))


class Reader:
    """A DBAPI connection for a few SELECTs with `?` placeholders."""

    def __init__(self, connection: Any, paramstyle: str) -> None:
        self._connection = connection
        self._percent = paramstyle in ("format", "pyformat")

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Every row `sql` returns."""
        cursor = self._connection.cursor()
        try:
            cursor.execute(sql.replace("?", "%s") if self._percent else sql, tuple(params))
            return list(cursor.fetchall())
        finally:
            cursor.close()

    def value(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """The first column of the first row (None when there is none)."""
        found = self.rows(sql, params)
        return found[0][0] if found else None


@contextmanager
def reader() -> Iterator[Reader]:
    """A Reader on the configured database, its schema at head."""
    url = configured_database_url()
    quick = _open_bare(url)
    if quick is not None:
        try:
            yield quick[0]
        finally:
            quick[1].close()
        return
    from dpo.storage.db import ready_engine  # the full path: SQLAlchemy, migrations

    engine = ready_engine()
    connection = engine.raw_connection()
    try:
        yield Reader(connection, engine.dialect.paramstyle)
    finally:
        connection.close()


def session_reader(session: Any) -> Reader:
    """A Reader on the connection of an open SQLAlchemy session (inside its transaction)."""
    connection = session.connection()
    return Reader(connection.connection, connection.dialect.paramstyle)


def _open_bare(url: str) -> tuple[Reader, Any] | None:
    """(reader, connection) through sqlite3 or psycopg2, or None to take the full path."""
    scheme, _, rest = url.partition("://")
    if scheme == "sqlite" and rest.startswith("/") and rest != "/:memory:":
        return _open_sqlite(Path(rest[1:]))
    if scheme.partition("+")[0] == "postgresql":
        return _open_postgres(f"postgresql://{rest}")
    return None


def _open_sqlite(path: Path) -> tuple[Reader, Any] | None:
    import sqlite3

    if not path.is_file():
        return None  # the full path creates it
    connection = sqlite3.connect(path, timeout=30)
    return _at_head(Reader(connection, sqlite3.paramstyle), connection, sqlite3.Error)


def _open_postgres(dsn: str) -> tuple[Reader, Any] | None:
    import psycopg2

    try:
        connection = psycopg2.connect(dsn)
    except psycopg2.Error:
        return None  # the full path says why, in dpo's words
    connection.set_session(readonly=True, autocommit=True)
    return _at_head(Reader(connection, psycopg2.paramstyle), connection, psycopg2.Error)


def _at_head(quick: Reader, connection: Any, errors: type[Exception]) -> tuple[Reader, Any] | None:
    try:
        if quick.value("SELECT version_num FROM alembic_version") == schema_head():
            return quick, connection
    except errors:
        pass  # no dpo schema yet
    with suppress(errors):
        connection.close()
    return None


def utc_from_db(value: datetime | str) -> datetime:
    """A timestamp as stored (naive UTC text on SQLite, timestamptz on PostgreSQL) → aware UTC."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)
