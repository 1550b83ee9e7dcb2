"""`dpo doctor`: one line per check, with a fix for each failure."""

from typing import Annotated

import typer


def doctor(
    sources: Annotated[
        bool, typer.Option(help="Also make one cheap authenticated call per enabled source.")
    ] = True,
) -> None:
    """Check configuration, DPO_HOME, time zones, the database and its schema, the clock, and
    each enabled source's credentials."""
    from dpo.jobs.runner import overall_exit_code_of
    from dpo.ops.doctor import run_checks
    from dpo.storage.models import utcnow

    codes = []
    for check in run_checks(now=utcnow(), sources=sources):
        mark = "ok  " if check.ok else "FAIL"
        fix = f" — fix: {check.fix}" if check.fix else ""
        typer.echo(f"{mark} {check.name}: {check.detail}{fix}", err=not check.ok)
        codes.append(check.exit_code)
    raise typer.Exit(overall_exit_code_of(codes))
