"""Goal progress and pacing: where each goal stands, where it is heading, what it needs.

Progress is measured on whole local days: `as_of` is yesterday (today is not over). For a goal
on a sum (revenue, orders, spend…):

- *actual* is the KPI from the period's first day to `as_of`;
- *expected by now* is the target times the share of the period's usual volume that the
  elapsed days hold (weekday weights from the last eight weeks, equal weights with less than
  four weeks of history): a shop that sells less at weekends is not behind on Monday morning;
- *forecast* is actual plus the forecast of the remaining days (`insights.forecast`), with
  an 80 % interval and the *probability* of meeting the target, both from simulated paths;
- *needed per day* is (target - actual) / remaining days: what each remaining day must bring
  (for an at-most goal: may cost).

For a ratio goal (ROAS, CPA…) actual is the ratio so far, expected by now is the target
itself, the forecast combines the forecasts of numerator and denominator, and "needed" is
the ratio the remaining days must achieve for the period to end on target.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa
from sqlalchemy import Connection
from sqlmodel import Session, SQLModel, col, select

from dpo.kpis import KPIS, PARTS, Kpi
from dpo.resources.orgs import get_org
from dpo.storage.models import Goal, Organization
from dpo.storage.tables import TOTAL
from dpo.storage.tables import agg_daily as DAILY
from dpo.vocab import Comparison, Period

if TYPE_CHECKING:
    from dpo.insights.forecast import Forecast

Floats = npt.NDArray[np.float64]
HISTORY_DAYS = 182
RISK_PROBABILITY = 0.3  # below this a goal is at risk: a goal_risk insight
CRITICAL_PROBABILITY = 0.1


class GoalProgress(SQLModel):
    """Where a goal stands (numbers in the KPI's unit; None when undefined)."""

    goal_id: int
    org: str
    name: str
    kpi: str
    comparison: str
    target: float
    period: str
    period_start: date
    period_end: date
    as_of: date
    days_elapsed: int
    days_total: int
    actual: float | None
    expected_by_now: float | None
    forecast: float | None
    forecast_low: float | None
    forecast_high: float | None
    probability: float | None
    needed_per_day: float | None
    current_per_day: float | None
    status: str
    method: str
    why: str = ""  # how the forecast's model was chosen (`forecast.why`)
    note: str = ""


def progress(
    session: Session,
    *,
    org_slug: str | None = None,
    now: datetime,
    advance: Callable[[int, int], None] | None = None,
) -> list[GoalProgress]:
    """Progress of every goal (of one organization), by organization then id; `advance` is
    told (goals done, goals) as it goes."""
    query = select(Goal, Organization).join(Organization).order_by(Organization.slug, col(Goal.id))
    if org_slug is not None:
        query = query.where(Goal.org_id == get_org(session, org_slug).id)
    conn = session.connection()
    forecasts = Forecasts()  # goals of one KPI and period share their series: fit each once
    goals = list(session.exec(query))
    done = []
    for goal, org in goals:
        done.append(goal_progress(conn, goal, org, now=now, forecasts=forecasts))
        if advance is not None:
            advance(len(done), len(goals))
    return done


class Forecasts:
    """`forecast_daily`, once per distinct series, horizon and seed (it is deterministic): the
    model fit is nearly all of a goal's cost, and goals often share their series."""

    def __init__(self) -> None:
        self._done: dict[tuple[bytes, int, int], Forecast] = {}

    def daily(self, history: Floats, horizon: int, *, seed: int = 0) -> Forecast:
        from dpo.insights.forecast import forecast_daily

        key = (np.ascontiguousarray(history, dtype=float).tobytes(), horizon, seed)
        if key not in self._done:
            self._done[key] = forecast_daily(history, horizon, seed=seed)
        return self._done[key]


def forecast_why(forecast: Forecast) -> str:
    """How a forecast's model was chosen, in words."""
    from dpo.insights.forecast import why

    return why(forecast)


# --- one goal --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Span:
    start: date
    end: date
    as_of: date  # the last complete day

    @property
    def total(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def elapsed(self) -> int:
        return max(0, min((min(self.as_of, self.end) - self.start).days + 1, self.total))

    @property
    def remaining(self) -> int:
        return self.total - self.elapsed


def goal_progress(
    conn: Connection,
    goal: Goal,
    org: Organization,
    *,
    now: datetime,
    forecasts: Forecasts | None = None,
) -> GoalProgress:
    """Where one goal stands at `now` (see the module docstring)."""
    forecasts = forecasts or Forecasts()
    assert goal.id is not None and org.id is not None
    today = now.astimezone(ZoneInfo(org.timezone)).date()
    span = _span(goal, today)
    first = min(span.start, span.as_of) - timedelta(days=HISTORY_DAYS)
    parts = daily_parts(conn, org.id, first, span.as_of, goal=goal)
    kpi = KPIS[goal.kpi]
    level = "segment" if goal.channel or goal.campaign else "org"
    in_period = max(0, (span.start - first).days)
    result = (
        _additive(parts, kpi, goal, span, in_period, forecasts=forecasts)
        if kpi.is_additive
        else _ratio(parts, kpi, goal, span, in_period, forecasts=forecasts, level=level)
    )
    return GoalProgress(
        goal_id=goal.id,
        org=org.slug,
        name=goal.name,
        kpi=goal.kpi,
        comparison=goal.comparison,
        target=float(goal.target),
        period=goal.period,
        period_start=span.start,
        period_end=span.end,
        as_of=span.as_of,
        days_elapsed=span.elapsed,
        days_total=span.total,
        **result,
    )


def _span(goal: Goal, today: date) -> _Span:
    as_of = today - timedelta(days=1)
    period = Period(goal.period)
    if period is Period.custom:
        assert goal.start_date and goal.end_date
        return _Span(goal.start_date, goal.end_date, as_of)
    if period is Period.day:
        return _Span(today, today, as_of)
    if period is Period.week:
        start = today - timedelta(days=today.weekday())
        return _Span(start, start + timedelta(days=6), as_of)
    if period is Period.month:
        last = calendar.monthrange(today.year, today.month)[1]
        return _Span(today.replace(day=1), today.replace(day=last), as_of)
    if period is Period.quarter:
        first_month = 3 * ((today.month - 1) // 3) + 1
        start = date(today.year, first_month, 1)
        end_month = first_month + 2
        end = date(today.year, end_month, calendar.monthrange(today.year, end_month)[1])
        return _Span(start, end, as_of)
    return _Span(date(today.year, 1, 1), date(today.year, 12, 31), as_of)


def _additive(
    parts: dict[str, Floats],
    kpi: Kpi,
    goal: Goal,
    span: _Span,
    in_period: int,
    *,
    forecasts: Forecasts,
) -> dict[str, Any]:
    assert kpi.part is not None
    values = parts[kpi.part]
    target = float(goal.target)
    actual = float(np.nansum(values[in_period : in_period + span.elapsed]))
    history = values[: in_period + span.elapsed]
    weights = _weekday_weights(history, span.as_of)
    days = [span.start + timedelta(days=i) for i in range(span.total)]
    share = sum(weights[d.weekday()] for d in days[: span.elapsed]) / sum(
        weights[d.weekday()] for d in days
    )
    fc = forecasts.daily(history, span.remaining)
    ends = actual + fc.totals() if span.remaining else np.array([actual])
    state = _outlook(ends, goal, span, method=fc.method if span.remaining else "final")
    recent = history[-7:]
    return {
        "actual": _round(actual),
        "expected_by_now": _round(target * share),
        "needed_per_day": _round((target - actual) / span.remaining) if span.remaining else None,
        "current_per_day": _round(float(np.nanmean(recent))) if np.isfinite(recent).any() else None,
        "note": fc.note,
        "why": forecast_why(fc) if span.remaining else "",
        **state,
    }


def _ratio(
    parts: dict[str, Floats],
    kpi: Kpi,
    goal: Goal,
    span: _Span,
    in_period: int,
    *,
    forecasts: Forecasts,
    level: str,
) -> dict[str, Any]:
    ratio = kpi.segment_ratio if level == "segment" and kpi.segment_ratio else kpi.ratio
    assert ratio is not None
    num, den = _reported(parts, ratio.numerators), _reported(parts, ratio.denominators)
    window = slice(in_period, in_period + span.elapsed)
    num_done, den_done = float(np.nansum(num[window])), float(np.nansum(den[window]))
    actual = num_done * ratio.scale / den_done if den_done else None
    history = slice(0, in_period + span.elapsed)
    fc_num = forecasts.daily(num[history], span.remaining, seed=1)
    fc_den = forecasts.daily(den[history], span.remaining, seed=2)
    if span.remaining and fc_num.method != "none" and fc_den.method != "none":
        n_paths = min(len(fc_num.paths), len(fc_den.paths))
        total_num = num_done + fc_num.totals()[:n_paths]
        total_den = den_done + fc_den.totals()[:n_paths]
        ends = np.where(
            total_den > 0, total_num * ratio.scale / np.maximum(total_den, 1e-12), np.nan
        )
        ends = ends[np.isfinite(ends)]
        rest_den = float(fc_den.totals().mean())
        needed = (
            (float(goal.target) * (den_done + rest_den) / ratio.scale - num_done)
            * ratio.scale
            / rest_den
            if rest_den > 0
            else None
        )
        method = fc_num.method
    else:
        ends = np.array([actual]) if actual is not None else np.array([])
        needed, method = None, "final" if not span.remaining else "none"
    state = _outlook(ends, goal, span, method=method)
    return {
        "actual": _round(actual),
        "expected_by_now": _round(float(goal.target)),
        "needed_per_day": _round(needed),
        "current_per_day": None,
        "note": fc_num.note or fc_den.note,
        "why": forecast_why(fc_num) if span.remaining else "",
        **state,
    }


def _outlook(ends: Floats, goal: Goal, span: _Span, *, method: str) -> dict[str, Any]:
    """Forecast at period end, its 80 % interval, the probability of meeting the target."""
    target = float(goal.target)
    ends = ends[np.isfinite(ends)]
    if len(ends) == 0:
        return {
            "forecast": None,
            "forecast_low": None,
            "forecast_high": None,
            "probability": None,
            "status": "no data",
            "method": method,
        }
    at_least = Comparison(goal.comparison) is Comparison.at_least
    meets = ends >= target if at_least else ends <= target
    probability = float(meets.mean())
    low, high = np.quantile(ends, [0.1, 0.9])
    return {
        "forecast": _round(float(ends.mean())),
        "forecast_low": _round(float(low)),
        "forecast_high": _round(float(high)),
        "probability": round(probability, 3),
        "status": _status(probability, span),
        "method": method,
    }


def _status(probability: float, span: _Span) -> str:
    if span.remaining == 0:
        return "met" if probability >= 0.5 else "missed"
    if probability >= 0.5:
        return "on track"
    return "at risk" if probability >= RISK_PROBABILITY else "likely missed"


def _weekday_weights(history: Floats, last: date) -> list[float]:
    """Each weekday's share of a usual week (equal with under four weeks of history)."""
    recent = history[-56:]
    if np.count_nonzero(np.isfinite(recent)) < 28:
        return [1.0] * 7
    days = [last - timedelta(days=len(recent) - 1 - i) for i in range(len(recent))]
    sums, counts = [0.0] * 7, [0] * 7
    for day, value in zip(days, recent, strict=True):
        if np.isfinite(value):
            sums[day.weekday()] += float(value)
            counts[day.weekday()] += 1
    means = [s / c if c else 0.0 for s, c in zip(sums, counts, strict=True)]
    overall = sum(means) / 7
    if overall <= 0:
        return [1.0] * 7
    return [m / overall if m > 0 else 1e-6 for m in means]


def _reported(parts: dict[str, Floats], names: tuple[str, ...]) -> Floats:
    for name in names:
        values = parts[name]
        if np.isfinite(values).any():
            return values
    return parts[names[0]]


def _round(value: float | None) -> float | None:
    return None if value is None or not np.isfinite(value) else round(value, 4)


def daily_parts(
    conn: Connection, org_id: int, first: date, last: date, *, goal: Goal
) -> dict[str, Floats]:
    """Each part per local day first…last, for the goal's scope (NaN: nothing reported)."""
    t = DAILY.c
    where = [t.org_id == org_id, t.day >= first, t.day <= last]
    if goal.channel or goal.campaign:
        where.append(t.source_id != TOTAL)
        if goal.channel:
            where.append(t.channel == goal.channel)
        if goal.campaign:
            where.append(t.campaign == goal.campaign)
    else:
        where.append(t.source_id == TOTAL)
    query = sa.select(t.day, *(sa.func.sum(t[p]).label(p) for p in PARTS)).where(*where)
    n = max(0, (last - first).days + 1)
    out = {p: np.full(n, np.nan) for p in PARTS}
    for row in conn.execute(query.group_by(t.day)):
        i = (row.day - first).days
        for p in PARTS:
            value = row._mapping[p]
            if value is not None:
                out[p][i] = float(value)
    return out
