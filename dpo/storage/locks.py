"""Named locks that hold across processes and servers, and vanish when their holder dies.

On PostgreSQL a session-level advisory lock on a dedicated connection (so several servers
sharing one database share the work); on SQLite an OS file lock beside the database file.
Either way a killed process releases its locks: nothing stale to clean up.

A PostgreSQL lock dies with its connection (a terminated backend, a failover), and nothing
tells its holder. Writers therefore fence their transactions: `check_held(conn)`, inside the
transaction that writes, raises LockLostError when a lock the thread took is no longer held
by that connection, so the transaction rolls back instead of racing the run that may hold the
lock now.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from dpo.errors import LockHeldError, LockLostError
from dpo.settings import get_settings


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key for `name` (pg advisory locks take a bigint)."""
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@dataclass(frozen=True)
class _PgLock:
    """A PostgreSQL advisory lock this thread holds: its name, key and holding backend."""

    name: str
    key: int
    pid: int


_HELD: ContextVar[tuple[_PgLock, ...]] = ContextVar("dpo_held_pg_locks", default=())

_STILL_HELD = text(
    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted "
    "AND pid = :pid AND classid::bigint = :high AND objid::bigint = :low AND objsubid = 1)"
)


def check_held(conn: Connection) -> None:
    """Raise LockLostError unless every PostgreSQL lock this thread took is still held by its
    connection; call it inside a write transaction, before it commits."""
    if conn.dialect.name != "postgresql":
        return
    for lock in _HELD.get():
        high, low = (lock.key >> 32) & 0xFFFFFFFF, lock.key & 0xFFFFFFFF
        if not conn.scalar(_STILL_HELD, {"pid": lock.pid, "high": high, "low": low}):
            raise LockLostError(
                f"the lock {lock.name} was lost (its database connection ended); this run "
                "stopped before writing again",
                hint="the next run carries on",
            )


@contextmanager
def hold_lock(engine: Engine, name: str, *, wait: bool = False) -> Iterator[None]:
    """Hold the lock `name` for the block; raise LockHeldError if taken and not `wait`."""
    if engine.dialect.name == "postgresql":
        with _pg_lock(engine, name, wait=wait):
            yield
    else:
        with _file_lock(_lock_dir(engine) / _file_name(name), name, wait=wait):
            yield


@contextmanager
def _pg_lock(engine: Engine, name: str, *, wait: bool) -> Iterator[None]:
    conn = engine.connect()
    try:
        # Advisory locks are per database; the schema keeps separate dpo installs apart.
        key = advisory_key(f"{conn.scalar(text('SELECT current_schema()'))}:{name}")
        if wait:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
        elif not conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}):
            raise LockHeldError(f"{name} is already running elsewhere")
        pid = conn.scalar(text("SELECT pg_backend_pid()"))
        conn.commit()
        token = _HELD.set((*_HELD.get(), _PgLock(name, key, int(pid))))
        try:
            yield
        finally:
            _HELD.reset(token)
            _pg_unlock(conn, key)
    finally:
        conn.close()


def _pg_unlock(conn: Connection, key: int) -> None:
    try:
        conn.rollback()
        conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
        conn.commit()
    except DBAPIError:
        # A session lock outlives rollback: never hand this connection back to the pool.
        conn.invalidate()


@contextmanager
def _file_lock(path: Path, name: str, *, wait: bool) -> Iterator[None]:
    from filelock import FileLock, Timeout

    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    lock = FileLock(str(path), timeout=-1 if wait else 0)
    try:
        lock.acquire()
    except Timeout:
        raise LockHeldError(f"{name} is already running elsewhere") from None
    try:
        yield
    finally:
        lock.release()


def _lock_dir(engine: Engine) -> Path:
    from dpo.storage.db import sqlite_path

    db = sqlite_path(engine)
    if db is None:
        return get_settings().home / "locks"
    return db.with_name(db.name + ".locks")


def _file_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name) + ".lock"
