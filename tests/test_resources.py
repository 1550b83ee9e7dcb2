"""Organizations, sources and goals from the command line, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import CliInvoker, Database


@pytest.fixture
def acme(cli: CliInvoker, database: Database) -> Database:
    cli.ok(
        "orgs",
        "add",
        "acme",
        "--name",
        "Acme Inc",
        "--timezone",
        "America/New_York",
        "--currency",
        "usd",
    )
    return database


def counts(db: Database) -> dict[str, object]:
    return {t: db.scalar(f"SELECT count(*) FROM {t}") for t in ("organization", "source", "goal")}


def test_orgs_add_list_show(cli: CliInvoker, acme: Database) -> None:
    listed = json.loads(cli.ok("orgs", "list", "--json").stdout)
    assert [(o["slug"], o["name"], o["timezone"], o["currency"]) for o in listed] == [
        ("acme", "Acme Inc", "America/New_York", "USD")
    ]
    shown = json.loads(cli.ok("orgs", "show", "acme", "--json").stdout)
    assert shown["slug"] == "acme" and shown["sources"] == []
    table = cli.ok("orgs", "list").stdout
    assert "acme" in table and "America/New_York" in table


def test_sources_add_and_list(
    cli: CliInvoker, acme: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACME_META_TOKEN", "EAAB-very-secret")
    added = json.loads(
        cli.ok(
            "sources",
            "add",
            "acme",
            "meta",
            "--account",
            "act_123",
            "--secret-env",
            "ACME_META_TOKEN",
            "--lookback-days",
            "5",
            "--json",
        ).stdout
    )
    assert added["kind"] == "meta" and added["secret_ref"] == "env:ACME_META_TOKEN"
    cli.ok("sources", "add", "acme", "demo", "--account", "woo", "--setting", "seed=3")
    listed = json.loads(cli.ok("sources", "list", "--org", "acme", "--json").stdout)
    assert [(s["kind"], s["account"], s["lookback_days"]) for s in listed] == [
        ("meta", "act_123", 5),
        ("demo", "woo", None),
    ]
    assert listed[1]["settings"]["seed"] == 3
    everything = cli.ok("sources", "list").stdout + json.dumps(listed)
    assert "EAAB-very-secret" not in everything
    stored = acme.rows("SELECT secret_ref FROM source")
    assert ("env:ACME_META_TOKEN",) in stored


def test_secret_file_is_stored_as_an_absolute_reference(
    cli: CliInvoker, acme: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "woo.secret").write_text("ck_1:cs_2\n")
    monkeypatch.chdir(tmp_path)
    added = json.loads(
        cli.ok(
            "sources",
            "add",
            "acme",
            "woo",
            "--account",
            "https://shop.example",
            "--secret-file",
            "woo.secret",
            "--json",
        ).stdout
    )
    assert added["secret_ref"] == f"file:{tmp_path / 'woo.secret'}"
    assert "ck_1" not in json.dumps(added)


def test_goals_add_list_update_remove(cli: CliInvoker, acme: Database) -> None:
    goal = json.loads(
        cli.ok(
            "goals",
            "add",
            "acme",
            "--kpi",
            "revenue",
            "--target",
            "50000",
            "--period",
            "month",
            "--json",
        ).stdout
    )
    assert (goal["kpi"], goal["target"], goal["comparison"], goal["period"]) == (
        "revenue",
        50000,
        "at-least",
        "month",
    )
    cpa = json.loads(
        cli.ok(
            "goals",
            "add",
            "acme",
            "--kpi",
            "CPA",
            "--target",
            "12.5",
            "--start",
            "2026-01-01",
            "--end",
            "2026-03-31",
            "--channel",
            "Paid Social",
            "--json",
        ).stdout
    )
    assert (cpa["kpi"], cpa["target"], cpa["comparison"], cpa["period"]) == (
        "cpa",
        12.5,
        "at-most",
        "custom",
    )
    updated = json.loads(
        cli.ok("goals", "update", str(goal["id"]), "--target", "60000.50", "--json").stdout
    )
    assert updated["target"] == 60000.5 and updated["kpi"] == "revenue"
    cli.ok("goals", "remove", str(cpa["id"]))
    listed = json.loads(cli.ok("goals", "list", "--org", "acme", "--json").stdout)
    assert [(g["id"], g["target"]) for g in listed] == [(goal["id"], 60000.5)]
    assert acme.scalar("SELECT target FROM goal") == pytest.approx(60000.5)


BAD_INPUTS = [
    (
        ["orgs", "add", "acme", "--name", "Again", "--timezone", "UTC", "--currency", "EUR"],
        "organization 'acme' already exists",
    ),
    (
        ["orgs", "add", "beta", "--name", "B", "--timezone", "Mars/Olympus", "--currency", "EUR"],
        "unknown time zone 'Mars/Olympus'",
    ),
    (
        ["orgs", "add", "beta", "--name", "B", "--timezone", "UTC", "--currency", "EURO"],
        "unknown currency 'EURO'",
    ),
    (
        ["orgs", "add", "Beta Corp", "--name", "B", "--timezone", "UTC", "--currency", "EUR"],
        "invalid slug 'Beta Corp'",
    ),
    (["sources", "add", "nope", "ga", "--account", "123"], "unknown organization 'nope'"),
    (["sources", "add", "acme", "demo", "--account", "tiktok"], "account is one of"),
    (
        [
            "sources",
            "add",
            "acme",
            "ga",
            "--account",
            "1",
            "--secret-env",
            "A",
            "--secret-file",
            "/x",
        ],
        "not both",
    ),
    (
        ["sources", "add", "acme", "woo", "--account", "shop", "--endpoint", "ftp://x"],
        "invalid endpoint",
    ),
    (["goals", "add", "nope", "--kpi", "revenue", "--target", "1"], "unknown organization 'nope'"),
    (["goals", "add", "acme", "--kpi", "happiness", "--target", "1"], "unknown KPI 'happiness'"),
    (["goals", "add", "acme", "--kpi", "revenue", "--target", "-5"], "must not be negative"),
    (["goals", "add", "acme", "--kpi", "revenue", "--target", "lots"], "must be a number"),
    (["goals", "add", "acme", "--kpi", "revenue", "--target", "nan"], "finite number"),
    (
        [
            "goals",
            "add",
            "acme",
            "--kpi",
            "revenue",
            "--target",
            "1",
            "--start",
            "2026-02-01",
            "--end",
            "2026-01-01",
        ],
        "end 2026-01-01 is before start 2026-02-01",
    ),
    (
        [
            "goals",
            "add",
            "acme",
            "--kpi",
            "revenue",
            "--target",
            "1",
            "--period",
            "custom",
            "--start",
            "2026-02-01",
        ],
        "needs both --start and --end",
    ),
    (["goals", "update", "999", "--target", "1"], "unknown goal 999"),
    (["goals", "remove", "999"], "unknown goal 999"),
]


@pytest.mark.parametrize(
    ("args", "message"), BAD_INPUTS, ids=lambda v: " ".join(v)[:50] if isinstance(v, list) else None
)
def test_bad_input_is_rejected_and_nothing_is_written(
    cli: CliInvoker, acme: Database, args: list[str], message: str
) -> None:
    before = counts(acme)
    result = cli(*args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ")
    assert message in lines[0]
    assert "Traceback" not in result.output
    assert result.stdout == ""
    assert counts(acme) == before


def test_bad_dates_are_usage_errors(cli: CliInvoker, acme: Database) -> None:
    result = cli("goals", "add", "acme", "--kpi", "revenue", "--target", "1", "--start", "soon")
    assert result.exit_code == 2
    assert counts(acme)["goal"] == 0


def test_goal_update_cannot_break_the_dates(cli: CliInvoker, acme: Database) -> None:
    goal = json.loads(
        cli.ok(
            "goals",
            "add",
            "acme",
            "--kpi",
            "orders",
            "--target",
            "10",
            "--start",
            "2026-01-01",
            "--end",
            "2026-01-31",
            "--json",
        ).stdout
    )
    result = cli("goals", "update", str(goal["id"]), "--end", "2025-12-01")
    assert result.exit_code == 2
    assert "before start" in result.stderr
    assert str(acme.scalar("SELECT end_date FROM goal")) == "2026-01-31"


def test_names_that_look_like_markup_are_shown_as_typed(
    cli: CliInvoker, database: Database
) -> None:
    cli.ok(
        "orgs",
        "add",
        "brackets",
        "--name",
        "Acme [/] [bold]EU",
        "--timezone",
        "UTC",
        "--currency",
        "EUR",
    )
    added = cli.ok(
        "goals", "add", "brackets", "--kpi", "orders", "--target", "5", "--name", "[Brand] goal"
    )
    assert "[Brand] goal" in added.stdout
    assert "Acme [/] [bold]EU" in cli.ok("orgs", "show", "brackets").stdout.replace("\n", "")
    assert "[Brand] goal" in cli.ok("goals", "list").stdout
