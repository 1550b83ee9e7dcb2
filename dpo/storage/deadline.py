"""A deadline on one session's database work: past it, its statements stop.

`dpo serve` gives each request's session one, so that no request (a goal-progress page over
many goals, a dashboard over years) holds a worker and the database for minutes. Every
statement checks the deadline before it starts; one that is already running is stopped by the
database itself: SQLite through its progress handler, PostgreSQL through `statement_timeout`
(set for the transaction only). The request's answer is then a one-line 503.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from dpo.errors import TryLaterError

_SQLITE_STEPS = 10_000  # virtual-machine steps between two looks at the clock (≈ 1 ms)
_CANCELED = "57014"  # PostgreSQL's query_canceled, which statement_timeout raises
_KEY = "dpo.deadline"  # in session.info and connection.info


class DeadlinePassedError(TryLaterError):
    """The work took longer than it is allowed and was stopped."""


@contextmanager
def deadline(session: Session, seconds: float) -> Iterator[None]:
    """Stop the session's statements `seconds` from now.

    Armed on each connection the session begins a transaction on (not before: a request must
    not hold a pooled connection while it waits for another), lifted when that transaction
    commits, and when the block ends."""
    stop = _Stop(time.monotonic() + seconds, seconds)
    session.info[_KEY] = stop
    try:
        yield
    except DBAPIError as exc:
        if _was_stopped(exc):
            raise stop.error() from None
        raise
    finally:
        _lift(session)
        del session.info[_KEY]


@dataclass
class _Stop:
    end: float
    seconds: float
    armed: list[Connection] = field(default_factory=list)

    def is_past(self) -> int:
        return int(time.monotonic() > self.end)

    def error(self) -> DeadlinePassedError:
        return DeadlinePassedError(
            f"the request took longer than {self.seconds:g} s and was stopped",
            hint="ask for less (a shorter range, fewer goals) or try again later",
        )


@event.listens_for(Session, "after_begin")
def _arm(session: Session, _transaction: object, conn: Connection) -> None:
    stop: _Stop | None = session.info.get(_KEY)
    if stop is None:
        return
    conn.info[_KEY] = stop
    stop.armed.append(conn)
    raw = conn.connection.dbapi_connection
    if isinstance(raw, sqlite3.Connection):
        raw.set_progress_handler(stop.is_past, _SQLITE_STEPS)
    else:
        _statement_timeout(conn, stop.end - time.monotonic())  # SET LOCAL: for this transaction


@event.listens_for(Engine, "before_cursor_execute")
def _check(conn: Connection, *_: object) -> None:
    stop: _Stop | None = conn.info.get(_KEY)
    if stop is not None and stop.is_past():
        raise stop.error()


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _lift(session: Session) -> None:
    """Lift the deadline from the session's connections before they go back to the pool:
    another request may take them next."""
    stop: _Stop | None = session.info.get(_KEY)
    if stop is None:
        return
    for conn in stop.armed:
        conn.info.pop(_KEY, None)
        raw = conn.connection.dbapi_connection if not conn.closed else None
        if isinstance(raw, sqlite3.Connection):
            raw.set_progress_handler(None, 0)
    stop.armed.clear()


def _statement_timeout(conn: Connection, seconds: float) -> None:
    milliseconds = max(1, round(seconds * 1000))  # 0 would mean no limit
    conn.exec_driver_sql(f"SET LOCAL statement_timeout = {milliseconds}")


def _was_stopped(exc: DBAPIError) -> bool:
    orig = exc.orig
    if isinstance(orig, sqlite3.OperationalError):
        return str(orig) == "interrupted"
    return getattr(orig, "pgcode", None) == _CANCELED
