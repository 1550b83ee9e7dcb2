"""`dpo sync KIND`: fetch new and restated data from an upstream into the database."""

import time
from datetime import date, datetime, timedelta
from typing import Annotated

import typer

from dpo.cli import finite, render
from dpo.connectors import SourceKind, kinds_text


def sync(
    ctx: typer.Context,
    kind: Annotated[
        SourceKind, typer.Argument(metavar="KIND", help=f"Which upstream: {kinds_text()}.")
    ],
    org: Annotated[
        list[str] | None, typer.Option(help="Only this organization (repeatable).")
    ] = None,
    since: Annotated[
        datetime | None,
        typer.Option(
            formats=["%Y-%m-%d"],
            metavar="YYYY-MM-DD",
            help="Backfill history from this day (remembered).",
        ),
    ] = None,
    until: Annotated[
        datetime | None,
        typer.Option(
            formats=["%Y-%m-%d"],
            metavar="YYYY-MM-DD",
            help="Re-fetch up to this day (with --since: exactly that range).",
        ),
    ] = None,
    max_seconds: Annotated[
        float | None,
        typer.Option(
            min=0.1,
            callback=finite,
            metavar="SECONDS",
            help="Time budget; stops at a window boundary (exit 75).",
        ),
    ] = None,
    skip_recent: Annotated[
        float,
        typer.Option(
            min=0,
            callback=finite,
            metavar="SECONDS",
            help="Skip sources that any process synced "
            "within this many seconds (several servers on one crontab).",
        ),
    ] = 0,
    shard: Annotated[
        str | None,
        typer.Option(metavar="I/N", help="Only organizations of shard I of N (several servers)."),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print nothing unless something fails.")
    ] = False,
    json_: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
) -> None:
    """Sync every enabled source of KIND, in day windows, each replaced atomically."""
    from dpo.ingest.plan import SyncRequest
    from dpo.jobs.runner import overall_exit_code
    from dpo.jobs.sync import Shard, run_sync
    from dpo.settings import get_settings
    from dpo.storage.models import utcnow

    first, last = day_range(since, until)
    budget = max_seconds if max_seconds is not None else get_settings().sync.max_seconds
    request = SyncRequest(
        now=utcnow(),
        since=first,
        until=last,
        deadline=time.monotonic() + budget if budget else None,
        launched=ctx.meta.get(render.LAUNCHED),
        skip_recent=skip_recent,
    )
    with render.progress_bars(enabled=not quiet and not json_) as progress:
        results = run_sync(
            kind.value,
            request,
            org_slugs=org,
            shard=Shard.parse(shard) if shard else None,
            progress=progress,
        )
    render.print_job_results(results, quiet=quiet, json_=json_)
    raise typer.Exit(overall_exit_code(results))


def day_range(since: datetime | None, until: datetime | None) -> tuple[date | None, date | None]:
    """`--since` and `--until` as days, checked: real days, --since not in the future (it is
    today somewhere on Earth until tomorrow), --until not before --since."""
    from dpo.errors import InvalidInputError
    from dpo.storage.models import utcnow
    from dpo.validation import check_day

    for option, day in (("--since", since), ("--until", until)):
        if day is not None:
            check_day(day.date(), option=option)
    if since and since.date() > utcnow().date() + timedelta(days=1):
        raise InvalidInputError(f"--since: {since:%Y-%m-%d} is in the future: nothing to fetch")
    if since and until and until < since:
        raise typer.BadParameter(
            f"--until {until:%Y-%m-%d} is before --since", param_hint="--until"
        )
    return (since.date() if since else None), (until.date() if until else None)
