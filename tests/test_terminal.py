"""At 80 columns (a pipe, cron mail, a small terminal) no table cuts a number or a date: text
folds, and a table that cannot fit is printed one record per block."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dpo.cli import render
from dpo.cli.main import app
from tests.conftest import CliInvoker, Database, subprocess_env

CUT = re.compile(r"[\d%]…|…[\d%]|\d{4}-\d{2}…")

REPORT = ("report", "--org", "acme", "--since", "2026-01-01", "--until", "2026-01-14")
COMMANDS = [
    REPORT,
    (*REPORT, "--by", "campaign"),
    (*REPORT, "--by", "channel"),
    (*REPORT, "--by", "day"),
    ("goals", "list"),
    ("jobs", "list"),
    ("sources", "list"),
    ("orgs", "list"),
    ("status", "--allow-empty"),
]


@pytest.fixture
def acme(cli: CliInvoker, database: Database) -> None:
    cli.ok("orgs", "add", "acme", "--name", "Acme", "--timezone", "UTC", "--currency", "EUR")
    for profile in ("ga", "meta", "woo"):
        cli.ok(
            "sources", "add", "acme", "demo", "--account", profile, "--setting", "anchor=2026-01-20"
        )
    cli.ok("sync", "demo", "--since", "2026-01-01", "--until", "2026-01-15")
    cli.ok("aggregate", "daily")
    for target in ("1234567.89", "0.05"):
        kpi = "ctr" if target == "0.05" else "revenue"
        cli.ok(
            "goals",
            "add",
            "acme",
            "--kpi",
            kpi,
            "--target",
            target,
            "--name",
            "A long goal name " * 3,
        )


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a[:2] + a[-2:]))
def test_no_table_cuts_a_figure_at_80_columns(acme: None, args: tuple[str, ...]) -> None:
    render.console.cache_clear()  # a process sizes its console once: this one at 80 columns
    try:
        result = CliRunner().invoke(app, list(args), env={"COLUMNS": "80"})
    finally:
        render.console.cache_clear()
    assert result.exit_code in (0, 1), result.output
    assert result.stdout.strip()
    cut = [line for line in result.stdout.splitlines() if CUT.search(line)]
    assert cut == [], "\n".join(cut)
    assert max(len(line) for line in result.stdout.splitlines()) <= 80


ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def on_a_terminal(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    """Run dpo with stderr on a pseudo-terminal (as a person at a terminal sees it), stdout
    piped; return the exit code, stdout and what the terminal showed, without escapes."""
    leader, follower = pty.openpty()
    dpo = str(Path(sys.executable).parent / "dpo")
    process = subprocess.Popen(
        [dpo, *args], stdout=subprocess.PIPE, stderr=follower, env={**env, "COLUMNS": "100"}
    )
    os.close(follower)
    shown = bytearray()
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal's other end closed: dpo has ended
            break
        if not chunk:
            break
        shown += chunk
    stdout, _ = process.communicate(timeout=120)
    os.close(leader)
    return process.returncode, stdout.decode(), ESCAPES.sub("", shown.decode(errors="replace"))


@pytest.fixture
def env(acme: None, database: Database, tmp_path: Path) -> dict[str, str]:
    """The environment of a `dpo` process on the test's database, with acme's data."""
    return {**subprocess_env(database, tmp_path / "home"), "DPO_DATABASE_URL": database.url}


def test_insights_generate_shows_its_progress_on_a_terminal(env: dict[str, str]) -> None:
    """Minutes of work per organization show how far they are, on a terminal only."""
    code, stdout, shown = on_a_terminal(["insights", "generate"], env)
    assert code == 0, shown
    series = int(re.search(r"acme/insights: ok, (\d+) series", stdout)[1])  # type: ignore[index]
    counts = re.findall(rf"acme/insights\D+(\d+)/{series}\b", shown)
    assert counts and int(counts[-1]) == series, shown[-500:]
    piped = subprocess.run(
        [str(Path(sys.executable).parent / "dpo"), "insights", "generate"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert piped.stderr == ""  # a pipe or cron mail gets no bar


def test_goals_progress_shows_its_progress_on_a_terminal(env: dict[str, str]) -> None:
    code, stdout, shown = on_a_terminal(["goals", "progress"], env)
    assert code == 0, shown
    assert re.findall(r"goals\D+(\d+/\d+)", shown)[-1] == "2/2", shown[-500:]
    assert "Goal progress" in stdout
