"""`dpo demo`: a complete local walk-through on synthetic data."""

from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer

from dpo.cli import render

NEXT_STEPS = """\
Try next:
  dpo orgs show demo            the organization and its sources
  dpo jobs list                 what just ran
  dpo insights list --org demo  what dpo found: anomalies, trends, recommendations
  dpo goals progress --org demo where the goals stand
  dpo report --org demo --by campaign --compare yoy
  dpo sync demo --org demo      sync again: only recent days are re-fetched
  dpo goals add --org demo --kpi revenue --target 150000 --period month"""


def demo(
    days: Annotated[int, typer.Option(min=1, max=730, help="Days of history to generate.")] = 90,
    json_: Annotated[
        bool, typer.Option("--json", help="Print one JSON object of what was done, nothing else.")
    ] = False,
) -> None:
    """Create a demo organization with demo GA, Meta and Woo sources, sync DAYS and report."""
    from dpo.cli import report_view
    from dpo.jobs.demo import demo_report, run_demo
    from dpo.jobs.runner import overall_exit_code
    from dpo.settings import get_settings
    from dpo.storage.db import get_engine, safe_url, upgrade
    from dpo.storage.models import utcnow

    database = safe_url(get_settings().effective_database_url)
    before, after = upgrade(get_engine())  # a demo may create (or upgrade) its schema
    now = utcnow()
    if json_:
        run = run_demo(now=now, days=days)
        render.print_json(
            {
                "database": database,
                "schema": {"before": before, "after": after},
                **_as_dict(run),
                "report": demo_report(now=now, days=run.days).as_dict(),
            }
        )
        raise typer.Exit(overall_exit_code(run.results + run.rollups + run.insights))
    typer.echo(f"Database: {database}")
    if before != after:
        typer.echo(f"Schema {'created' if before is None else 'upgraded'} at {after}.")
    with render.progress_bars(enabled=True) as bars:
        run = run_demo(now=now, days=days, progress=bars, aggregate_progress=bars)
    verb = "Created" if run.created else "Reused"
    typer.echo(
        f"{verb} organization '{run.org}'; synced and rolled up {run.days} days of demo data:"
    )
    render.print_job_results(run.results, quiet=False, json_=False)
    render.print_job_results(run.rollups, quiet=False, json_=False, unit="ranges")
    render.print_job_results(run.insights, quiet=False, json_=False, unit="series")
    zone = ZoneInfo(run.timezone)
    render.print_table(
        f"Incidents injected into the demo data, and what dpo found (times in {run.timezone})",
        ["injected", "when", "found by dpo"],
        [
            (
                i.kind,
                f"{i.start.astimezone(zone):%Y-%m-%d %H:%M}-{i.end.astimezone(zone):%H:%M}",
                _found(match),
            )
            for i, match in run.found
        ],
        empty="No incidents fall inside the synced days.",
    )
    render.print_table(
        "Trends and recommendations dpo found (a season starting, a campaign fading, "
        "a campaign buying dearly)",
        ["kind", "severity", "title"],
        [(i.kind, i.severity, i.title) for i in run.movements],
        empty="No trends or recommendations.",
    )
    if run.others:
        render.print_table(
            "Other anomalies dpo reported (not injected)",
            ["severity", "title"],
            [(i.severity, i.title) for i in run.others],
            empty="",
        )
    typer.echo(NEXT_STEPS)
    report_view.show(demo_report(now=now, days=run.days))
    raise typer.Exit(overall_exit_code(run.results + run.rollups + run.insights))


def _found(match: Any) -> str:
    return "missed" if match is None else f"#{match.id} {match.severity}: {match.title}"


def _as_dict(run: Any) -> dict[str, Any]:
    """What `dpo demo --json` says of the run: its jobs, and each injected incident with the
    insight that found it (null when missed)."""
    return {
        "org": run.org,
        "created": run.created,
        "days": run.days,
        "syncs": [r.__dict__ for r in run.results],
        "rollups": [r.__dict__ for r in run.rollups],
        "insights": [r.__dict__ for r in run.insights],
        "movements": [
            {"id": i.id, "kind": i.kind, "severity": i.severity, "title": i.title}
            for i in run.movements
        ],
        "incidents": [
            {
                "kind": i.kind,
                "profile": i.profile,
                "start": i.start,
                "end": i.end,
                "description": i.description,
                "found": match,
            }
            for i, match in run.found
        ],
        "other_anomalies": run.others,
    }
