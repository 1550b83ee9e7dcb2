"""`dpo report`: an organization's KPIs over a period, compared with another, in the terminal."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dpo.cli import render


def report(
    org: Annotated[str, typer.Option(help="Organization slug.")],
    days: Annotated[
        int | None, typer.Option(help="The last N whole days (default 28, ending yesterday).")
    ] = None,
    since: Annotated[str | None, typer.Option(help="First day, YYYY-MM-DD (local).")] = None,
    until: Annotated[
        str | None, typer.Option(help="Last day, YYYY-MM-DD (default: yesterday).")
    ] = None,
    by: Annotated[str, typer.Option(help="Rows by day, channel, campaign or source.")] = "day",
    compare: Annotated[
        str, typer.Option(help="Compare with the previous period or the year before (yoy).")
    ] = "previous",
    json_: Annotated[
        bool, typer.Option("--json", help="Print one JSON object, nothing else.")
    ] = False,
    csv: Annotated[
        str | None,
        typer.Option(help="Write the rows as CSV to FILE ('-' for stdout).", metavar="FILE"),
    ] = None,
) -> None:
    """Show KPIs of ORG for a period, with changes, daily trends and top/bottom campaigns."""
    from dpo.cli import report_view
    from dpo.errors import InvalidInputError
    from dpo.jobs import refresh_rollups
    from dpo.reports import build_report, parse_request
    from dpo.storage.db import session_scope
    from dpo.storage.models import utcnow
    from dpo.validation import parse_day
    from dpo.vocab import Grain

    if json_ and csv == "-":
        raise InvalidInputError("--json and --csv - both write to stdout: choose one")
    request = parse_request(
        days=days,
        since=parse_day(since, option="--since") if since else None,
        until=parse_day(until, option="--until") if until else None,
        by=by,
        compare=compare,
    )
    quiet = json_ or csv == "-"
    with render.progress_bars(enabled=not quiet) as progress:
        refreshed = refresh_rollups(org, Grain.day, progress=progress)
    with session_scope() as session:
        data = build_report(session, org, request, now=utcnow())
    if refreshed is not None and refreshed.exit_code:
        data.warnings.insert(0, f"the rollups could not be brought up to date: {refreshed.message}")
    if csv is not None:
        report_view.write_csv(data, None if csv == "-" else Path(csv))
    if json_:
        render.print_json(data.as_dict())
    elif csv != "-":
        report_view.show(data)
        if csv is not None:
            typer.echo(f"Wrote {len(data.rows)} rows to {csv}")
