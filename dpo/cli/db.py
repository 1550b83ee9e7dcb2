"""`dpo init`: create or upgrade the database."""

from typing import Annotated

import typer

from dpo.cli import render


def init(
    json_: Annotated[bool, typer.Option("--json", help="Print the outcome as JSON.")] = False,
) -> None:
    """Create the database, or upgrade it to this version's schema (safe to re-run)."""
    from dpo.storage.db import get_engine, safe_url, upgrade

    engine = get_engine()
    before, after = upgrade(engine)
    where = safe_url(str(engine.url))
    if json_:
        render.print_json({"database": where, "schema_before": before, "schema": after})
    elif before is None:
        typer.echo(f"Created the database {where} (schema {after}).")
    elif before == after:
        typer.echo(f"The database {where} is up to date (schema {after}).")
    else:
        typer.echo(f"Upgraded the database {where} from schema {before} to {after}.")
