"""`dpo init`: create or upgrade the database."""

import typer


def init() -> None:
    """Create the database, or upgrade it to this version's schema (safe to re-run)."""
    from dpo.storage.db import get_engine, safe_url, upgrade

    engine = get_engine()
    before, after = upgrade(engine)
    where = safe_url(str(engine.url))
    if before is None:
        typer.echo(f"Created the database {where} (schema {after}).")
    elif before == after:
        typer.echo(f"The database {where} is up to date (schema {after}).")
    else:
        typer.echo(f"Upgraded the database {where} from schema {before} to {after}.")
