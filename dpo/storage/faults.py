"""Database faults named for what they are: a locked or full database, a lost connection.

SQLAlchemy reports them as exceptions whose text holds the SQL statement and its parameters
(a token's hash among them); `database_fault` turns them into one line without either, with the
exit code that says what to do: 75 (try later) for a lock held elsewhere or a connection that
went away, 3 (fix the environment) for a disk that is full or failing.
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, DisconnectionError

from dpo.errors import ConfigError, DpoError, TryLaterError

_LOCKED = ("database is locked", "database table is locked")
_DISK = (
    "disk i/o error",
    "database or disk is full",
    "no space left on device",
    "could not extend file",
    "could not write to file",
    "read-only file system",
)
_GONE = (
    "server closed the connection",
    "terminating connection",
    "connection already closed",
    "could not connect to server",
    "connection refused",
    "connection to server",
    "ssl connection has been closed",
    "the database system is shutting down",
    "the database system is starting up",
    "the database system is in recovery mode",
)


def database_fault(exc: BaseException) -> DpoError | None:
    """`exc` as a named DpoError when it is a database fault of the environment (else None)."""
    if isinstance(exc, DisconnectionError):
        return TryLaterError("the database connection was lost", hint="the next run tries again")
    if not isinstance(exc, DBAPIError):
        return None
    said = _first_line(exc.orig) if exc.orig is not None else type(exc).__name__
    low = said.lower()
    if any(s in low for s in _LOCKED):
        return TryLaterError(
            f"the database is locked by another process ({said})",
            hint="try again once it has finished",
        )
    if any(s in low for s in _DISK):
        return ConfigError(
            f"the database cannot write to its disk ({said})",
            hint="free disk space or check the disk, then run again",
        )
    if exc.connection_invalidated or any(s in low for s in _GONE):
        return TryLaterError(
            f"the database connection was lost ({said})", hint="the next run tries again"
        )
    return None


def named_error(exc: BaseException) -> DpoError | None:
    """`exc` as the DpoError it is or names (a database fault); None for anything else."""
    return exc if isinstance(exc, DpoError) else database_fault(exc)


def _first_line(orig: BaseException) -> str:
    lines = str(orig).strip().splitlines()
    return lines[0].strip() if lines else type(orig).__name__
