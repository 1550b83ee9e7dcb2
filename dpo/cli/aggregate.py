"""`dpo aggregate hourly|daily`: roll facts up into agg_hourly / agg_daily."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

from dpo.cli import render
from dpo.vocab import Rollup

if TYPE_CHECKING:
    from dpo.jobs import JobResult


def aggregate(
    rollup: Annotated[Rollup, typer.Argument(help="Which rollup: hourly or daily.")],
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
    from dpo.aggregate import AggregateRequest
    from dpo.errors import InvalidInputError
    from dpo.jobs import overall_exit_code, run_aggregate
    from dpo.validation import parse_day
    from dpo.vocab import Grain

    if full and since:
        raise InvalidInputError("give --full or --since, not both")
    request = AggregateRequest(
        full=full, since=parse_day(since, option="--since") if since else None
    )
    grain = Grain.hour if rollup is Rollup.hourly else Grain.day
    with range_progress(enabled=not quiet and not json_) as progress:
        results = run_aggregate(grain, request, org_slugs=org, progress=progress)
    report_results(results, quiet=quiet, json_=json_)
    raise typer.Exit(overall_exit_code(results))


def report_results(results: Sequence[JobResult], *, quiet: bool, json_: bool) -> None:
    """One line per organization on stdout; failures and warnings on stderr, even with --quiet."""
    if json_:
        render.print_json([r.__dict__ for r in results])
        return
    for r in results:
        line = f"{r.label}: {r.status.value}, {r.rows_written:,} rows in {r.seconds:.1f}s"
        if r.exit_code:
            typer.echo(f"Error: {line}: {r.message}", err=True)
        elif not quiet:
            typer.echo(f"{line} ({r.message})" if r.message else line)
        for warning in r.warnings:
            typer.echo(f"Warning: {warning}", err=True)


@contextmanager
def range_progress(
    *, enabled: bool
) -> Iterator[Callable[[str], Callable[[int, int], None]] | None]:
    """A progress bar per organization on a terminal's stderr; nothing when piped or quiet."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=render.err_console,
        transient=True,
    ) as bars:

        def for_org(label: str) -> Callable[[int, int], None]:
            task = bars.add_task(f"aggregating {label}", total=None)

            def advance(done: int, total: int) -> None:
                bars.update(task, completed=done, total=total)

            return advance

        yield for_org
