"""The dashboard: a report (`dpo.reporting.reports`) rendered as KPI tiles, charts and tables.

No numbers are computed here: every value is the report's, rounded the same way as
`dpo report --json` prints it, so the dashboard and the command line always agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dpo.api.models import (
    Chart,
    CompareOut,
    DashboardOut,
    DateRangeOut,
    KpiTile,
    Number,
    to_number,
)
from dpo.insights.store import InsightPublic
from dpo.kpis import KPIS
from dpo.reporting.reports import Report, numbers, row_dict

# The daily chart: money on the left axis, ROAS on the right.
_DAILY_SERIES = (("spend", "money"), ("revenue", "money"), ("roas", "ratio"))
_CHANNEL_SERIES = ("spend", "attributed_revenue")


def render_dashboard(
    report: Report, insights: Sequence[InsightPublic], *, warnings: Sequence[str] = ()
) -> DashboardOut:
    """The dashboard of a report (by channel), with the organization's open insights."""
    return DashboardOut(
        org=report.org,
        name=report.name,
        currency=report.currency,
        timezone=report.timezone,
        period=DateRangeOut(start=report.period.start, end=report.period.end),
        compare=CompareOut(
            mode=report.compare_mode.value, start=report.compare.start, end=report.compare.end
        ),
        kpis=kpi_tiles(report),
        charts=[daily_chart(report), channel_chart(report)],
        channels=[row_dict("channel", row) for row in report.rows],
        top_campaigns=[row_dict("campaign", row) for row in report.top_campaigns],
        bottom_campaigns=[row_dict("campaign", row) for row in report.bottom_campaigns],
        insights=list(insights),
        warnings=[*warnings, *report.warnings],
    )


def kpi_tiles(report: Report) -> list[KpiTile]:
    """One tile per KPI: value, the compared period's value, relative change, daily trend."""
    value, previous = numbers(report.totals), numbers(report.compare_totals)
    change = numbers(report.changes)
    return [
        KpiTile(
            name=name,
            label=kpi.label,
            unit=kpi.unit,
            higher_is_better=kpi.higher_is_better,
            value=value[name],
            previous=previous[name],
            change=change[name],
            trend=_series(report, name),
        )
        for name, kpi in KPIS.items()
    ]


def daily_chart(report: Report) -> Chart:
    """Spend and revenue per day, with ROAS on a second axis."""
    datasets = [
        {
            "label": KPIS[name].label,
            "kpi": name,
            "yAxisID": axis,
            "data": _series(report, name),
        }
        for name, axis in _DAILY_SERIES
    ]
    labels = [day.isoformat() for day in report.period.dates()]
    return Chart(
        type="line",
        data={"labels": labels, "datasets": datasets},
        options=_options(report, f"Spend, revenue and ROAS per day ({report.timezone})"),
    )


def channel_chart(report: Report) -> Chart:
    """Spend and attributed revenue per channel over the period."""
    labels = [row.key or "(none)" for row in report.rows]
    datasets = [
        {
            "label": KPIS[name].label,
            "kpi": name,
            "yAxisID": "money",
            "data": [numbers(row.kpis)[name] for row in report.rows],
        }
        for name in _CHANNEL_SERIES
    ]
    return Chart(
        type="bar",
        data={"labels": labels, "datasets": datasets},
        options=_options(report, "Spend and attributed revenue by channel"),
    )


def _series(report: Report, kpi: str) -> list[Number | None]:
    """The KPI's daily values as JSON numbers."""
    return [None if v is None else to_number(v) for v in report.trend(kpi)]


def _options(report: Report, title: str) -> dict[str, Any]:
    return {
        "plugins": {"title": {"display": True, "text": title}},
        "scales": {
            "money": {"position": "left", "title": {"display": True, "text": report.currency}},
            "ratio": {"position": "right", "title": {"display": True, "text": "ROAS"}},
        },
        "currency": report.currency,
        "timezone": report.timezone,
    }
