"""`dpo insights`: what dpo found in the data."""

from __future__ import annotations

from typing import Annotated

import typer

from dpo.cli import render
from dpo.vocab import InsightKind, InsightStatus, Severity

app = typer.Typer(
    help="Insights: anomalies, trends, recommendations, goal risks.", no_args_is_help=True
)


@app.command("list")
def list_(
    org: Annotated[str | None, typer.Option(help="Only this organization.")] = None,
    severity: Annotated[Severity | None, typer.Option(help="Only this severity.")] = None,
    status: Annotated[InsightStatus | None, typer.Option(help="Only this status.")] = None,
    kind: Annotated[InsightKind | None, typer.Option(help="Only this kind.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10000, help="At most this many.")] = 50,
    json_: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
) -> None:
    """List insights, most severe and most recent first."""
    from dpo.insights.store import list_insights
    from dpo.storage.db import session_scope

    with session_scope() as s:
        items = list_insights(
            s, org_slug=org, severity=severity, status=status, kind=kind, limit=limit
        )
    if json_:
        render.print_json(items)
        return
    render.print_table(
        "Insights (times in UTC)",
        ["id", "org", "severity", "kind", "title", "from", "status"],
        [(i.id, i.org, i.severity, i.kind, i.title, i.period_start, i.status) for i in items],
        empty="No insights.",
    )


@app.command("ack")
def ack(
    insight_id: Annotated[int, typer.Argument(metavar="ID", help="Insight id.")],
) -> None:
    """Acknowledge an insight: seen, no longer open."""
    from dpo.insights.store import acknowledge
    from dpo.storage.db import session_scope
    from dpo.storage.models import utcnow

    with session_scope() as s:
        insight = acknowledge(s, insight_id, now=utcnow())
    typer.echo(f"Insight #{insight.id} is {insight.status}: {insight.title}")
