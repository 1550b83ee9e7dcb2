"""`dpo insights`: what dpo found in the data."""

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from dpo.cli import command_group, finite, render
from dpo.vocab import InsightKind, InsightStatus, Severity

if TYPE_CHECKING:
    from dpo.insights.csvseries import Detection
    from dpo.insights.store import InsightPublic


class ScaleChoice(StrEnum):
    auto = "auto"
    amount = "amount"
    ratio = "ratio"


class EveryChoice(StrEnum):
    auto = "auto"
    hour = "1h"
    day = "1d"


class AggChoice(StrEnum):
    sum = "sum"
    mean = "mean"


class MissingChoice(StrEnum):
    gap = "gap"
    zero = "zero"


app = command_group(help="Insights: anomalies, trends, recommendations, goal risks.")


GENERATE_HELP = """Find anomalies, trends, recommendations and goal risks; save them (cron: hourly).

Re-runs update the insights they find again and resolve those that no longer hold."""


@app.command("generate", help=GENERATE_HELP)
def generate(
    org: Annotated[
        list[str] | None, typer.Option(help="Only this organization (repeatable).")
    ] = None,
    sensitivity: Annotated[
        float | None,
        typer.Option(
            min=0.1, max=10, callback=finite, help="Default: [insights] sensitivity (1.0)."
        ),
    ] = None,
    jobs: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=64,
            help="Processes to run organizations in (0: one per core, at most 4). "
            "Default: [insights] jobs (0).",
        ),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print nothing unless something needs a look.")
    ] = False,
    json_: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
) -> None:
    from dpo.jobs.insights import run_insights
    from dpo.jobs.runner import overall_exit_code
    from dpo.storage.models import utcnow

    with render.progress_bars(enabled=not quiet and not json_) as progress:
        results = run_insights(
            now=utcnow(), org_slugs=org, sensitivity=sensitivity, jobs=jobs, progress=progress
        )
    render.print_job_results(results, quiet=quiet, json_=json_, unit="series")
    raise typer.Exit(overall_exit_code(results))


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
        "Insights (times in each organization's time zone)",
        ["id", "org", "severity", "kind", "title", "from", "status"],
        [(i.id, i.org, i.severity, i.kind, i.title, _local(i), i.status) for i in items],
        empty="No insights.",
    )


def _local(insight: "InsightPublic") -> str:
    """When an insight's period began, in its organization's zone, named."""
    from zoneinfo import ZoneInfo

    if insight.period_start is None:
        return ""
    return f"{insight.period_start.astimezone(ZoneInfo(insight.timezone)):%Y-%m-%d %H:%M %Z}"


@app.command("ack")
def ack(
    insight_id: Annotated[int, typer.Argument(metavar="ID", help="Insight id.")],
    json_: Annotated[bool, typer.Option("--json", help="Print the insight as JSON.")] = False,
) -> None:
    """Acknowledge an insight: seen, no longer open."""
    from dpo.insights.store import acknowledge
    from dpo.storage.db import session_scope
    from dpo.storage.models import utcnow

    with session_scope() as s:
        insight = acknowledge(s, insight_id, now=utcnow())
    if json_:
        render.print_json(insight)
    else:
        typer.echo(f"Insight #{insight.id} is {insight.status}: {insight.title}")


SUMMARY_HELP = """A short narrative of each organization's open insights.

Worded by the model in [openai] when one is configured (checked: it may not invent numbers),
else by a fixed template: the money at stake in all, then the insights grouped by what to
check first (money moving, tracking and data, goals, recommendations, trends), each group
ranked by money at stake, with each insight's numbers."""


@app.command("summary", help=SUMMARY_HELP)
def summary(
    org: Annotated[str | None, typer.Option(help="Only this organization.")] = None,
    json_: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
) -> None:
    from dpo.insights.narrate import as_dict, org_summaries
    from dpo.settings import get_settings
    from dpo.storage.db import session_scope

    with session_scope() as s:
        items = org_summaries(s, get_settings().openai, org_slug=org)
    if json_:
        render.print_json([as_dict(n) for n in items])
        return
    for n in items:
        render.console().print(n.text)
        if n.note and get_settings().openai.is_configured:
            typer.echo(f"Note: {n.org}: template used: {n.note}", err=True)


DETECT_HELP = """Score every row of a CSV series with the anomaly detector; one alert per finding.

Rows at any regular or irregular step: hourly and daily rows are judged as they are, finer
rows per hour, coarser ones per day (--every). Writes
timestamp,value,score,is_anomaly,alert,finding,history_days for every input row, in input
order: score is
in [0, 1], judged only from the hours (days) before, as the hourly job sees them; is_anomaly
is score >= 0.5 at the default sensitivity; flagged rows carry the number of their finding,
and alert is 1 on the row where each finding is first known, 0 elsewhere; history_days is
the days of data behind a judged row. Hourly series are judged by two models: the seasonal
one (from day 3; two weeks for ratios) and, where the hours before show no daily cycle (server
and sensor metrics), one that flags an hour past the record of the four weeks before it (from
day 2). Daily values are judged from two weeks. Until a week, bands are wider and only
changes of 60 % or more count (a note says until when). Missing rows are
no data, never a drop: a gap is reported as a data-quality note. A bad file is one Error:
line and exit 2."""


