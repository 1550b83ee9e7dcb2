"""Secrets stay where they belong: not in file modes others can read, not in a store URL that
names a source everywhere (jobs, logs, metrics)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import CliInvoker, Database


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)  # the usual default: files 0644, folders 0755
    yield
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_sqlite_database_and_its_home_are_private_whatever_the_umask(
    cli: CliInvoker, isolated: Path, umask_022: None
) -> None:
    cli.ok("orgs", "add", "acme", "--name", "Acme", "--timezone", "UTC", "--currency", "EUR")
    cli.ok("tokens", "create", "acme")
    assert mode(isolated) == 0o700
    assert mode(isolated / "dpo.db") == 0o600
    for extra in ("dpo.db-wal", "dpo.db-shm"):
        if (isolated / extra).exists():
            assert mode(isolated / extra) == 0o600


def test_a_store_url_holding_a_user_and_password_is_refused(
    cli: CliInvoker, database: Database
) -> None:
    cli.ok("orgs", "add", "acme", "--name", "Acme", "--timezone", "UTC", "--currency", "EUR")
    result = cli(
        "sources", "add", "acme", "woo", "--account", "https://admin:hunter2@shop.example.com",
        "--secret-env", "ACME_WOO_KEY",
    )  # fmt: skip
    assert result.exit_code == 2
    assert "store URL must not hold a user or password" in result.stderr
    assert "hunter2" not in result.output
    assert database.scalar("SELECT count(*) FROM source") == 0
