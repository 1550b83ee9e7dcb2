"""Trend insights: a KPI that has moved for weeks, not hours, and where it is heading.

The last two whole weeks are compared with the four before them, week by week (whole weeks,
so weekends weigh the same on both sides). A trend is reported when the change is at least
15 % and at least three times its standard error (from how much the earlier weeks vary among
themselves); the ETS forecast of the next seven days, with its 80 % interval, says where it
is heading. Ratios (MER, CPA) are compared as ratios of weekly sums.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np

from dpo.insights.forecast import forecast_daily, why
from dpo.insights.series import TOTAL_SCOPE, OrgSeries
from dpo.insights.store import InsightDraft
from dpo.kpis import KPIS
from dpo.storage.models import Organization
from dpo.vocab import InsightKind, Severity

WATCHED = ("revenue", "orders", "spend", "sessions", "mer", "cpa")
RECENT_WEEKS, BEFORE_WEEKS = 2, 4
MIN_CHANGE = 0.15
MIN_T = 3.0
BAD_CHANGE = 0.25  # a move this big in the bad direction is a warning


@dataclass(frozen=True)
class Trend:
    """A significant change of a KPI over weeks."""

    kpi: str
    recent: float  # per week (or the ratio) over the recent weeks
    before: float
    change: float
    t: float


def trend_drafts(org: Organization, daily: OrgSeries, last_day: date) -> list[InsightDraft]:
    """Trend insights of an organization's totals, up to `last_day` (the daily grid's end)."""
    parts = daily.parts.get(TOTAL_SCOPE)
    if parts is None:
        return []
    drafts = []
    for kpi in WATCHED:
        trend = find_trend(kpi, parts)
        if trend is not None:
            drafts.append(_draft(org, trend, parts, last_day))
    return drafts


def find_trend(kpi: str, parts: dict[str, np.ndarray]) -> Trend | None:
    """The KPI's trend over the last six weeks of `parts`, if it is clear enough."""
    weeks = RECENT_WEEKS + BEFORE_WEEKS
    definition = KPIS[kpi]
    if definition.is_additive:
        assert definition.part is not None
        weekly = _weekly(parts[definition.part], weeks)
        if weekly is None:
            return None
        recent, before = weekly[BEFORE_WEEKS:], weekly[:BEFORE_WEEKS]
        level_recent, level_before = float(recent.mean()), float(before.mean())
    else:
        ratio = definition.ratio
        assert ratio is not None
        num = _weekly(_reported(parts, ratio.numerators), weeks)
        den = _weekly(_reported(parts, ratio.denominators), weeks)
        if num is None or den is None or (den <= 0).any():
            return None
        weekly = num / den * ratio.scale
        level_recent = float(num[BEFORE_WEEKS:].sum() / den[BEFORE_WEEKS:].sum() * ratio.scale)
        level_before = float(num[:BEFORE_WEEKS].sum() / den[:BEFORE_WEEKS].sum() * ratio.scale)
        before = weekly[:BEFORE_WEEKS]
    if level_before <= 0:
        return None
    change = level_recent / level_before - 1
    spread = float(before.std(ddof=1))
    error = spread * math.sqrt(1 / RECENT_WEEKS + 1 / BEFORE_WEEKS)
    if abs(change) < MIN_CHANGE:
        return None
    t = (level_recent - level_before) / error if error > 0 else math.copysign(math.inf, change)
    if abs(t) < MIN_T:
        return None
    return Trend(kpi, level_recent, level_before, change, float(t))


def _weekly(values: np.ndarray, weeks: int) -> np.ndarray | None:
    """Sums of the last `weeks` whole weeks (None when days are missing)."""
    days = weeks * 7
    if len(values) < days:
        return None
    tail = values[-days:]
    if np.isnan(tail).sum() > weeks:  # a missing day a week at most
        return None
    return np.asarray(np.nan_to_num(tail).reshape(weeks, 7).sum(axis=1), dtype=np.float64)


def _reported(parts: dict[str, np.ndarray], names: tuple[str, ...]) -> np.ndarray:
    for name in names:
        if not np.isnan(parts[name]).all():
            return parts[name]
    return parts[names[0]]


def _draft(
    org: Organization, trend: Trend, parts: dict[str, np.ndarray], last_day: date
) -> InsightDraft:
    definition = KPIS[trend.kpi]
    up = trend.change > 0
    good = up == definition.higher_is_better
    severity = Severity.info if good or abs(trend.change) < BAD_CHANGE else Severity.warning
    direction = "up" if up else "down"
    per = "a week" if definition.is_additive else ""
    verb = "are" if definition.label.endswith("s") else "is"  # orders, sessions
    title = (
        f"{definition.label} {verb} {direction} {abs(trend.change):.0%} over the last two weeks "
        "(against the four before)"
    )
    text = (
        f"{definition.label} averaged {_fmt(trend.recent, definition.unit, org.currency)} {per} "
        f"in the last {RECENT_WEEKS} weeks against "
        f"{_fmt(trend.before, definition.unit, org.currency)} in the {BEFORE_WEEKS} before "
        f"({trend.change:+.0%}, {abs(trend.t):.1f} standard errors)."
    ).replace("  ", " ")
    evidence: dict[str, Any] = {
        "recent": round(trend.recent, 4),
        "before": round(trend.before, 4),
        "change": round(trend.change, 4),
        "t": round(trend.t, 2) if math.isfinite(trend.t) else None,
    }
    outlook = _outlook(trend.kpi, parts)
    if outlook is not None:
        mean, low, high, chosen = outlook
        text += (
            f" The next 7 days are forecast at {_fmt(mean, definition.unit, org.currency)} "
            f"(80% range {_fmt(low, definition.unit, org.currency)} to "
            f"{_fmt(high, definition.unit, org.currency)})"
            + (f"; forecast: {chosen}." if chosen else ".")
        )
        evidence["forecast_7d"] = {
            "mean": round(mean, 2),
            "low": round(low, 2),
            "high": round(high, 2),
            "why": chosen,
        }
    start = last_day - timedelta(days=RECENT_WEEKS * 7 - 1)
    evidence["period"] = {"start": start.isoformat(), "end": last_day.isoformat()}
    return InsightDraft(
        kind=InsightKind.trend,
        title=title,
        severity=severity,
        fingerprint=f"trend:{trend.kpi}:{direction}",
        description=text,
        confidence=round(min(0.95, 1 - 1 / (1 + abs(trend.t) / MIN_T)), 2),
        kpi=trend.kpi,
        evidence=evidence,
    )


def _outlook(kpi: str, parts: dict[str, np.ndarray]) -> tuple[float, float, float, str] | None:
    """The next seven days' total of an additive KPI: mean, 80 % interval, and how its model
    was chosen (`forecast.why`)."""
    definition = KPIS[kpi]
    if not definition.is_additive or definition.part is None:
        return None
    forecast = forecast_daily(parts[definition.part], 7)
    if forecast.method == "none":
        return None
    totals = forecast.totals()
    low, high = np.quantile(totals, [0.1, 0.9])
    return float(totals.mean()), float(low), float(high), why(forecast)


def _fmt(value: float, unit: str, currency: str) -> str:
    if unit == "money":
        return f"{currency} {value:,.2f}" if abs(value) < 100 else f"{currency} {value:,.0f}"
    if unit == "percent":
        return f"{value:.2%}"
    if unit == "ratio":
        return f"{value:.2f}"
    return f"{value:,.0f}"
