"""`dpo jobs`: the history of cron-facing runs."""

from typing import Annotated

import typer

from dpo.cli import command_group, render

app = command_group(help="Job history: every sync run and how it ended.")


@app.command("list")
def list_(
    org: Annotated[str | None, typer.Option(help="Only this organization.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10000, help="How many runs.")] = 20,
    json_: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
) -> None:
    """List recent job runs, newest first."""
    from dpo.ops.history import recent_runs

    items = recent_runs(org_slug=org, limit=limit)
    if json_:
        render.print_json(items)
        return
    render.print_table(
        "Recent jobs (times in UTC)",
        ["id", "job", "org", "source", "status", "started", "seconds", "rows", "ran on", "error"],
        [
            (
                j.id,
                j.job,
                j.org,
                j.source,
                j.status,
                j.started_at,
                None if j.seconds is None else f"{j.seconds:.1f}",
                j.rows_written,
                j.ran_on,
                j.error,
            )
            for j in items
        ],
        empty="No jobs have run yet.",
    )
