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
