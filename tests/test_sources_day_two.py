"""Day two: a source added wrong can be fixed, paused and removed, with its data accounted for."""

from __future__ import annotations

import json

import pytest

from tests.conftest import CliInvoker, Database

SINCE, UNTIL = "2026-01-01", "2026-01-03"


def setup(cli: CliInvoker) -> None:
    cli.ok("orgs", "add", "acme", "--name", "Acme", "--timezone", "UTC", "--currency", "EUR")
    cli.ok("sources", "add", "acme", "meta", "--account", "act_999", "--no-check")  # no secret


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (
            (),
            "Error: a meta source needs a credential: give --secret-env VAR or --secret-file PATH",
        ),
        (
            ("--secret-env", "NOT_SET_HERE"),
            "Error: the environment variable NOT_SET_HERE is not set here",
        ),
        (
            ("--secret-file", "/nonexistent.json"),
            "Error: cannot read the secret file /nonexistent.json",
        ),
    ],
)
def test_a_source_whose_secret_cannot_be_read_is_not_added_unchecked(
    cli: CliInvoker, database: Database, args: tuple[str, ...], said: str
) -> None:
    cli.ok("orgs", "add", "acme", "--name", "Acme", "--timezone", "UTC", "--currency", "EUR")
    refused = cli("sources", "add", "acme", "meta", "--account", "act_999", *args)
    assert refused.exit_code == 2
    assert refused.stderr.startswith(said) and "--no-check" in refused.stderr
    assert database.scalar("SELECT count(*) FROM source") == 0
    cli.ok("sources", "add", "acme", "meta", "--account", "act_999", *args, "--no-check")


def test_a_source_added_broken_is_fixed_in_place(cli: CliInvoker, database: Database) -> None:
    setup(cli)
    changed = cli.ok(
        "sources", "update", "1", "--account", "1234", "--secret-env", "META_TOKEN",
        "--setting", "restatement_days=7", "--json", "--no-check",
    )  # fmt: skip
    shown = json.loads(changed.stdout)
    assert (shown["account"], shown["name"], shown["secret_ref"]) == (
        "act_1234",
        "meta:act_1234",
        "env:META_TOKEN",
    )
    assert shown["settings"]["restatement_days"] == 7
    back = json.loads(
        cli.ok("sources", "update", "1", "--setting", "restatement_days=", "--json").stdout
    )
    assert "restatement_days" not in back["settings"]
    bad = cli("sources", "update", "1", "--setting", "restatement_days=-1")
    assert bad.exit_code == 2 and bad.stderr.startswith("Error: ")
    cli.ok("sources", "add", "acme", "meta", "--account", "act_5", "--no-check")
    clash = cli("sources", "update", "2", "--account", "1234")
    assert clash.exit_code == 2
    assert "acme already has a meta source for 'act_1234'" in clash.stderr
    assert cli("sources", "update", "9", "--name", "x").exit_code == 2


def test_a_disabled_source_is_neither_synced_nor_watched_and_keeps_its_data(
    cli: CliInvoker, database: Database
) -> None:
    cli.ok("orgs", "add", "acme", "--name", "Acme", "--timezone", "UTC", "--currency", "EUR")
    cli.ok("sources", "add", "acme", "demo", "--account", "ga", "--setting", "anchor=2026-01-20")
    cli.ok("sync", "demo", "--since", SINCE, "--until", UNTIL)
    facts = database.scalar("SELECT count(*) FROM fact")
    cli.ok("sources", "disable", "1")
    assert cli("sync", "demo").exit_code == 3  # nothing enabled to sync
    assert cli("status").exit_code == 1  # nothing enabled to watch
    assert database.scalar("SELECT count(*) FROM fact") == facts
    cli.ok("sources", "enable", "1")
    cli.ok("sync", "demo", "--since", SINCE, "--until", UNTIL)


def test_removing_a_source_takes_its_facts_and_rollups_and_asks_first(
    cli: CliInvoker, database: Database
) -> None:
    cli.ok("orgs", "add", "acme", "--name", "Acme", "--timezone", "UTC", "--currency", "EUR")
    cli.ok("sources", "add", "acme", "demo", "--account", "ga", "--setting", "anchor=2026-01-20")
    cli.ok("sources", "add", "acme", "demo", "--account", "woo", "--setting", "anchor=2026-01-20")
    cli.ok("sync", "demo", "--since", SINCE, "--until", UNTIL)
    cli.ok("aggregate", "daily")
    assert database.scalar("SELECT count(*) FROM agg_daily WHERE source_id = 1") > 0
    assert database.scalar("SELECT sum(sessions) FROM agg_daily") > 0
    ga_facts = database.scalar("SELECT count(*) FROM fact WHERE source_id = 1")
    asked = cli("sources", "remove", "1")  # no terminal to ask on
    assert asked.exit_code == 2
    assert f"removing source #1 demo:ga and its {ga_facts:,} facts needs --yes" in asked.stderr
    removed = cli.ok("sources", "remove", "1", "--yes")
    assert f"Removed source #1 demo:ga and its {ga_facts:,} facts" in removed.stdout
    assert database.scalar("SELECT count(*) FROM fact WHERE source_id = 1") == 0
    assert database.scalar("SELECT count(*) FROM fact WHERE source_id = 2") > 0
    cli.ok("aggregate", "daily")
    assert database.scalar("SELECT count(*) FROM agg_daily WHERE source_id = 1") == 0
    assert database.scalar("SELECT sum(sessions) FROM agg_daily") is None  # GA's sessions gone
    assert database.scalar("SELECT count(*) FROM agg_daily WHERE source_id = 2") > 0


def test_an_organization_is_changed_and_removed_with_everything_it_holds(
    cli: CliInvoker, database: Database
) -> None:
    cli.ok("orgs", "add", "acme", "--name", "Acme", "--timezone", "UTC", "--currency", "EUR")
    cli.ok("orgs", "add", "beta", "--name", "Beta", "--timezone", "UTC", "--currency", "EUR")
    for org in ("acme", "beta"):
        cli.ok("sources", "add", org, "demo", "--account", "woo", "--setting", "anchor=2026-01-20")
        cli.ok("goals", "add", org, "--kpi", "revenue", "--target", "5")
    cli.ok("sync", "demo", "--since", SINCE, "--until", UNTIL)
    cli.ok("aggregate", "daily")
    changed = cli.ok("orgs", "update", "acme", "--timezone", "Europe/Berlin", "--currency", "USD")
    assert "Updated organization acme: Acme, Europe/Berlin, USD." in changed.stdout
    assert "full rebuild" in cli.ok("aggregate", "daily", "--org", "acme").stdout
    assert cli("orgs", "update", "acme", "--timezone", "Mars").exit_code == 2
    facts = database.scalar(
        "SELECT count(*) FROM fact f JOIN organization o ON o.id = f.org_id WHERE o.slug = 'acme'"
    )
    asked = cli("orgs", "remove", "acme")
    assert asked.exit_code == 2
    assert f"organization acme with 1 source, {facts:,} facts, 1 goal needs --yes" in asked.stderr
    cli.ok("orgs", "remove", "acme", "--yes")
    assert [s for (s,) in database.rows("SELECT slug FROM organization")] == ["beta"]
    for table in ("source", "fact", "goal", "agg_daily"):
        left = database.scalar(f"SELECT count(DISTINCT org_id) FROM {table}")
        assert left == 1, table
