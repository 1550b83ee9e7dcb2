"""Input no database column or date arithmetic can hold is a usage error, never a crash."""

from __future__ import annotations

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


def test_goal_targets_keep_six_decimals(cli: CliInvoker, database: Database) -> None:
    cli.ok("orgs", "add", "acme", "--name", "Acme", "--timezone", "UTC", "--currency", "EUR")
    cli.ok("goals", "add", "acme", "--kpi", "cpc", "--target", "0.1234567")
    assert cli.ok("goals", "list", "--json").stdout.count('"target": 0.123457') == 1
