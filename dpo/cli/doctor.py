"""`dpo doctor`: one line per check, with a fix for each failure."""

import dataclasses
from typing import Annotated

import typer

from dpo.cli import render


def doctor(
    sources: Annotated[
        bool, typer.Option(help="Also make one cheap authenticated call per enabled source.")
    ] = True,
    json_: Annotated[bool, typer.Option("--json", help="Print the checks as JSON.")] = False,
) -> None:
    """Check configuration, DPO_HOME, time zones, the database and its schema, the clock, each
    enabled source's credentials and, with a broker configured, the workers."""
    from dpo.jobs.runner import overall_exit_code_of
    from dpo.ops.doctor import run_checks
    from dpo.settings import get_settings
    from dpo.storage.models import utcnow

    checks = list(run_checks(now=utcnow(), sources=sources))
    if checks[0].ok and (get_settings().broker_url or get_settings().schedule):
        from dpo.jobs.tasks import doctor_check

        checks.append(doctor_check())
    if json_:
        render.print_json([{**dataclasses.asdict(c), "ok": c.ok} for c in checks])
    for check in [] if json_ else checks:
        mark = "ok  " if check.ok else "FAIL"
        fix = f" — fix: {check.fix}" if check.fix else ""
        typer.echo(f"{mark} {check.name}: {check.detail}{fix}", err=not check.ok)
    raise typer.Exit(overall_exit_code_of(c.exit_code for c in checks))
