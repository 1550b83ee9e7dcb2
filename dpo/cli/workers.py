"""`dpo worker`, `dpo schedule`, `dpo enqueue`: dpo's jobs on Celery workers (`jobs/tasks.py`)."""

from __future__ import annotations

import os
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from dpo.cli import command_group, finite

QUEUE_NAMES = ("sync", "aggregate", "insights", "verify")


def worker(
    queues: Annotated[
        str,
        typer.Option(
            metavar="NAMES",
            help="Which kinds of job this worker takes, comma-separated: sync, aggregate, "
            "insights, verify (default: all).",
        ),
    ] = ",".join(QUEUE_NAMES),
    concurrency: Annotated[
        int | None,
        typer.Option(
            min=0, max=64, help="Tasks at once (default [workers] concurrency; 0: one per core)."
        ),
    ] = None,
    pool: Annotated[
        str, typer.Option(metavar="prefork|threads|solo", help="How tasks run (Celery's pools).")
    ] = "prefork",
    name: Annotated[
        str | None,
        typer.Option(metavar="NAME", help="Node name (default dpo-PID@HOST; job runs show it)."),
    ] = None,
    loglevel: Annotated[
        str, typer.Option(metavar="LEVEL", help="debug, info, warning or error.")
    ] = "info",
) -> None:
    """Run a Celery worker that takes dpo's jobs from the broker (DPO_BROKER_URL) until stopped.

    Each task is one source's sync or one organization's rollup or insights, under the same
    lock and job history as the commands; a task killed with its worker goes back to the queue.
    """
    from dpo.errors import InvalidInputError
    from dpo.jobs.tasks import app
    from dpo.settings import get_settings

    chosen = [q.strip() for q in queues.split(",") if q.strip()]
    unknown = [q for q in chosen if q not in QUEUE_NAMES]
    if unknown or not chosen:
        raise InvalidInputError(
            f"unknown queue {unknown[0] if unknown else queues!r}: use {', '.join(QUEUE_NAMES)}"
        )
    if pool not in ("prefork", "threads", "solo"):
        raise InvalidInputError(f"unknown pool {pool!r}: use prefork, threads or solo")
    count = get_settings().workers.concurrency if concurrency is None else concurrency
    argv = [
        "worker",
        "--queues",
        ",".join(f"dpo.{q}" for q in chosen),
        "--concurrency",
        str(count or os.cpu_count() or 1),
        "--pool",
        pool,
        "--hostname",
        name or f"dpo-{os.getpid()}@%h",
        "--loglevel",
        loglevel,
        "--without-mingle",  # nothing to sync with peers at start: the state is in the database
    ]
    app().worker_main(argv)


def schedule(
    schedule_file: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE",
            help="Where beat remembers the last run of each entry (default DPO_HOME/beat).",
        ),
    ] = None,
    loglevel: Annotated[
        str, typer.Option(metavar="LEVEL", help="debug, info, warning or error.")
    ] = "info",
) -> None:
    """Run Celery beat: queue each job of the schedule (crontab.example's, or [schedule]) on
    time. Run exactly one, beside any number of `dpo worker`s."""
    from dpo.jobs.tasks import app, schedule_of
    from dpo.settings import get_settings

    settings = get_settings()
    celery = app()  # checks the schedule before anything starts
    for job, when in schedule_of(settings).items():
        typer.echo(f"{when:<18} {job}", err=True)
    settings.home.mkdir(parents=True, exist_ok=True)
    path = schedule_file or settings.home / "beat"
    celery.Beat(schedule=str(path), loglevel=loglevel.upper(), quiet=True).run()


enqueue = command_group(
    help="Queue one run of a job for the workers, one task per source or organization."
)

OrgOpt = Annotated[
    list[str] | None, typer.Option("--org", help="Only this organization (repeatable).")
]
WaitOpt = Annotated[
    bool,
    typer.Option(
        "--wait", help="Wait for the tasks to end; print each outcome and exit as the job would."
    ),
]
TimeoutOpt = Annotated[
    float,
    typer.Option(min=1, callback=finite, metavar="SECONDS", help="How long --wait waits."),
]
QuietOpt = Annotated[
    bool, typer.Option("--quiet", "-q", help="Print nothing unless something fails.")
]


