"""Charts of a report's daily KPIs: a PNG/SVG file (matplotlib) or the terminal (plotext).

Money KPIs share the left axis and ratios/percentages the right one; the comparison period is
drawn dashed, day by day under the current period; anomalies found by the insights are marked.
Titles name the organization, the KPIs, the currency and the time zone whose days are shown.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dpo.errors import InvalidInputError
from dpo.kpis import Kpi, get_kpi

if TYPE_CHECKING:
    from dpo.reporting.reports import Report

DEFAULT_KPIS = ("spend", "revenue", "mer")
FORMATS = ("png", "svg")
COLOURS = ("#2563eb", "#16a34a", "#d97706", "#9333ea")


@dataclass(frozen=True)
class Anomaly:
    """A day to mark on a KPI's line."""

    day: date
    kpi: str


def chart_kpis(names: Sequence[str]) -> list[Kpi]:
    """The KPIs to draw (default spend, revenue, MER): at most 4, in at most two units."""
    kpis = [get_kpi(n) for n in (names or DEFAULT_KPIS)]
    if len(kpis) > len(COLOURS):
        raise InvalidInputError(f"chart at most {len(COLOURS)} KPIs at once")
    if len({_axis(k) for k in kpis}) > 2:
        raise InvalidInputError("chart KPIs of at most two kinds (money, counts, ratios) at once")
    return kpis


def _axis(kpi: Kpi) -> str:
    return {"money": "money", "count": "count"}.get(kpi.unit, "ratio")


def _axis_label(axis: str, currency: str) -> str:
    return {"money": currency, "count": "count"}.get(axis, "ratio / share")


def _values(values: Sequence[Decimal | None], kpi: Kpi) -> list[float]:
    scale = 100 if kpi.unit == "percent" else 1
    return [float("nan") if v is None else float(v) * scale for v in values]


def write_chart(
    report: Report,
    path: Path,
    *,
    kpis: Sequence[str] = (),
    anomalies: Sequence[Anomaly] = (),
) -> None:
    """Draw the report's daily KPIs into a .png or .svg file."""
    suffix = path.suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        raise InvalidInputError(f"--chart writes .png or .svg files, not {path.name!r}")
    chosen = chart_kpis(kpis)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with plt.rc_context({"svg.fonttype": "none", "font.size": 10}):
        fig, left = plt.subplots(figsize=(11, 5.5), layout="constrained")
        try:
            _draw(fig, left, report, chosen, anomalies)
            fig.savefig(path, format=suffix, dpi=120)
        except OSError as exc:
            raise InvalidInputError(f"cannot write {path}: {exc.strerror}") from None
        finally:
            plt.close(fig)


def _draw(
    fig: Any, left: Any, report: Report, kpis: Sequence[Kpi], anomalies: Sequence[Anomaly]
) -> None:
    days = report.period.dates()
    axes_by_kind: dict[str, Any] = {}
    order = list(dict.fromkeys(_axis(k) for k in kpis))
    for i, kind in enumerate(order):
        ax = left if i == 0 else left.twinx()
        ax.set_ylabel(_axis_label(kind, report.currency))
        axes_by_kind[kind] = ax
    marked = {(a.day, a.kpi) for a in anomalies}
    for colour, kpi in zip(COLOURS, kpis, strict=False):
        ax = axes_by_kind[_axis(kpi)]
        current = _values(report.trend(kpi.name), kpi)
        unit = " %" if kpi.unit == "percent" else ""
        ax.plot(days, current, color=colour, linewidth=2, label=f"{kpi.label}{unit}",
                gid=f"series-{kpi.name}")  # fmt: skip
        before = _values(report.compare_trend(kpi.name), kpi)[: len(days)]
        ax.plot(days[: len(before)], before, color=colour, linewidth=1.2, linestyle="--",
                alpha=0.7, label=f"{kpi.label}, comparison", gid=f"compare-{kpi.name}")  # fmt: skip
        hits = [(d, v) for d, v in zip(days, current, strict=True) if (d, kpi.name) in marked]
        if hits:
            ax.scatter([d for d, _ in hits], [v for _, v in hits], marker="o", s=90,
                       facecolors="none", edgecolors="#dc2626", linewidths=2, zorder=5,
                       label=f"{kpi.label}: anomaly", gid=f"anomalies-{kpi.name}")  # fmt: skip
    labels = ", ".join(k.label for k in kpis)
    left.set_title(
        f"{report.name} — {labels}, {report.period.start} → {report.period.end}\n"
        f"daily, days in {report.timezone}, money in {report.currency}; "
        f"dashed: {report.compare.start} → {report.compare.end}",
        loc="left",
    )
    left.grid(alpha=0.25)
    handles = [h for ax in axes_by_kind.values() for h in ax.get_legend_handles_labels()[0]]
    fig.legend(handles=handles, loc="outside lower center", ncols=min(4, len(handles)),
               frameon=False)  # fmt: skip
    fig.autofmt_xdate()


def plot_in_terminal(report: Report, *, kpis: Sequence[str] = (), width: int | None = None) -> str:
    """The daily KPIs as a text chart for a terminal (one unit: the first KPI's)."""
    import plotext as plt

    chosen = chart_kpis(kpis)
    first = _axis(chosen[0])
    same_axis = [k for k in chosen if _axis(k) == first]
    plt.clear_figure()
    plt.theme("clear")
    plt.date_form("Y-m-d")
    days = [d.isoformat() for d in report.period.dates()]
    for kpi in same_axis:
        values = _values(report.trend(kpi.name), kpi)
        points = [(d, v) for d, v in zip(days, values, strict=True) if not math.isnan(v)]
        if points:
            plt.plot([d for d, _ in points], [v for _, v in points], label=kpi.label)
    plt.title(f"{report.name}: {', '.join(k.label for k in same_axis)} per day "
              f"({_axis_label(first, report.currency)}, days in {report.timezone})")  # fmt: skip
    plt.plotsize(width or 100, 22)
    text: str = plt.build()
    return text


def marks_from_insights(insights: Sequence[Any], timezone: str) -> list[Anomaly]:
    """Anomaly insights as (local day, KPI) marks."""
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(timezone)
    return [
        Anomaly(i.period_start.astimezone(tz).date(), i.kpi)
        for i in insights
        if i.kind == "anomaly" and i.period_start is not None and i.kpi
    ]
