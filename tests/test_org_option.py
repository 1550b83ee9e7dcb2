"""One way to name an organization: `--org SLUG` on every command about one organization,
which may be left out while there is only one; the older positional spelling still works."""

from __future__ import annotations

import json

import click
import pytest

from dpo.cli.main import COMMANDS, load_command
from tests.conftest import CliInvoker, Database


def add_org(cli: CliInvoker, slug: str) -> None:
    cli.ok("orgs", "add", slug, "--name", slug.title(), "--timezone", "UTC", "--currency", "EUR")


def test_with_one_organization_org_may_be_left_out(cli: CliInvoker, database: Database) -> None:
    add_org(cli, "acme")
    added = cli.ok("sources", "add", "demo", "--account", "woo")
    assert "Added source #1 demo:woo to acme." in added.stdout
    assert "dpo sources test demo --org acme" in added.stdout
    assert "acme/demo:woo: ok" in cli.ok("sources", "test").stdout
    goal = json.loads(
        cli.ok("goals", "add", "--kpi", "revenue", "--target", "900", "--json").stdout
    )
    assert goal["org"] == "acme"
    token = cli.ok("tokens", "create")
    assert "organization acme" in token.stderr
    cli.ok("sync", "demo", "--since", "2026-01-01", "--until", "2026-01-03")
    report = json.loads(
        cli.ok("report", "--since", "2026-01-01", "--until", "2026-01-03", "--json").stdout
    )
    assert report["org"] == "acme" and report["totals"]["orders"] > 0


@pytest.mark.parametrize(
    "args",
    [
        ("sources", "add", "demo", "--account", "woo"),
        ("sources", "test"),
        ("goals", "add", "--kpi", "revenue", "--target", "900"),
        ("tokens", "create"),
        ("report",),
    ],
)
def test_with_several_organizations_the_command_asks_which(
    cli: CliInvoker, database: Database, args: tuple[str, ...]
) -> None:
    refused = cli(*args)  # none yet
    assert refused.exit_code == 2
    assert refused.stderr.startswith("Error: there is no organization yet")
    add_org(cli, "acme")
    add_org(cli, "beta")
    refused = cli(*args)
    assert refused.exit_code == 2
    assert refused.stderr == (
        "Error: there are 2 organizations (acme, beta): say which with --org SLUG\n"
    )
    assert database.scalar("SELECT count(*) FROM source") == 0
    assert database.scalar("SELECT count(*) FROM goal") == 0


def test_org_and_the_older_positional_spelling_name_the_same_organization(
    cli: CliInvoker, database: Database
) -> None:
    add_org(cli, "acme")
    add_org(cli, "beta")
    cli.ok("sources", "add", "demo", "--org", "beta", "--account", "woo")
    cli.ok("sources", "add", "acme", "demo", "--account", "woo")  # ORG KIND, as before
    cli.ok("goals", "add", "beta", "--kpi", "revenue", "--target", "900")
    cli.ok("goals", "add", "--org", "acme", "--kpi", "revenue", "--target", "900")
    cli.ok("tokens", "create", "beta")
    cli.ok("tokens", "create", "--org", "acme")
    for org in ("acme", "beta"):
        assert (
            database.scalar(
                "SELECT count(*) FROM source s JOIN organization o ON o.id = s.org_id"
                f" WHERE o.slug = '{org}'"
            )
            == 1
        )
        assert "ok" in cli.ok("sources", "test", org).stdout  # ORG, as before
        assert "ok" in cli.ok("sources", "test", org, "demo").stdout
        assert "ok" in cli.ok("sources", "test", "demo", "--org", org).stdout
    both = cli("goals", "add", "acme", "--org", "beta", "--kpi", "revenue", "--target", "1")
    assert (both.exit_code, both.stderr) == (
        2,
        "Error: two organizations given (acme and --org beta)\n",
    )
    unknown = cli("sources", "add", "nope", "--org", "acme", "--account", "x")
    assert unknown.exit_code == 2 and "unknown kind 'nope'" in unknown.stderr
    admin_and_org = cli("tokens", "create", "--org", "acme", "--admin")
    assert admin_and_org.exit_code == 2 and "not both" in admin_and_org.stderr


def test_an_organization_given_as_an_argument_where_none_is_taken_points_to_org(
    cli: CliInvoker, database: Database
) -> None:
    add_org(cli, "acme")
    result = cli("sources", "list", "acme")
    assert result.exit_code == 2
    assert "an organization is named with --org acme" in result.stderr


def every_command() -> list[tuple[str, click.Command]]:
    found: list[tuple[str, click.Command]] = []

    def walk(command: click.Command, path: str) -> None:
        subcommands = getattr(command, "commands", None)
        if subcommands:
            for name, sub in subcommands.items():
                walk(sub, f"{path} {name}")
        else:
            found.append((path, command))

    for name in COMMANDS:
        walk(load_command(name), name)
    return found


def test_help_says_what_each_value_is() -> None:
    """`--org SLUG`, `--since YYYY-MM-DD`, `--days N`: never click's `<str>` or `<int range>`."""
    vague = []
    for path, command in every_command():
        ctx = click.Context(command, info_name=path)
        text = command.get_help(ctx)
        vague += [f"{path}: {line.strip()}" for line in text.splitlines() if " <" in line]
    assert vague == [] or all("|" in v.split("<", 1)[1] for v in vague), vague


def test_every_command_about_one_organization_takes_org() -> None:
    """The commands that took ORG as an argument take --org, like every other."""
    for path, command in every_command():
        if path in {"orgs update", "orgs remove", "orgs add"}:
            continue  # the organization is what they act on
        names = {p.name for p in command.params}
        if any(p.name == "org" for p in command.params if p.param_type_name == "argument"):
            pytest.fail(f"{path} takes ORG as an argument")
        if {"org_arg", "older"} & names:
            assert "org" in names, path
