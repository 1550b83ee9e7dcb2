"""`dpo status`: is every source fresh? Exits 1 when something is stale, for monitors."""

import dataclasses
from typing import TYPE_CHECKING, Annotated

import typer

from dpo.cli import render

if TYPE_CHECKING:
    from dpo.jobs.tasks import WorkersReport


def status(
    org: Annotated[str | None, typer.Option(help="Only this organization.")] = None,
    stale_after: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Minutes since the last successful sync before a source is "
            "stale (default: status.stale_after_minutes, 120).",
        ),
    ] = None,
    allow_empty: Annotated[
        bool,
        typer.Option(
            "--allow-empty", help="Exit 0 when there is no enabled source to watch (default 1)."
        ),
    ] = False,
    json_: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
) -> None:
    """Show per source the last successful sync, data freshness and failures, and the latest
    run of every job; exit 1 when an enabled source is stale or has never synced.

    Exit 1 too when there is no enabled source at all (a monitor pointed at the wrong database
    would stay green); --allow-empty for a fresh install."""
    from datetime import timedelta

    from dpo.ops.status import get_status
    from dpo.settings import get_settings
    from dpo.storage.db import session_scope
    from dpo.storage.models import utcnow

    minutes = stale_after or get_settings().status.stale_after_minutes
    with session_scope() as s:
        report = get_status(s, now=utcnow(), stale_after=timedelta(minutes=minutes), org_slug=org)
    workers = _workers() if get_settings().broker_url else None
    problems = report.has_problems or bool(workers and workers.problem)
    if json_:
        extra = {} if workers is None else {"workers": dataclasses.asdict(workers)}
        render.print_json({**report.model_dump(), **extra, "has_problems": problems})
    else:
        render.print_table(
            "Sources (times in UTC)",
            [
                "org",
                "source",
                "last success",
                "newest data",
                "lag (min)",
                "failures",
                "problem",
                "verified",
            ],
            [
                (
                    x.org,
                    x.source,
                    x.last_success_at,
                    x.newest_fact_at,
                    x.lag_minutes,
                    x.consecutive_failures,
                    x.problem
                    or (f"last run failed: {x.last_error}" if x.consecutive_failures else "ok"),
                    x.verification.summary if x.verification else None,
                )
                for x in report.sources
            ],
            empty="No sources.",
        )
        for x in report.sources:
            for note in x.data_quality:
                render.console().print(f"[yellow]data quality[/] {x.org}: {note}", highlight=False)
            for note in x.unconverted:
                render.console().print(f"[yellow]currency[/] {x.org}: {note}", highlight=False)
        render.print_table(
            "Latest run of each job (UTC)",
            ["job", "org", "source", "status", "started", "error"],
            [(j.job, j.org, j.source, j.status, j.started_at, j.error) for j in report.jobs],
            empty="No jobs have run yet.",
        )
        if workers is not None:
            _print_workers(workers)
    watched = any(x.enabled for x in report.sources)
    if not watched and not allow_empty:
        scope = f"{org} has" if org else "this database has"
        typer.echo(
            f"Error: {scope} no enabled source to watch — add one with `dpo sources add`, check "
            "DPO_DATABASE_URL / DPO_HOME, or pass --allow-empty",
            err=True,
        )
    raise typer.Exit(1 if problems or not (watched or allow_empty) else 0)


def _workers() -> "WorkersReport":
    from dpo.jobs.tasks import inspect_workers

    return inspect_workers(timeout=1.0)


def _print_workers(report: "WorkersReport") -> None:
    """The queues and the workers (with a broker configured)."""
    typer.echo(f"Broker: {report.broker}")
    if report.queues:
        render.print_table(
            "Queues",
            ["queue", "waiting"],
            list(report.queues.items()),
            empty="",
        )
    render.print_table(
        "Workers",
        ["worker", "state", "running"],
        [(w.name, w.state, ", ".join(w.running)) for w in report.workers],
        empty="No worker answered.",
    )
    if report.problem:
        typer.echo(f"Error: workers: {report.problem}", err=True)
