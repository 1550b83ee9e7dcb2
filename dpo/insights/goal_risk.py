"""Goal risk insights: a goal whose chance of being met (`pacing`) is low becomes an insight."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from dpo import localdays
from dpo.insights.pacing import CRITICAL_PROBABILITY, RISK_PROBABILITY, GoalProgress, goal_progress
from dpo.insights.store import InsightDraft
from dpo.kpis import KPIS
from dpo.storage.models import Goal, Organization
from dpo.vocab import InsightKind, Severity


def goal_risks(session: Session, org: Organization, *, now: datetime) -> list[InsightDraft]:
    """A goal_risk insight for each goal of `org` likely to be missed."""
    goals = session.exec(select(Goal).where(Goal.org_id == org.id).order_by(col(Goal.id)))
    conn = session.connection()
    drafts = []
    for goal in goals:
        state = goal_progress(conn, goal, org, now=now)
        if _at_risk(state):
            drafts.append(_risk_draft(state, goal, org))
    return drafts


def _at_risk(state: GoalProgress) -> bool:
    return (
        state.days_elapsed >= 1
        and state.days_elapsed < state.days_total
        and state.probability is not None
        and state.probability < RISK_PROBABILITY
    )


def _risk_draft(state: GoalProgress, goal: Goal, org: Organization) -> InsightDraft:
    kpi = KPIS[state.kpi]
    unit = org.currency + " " if kpi.unit == "money" else ""
    probability = state.probability or 0.0
    title = (
        f"Goal '{state.name}' is likely to be missed: forecast {unit}{_fmt(state.forecast)} "
        f"against {unit}{_fmt(state.target)}"
    )
    text = (
        f"By {state.as_of:%d %b} the goal stood at {unit}{_fmt(state.actual)}, where "
        f"{unit}{_fmt(state.expected_by_now)} was expected by now. The forecast for "
        f"{state.period_end:%d %b} is {unit}{_fmt(state.forecast)} (80% range "
        f"{unit}{_fmt(state.forecast_low)} to {unit}{_fmt(state.forecast_high)}), a "
        f"{probability:.0%} chance of meeting the target."
    )
    if state.needed_per_day is not None and kpi.is_additive:
        text += (
            f" Each of the remaining {state.days_total - state.days_elapsed} days needs "
            f"{unit}{_fmt(state.needed_per_day)}"
            + (
                f"; the last 7 days averaged {unit}{_fmt(state.current_per_day)}."
                if state.current_per_day is not None
                else "."
            )
        )
    elif state.needed_per_day is not None:
        text += f" The rest of the period needs a {kpi.label} of {_fmt(state.needed_per_day)}."
    if state.why:
        text += f" Forecast: {state.why}."
    tz = ZoneInfo(org.timezone)
    return InsightDraft(
        kind=InsightKind.goal_risk,
        period_start=localdays.day_start(state.period_start, tz),
        period_end=localdays.day_start(state.period_end + timedelta(days=1), tz),
        title=title,
        severity=Severity.critical if probability < CRITICAL_PROBABILITY else Severity.warning,
        fingerprint=f"goal_risk:{goal.id}:{state.period_start.isoformat()}",
        description=text,
        confidence=round(min(1.0, state.days_elapsed / max(state.days_total, 1) + 0.5), 2),
        kpi=state.kpi,
        channel=goal.channel,
        campaign=goal.campaign,
        evidence=state.model_dump(mode="json"),
    )


def _fmt(value: float | Decimal | None) -> str:
    if value is None:
        return "—"
    number = float(value)
    return f"{number:,.2f}" if abs(number) < 100 else f"{number:,.0f}"