@app.command("detect", help=DETECT_HELP)
def detect(
    file: Annotated[
        Path, typer.Argument(metavar="FILE.csv", help="A CSV series: a time and a value column.")
    ],
    time_column: Annotated[
        str | None, typer.Option(help="The time column (default: found by name or content).")
    ] = None,
    value_column: Annotated[
        str | None, typer.Option(help="The value column (default: the numeric one, or 'value').")
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write the scored rows here instead of stdout."),
    ] = None,
    scale: Annotated[
        ScaleChoice,
        typer.Option(
            help="amount: counts and amounts as they are; ratio: a log scale (CPC, ROAS…); "
            "auto: ratio when the column is named like one."
        ),
    ] = ScaleChoice.auto,
    every: Annotated[
        EveryChoice,
        typer.Option(
            help="Judge hourly (1h) or daily (1d) values; auto: hourly for rows an hour apart "
            "or closer, daily for rows further apart."
        ),
    ] = EveryChoice.auto,
    agg: Annotated[
        AggChoice | None,
        typer.Option(
            help="How rows make an hour (day): sum for counts and amounts, mean for gauges "
            "and ratios. Default: sum on the amount scale, mean on the ratio scale."
        ),
    ] = None,
    missing: Annotated[
        MissingChoice,
        typer.Option(
            help="gap: a missing row is no data (reported, never judged); zero: a missing "
            "row means zero."
        ),
    ] = MissingChoice.gap,
    sensitivity: Annotated[
        float | None,
        typer.Option(
            min=0.1,
            max=10,
            callback=finite,
            help="Default: [insights] sensitivity (1.0); 2 alerts more, 0.5 less.",
        ),
    ] = None,
    alerts_only: Annotated[
        bool, typer.Option("--alerts-only", help="Only the alert rows, one per finding.")
    ] = False,
    json_: Annotated[bool, typer.Option("--json", help="Print the scored rows as JSON.")] = False,
) -> None:
    from dpo.insights.csvseries import detect_csv, to_csv
    from dpo.settings import get_settings

    result = detect_csv(
        file,
        time_column=time_column,
        value_column=value_column,
        scale=scale.value,
        every=every.value,
        agg=None if agg is None else agg.value,
        missing=missing.value,
        sensitivity=sensitivity or get_settings().insights.sensitivity,
    )
    early = (
        [f"rows up to {result.early_until} are judged on under a week of history: wider bands, "
         "and only changes of 60 % or more count (history_days says how much each had)"]
        if result.early_until
        else []
    )  # fmt: skip
    for note in [*result.series.notes, *early, *_gap_notes(result)]:
        typer.echo(f"Note: {note}", err=True)
    points = result.alerts if alerts_only else result.points
    if output is not None:
        try:
            output.write_text(to_csv(points), encoding="utf-8")
        except OSError as exc:
            from dpo.errors import InvalidInputError

            raise InvalidInputError(f"cannot write {output}: {exc.strerror}") from None
    if json_:
        render.print_json([p.__dict__ for p in points])
    elif output is None:
        typer.echo(to_csv(points), nl=False)
    else:
        _summary(result, output)


def _gap_notes(result: "Detection", *, listed: int = 3) -> list[str]:
    gaps = result.gaps
    if not gaps:
        return []
    unit = "hour" if result.series.grain.value == "hour" else "day"
    total = sum(g.positions for g in gaps)
    named = "; ".join(
        f"{g.start} to {g.end} ({g.positions} {unit}{'s' if g.positions > 1 else ''})"
        for g in sorted(gaps, key=lambda g: -g.positions)[:listed]
    )
    more = f"; {len(gaps) - listed} more" if len(gaps) > listed else ""
    return [
        f"data quality: {len(gaps)} gap{'s' if len(gaps) > 1 else ''} without data "
        f"({total:,} {unit}{'s' if total > 1 else ''} in all, not judged): {named}{more}"
    ]


def _summary(result: "Detection", output: Path) -> None:
    data, points = result.series, result.points
    flagged = sum(p.is_anomaly for p in points)
    judged = (
        f"judged from {result.first_judged} (the rows before are history)"
        if result.first_judged
        else "none judged: a series needs 2 days of history first (two weeks for daily "
        "values) and some activity in it"
    )
    typer.echo(
        f"Scored {len(points):,} rows of {data.value_column!r} "
        f"({data.resampling.describe()}; {data.scale.reason}): {flagged:,} anomalous in "
        f"{result.findings:,} finding{'' if result.findings == 1 else 's'}; {judged}. "
        f"Wrote {output}."
    )