@enqueue.command("sync")
def enqueue_sync(
    kind: Annotated[str, typer.Argument(metavar="KIND", help="Which upstream.")],
    org: OrgOpt = None,
    since: Annotated[
        datetime | None,
        typer.Option(formats=["%Y-%m-%d"], metavar="YYYY-MM-DD", help="Backfill from this day."),
    ] = None,
    until: Annotated[
        datetime | None,
        typer.Option(formats=["%Y-%m-%d"], metavar="YYYY-MM-DD", help="Re-fetch up to this day."),
    ] = None,
    wait: WaitOpt = False,
    timeout: TimeoutOpt = 3600,
    quiet: QuietOpt = False,
) -> None:
    """Queue a sync of every enabled source of KIND (one task each), as `dpo sync KIND` would
    run it: a plain run skips sources synced since the tick (less [workers]
    skip_recent_seconds); --since/--until fetch exactly that range."""
    from dpo.cli.sync import day_range

    first, last = day_range(since, until)
    _enqueue(f"sync {kind}", org, wait=wait, timeout=timeout, quiet=quiet, since=first, until=last)


@enqueue.command("aggregate")
def enqueue_aggregate(
    rollup: Annotated[str, typer.Argument(metavar="hourly|daily", help="Which rollup.")],
    org: OrgOpt = None,
    wait: WaitOpt = False,
    timeout: TimeoutOpt = 3600,
    quiet: QuietOpt = False,
) -> None:
    """Queue bringing every organization's hourly or daily rollups up to date."""
    _enqueue(f"aggregate {rollup}", org, wait=wait, timeout=timeout, quiet=quiet)


@enqueue.command("insights")
def enqueue_insights(
    org: OrgOpt = None, wait: WaitOpt = False, timeout: TimeoutOpt = 3600, quiet: QuietOpt = False
) -> None:
    """Queue generating every organization's insights."""
    _enqueue("insights generate", org, wait=wait, timeout=timeout, quiet=quiet)


@enqueue.command("verify")
def enqueue_verify(
    org: OrgOpt = None, wait: WaitOpt = False, timeout: TimeoutOpt = 3600, quiet: QuietOpt = False
) -> None:
    """Queue comparing every verifiable source with its upstream (repairing drifting days)."""
    _enqueue("sources verify", org, wait=wait, timeout=timeout, quiet=quiet)


def _enqueue(
    job: str,
    orgs: list[str] | None,
    *,
    wait: bool,
    timeout: float,
    quiet: bool,
    since: date | None = None,
    until: date | None = None,
) -> None:
    from dpo.jobs import tasks
    from dpo.jobs.runner import overall_exit_code_of
    from dpo.storage.models import utcnow

    planned = tasks.plan(job, org_slugs=orgs, now=utcnow(), since=since, until=until)
    ids = tasks.send(planned, keep_results=wait)
    if not wait:
        if not quiet:
            for p, task_id in zip(planned, ids, strict=True):
                typer.echo(f"{p.label}: queued on {p.queue} (task {task_id})")
        return
    outcomes = tasks.wait_for(ids, timeout=timeout)
    for p, outcome in zip(planned, outcomes, strict=True):
        _print_outcome(p.label, outcome, quiet=quiet)
    raise typer.Exit(overall_exit_code_of(o["exit_code"] for o in outcomes))


def _print_outcome(label: str, outcome: dict[str, Any], *, quiet: bool) -> None:
    status, code, message = outcome["status"], outcome["exit_code"], outcome.get("message") or ""
    line = f"{outcome.get('label') or label}: {status}"
    if "rows_written" in outcome:
        line += f", {outcome['rows_written']:,} rows"
    if outcome.get("worker"):
        line += f" on {outcome['worker']}"
    if code:
        typer.echo(f"Error: {line}: {message}", err=True)
    elif not quiet:
        typer.echo(f"{line} ({message})" if message else line)
