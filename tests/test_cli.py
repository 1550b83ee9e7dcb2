"""The command line as a whole: help, version, entry points, error lines and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CliInvoker, Database, subprocess_env

COMMANDS = (
    "init", "demo", "sync", "aggregate", "report", "orgs", "sources", "goals", "jobs", "serve",
    "tokens",
)  # fmt: skip


def test_help_lists_the_commands(cli: CliInvoker) -> None:
    result = cli.ok("--help")
    for command in COMMANDS:
        assert command in result.stdout


def test_version(cli: CliInvoker) -> None:
    from dpo import __version__

    assert cli.ok("--version").stdout.strip() == f"dpo {__version__}"


def test_python_dash_m_works_like_dpo() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "dpo", "--version"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0
    assert done.stdout.startswith("dpo ")


@pytest.mark.parametrize(
    ("argv", "command", "message"),
    [
        (["frobnicate"], "dpo", "No such command 'frobnicate'"),
        (["sync", "bogus"], "dpo sync", "Invalid value for 'KIND': 'bogus' is not one of"),
        (["sync"], "dpo sync", "Missing argument 'KIND'. Choose from: ga, meta, woo, demo"),
        (["--log-format", "xml", "jobs", "list"], "dpo", "Invalid value for '--log-format'"),
        (["jobs", "list", "--limit", "0"], "dpo jobs list", "0 is not in the range 1<=x<=10000"),
        (["jobs", "list", "--bogus"], "dpo jobs list", "No such option: --bogus"),
        (["report", "--org", "a", "--days", "x"], "dpo report", "'x' is not a valid int"),
    ],
)
def test_a_usage_error_is_one_line_naming_the_help(
    cli: CliInvoker, argv: list[str], command: str, message: str
) -> None:
    result = cli(*argv)
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("Error: ")
    assert message in line
    assert line.endswith(f" — `{command} --help` shows the usage")
    assert result.stdout == ""


def test_no_arguments_show_the_help(cli: CliInvoker) -> None:
    result = cli("jobs")
    assert "Commands:" in result.output
    assert "list" in result.output


def test_unknown_org_is_one_line_and_exit_2(cli: CliInvoker, database: Database) -> None:
    result = cli("orgs", "show", "nope")
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "Error: unknown organization 'nope' — `dpo orgs list` shows the organizations"
    ]
    assert "Traceback" not in result.output


def test_unreachable_database_is_a_configuration_error(
    cli: CliInvoker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DPO_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/nothing")
    result = cli("orgs", "list")
    assert result.exit_code == 3
    line = result.stderr.strip()
    assert line.startswith("Error: cannot connect to the database")
    assert "Traceback" not in result.output


def test_uninitialised_postgres_asks_for_init(
    cli: CliInvoker, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DPO_DATABASE_URL", pg_url)
    result = cli("orgs", "list")
    assert result.exit_code == 3
    assert "run `dpo init`" in result.stderr
    assert cli.ok("init").stdout.startswith("Created the database")
    assert "up to date" in cli.ok("init").stdout
    assert json.loads(cli.ok("orgs", "list", "--json").stdout) == []


def test_sqlite_is_created_on_first_use(cli: CliInvoker, isolated: Path) -> None:
    assert json.loads(cli.ok("orgs", "list", "--json").stdout) == []
    assert (isolated / "dpo.db").exists()


def test_password_never_shown(cli: CliInvoker, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DPO_DATABASE_URL", "postgresql://u:s3cretpw@127.0.0.1:1/x")
    result = cli("orgs", "list")
    assert result.exit_code == 3
    assert "s3cretpw" not in result.output


def test_unexpected_errors_show_no_traceback_unless_debug(
    cli: CliInvoker, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dpo.resources.orgs

    def boom(*_a: object, **_k: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(dpo.resources.orgs, "list_orgs", boom)
    result = cli("orgs", "list")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "Error: unexpected RuntimeError: disk on fire (run with --debug to see why)"
    )
    debug = cli("--debug", "orgs", "list")
    assert debug.exit_code == 1
    assert isinstance(debug.exception, RuntimeError)


def test_crontab_example_invokes_real_commands(cli: CliInvoker) -> None:
    import shlex
    from pathlib import Path

    lines = [
        line
        for line in (Path(__file__).parent.parent / "crontab.example").read_text().splitlines()
        if line.strip() and not line.startswith("#") and "=" not in line.split()[0]
    ]
    assert lines
    for line in lines:
        words = shlex.split(line.rsplit(";", 1)[1])
        assert words[0].endswith("/dpo")
        args = words[1:]
        assert "--quiet" in args
        result = cli(*args, "--help")
        assert result.exit_code == 0, (line, result.output)


def test_every_crontab_line_reaches_the_configured_database_as_cron_runs_it(
    cli: CliInvoker, database: Database, tmp_path: Path
) -> None:
    """Each line of crontab.example, run as cron runs it (`sh -c` with an empty environment
    but HOME and PATH), with the environment file its header documents: dpo uses the database
    the file names, never a SQLite file of its own in the cron user's home."""
    cli.ok("orgs", "add", "acme", "--name", "Acme", "--timezone", "UTC", "--currency", "EUR")
    env_file = tmp_path / "env"
    env_file.write_text(f"DPO_DATABASE_URL={database.url}\nMETA_TOKEN_ACME=secret\n")
    home = tmp_path / "cron-home"
    home.mkdir()
    dpo = str(Path(sys.executable).parent / "dpo")
    lines = [
        line.split(maxsplit=5)[5]
        for line in (Path(__file__).parent.parent / "crontab.example").read_text().splitlines()
        if line.strip() and not line.startswith("#") and "=" not in line.split()[0]
    ]
    assert len(lines) >= 6
    for line in lines:
        command = line.replace("/etc/dpo/env", str(env_file)).replace("/opt/dpo/.venv/bin/dpo", dpo)
        done = subprocess.run(
            ["env", "-i", f"HOME={home}", "PATH=/usr/bin:/bin", "sh", "-c", command],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode in (0, 3), (line, done.stderr)
    assert not list(home.rglob("*.db")), "a line used a database of its own"
    jobs = {j for (j,) in database.rows("SELECT DISTINCT job FROM job_run")}
    assert {"aggregate hourly", "aggregate daily", "insights generate"} <= jobs


def test_config_example_is_a_valid_configuration(cli: CliInvoker) -> None:
    from pathlib import Path

    example = Path(__file__).parent.parent / "config.example.toml"
    cli.ok("--config", str(example), "orgs", "list")


@pytest.mark.parametrize(
    "args", [("goals", "list"), ("goals", "list", "--json"), ("orgs", "list"), ("--help",)]
)
def test_a_reader_that_goes_away_is_no_error(
    cli: CliInvoker, database: Database, tmp_path: Path, args: tuple[str, ...]
) -> None:
    """`dpo … | head -1`: the reader closes the pipe; dpo stops quietly with exit 0."""
    cli.ok("orgs", "add", "acme", "--name", "Acme", "--timezone", "UTC", "--currency", "EUR")
    cli.ok("goals", "add", "acme", "--kpi", "revenue", "--target", "100")
    dpo = Path(sys.executable).parent / "dpo"
    env = subprocess_env(database, tmp_path / "home")
    process = subprocess.Popen(
        [str(dpo), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    assert process.stdout is not None
    process.stdout.close()  # gone before dpo writes a line
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert stderr == b""


def test_a_mistyped_command_names_the_closest_one(cli: CliInvoker) -> None:
    result = cli("sycn", "meta")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: No such command 'sycn'; did you mean 'sync'?")
    assert "did you mean" not in cli("zzzz").stderr


def test_a_job_line_counts_in_the_singular_when_it_is_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from dpo.cli import render
    from dpo.jobs.runner import JobResult
    from dpo.vocab import JobStatus

    one = JobResult("sync demo", "acme/demo:ga", JobStatus.ok, 0, rows_written=1, windows=1)
    render.print_job_results([one], quiet=False, json_=False)
    assert "acme/demo:ga: ok, 1 window, 1 row in 0.0s" in capsys.readouterr().out


def test_the_commands_that_change_one_thing_say_what_as_json(
    cli: CliInvoker, database: Database
) -> None:
    init = json.loads(cli.ok("init", "--json").stdout)
    assert init["schema"] == init["schema_before"]  # the fixture's database is at head
    checks = json.loads(cli("doctor", "--no-sources", "--json").stdout)
    assert {"configuration", "database"} <= {c["name"] for c in checks}
    assert all(set(c) == {"name", "detail", "exit_code", "fix", "ok"} for c in checks)
    cli.ok("orgs", "add", "acme", "--name", "Acme", "--timezone", "UTC", "--currency", "EUR")
    cli.ok("goals", "add", "acme", "--kpi", "revenue", "--target", "5")
    assert json.loads(cli.ok("goals", "remove", "1", "--json").stdout) == {"removed": 1}
    cli.ok("tokens", "create", "acme")
    revoked = json.loads(cli.ok("tokens", "revoke", "1", "--json").stdout)
    assert revoked["id"] == 1 and revoked["revoked_at"] is not None


def complete(env: dict[str, str], line: str) -> list[str]:
    """What bash completion offers for the last word of `line`, as `dpo --install-completion`
    sets it up (the shell runs dpo with these variables)."""
    words = line.split(" ")
    env = {**env, "COMP_WORDS": line, "COMP_CWORD": str(len(words) - 1)}
    env["_DPO_COMPLETE"] = "complete_bash"
    dpo = str(Path(sys.executable).parent / "dpo")
    done = subprocess.run([dpo], env=env, capture_output=True, text=True, check=True, timeout=60)
    return done.stdout.split()


def test_shell_completion_offers_commands_options_and_organizations(
    cli: CliInvoker, database: Database, tmp_path: Path
) -> None:
    for slug in ("acme", "beta", "bolt"):
        cli.ok("orgs", "add", slug, "--name", slug, "--timezone", "UTC", "--currency", "EUR")
    env = subprocess_env(database, tmp_path / "home")
    if database.backend == "sqlite":
        env["DPO_DATABASE_URL"] = database.url
    assert complete(env, "dpo sy") == ["sync"]
    assert complete(env, "dpo sources ad") == ["add"]
    assert complete(env, "dpo report --o") == ["--org"]
    assert complete(env, "dpo report --org b") == ["beta", "bolt"]
    assert complete(env, "dpo sync demo --org ") == ["acme", "beta", "bolt"]
    env["DPO_DATABASE_URL"] = "postgresql://nobody@127.0.0.1:1/none"  # unreachable: no offers
    assert complete(env, "dpo report --org ") == []
    script = subprocess.run(  # what `--install-completion` writes for bash
        [str(Path(sys.executable).parent / "dpo")],
        env={**env, "_DPO_COMPLETE": "source_bash"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert "_DPO_COMPLETE=complete_bash" in script.stdout, script.stderr
