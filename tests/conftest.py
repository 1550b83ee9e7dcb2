"""Test isolation: every test gets its own DPO_HOME and database, on SQLite or PostgreSQL.

PostgreSQL tests use DPO_TEST_PG_URL (default: the local server's `test` database), each in a
fresh schema. Without a server they skip with the reason shown, unless DPO_TEST_REQUIRE_PG=1
(as in CI), where they fail.

The suite runs in parallel (pytest-xdist, see pyproject): nothing here may be shared between
tests but the PostgreSQL server, and nothing may depend on how fast a busy machine is.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner, Result

from dpo.cli.main import app
from dpo.config import configure
from dpo.storage import db as dbmod

PG_URL = os.environ.get("DPO_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")
REQUIRE_PG = os.environ.get("DPO_TEST_REQUIRE_PG") == "1"

# One BLAS thread per process (this one, and the `dpo` processes tests start, which inherit the
# environment; numpy is not loaded yet). With several xdist workers, servers and their forecasts
# sharing two cores, each library's own pool of spinning threads made a forecast minutes slow.
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

# No per-example deadline: on two cores shared by three xdist workers, servers and browsers, an
# example that takes 20 ms alone can take 200. Examples are still bounded by their count.
hypothesis.settings.register_profile("dpo", deadline=None)
hypothesis.settings.load_profile("dpo")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slow tests first (stable otherwise): xdist hands modules out in this order, so the
    long ones start at once and the short ones fill in around them, instead of one long module
    starting last while the other workers sit idle."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """No DPO_* from the outside, a fresh DPO_HOME, no user config file."""
    for name in list(os.environ):
        if name.startswith("DPO_") and not name.startswith("DPO_TEST_"):
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    monkeypatch.setenv("DPO_HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    configure(config_file=None)
    dbmod.reset_caches()
    yield home
    dbmod.reset_caches()
    configure(config_file=None)


@dataclass
class Database:
    """The database a test runs on."""

    backend: str
    url: str

    @property
    def engine(self) -> sa.Engine:
        return dbmod.get_engine(self.url)

    # Any: what a column holds depends on the query (and on the backend: SQLite gives text for
    # timestamps), as with any DB-API row.
    def scalar(self, sql: str, **params: object) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(sa.text(sql), params).scalar()

    def rows(self, sql: str, **params: object) -> list[tuple[Any, ...]]:
        with self.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.text(sql), params)]


def _pg_reachable() -> str | None:
    try:
        engine = sa.create_engine(PG_URL)
        with engine.connect():
            pass
        engine.dispose()
    except sa.exc.OperationalError as exc:
        return str(exc.orig).strip().splitlines()[0]
    return None


@pytest.fixture(scope="session")
def pg_problem() -> str | None:
    return _pg_reachable()


@pytest.fixture(params=["sqlite", pytest.param("pg", marks=pytest.mark.pg)])
def database(
    request: pytest.FixtureRequest,
    isolated: Path,
    monkeypatch: pytest.MonkeyPatch,
    pg_problem: str | None,
) -> Iterator[Database]:
    """An initialised, empty dpo database: SQLite under DPO_HOME, or a fresh PG schema."""
    if request.param == "sqlite":
        db = Database("sqlite", f"sqlite:///{isolated / 'dpo.db'}")
        dbmod.upgrade(db.engine)
        yield db
        return
    with _Schema(pg_problem) as url:
        monkeypatch.setenv("DPO_DATABASE_URL", url)
        configure(config_file=None)
        db = Database("pg", url)
        dbmod.upgrade(db.engine)
        yield db
        dbmod.reset_caches()


@pytest.fixture
def pg_url(pg_problem: str | None) -> Iterator[str]:
    """A URL for an empty PostgreSQL schema (no dpo tables yet)."""
    with _Schema(pg_problem) as url:
        yield url


class _Schema:
    def __init__(self, problem: str | None) -> None:
        if problem:
            message = f"PostgreSQL is not reachable at {PG_URL}: {problem}"
            if REQUIRE_PG:
                pytest.fail(message)
            pytest.skip(message)
        self.name = f"t_{uuid.uuid4().hex[:12]}"
        self.admin = sa.create_engine(PG_URL)

    def __enter__(self) -> str:
        with self.admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{self.name}"'))
        return f"{PG_URL}?options=-csearch_path%3D{self.name}"

    def __exit__(self, *exc: object) -> None:
        dbmod.reset_caches()
        with self.admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{self.name}" CASCADE'))
        self.admin.dispose()


@pytest.fixture
def cli() -> CliInvoker:
    """Run `dpo ARGS…` in-process and return the result (stdout and stderr apart)."""
    return CliInvoker()


class CliInvoker:
    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | None = None) -> Result:
        # Wide enough that rich tables do not wrap the values tests look for.
        return self.runner.invoke(app, list(args), input=input, env={"COLUMNS": "250"})

    def ok(self, *args: str) -> Result:
        result = self(*args)
        assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
        return result


def add_source_without_its_secret(cli: CliInvoker, variable: str) -> None:
    """acme's demo GA source, its credential in `variable`, which is not set here."""
    cli.ok("sources", "add", "demo", "--org", "acme", "--account", "ga", "--secret-env", variable,
           "--no-check")  # fmt: skip


def subprocess_env(database: Database, home: Path) -> dict[str, str]:
    """Environment for a `dpo` subprocess that uses the test's database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DPO_")}
    env["DPO_HOME"] = str(home)
    if database.backend == "pg":
        env["DPO_DATABASE_URL"] = database.url
    return env


@dataclass
class Clock:
    """The time the CLI believes it is (`dpo.storage.models.utcnow`), moved by the test."""

    moment: datetime

    def now(self) -> datetime:
        return self.moment

    def advance(self, **delta: float) -> None:
        self.moment += timedelta(**delta)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """A fixed 'now' for `dpo sync` and its job rows (2026-03-10 12:00 UTC unless moved)."""
    fixed = Clock(datetime(2026, 3, 10, 12, 0, tzinfo=UTC))
    # The runner first: naming it imports it, and imported while models.utcnow is patched it
    # would keep the fake clock (as its "original") for every later test in the process.
    monkeypatch.setattr("dpo.jobs.runner.utcnow", fixed.now)
    monkeypatch.setattr("dpo.storage.models.utcnow", fixed.now)
    return fixed
