"""`dpo report`: an organization's KPIs over a period, compared with another, in the terminal."""

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from dpo.cli import ORG_HELP, render, the_org

if TYPE_CHECKING:
    from dpo.reporting.reports import Report


def report(
    org: Annotated[str | None, typer.Option(help=ORG_HELP)] = None,
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
    chart: Annotated[
        Path | None,
        typer.Option(
            help="Draw the daily KPIs into FILE.png or FILE.svg.", metavar="FILE", dir_okay=False
        ),
    ] = None,
    plot: Annotated[
        bool, typer.Option("--plot", help="Draw the daily KPIs in the terminal.")
    ] = False,
    kpi: Annotated[
        list[str] | None,
        typer.Option(help="KPI to chart (repeatable; default spend, revenue and MER)."),
    ] = None,
) -> None:
    """Show an organization's KPIs for a period, with changes, daily trends and top campaigns."""
    from dpo.cli import report_view
    from dpo.errors import InvalidInputError
    from dpo.jobs.aggregate import refresh_rollups
    from dpo.reporting.reports import build_report, parse_request
    from dpo.storage.db import session_scope
    from dpo.storage.models import utcnow
    from dpo.validation import parse_day
    from dpo.vocab import Grain

    if json_ and csv == "-":
        raise InvalidInputError("--json and --csv - both write to stdout: choose one")
    if plot and (json_ or csv == "-"):
        raise InvalidInputError("--plot draws on stdout: it cannot go with --json or --csv -")
    if kpi:
        from dpo.reporting.charts import chart_kpis

        if chart is None and not plot:
            raise InvalidInputError("--kpi chooses what --chart or --plot draws: give one of them")
        chart_kpis(kpi)
    request = parse_request(
        days=days,
        since=parse_day(since, option="--since") if since else None,
        until=parse_day(until, option="--until") if until else None,
        by=by,
        compare=compare,
    )
    org = the_org(org)
    quiet = json_ or csv == "-"
    with render.progress_bars(enabled=not quiet) as progress:
        refreshed = refresh_rollups(org, Grain.day, progress=progress)
    with session_scope() as session:
        data = build_report(session, org, request, now=utcnow())
    if refreshed is not None and refreshed.exit_code:
        data.warnings.insert(0, f"the rollups could not be brought up to date: {refreshed.message}")
    if chart is not None:
        _write_chart(data, chart, kpis=kpi or [])
    if csv is not None:
        report_view.write_csv(data, None if csv == "-" else Path(csv))
    if json_:
        render.print_json(data.as_dict())
    elif csv != "-":
        report_view.show(data)
        if csv is not None:
            typer.echo(f"Wrote {len(data.rows)} rows to {csv}")
        if plot:
            from dpo.reporting.charts import plot_in_terminal

            typer.echo(plot_in_terminal(data, kpis=kpi or [], width=render.console().width))


def _write_chart(data: "Report", chart: Path, *, kpis: list[str]) -> None:
    from dpo.insights.store import list_insights
    from dpo.reporting import charts
    from dpo.storage.db import session_scope
    from dpo.vocab import InsightKind

    with session_scope() as session:
        found = list_insights(session, org_slug=data.org, kind=InsightKind.anomaly, limit=10_000)
    charts.write_chart(data, chart, kpis=kpis, anomalies=charts.marks_from_insights(
        found, data.timezone))  # fmt: skip
    typer.echo(f"Wrote the chart to {chart}", err=True)
