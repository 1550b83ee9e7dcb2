"""Light commands start fast: what they import, and the quick paths that make it so.

Wall-clock times are measured by bench/startup.py, never asserted here. These tests check the
causes instead: `dpo --help`, `dpo sync --help` and `dpo jobs list` import none of the heavy
libraries, and the shortcuts they take (command summaries, the database URL resolved without
pydantic, job runs read through the bare driver) give the same answers as the full paths.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from dpo import config
from dpo.cli.main import COMMANDS, load_command
from dpo.config import configure
from dpo.settings import Settings
from dpo.storage import db as dbmod
from dpo.storage.quick import schema_head
from tests.conftest import CliInvoker, Clock, Database, subprocess_env
from tests.test_sync import setup_org

HEAVY = (
    "sqlalchemy", "sqlmodel", "alembic", "pydantic", "pydantic_settings", "pandas", "numpy",
    "statsmodels", "openai", "fastapi", "starlette", "uvicorn", "jwt", "prometheus_client",
    "google.analytics", "facebook_business", "psycopg2", "requests", "tenacity", "matplotlib",
    "rich.markdown",
)  # fmt: skip

PROBE = """
import sys
from dpo.cli.main import main
sys.argv = ["dpo", *sys.argv[1:]]
try:
    main()
except SystemExit as exit:
    code = exit.code
