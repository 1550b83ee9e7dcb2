"""`dpo orgs`: add, list and show organizations."""

from typing import Annotated

import typer

from dpo.cli import command_group, render

app = command_group(help="Organizations: the clients whose data dpo keeps.")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")]


@app.command("add")
def add(
    slug: Annotated[str, typer.Argument(help="Short unique name, e.g. acme.")],
    name: Annotated[str, typer.Option(help="Display name.")],
    timezone: Annotated[str, typer.Option(help="IANA time zone, e.g. Europe/Berlin.")],
    currency: Annotated[str, typer.Option(help="ISO 4217 currency, e.g. EUR.")],
    json_: JsonOpt = False,
) -> None:
    """Add an organization SLUG."""
    from dpo.resources import orgs
    from dpo.storage.db import session_scope

    with session_scope() as s:
        org = orgs.public(
            orgs.add_org(
                s, {"slug": slug, "name": name, "timezone": timezone, "currency": currency}
            )
        )
    if json_:
        render.print_json(org)
    else:
        typer.echo(f"Added organization {org.slug} ({org.name}).")


@app.command("list")
def list_(json_: JsonOpt = False) -> None:
    """List organizations."""
    from dpo.resources import orgs
    from dpo.storage.db import session_scope

    with session_scope() as s:
        items = [orgs.public(o) for o in orgs.list_orgs(s)]
    if json_:
        render.print_json(items)
        return
    render.print_table(
        "Organizations",
        ["slug", "name", "time zone", "currency"],
        [(o.slug, o.name, o.timezone, o.currency) for o in items],
        empty="No organizations yet: add one with `dpo orgs add`, or try `dpo demo`.",
    )


@app.command("show")
def show(slug: str, json_: JsonOpt = False) -> None:
    """Show one organization and its sources."""
    from dpo.resources import orgs, sources
    from dpo.storage.db import session_scope

    with session_scope() as s:
        org = orgs.public(orgs.get_org(s, slug))
        srcs = sources.list_sources(s, org_slug=slug)
    if json_:
        render.print_json({**org.model_dump(), "sources": srcs})
        return
    render.print_record(
        f"Organization {org.slug}",
        [
            ("name", org.name),
            ("time zone", org.timezone),
            ("currency", org.currency),
            ("created", org.created_at),
            ("sources", ", ".join(f"{x.name} (#{x.id})" for x in srcs) or None),
        ],
    )


@app.command("update")
def update(
    slug: Annotated[str, typer.Argument(help="The organization's slug.")],
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    timezone: Annotated[
        str | None, typer.Option(help="IANA time zone (its days' rollups are rebuilt).")
    ] = None,
    currency: Annotated[
        str | None, typer.Option(help="ISO 4217 currency (its rollups are rebuilt).")
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Change an organization's name, time zone or currency.

    A new time zone or currency changes every day's figures: the next `dpo aggregate` rebuilds
    the organization's rollups whole (money in another currency is converted with `dpo fx`)."""
    from dpo.resources import orgs
    from dpo.storage.db import session_scope

    data = {"name": name, "timezone": timezone, "currency": currency}
    with session_scope() as s:
        org = orgs.public(orgs.update_org(s, slug, {k: v for k, v in data.items() if v}))
    if json_:
        render.print_json(org)
    else:
        typer.echo(f"Updated organization {org.slug}: {org.name}, {org.timezone}, {org.currency}.")


@app.command("remove")
def remove(
    slug: Annotated[str, typer.Argument(help="The organization's slug.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
) -> None:
    """Remove an organization with its sources, data, goals, insights and tokens (asks first
    unless --yes)."""
    from dpo.resources import orgs
    from dpo.storage.db import session_scope

    with session_scope() as s:
        what = f"organization {slug} with {orgs.holdings(s, slug)}"
        render.confirm_removal(what, yes=yes)
        orgs.remove_org(s, slug)
    typer.echo(f"Removed {what}.")
