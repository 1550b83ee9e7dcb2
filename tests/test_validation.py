"""Input no database column or date arithmetic can hold is a usage error, never a crash."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.conftest import CliInvoker, Database


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("goals", "add", "acme", "--kpi", "revenue", "--target", "1e20"),
         "Error: target: target must be less than 100,000,000,000,000 (got 1e20)"),
        (("goals", "remove", "99999999999"), "Error: unknown goal 99999999999"),
        (("goals", "add", "acme", "--kpi", "spend", "--target", "1", "--name", "a\x01b"),
         "Error: name: name must not contain control characters"),
        (("report", "--org", "acme", "--since", "0001-01-01", "--until", "0001-01-02"),
         "Error: --since: 0001-01-01 is out of range (1970-01-01 to 2999-12-31)"),
        (("aggregate", "daily", "--since", "0001-01-01"),
         "Error: --since: 0001-01-01 is out of range"),
        (("orgs", "add", "beta", "--name", "B", "--timezone", "x" * 5000, "--currency", "EUR"),
         "Error: timezone: unknown time zone"),
        (("orgs", "show", "Not A Slug"), "Error: unknown organization 'Not A Slug'"),
        (("sync", "demo", "--max-seconds", "nan"),
         "Error: Invalid value for '--max-seconds': nan is not a finite number"),
        (("sync", "demo", "--max-seconds", "inf"),
         "Error: Invalid value for '--max-seconds': inf is not a finite number"),
        (("sync", "demo", "--skip-recent", "nan"),
         "Error: Invalid value for '--skip-recent': nan is not a finite number"),
        (("insights", "generate", "--sensitivity", "nan"),
         "Error: Invalid value for '--sensitivity': nan is not a finite number"),
        (("sync", "demo", "--shard", " 1/3"), "Error: invalid shard ' 1/3'"),
        (("sync", "demo", "--since", "2999-01-01"),
         "Error: --since: 2999-01-01 is in the future: nothing to fetch"),
        (("sync", "demo", "--since", "1900-01-01"),
         "Error: --since: 1900-01-01 is out of range (1970-01-01 to 2999-12-31)"),
        (("goals", "add", "acme", "--kpi", "ctr", "--target", "5"),
         "Error: ctr is a percentage: give 5% or 0.05 (a target of 5 would be 500%)"),
        (("goals", "add", "acme", "--kpi", "revenue", "--target", "5%"),
         "Error: revenue is not a percentage: give its target without %"),
        (("goals", "add", "acme", "--kpi", "revenue", "--target", "5", "--channel", ""),
         "Error: channel: must not be empty (leave it out for every channel)"),
        (("sources", "add", "acme", "woo", "--account", "https://shop.example.com",
          "--secret-env", "KEY", "--setting", "timezone=Mars"),
         "Error: invalid setting timezone: unknown time zone 'Mars'"),
        (("sources", "add", "acme", "woo", "--account", "https://shop.example.com",
          "--secret-env", "KEY", "--setting", "currency=EURO"),
         "Error: invalid setting currency: unknown currency 'EURO'"),
        (("serve", "--host", "999.1.1.1"), "Error: cannot listen on '999.1.1.1'"),
    ],
)  # fmt: skip
def test_out_of_range_input_is_a_usage_error(
    cli: CliInvoker, database: Database, args: tuple[str, ...], message: str
) -> None:
    cli.ok("orgs", "add", "acme", "--name", "Acme", "--timezone", "UTC", "--currency", "EUR")
    result = cli(*args)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(message)
    assert database.scalar("SELECT count(*) FROM goal") == 0
    assert database.scalar("SELECT count(*) FROM organization") == 1
    assert database.scalar("SELECT count(*) FROM source") == 0


def test_goal_targets_keep_six_decimals(cli: CliInvoker, database: Database) -> None:
    cli.ok("orgs", "add", "acme", "--name", "Acme", "--timezone", "UTC", "--currency", "EUR")
    cli.ok("goals", "add", "acme", "--kpi", "cpc", "--target", "0.1234567")
    assert cli.ok("goals", "list", "--json").stdout.count('"target": 0.123457') == 1


def test_a_percentage_goal_takes_its_target_as_a_percent_or_a_fraction(
    cli: CliInvoker, database: Database
) -> None:
    cli.ok("orgs", "add", "acme", "--name", "Acme", "--timezone", "UTC", "--currency", "EUR")
    cli.ok("goals", "add", "acme", "--kpi", "ctr", "--target", "2.5%")
    cli.ok("goals", "add", "acme", "--kpi", "refund_rate", "--target", "0.04")
    targets = [Decimal(str(t)) for (t,) in database.rows("SELECT target FROM goal ORDER BY id")]
    assert targets == [Decimal("0.025"), Decimal("0.04")]
    changed = cli("goals", "update", "1", "--target", "3")
    assert changed.exit_code == 2
    assert changed.stderr.startswith("Error: ctr is a percentage: give 3% or 0.03")
    cli.ok("goals", "update", "1", "--target", "3%")
    assert Decimal(str(database.scalar("SELECT target FROM goal WHERE id = 1"))) == Decimal("0.03")


def test_serve_on_a_port_in_use_says_so_in_one_line(cli: CliInvoker, database: Database) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli("serve", "--port", str(port))
    assert result.exit_code == 3
    assert (
        result.stderr.strip() == f"Error: cannot listen on 127.0.0.1:{port}: Address already in use"
    )


def test_an_organization_holds_at_most_100_goals(cli: CliInvoker, database: Database) -> None:
    from dpo.resources import goals
    from dpo.storage.db import session_scope

    cli.ok("orgs", "add", "acme", "--name", "Acme", "--timezone", "UTC", "--currency", "EUR")
    with session_scope() as session:
        for n in range(goals.MAX_GOALS):
            goals.add_goal(session, "acme", {"kpi": "revenue", "target": str(n + 1)})
    result = cli("goals", "add", "acme", "--kpi", "revenue", "--target", "5")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: acme has 100 goals, the most an organization may have")
    assert database.scalar("SELECT count(*) FROM goal") == 100
    cli.ok("goals", "remove", "1")
    cli.ok("goals", "add", "acme", "--kpi", "revenue", "--target", "5")


def test_a_generated_goal_name_follows_its_target_a_given_one_stays(
    cli: CliInvoker, database: Database
) -> None:
    cli.ok("orgs", "add", "acme", "--name", "Acme", "--timezone", "UTC", "--currency", "EUR")
    cli.ok("goals", "add", "acme", "--kpi", "revenue", "--target", "3", "--period", "week")
    cli.ok("goals", "add", "acme", "--kpi", "spend", "--target", "10", "--name", "Mine")
    assert (
        "revenue at-least 3.5 per week" in cli.ok("goals", "update", "1", "--target", "3.5").stdout
    )
    cli.ok("goals", "update", "2", "--target", "12")
    names = [n for (n,) in database.rows("SELECT name FROM goal ORDER BY id")]
    assert names == ["revenue at-least 3.5 per week", "Mine"]


@pytest.mark.parametrize(
    ("kind", "first", "second", "stored"),
    [
        ("meta", "999", "act_999", "act_999"),
        ("ga", "properties/123", "123", "123"),
        (
            "woo",
            "HTTPS://Shop.Example.com/",
            "https://shop.example.com",
            "https://shop.example.com",
        ),
    ],
)
def test_one_account_cannot_be_added_twice_under_two_spellings(
    cli: CliInvoker, database: Database, kind: str, first: str, second: str, stored: str
) -> None:
    """Two spellings of one ad account would count its spend twice."""
    cli.ok("orgs", "add", "acme", "--name", "Acme", "--timezone", "UTC", "--currency", "EUR")
    cli.ok("sources", "add", "acme", kind, "--account", first, "--secret-env", "KEY", "--no-check")
    again = cli(
        "sources", "add", "acme", kind, "--account", second, "--secret-env", "KEY", "--no-check"
    )
    assert again.exit_code == 2
    assert f"acme already has a {kind} source for {stored!r}" in again.stderr
    assert database.rows("SELECT account, name FROM source") == [(stored, f"{kind}:{stored}")]
