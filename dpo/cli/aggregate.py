"""`dpo aggregate hourly|daily`: roll facts up into agg_hourly / agg_daily."""

from typing import Annotated

import typer

from dpo.cli import render
from dpo.vocab import Rollup


def aggregate(
    rollup: Annotated[
        Rollup, typer.Argument(metavar="ROLLUP", help="Which rollup: hourly or daily.")
    ],
    org: Annotated[
        list[str] | None, typer.Option(help="Only this organization (repeatable).")
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Also rebuild from this local day on (YYYY-MM-DD).")
    ] = None,
    full: Annotated[
        bool, typer.Option("--full", help="Rebuild everything from the facts.")
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print nothing unless something needs a look.")
    ] = False,
    json_: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
) -> None:
    """Roll facts up per organization: only the ranges syncs changed, or everything with --full."""
    from dpo.errors import InvalidInputError
    from dpo.jobs.aggregate import run_aggregate
    from dpo.jobs.runner import overall_exit_code
    from dpo.rollup.aggregate import AggregateRequest
    from dpo.validation import parse_day
    from dpo.vocab import Grain

    if full and since:
        raise InvalidInputError("give --full or --since, not both")
    request = AggregateRequest(
        full=full, since=parse_day(since, option="--since") if since else None
    )
    grain = Grain.hour if rollup is Rollup.hourly else Grain.day
    with render.progress_bars(enabled=not quiet and not json_) as progress:
        results = run_aggregate(grain, request, org_slugs=org, progress=progress)
    render.print_job_results(results, quiet=quiet, json_=json_, unit="ranges")
    raise typer.Exit(overall_exit_code(results))
