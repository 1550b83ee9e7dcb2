"""How a report looks: rich tables with coloured changes and sparklines, or CSV.

The numbers shown are the report's own values (already rounded as `kpis` rounds them), so the
table, `--json` and `--csv` always agree.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from rich.markup import escape
from rich.table import Table
from rich.text import Text

from dpo.cli import render
from dpo.errors import InvalidInputError
from dpo.kpis import KPIS

if TYPE_CHECKING:
    from dpo.reporting.reports import Report, Row

SPARKS = "▁▂▃▄▅▆▇█"
# The organization's ROAS is its MER (DESIGN §5): shown once, as MER.
TOTAL_KPIS = [k for k in KPIS if k != "roas"]
DAY_COLUMNS = ("spend", "revenue", "orders", "sessions", "mer", "cpa", "conversion_rate", "aov")
SEGMENT_COLUMNS = (
    "spend",
    "revenue",
    "attributed_revenue",
    "roas",
    "clicks",
    "ctr",
    "sessions",
    "conversion_rate",
    "cpa",
)
CAMPAIGN_COLUMNS = ("spend", "attributed_revenue", "roas", "attributed_conversions", "cpa")
NONE_LABEL = "(none)"


def fmt(kpi: str, value: Decimal | None) -> str:
    """A KPI value as the table shows it."""
    if value is None:
        return "—"
    unit = KPIS[kpi].unit
    if unit == "percent":
        return f"{value * 100:.2f}%"
    if unit == "count" and value == value.to_integral_value():
        return f"{int(value):,}"
    if unit == "ratio":
        return f"{value:.2f}"
    return f"{value:,.2f}"


def fmt_change(kpi: str, value: Decimal | None) -> Text:
    """A relative change, green when good for the KPI, red when bad."""
    if value is None:
        return Text("—", style="dim")
    good = (value > 0) == KPIS[kpi].higher_is_better
    style = "dim" if abs(value) < Decimal("0.005") else ("green" if good else "red")
    return Text(f"{value * 100:+.1f}%", style=style)


def sparkline(values: Sequence[Decimal | None]) -> str:
    """Eight-level bars for a series; a blank where a value is undefined."""
    known = [v for v in values if v is not None]
    if not known:
        return ""
    low, high = min(known), max(known)
    span = high - low
    out = []
    for v in values:
        if v is None:
            out.append(" ")
        elif span == 0:
            out.append(SPARKS[3])
        else:
            out.append(SPARKS[int((v - low) / span * (len(SPARKS) - 1))])
    return "".join(out)


def show(report: Report) -> None:
    """Print the whole report."""
    console = render.console()
    period, before = report.period, report.compare
    console.print(
        f"[bold]{escape(report.name)}[/bold] ({report.org}) · {period.start} → {period.end}, "
        f"{period.days} days · {report.timezone} · {report.currency}",
        highlight=False,
    )
    what = "the previous period" if report.compare_mode.value == "previous" else "a year before"
    console.print(f"compared with {before.start} → {before.end} ({what})", highlight=False)
    render.show(_totals_table(report))
    render.show(_rows_table(report))
    for title, rows in (
        ("Top campaigns by ROAS", report.top_campaigns),
        ("Bottom campaigns by ROAS", report.bottom_campaigns),
    ):
        if rows:
            render.show(_campaign_table(title, rows))
    for warning in report.warnings:
        render.err_console().print(f"[yellow]Warning:[/yellow] {warning}")


def _totals_table(report: Report) -> Table:
    table = Table(title="KPIs", title_justify="left")
    for name, justify in (("KPI", "left"), ("value", "right"), ("before", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    table.add_column("change", justify="right")
    table.add_column("daily trend")
    for name in TOTAL_KPIS:
        now, then = report.totals[name], report.compare_totals[name]
        if now is None and then is None:
            continue  # nobody reports it: a row of dashes says nothing
        table.add_row(
            KPIS[name].label,
            fmt(name, now),
            fmt(name, then),
            fmt_change(name, report.changes[name]),
            sparkline(report.trend(name)),
        )
    return table


def _rows_table(report: Report) -> Table:
    by = report.by.value
    columns = DAY_COLUMNS if by == "day" else SEGMENT_COLUMNS
    table = Table(title=f"By {by}", title_justify="left")
    table.add_column(by)
    for name in columns:
        table.add_column(KPIS[name].label, justify="right")
    for row in report.rows:
        label = Text(row.labels.get("campaign_name") or row.key or NONE_LABEL)
        table.add_row(label, *(fmt(name, row.kpis[name]) for name in columns))
    return table


def _campaign_table(title: str, rows: Sequence[Row]) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("campaign")
    for name in CAMPAIGN_COLUMNS:
        table.add_column(KPIS[name].label, justify="right")
    for row in rows:
        label = Text(row.labels.get("campaign_name") or row.key)
        table.add_row(label, *(fmt(name, row.kpis[name]) for name in CAMPAIGN_COLUMNS))
    return table


def write_csv(report: Report, path: Path | None) -> None:
    """The breakdown rows as CSV (numbers as in --json; empty when undefined)."""
    from dpo.reporting.reports import row_dict

    rows = [row_dict(report.by.value, row) for row in report.rows]
    header = list(rows[0]) if rows else [report.by.value, *KPIS]
    if path is None:
        _write(sys.stdout, header, rows)
        return
    try:
        with path.open("w", newline="", encoding="utf-8") as fh:
            _write(fh, header, rows)
    except OSError as exc:
        raise InvalidInputError(f"--csv: cannot write {path}: {exc.strerror}") from None


def _write(fh: object, header: list[str], rows: list[dict[str, object]]) -> None:
    writer = csv.DictWriter(fh, fieldnames=header, lineterminator="\n")  # type: ignore[arg-type]
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