print("HEAVY:" + ",".join(m for m in {heavy!r} if m in sys.modules), "EXIT:" + str(code))
"""


@pytest.mark.parametrize("argv", [["--help"], ["sync", "--help"], ["jobs", "list"]])
def test_light_commands_import_no_heavy_library(
    argv: list[str], database: Database, isolated: Path
) -> None:
    code = PROBE.format(heavy=HEAVY)
    env = subprocess_env(database, isolated)
    done = subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 0, done.stderr
    reads_pg = database.backend == "pg" and argv == ["jobs", "list"]
    expected = "psycopg2" if reads_pg else ""  # PostgreSQL's bare driver, nothing more
    assert done.stdout.strip().splitlines()[-1] == f"HEAVY:{expected} EXIT:0"


@pytest.mark.parametrize("name", list(COMMANDS))
def test_root_help_lists_each_command_with_its_own_summary(name: str) -> None:
    from typer.core import TyperCommand

    listed = TyperCommand(name, help=COMMANDS[name].summary).get_short_help_str(1000)
    assert listed == load_command(name).get_short_help_str(1000)


def test_every_command_is_listed_and_shows_its_help(cli: CliInvoker) -> None:
    listing = cli.ok("--help").stdout
    for name in COMMANDS:
        assert f"  {name} " in listing
        assert f"dpo {name}" in cli.ok(name, "--help").stdout


def test_schema_head_is_the_newest_migration() -> None:
    assert dbmod.head_revision() == schema_head(), "name the migration file NNNN_<message>.py"


@pytest.mark.parametrize("toml_url", [None, "sqlite:////srv/toml.db"])
@pytest.mark.parametrize("env_url", [None, "", "postgres://u:p@db/dpo", "sqlite:////srv/env.db"])
@pytest.mark.parametrize("toml_home", [None, "/srv/toml-home"])
@pytest.mark.parametrize("env_home", [None, "/srv/env-home"])
def test_the_database_is_resolved_like_the_full_settings(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    toml_url: str | None,
    env_url: str | None,
    toml_home: str | None,
    env_home: str | None,
) -> None:
    lines = [
        f'{key} = "{value}"' for key, value in (("database_url", toml_url), ("home", toml_home))
    ]
    (tmp_path / "dpo.toml").write_text("\n".join(line for line in lines if "None" not in line))
    monkeypatch.delenv("DPO_HOME")
    if env_home is not None:
        monkeypatch.setenv("dpo_home", env_home)  # pydantic-settings ignores the case
    if env_url is not None:
        monkeypatch.setenv("DPO_DATABASE_URL", env_url)
    configure(config_file=tmp_path / "dpo.toml")
    assert config.configured_database_url() == Settings().effective_database_url


def test_a_broken_config_file_is_a_configuration_error_for_light_commands(
    cli: CliInvoker, tmp_path: Path
) -> None:
    (tmp_path / "dpo.toml").write_text("[sync\n")
    result = cli("--config", str(tmp_path / "dpo.toml"), "jobs", "list")
    assert result.exit_code == 3
    assert result.stderr.startswith("Error: cannot read config file")


def _runs(cli: CliInvoker, *args: str) -> list[dict[str, object]]:
    return list(json.loads(cli.ok("jobs", "list", "--json", *args).stdout))


def test_jobs_list_shows_the_job_runs_as_stored(
    cli: CliInvoker, database: Database, clock: Clock
) -> None:
    setup_org(cli, "woo", "meta")
    cli.ok("orgs", "add", "beta", "--name", "Beta", "--timezone", "UTC", "--currency", "EUR")
    cli.ok("sync", "demo", "--since", "2026-01-10", "--until", "2026-01-12")
    clock.advance(hours=1)
    cli.ok("aggregate", "daily")
    listed = _runs(cli)
    stored = database.rows(
        "SELECT r.id, r.job, o.slug, s.name, r.status, r.windows, r.rows_written, r.error,"
        " r.host, r.pid FROM job_run r LEFT JOIN organization o ON o.id = r.org_id"
        " LEFT JOIN source s ON s.id = r.source_id ORDER BY r.id DESC"
    )
    keys = ("id", "job", "org", "source", "status", "windows", "rows_written", "error", "host")
    assert [tuple(run[k] for k in (*keys, "pid")) for run in listed] == stored
    assert [(run["job"], run["org"], run["source"]) for run in listed] == [
        ("aggregate daily", "beta", None),
        ("aggregate daily", "acme", None),
        ("sync demo", "acme", "demo:meta"),
        ("sync demo", "acme", "demo:woo"),
    ]
    sync = listed[3]
    assert (sync["status"], sync["windows"]) == ("ok", 3)
    assert _dt(sync["started_at"]) == clock.now() - timedelta(hours=1)  # the clock's, in UTC
    assert sync["seconds"] == pytest.approx(
        (_dt(sync["finished_at"]) - _dt(sync["started_at"])).total_seconds()
    )
    assert [run["id"] for run in _runs(cli, "--limit", "1")] == [listed[0]["id"]]
    assert _runs(cli, "--org", "acme") == listed[1:]
    assert _runs(cli, "--org", "beta") == listed[:1]
    table = cli.ok("jobs", "list").stdout
    assert "sync demo" in table and "demo:woo" in table
    cli.ok("sync", "demo", "--since", "2026-01-12", "--until", "2026-01-12")
    newest: dict[tuple[object, ...], object] = {}
    for run in reversed(_runs(cli)):
        newest[run["job"], run["org"], run["source"]] = run["id"]
    status = json.loads(cli("status", "--json").stdout)["jobs"]
    assert sorted(run["id"] for run in status) == sorted(newest.values())  # type: ignore[type-var]
    beta = json.loads(cli("status", "--json", "--org", "beta").stdout)["jobs"]
    assert [run["id"] for run in beta] == [listed[0]["id"]]


def _dt(value: object):  # type: ignore[no-untyped-def]
    from datetime import datetime

    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


@pytest.mark.parametrize("org", ["nope", "Not A Slug", "a\x00b"])
def test_jobs_list_of_an_unknown_org_is_one_line_exit_2(
    cli: CliInvoker, database: Database, org: str
) -> None:
    result = cli("jobs", "list", "--org", org)
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"Error: unknown organization {org!r} — `dpo orgs list` shows the organizations"
    ]


def test_jobs_list_on_a_fresh_machine_creates_the_database(cli: CliInvoker, isolated: Path) -> None:
    assert not (isolated / "dpo.db").exists()
    assert cli.ok("jobs", "list").stdout.strip() == "No jobs have run yet."
    assert (isolated / "dpo.db").exists()
    assert _runs(cli) == []


def test_jobs_list_upgrades_an_older_sqlite_database(cli: CliInvoker, isolated: Path) -> None:
    from alembic import command

    engine = dbmod.get_engine(f"sqlite:///{isolated / 'dpo.db'}")
    command.upgrade(dbmod.alembic_config(engine), "0001")
    dbmod.reset_caches()
    assert cli.ok("jobs", "list").stdout.strip() == "No jobs have run yet."
    assert dbmod.current_revision(dbmod.get_engine()) == schema_head()


def test_jobs_list_on_uninitialised_postgres_asks_for_init(
    cli: CliInvoker, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DPO_DATABASE_URL", pg_url)
    result = cli("jobs", "list")
    assert result.exit_code == 3
    assert "run `dpo init`" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_jobs_list_when_postgres_is_down_is_a_configuration_error(
    cli: CliInvoker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DPO_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/nothing")
    result = cli("jobs", "list")
    assert result.exit_code == 3
    assert result.stderr.startswith("Error: cannot connect to the database")


def test_a_running_job_has_no_end_yet(cli: CliInvoker, database: Database, clock: Clock) -> None:
    started = clock.now() - timedelta(minutes=3)
    with database.engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO job_run (job, started_at, status, rows_written, windows,"
                " host, pid) VALUES ('sync demo', :t, 'running', 0, 0, 'h', 1)"
            ),
            {"t": started if database.backend == "pg" else started.replace(tzinfo=None)},
        )
    (run,) = _runs(cli)
    assert (run["status"], run["finished_at"], run["seconds"]) == ("running", None, None)
    assert _dt(run["started_at"]) == started


def test_a_running_job_whose_process_is_gone_is_dead(cli: CliInvoker, database: Database) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    with database.engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO job_run (job, started_at, status, rows_written, windows,"
                " host, pid) VALUES ('sync demo', :t, 'running', 0, 0, :host, :pid)"
            ),
            {"t": "2026-01-01 00:00:00", "host": socket.gethostname(), "pid": gone.pid},
        )
    (run,) = _runs(cli)
    assert run["status"] == "dead"
    assert json.loads(cli("status", "--json").stdout)["jobs"][0]["status"] == "dead"
