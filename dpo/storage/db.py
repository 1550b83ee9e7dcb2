"""Engines, sessions and schema upgrades, for SQLite (default) and PostgreSQL."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from dpo.errors import ConfigError
from dpo.settings import get_settings

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"


def safe_url(url: str) -> str:
    """The URL with its password hidden, fit for messages."""
    return make_url(url).render_as_string(hide_password=True)


def sqlite_path(engine: Engine) -> Path | None:
    """The database file of a SQLite engine (None for PostgreSQL or in-memory SQLite)."""
    if engine.dialect.name != "sqlite" or not engine.url.database:
        return None
    if engine.url.database == ":memory:":
        return None
    return Path(engine.url.database)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute(f"PRAGMA busy_timeout={int(get_settings().sqlite_busy_seconds * 1000)}")
    cur.close()


_engines: dict[str, Engine] = {}
_ready: set[str] = set()


def get_engine(url: str | None = None) -> Engine:
    """The engine for `url` (default: the configured database), created once per process."""
    url = url or get_settings().effective_database_url
    if url not in _engines:
        _engines[url] = _create_engine(url)
    return _engines[url]


def _create_engine(url: str) -> Engine:
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        try:
            _private(path)
        except OSError as exc:
            raise ConfigError(
                f"cannot create the database folder {path.parent}: {exc.strerror}",
                hint="set DPO_HOME (or DPO_DATABASE_URL) to a writable place",
            ) from None
        busy = get_settings().sqlite_busy_seconds
        engine = create_engine(url, connect_args={"timeout": busy})
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(url, pool_pre_ping=True)
    return engine


def _private(path: Path) -> None:
    """Create the database's folder (0700) and file (0600) if missing, whatever the umask:
    they hold the business's figures and the API tokens' hashes. SQLite gives its -wal and
    -shm files the database file's mode."""
    if path.name == ":memory:":
        return
    for folder in reversed([path.parent, *path.parent.parents]):
        if not folder.exists():
            folder.mkdir(mode=0o700)
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))


def alembic_config(engine: Engine) -> Any:
    """An alembic Config that runs our migrations on `engine`."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


@cache
def head_revision() -> str:
    """The newest migration this version of dpo knows."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The migration the database is at (None when it has no dpo schema)."""
    from alembic.runtime.migration import MigrationContext

    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except OperationalError as exc:
        raise ConfigError(
            f"cannot connect to the database {safe_url(str(engine.url))}: "
            f"{str(exc.orig).strip().splitlines()[0]}",
            hint="check DPO_DATABASE_URL and that the server is running",
        ) from None


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Create or upgrade the schema to the newest migration; returns (before, after)."""
    from alembic import command

    before = current_revision(engine)
    if before != head_revision():
        with _migration_lock(engine):
            command.upgrade(alembic_config(engine), "head")
    return before, head_revision()


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    """Serialise concurrent upgrades (two cron jobs starting on a fresh database)."""
    from dpo.storage.locks import hold_lock

    with hold_lock(engine, "dpo:migrate", wait=True):
        yield


def ready_engine() -> Engine:
    """The configured engine with its schema at head; SQLite is upgraded on the spot."""
    engine = get_engine()
    key = str(engine.url)
    if key in _ready:
        return engine
    rev = current_revision(engine)
    if rev != head_revision():
        if engine.dialect.name != "sqlite":
            state = "has no dpo schema" if rev is None else f"is at schema {rev}"
            raise ConfigError(
                f"the database {safe_url(key)} {state}; this dpo needs {head_revision()}",
                hint="run `dpo init` to create or upgrade it",
            )
        log.info("upgrading SQLite database %s", key)
        upgrade(engine)
    _ready.add(key)
    return engine


def ping_database() -> None:
    """Check that the database answers and has dpo's schema; ConfigError saying why not."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    engine = ready_engine()
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except DBAPIError as exc:
        reason = (str(exc.orig).strip().splitlines() or [type(exc).__name__])[0]
        raise ConfigError(
            f"the database {safe_url(str(engine.url))} does not answer: {reason}"
        ) from None


@contextmanager
def session_scope() -> Iterator[Session]:
    """A session on the ready database: committed on success, rolled back on error."""
    with Session(ready_engine(), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def reset_caches() -> None:
    """Dispose every engine and forget readiness (tests switch databases between cases)."""
    for engine in _engines.values():
        engine.dispose()
    _engines.clear()
    _ready.clear()
