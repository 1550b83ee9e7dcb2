"""`dpo goals`: KPI targets per period."""

from datetime import datetime
from typing import Annotated, Any

import typer

from dpo.cli import ORG_HELP, command_group, render, the_org
from dpo.vocab import Comparison, Period

app = command_group(help="Goals: KPI targets per day, week, month, quarter, year or date range.")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")]
DateOpt = Annotated[datetime | None, typer.Option(formats=["%Y-%m-%d"], metavar="YYYY-MM-DD")]


def _fields(**given: Any) -> dict[str, Any]:
    out = {}
    for key, value in given.items():
        if value is not None:
            out[key] = value.date() if isinstance(value, datetime) else value
    return out


def _show(goal: Any, verb: str, json_: bool) -> None:
    if json_:
        render.print_json(goal)
    else:
        typer.echo(f"{verb} goal #{goal.id} for {goal.org}: {goal.name}.")


@app.command("add")
def add(
    org_arg: Annotated[str | None, typer.Argument(metavar="[ORG]", hidden=True)] = None,
    *,
    org: Annotated[str | None, typer.Option(help=ORG_HELP)] = None,
    kpi: Annotated[str, typer.Option(help="KPI, e.g. revenue, roas, cpa.")],
    target: Annotated[
        str,
        typer.Option(
            help="Target value (a non-negative number); a percentage KPI's as 5% or 0.05."
        ),
    ],
    period: Annotated[
        Period | None,
        typer.Option(help="Period (default: month, or custom when --start/--end are given)."),
    ] = None,
    start: DateOpt = None,
    end: DateOpt = None,
    comparison: Annotated[
        Comparison | None, typer.Option(help="Default: at-least when higher is better.")
    ] = None,
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    channel: Annotated[str | None, typer.Option(help="Only this channel.")] = None,
    campaign: Annotated[str | None, typer.Option(help="Only this campaign.")] = None,
    json_: JsonOpt = False,
) -> None:
    """Add a goal: KPI at least (or at most) TARGET per PERIOD."""
    from dpo.resources import goals
    from dpo.storage.db import session_scope

    data = _fields(
        kpi=kpi,
        target=target,
        period=period,
        start_date=start,
        end_date=end,
        comparison=comparison,
        name=name,
        channel=channel,
        campaign=campaign,
    )
    org = the_org(org, org_arg)
    with session_scope() as s:
        goal = goals.add_goal(s, org, data)
    _show(goal, "Added", json_)


@app.command("list")
def list_(
    org: Annotated[str | None, typer.Option(help="Only this organization.")] = None,
    json_: JsonOpt = False,
) -> None:
    """List goals."""
    from dpo.resources import goals
    from dpo.storage.db import session_scope

    with session_scope() as s:
        items = goals.list_goals(s, org_slug=org)
    if json_:
        render.print_json(items)
        return
    render.print_table(
        "Goals",
        ["id", "org", "name", "kpi", "comparison", "target", "period", "start", "end", "channel"],
        [
            (
                g.id,
                g.org,
                g.name,
                g.kpi,
                g.comparison,
                g.target,
                g.period,
                g.start_date,
                g.end_date,
                g.channel,
            )
            for g in items
        ],
        empty="No goals yet: add one with `dpo goals add --org ORG --kpi revenue --target 50000`.",
    )


@app.command("update")
def update(
    goal_id: Annotated[int, typer.Argument(metavar="ID", help="Goal id (see `dpo goals list`).")],
    kpi: Annotated[str | None, typer.Option(help="New KPI.")] = None,
    target: Annotated[str | None, typer.Option(help="New target.")] = None,
    period: Annotated[Period | None, typer.Option(help="New period.")] = None,
    start: DateOpt = None,
    end: DateOpt = None,
    comparison: Annotated[Comparison | None, typer.Option(help="New comparison.")] = None,
    name: Annotated[str | None, typer.Option(help="New name.")] = None,
    channel: Annotated[str | None, typer.Option(help="New channel filter.")] = None,
    campaign: Annotated[str | None, typer.Option(help="New campaign filter.")] = None,
    json_: JsonOpt = False,
) -> None:
    """Change a goal."""
    from dpo.resources import goals
    from dpo.storage.db import session_scope

    data = _fields(
        kpi=kpi,
        target=target,
        period=period,
        start_date=start,
        end_date=end,
        comparison=comparison,
        name=name,
        channel=channel,
        campaign=campaign,
    )
    if not data:
        raise typer.BadParameter("give at least one field to change", param_hint="ID")
    with session_scope() as s:
        goal = goals.update_goal(s, goal_id, data)
    _show(goal, "Updated", json_)


@app.command("remove")
def remove(
    goal_id: Annotated[int, typer.Argument(metavar="ID", help="Goal id (see `dpo goals list`).")],
    json_: JsonOpt = False,
) -> None:
    """Remove a goal."""
    from dpo.resources import goals
    from dpo.storage.db import session_scope

    with session_scope() as s:
        goals.remove_goal(s, goal_id)
    if json_:
        render.print_json({"removed": goal_id})
    else:
        typer.echo(f"Removed goal #{goal_id}.")


PROGRESS_HELP = """Show each goal's progress and pacing.

Actual so far, expected by now, the forecast at the period's end with an 80% interval, the
chance of meeting the target and what each remaining day needs. Days are whole local days up
to yesterday."""


@app.command("progress", help=PROGRESS_HELP)
def progress(
    org: Annotated[str | None, typer.Option(help="Only this organization.")] = None,
    json_: JsonOpt = False,
) -> None:
    from dpo.insights import pacing
    from dpo.storage.db import session_scope
    from dpo.storage.models import utcnow

    with session_scope() as s, render.progress_bars(enabled=not json_) as bars:
        advance = bars("goals") if bars else None
        items = pacing.progress(s, org_slug=org, now=utcnow(), advance=advance)
    if json_:
        render.print_json(items)
        return
    render.print_table(
        "Goal progress (whole local days, up to yesterday)",
        ["goal", "so far", "expected", "forecast", "80% range", "chance", "needs/day", "status"],
        [
            (
                f"#{g.goal_id} {g.org}: {g.name}, day {g.days_elapsed} of {g.days_total}",
                _num(g.actual),
                _num(g.expected_by_now),
                _num(g.forecast),
                _range(g),
                "—" if g.probability is None else f"{g.probability:.0%}",
                _num(g.needed_per_day),
                g.status,
            )
            for g in items
        ],
        empty="No goals yet: add one with `dpo goals add --org ORG --kpi revenue --target 50000`.",
    )


def _num(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"


def _range(g: Any) -> str:
    if g.forecast_low is None:
        return "—"
    return f"{_num(g.forecast_low)}-{_num(g.forecast_high)}"
