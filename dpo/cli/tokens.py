"""`dpo tokens`: API tokens for `dpo serve` — create (shown once), list, revoke."""

from typing import Annotated

import typer

from dpo.cli import command_group, render, the_org
from dpo.vocab import TokenRole

app = command_group(help="API tokens for `dpo serve`: one organization's, or admin.")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")]


@app.command("create")
def create(
    org_arg: Annotated[str | None, typer.Argument(metavar="[ORG]", hidden=True)] = None,
    org: Annotated[
        str | None,
        typer.Option(
            help="The organization the token may see, all of it (may be left out when there "
            "is only one)."
        ),
    ] = None,
    admin: Annotated[
        bool, typer.Option("--admin", help="Every organization, and creating organizations.")
    ] = False,
    role: Annotated[
        TokenRole | None,
        typer.Option(
            help="viewer reads; editor also edits goals, acknowledges insights, starts syncs; "
            "admin also changes the organization (default: viewer)."
        ),
    ] = None,
    name: Annotated[str | None, typer.Option(help="What the token is for.")] = None,
    json_: JsonOpt = False,
) -> None:
    """Create a token for an organization (or --admin). It is printed once, on stdout; only
    its hash is kept."""
    from dpo.errors import InvalidInputError
    from dpo.resources import tokens
    from dpo.storage.db import session_scope

    if admin and (org or org_arg) is not None:
        raise InvalidInputError("give --org or --admin, not both")
    if admin and role is not None:
        raise InvalidInputError("an --admin token may do everything: it takes no --role")
    if not admin:
        org = the_org(org, org_arg)
    with session_scope() as s:
        token, secret = tokens.create_token(
            s, org_slug=org, is_admin=admin, name=name, role=role or TokenRole.viewer
        )
    if json_:
        render.print_json({**token.model_dump(), "token": secret})
        return
    scope = "admin" if token.is_admin else f"organization {token.org}, {token.role}"
    typer.echo(
        f"Created token #{token.id} ({token.prefix}…, {scope}). "
        "Store it now: it is not shown again.",
        err=True,
    )
    typer.echo(secret)


@app.command("list")
def list_(json_: JsonOpt = False) -> None:
    """List tokens (their prefixes; the tokens themselves are not kept)."""
    from dpo.resources import tokens
    from dpo.storage.db import session_scope

    with session_scope() as s:
        items = tokens.list_tokens(s)
    if json_:
        render.print_json(items)
        return
    render.print_table(
        "API tokens (times in UTC)",
        ["id", "prefix", "name", "scope", "created", "last used", "revoked"],
        [
            (
                t.id,
                f"{t.prefix}…",
                t.name,
                "admin" if t.is_admin else f"{t.org} ({t.role})",
                t.created_at,
                t.last_used_at,
                t.revoked_at,
            )
            for t in items
        ],
        empty="No tokens yet: create one with `dpo tokens create --org ORG` or `--admin`.",
    )


@app.command("revoke")
def revoke(
    token_id: Annotated[
        int, typer.Argument(metavar="ID", help="Token id (see `dpo tokens list`).")
    ],
    json_: Annotated[bool, typer.Option("--json", help="Print the token as JSON.")] = False,
) -> None:
    """Revoke a token: the API refuses it from now on."""
    from dpo.resources import tokens
    from dpo.storage.db import session_scope
    from dpo.storage.models import utcnow

    with session_scope() as s:
        token = tokens.revoke_token(s, token_id, now=utcnow())
    if json_:
        render.print_json(token)
    else:
        render.console().print(f"Revoked token #{token.id} ({token.prefix}…, {token.name}).")
