"""`dpo demo`: a complete local walk-through on synthetic data."""

from __future__ import annotations

from typing import Annotated

import typer

from dpo.cli import render

NEXT_STEPS = """\
Try next:
  dpo orgs show demo            the organization and its sources
  dpo jobs list                 what just ran
  dpo report --org demo --by campaign --compare yoy
  dpo sync demo --org demo      sync again: only recent days are re-fetched
  dpo goals add demo --kpi revenue --target 150000 --period month"""


def demo(
    days: Annotated[int, typer.Option(min=1, max=730, help="Days of history to generate.")] = 90,
) -> None:
    """Create a demo organization with demo GA, Meta and Woo sources, sync DAYS and report."""
    from dpo.cli import report_view
    from dpo.demo import demo_report, run_demo
    from dpo.jobs import overall_exit_code
    from dpo.settings import get_settings
    from dpo.storage.db import safe_url
    from dpo.storage.models import utcnow

    typer.echo(f"Database: {safe_url(get_settings().effective_database_url)}")
    now = utcnow()
    with render.progress_bars(enabled=True) as bars:
        run = run_demo(now=now, days=days, progress=bars, aggregate_progress=bars)
    verb = "Created" if run.created else "Reused"
    typer.echo(
        f"{verb} organization '{run.org}'; synced and rolled up {run.days} days of demo data:"
    )
    render.print_job_results(run.results, quiet=False, json_=False)
    render.print_job_results(run.rollups, quiet=False, json_=False, unit="ranges")
    render.print_table(
        "Incidents injected into the demo data (UTC; for the insights to find)",
        ["kind", "source", "from", "to", "what"],
        [(i.kind, i.profile, i.start, i.end, i.description) for i in run.incidents],
        empty="No incidents fall inside the synced days.",
    )
    typer.echo(NEXT_STEPS)
    report_view.show(demo_report(now=now, days=run.days))
    raise typer.Exit(overall_exit_code(run.results + run.rollups))
