"""Faults of the database and the machine are named for what they are, in one line, with the
exit code that says what to do: 75 when a later run will do, 3 when the environment needs a
fix. Never SQL, never its parameters (a token's hash among them)."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from dpo.config import configure
from dpo.storage import db as dbmod
from tests.conftest import CliInvoker, Database


@pytest.fixture
def impatient(monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite writers wait 0.2 s for another process's lock, not 30 s."""
    monkeypatch.setenv("DPO_SQLITE_BUSY_SECONDS", "0.2")
    configure(config_file=None)
    dbmod.reset_caches()


def test_a_database_locked_by_another_process_is_a_try_later_without_sql(
    cli: CliInvoker, database: Database, impatient: None
) -> None:
    if database.backend != "sqlite":
        pytest.skip("a whole-database write lock is SQLite's (BEGIN EXCLUSIVE)")
    cli.ok("orgs", "add", "acme", "--name", "Acme", "--timezone", "UTC", "--currency", "EUR")
    path = database.url.removeprefix("sqlite:///")
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        result = cli("tokens", "create", "acme", "--name", "dashboard")
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert result.exit_code == 75, result.output
    assert result.stderr.splitlines() == [
        "Error: the database is locked by another process (database is locked) — "
        "try again once it has finished"
    ]
    assert result.stdout == ""
    assert database.scalar("SELECT count(*) FROM api_token") == 0
    cli.ok("tokens", "create", "acme", "--name", "dashboard")  # once it is free


def test_a_connection_killed_mid_window_is_a_try_later_that_reports_the_windows_kept(
    cli: CliInvoker, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL ends the connection of a window's transaction (an administrator, a failover,
    a restart): the window is rolled back, the windows before it stay, and the run says so."""
    if database.backend != "pg":
        pytest.skip("terminating a backend is PostgreSQL's")
    import sqlalchemy as sa

    from dpo.storage.facts import replace_facts as replace

    cli.ok("orgs", "add", "acme", "--name", "Acme", "--timezone", "UTC", "--currency", "EUR")
    cli.ok("sources", "add", "acme", "demo", "--account", "ga", "--setting", "anchor=2026-01-20")
    calls: list[int] = []

    def killed_on_the_third(*args: Any, bookkeeping: Any, **kwargs: Any) -> int:
        calls.append(1)

        def then_killed(conn: sa.Connection) -> None:
            bookkeeping(conn)
            conn.execute(sa.text("SELECT pg_terminate_backend(pg_backend_pid())"))

        return replace(*args, bookkeeping=then_killed if len(calls) == 3 else bookkeeping, **kwargs)

    monkeypatch.setattr("dpo.ingest.sync.replace_facts", killed_on_the_third)
    result = cli("sync", "demo", "--since", "2026-01-01", "--until", "2026-01-05")
    assert result.exit_code == 75, result.output
    assert "failed, 2 windows" in result.stderr
    assert "the database connection was lost (server closed the connection" in result.stderr
    assert "sqlalche.me" not in result.stderr and "SELECT" not in result.stderr
    assert database.scalar("SELECT count(*) FROM fact_change") == 2
    monkeypatch.setattr("dpo.ingest.sync.replace_facts", replace)
    cli.ok("sync", "demo", "--since", "2026-01-01", "--until", "2026-01-05")


@pytest.mark.parametrize(
    ("said", "code", "line"),
    [
        ("database or disk is full", 3, "the database cannot write to its disk"),
        ("disk I/O error", 3, "the database cannot write to its disk"),
        ("could not extend file: No space left on device", 3, "the database cannot write"),
        ("database is locked", 75, "the database is locked by another process"),
        ("server closed the connection unexpectedly", 75, "the database connection was lost"),
    ],
)
def test_database_faults_are_named_without_their_sql(said: str, code: int, line: str) -> None:
    import sqlalchemy as sa

    from dpo.errors import describe
    from dpo.storage.faults import database_fault

    exc = sa.exc.OperationalError(
        "INSERT INTO api_token (hash) VALUES (?)", ("9f86d081884c7d65",), Exception(said)
    )
    fault = database_fault(exc)
    assert fault is not None and fault.exit_code == code
    assert describe(fault).startswith(line) and said in describe(fault)
    assert "INSERT" not in describe(fault) and "9f86d0" not in describe(fault)
