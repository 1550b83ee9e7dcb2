"""At 80 columns (a pipe, cron mail, a small terminal) no table cuts a number or a date: text
folds, and a table that cannot fit is printed one record per block."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from dpo.cli import render
from dpo.cli.main import app
from tests.conftest import CliInvoker, Database

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
