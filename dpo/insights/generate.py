"""`dpo insights generate` for one organization: every kind of insight, saved in one go.

The run judges the data up to its *horizon*: the last whole hour that is at least
`settle_hours` old and that the organization's sources have synced (upstreams restate the
latest hours, and an hour not yet fetched is not an outage). It scores the last
`history_days` of hourly and daily KPI series (from a Monday, so that repeated runs in a week
see the same history and find the same incidents), keeps the incidents of the last
`report_days`, adds trends, recommendations and goal risks, and saves them all: known ones
are updated by fingerprint, ones that no longer hold are resolved. The store's orders and
analytics' purchases are judged summed too (`pooled`): a loss both show is known sooner.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import sqlalchemy as sa
from sqlalchemy import Connection, Engine
from sqlmodel import Session

from dpo import localdays
from dpo.insights import incidents, pooled, series
from dpo.insights.anomalies import detect
from dpo.insights.detection import DetectorConfig, Series
from dpo.insights.findings import Finding, findings_of
from dpo.insights.goal_risk import goal_risks
from dpo.insights.store import InsightDraft, SaveResult, save_insights
from dpo.settings import InsightsSettings
from dpo.storage import tables
from dpo.storage.models import Organization
from dpo.vocab import InsightKind

log = logging.getLogger(__name__)

ALL_KINDS = tuple(InsightKind)
_COST_RATIOS = {"cpc", "cpm", "cpa", "ctr", "roas"}
_SOURCE = tables.source
_SYNC = tables.sync_state


@dataclass
class GenerateOutcome:
    """What one organization's run found and saved."""

    series: int = 0
    unjudged: int = 0  # series with too little history to judge yet
    drafts: list[InsightDraft] = field(default_factory=list)
    saved: SaveResult = field(default_factory=SaveResult)
    horizon: datetime | None = None


@dataclass(frozen=True)
class Window:
    """The span a run judges, and from when its incidents are reported."""

    history_start: datetime
    horizon: datetime
    report_from: datetime
    tz: ZoneInfo

    @property
    def first_day(self) -> date:
        return self.history_start.astimezone(self.tz).date()

    @property
    def last_day(self) -> date:
        """The last local day that is complete before the horizon."""
        return self.horizon.astimezone(self.tz).date() - timedelta(days=1)


def generate_org(
    engine: Engine,
    org_id: int,
    *,
    now: datetime,
    settings: InsightsSettings,
    advance: Callable[[int, int], None] | None = None,
) -> GenerateOutcome:
    """Find, word and save one organization's insights, in one transaction; `advance` is told
    (series judged, series) as the detector goes."""
    from dpo.insights import recommend, trends

    outcome = GenerateOutcome()
    with Session(engine) as session, session.begin():
        org = session.get(Organization, org_id)
        assert org is not None
        conn = session.connection()
        window = judged_window(conn, org, now=now, settings=settings)
        outcome.horizon = window.horizon
        config = DetectorConfig(sensitivity=settings.sensitivity)
        hourly, daily = load(conn, org, window)
        outcome.series = len(hourly.series) + len(daily.series)
        outcome.drafts, outcome.unjudged = find_anomalies(
            org, window, hourly, daily, config, advance=advance
        )
        outcome.drafts += trends.trend_drafts(org, daily, window.last_day)
        outcome.drafts += recommend.recommendations(org, daily, hourly)
        outcome.drafts += goal_risks(session, org, now=now)
        outcome.saved = save_insights(
            session, org_id, outcome.drafts, now=now, resolve_kinds=ALL_KINDS
        )
    return outcome


def judged_window(
    conn: Connection, org: Organization, *, now: datetime, settings: InsightsSettings
) -> Window:
    """The history and horizon of a run (see the module docstring)."""
    assert org.id is not None
    horizon = _floor_hour(now - timedelta(hours=settings.settle_hours))
    synced = conn.execute(
        sa.select(sa.func.max(_SYNC.c.watermark))
        .join(_SOURCE, _SOURCE.c.id == _SYNC.c.source_id)
        .where(_SOURCE.c.org_id == org.id, _SOURCE.c.enabled == sa.true())
    ).scalar()
    if synced is not None:
        horizon = min(horizon, _floor_hour(synced))
    back = horizon - timedelta(days=settings.history_days)
    monday = datetime.combine(
        back.date() - timedelta(days=back.weekday()), datetime.min.time(), UTC
    )
    return Window(
        history_start=monday,
        horizon=horizon,
        report_from=horizon - timedelta(days=settings.report_days),
        tz=ZoneInfo(org.timezone),
    )


def _floor_hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def load(
    conn: Connection, org: Organization, window: Window
) -> tuple[series.OrgSeries, series.OrgSeries]:
    """The organization's hourly and daily KPI series of the window."""
    assert org.id is not None
    hourly = series.load_hourly(
        conn, org.id, window.tz, start=window.history_start, end=window.horizon
    )
    daily = series.load_daily(conn, org.id, first=window.first_day, last=window.last_day)
    return hourly, daily


def find_anomalies(
    org: Organization,
    window: Window,
    hourly: series.OrgSeries,
    daily: series.OrgSeries,
    config: DetectorConfig,
    *,
    advance: Callable[[int, int], None] | None = None,
) -> tuple[list[InsightDraft], int]:
    """Anomaly and data-quality drafts (one per incident reported in the window), and how
    many series have too little history to be judged yet."""

    def day(i: int) -> datetime:
        return localdays.day_start(window.first_day + timedelta(days=i), window.tz)

    total = len(hourly.series) + len(daily.series)
    judged = 0

    def tick() -> None:
        nonlocal judged
        judged += 1
        if advance is not None:
            advance(judged, total)

    hourly_found, hourly_unjudged = _scan(hourly, config, lambda i: _hour(hourly, i), tick)
    daily_found, daily_unjudged = _scan(daily, config, day, tick)
    recent = [f for f in hourly_found + daily_found if f.end > window.report_from]
    money = org_money(daily, org.currency, window.tz)
    drafts = [d for inc in incidents.group(recent) if (d := incidents.draft(inc, money))]
    return drafts, hourly_unjudged + daily_unjudged


def _hour(data: series.OrgSeries, position: int) -> datetime:
    return datetime.fromtimestamp(data.grid.instant(position) // 10**9, UTC)


def _scan(
    data: series.OrgSeries,
    config: DetectorConfig,
    moment: Callable[[int], datetime],
    tick: Callable[[], None],
) -> tuple[list[Finding], int]:
    """The findings of every series (with the pooled purchases' evidence), and how many
    series could not be judged yet; `tick` after each series."""
    scored = []
    for s in data.series:
        tick()
        scores = detect(
            Series(s.values, data.grid.slots, data.grid.days, data.grain, s.is_log, s.volume),
            config,
        )
        scored.append((s, scores))
    out: list[Finding] = []
    unjudged = 0
    for s, scores in pooled.corroborate(data, scored, config):
        unjudged += not scores.is_judged.any()
        parts = data.parts[s.scope]
        money = None
        if s.is_log:
            money = parts["spend"] if s.kpi in _COST_RATIOS else parts["revenue"]
        out += findings_of(s, scores, data.grain, moment, money=money)
    return out, unjudged


def org_money(daily: series.OrgSeries, currency: str, tz: ZoneInfo) -> incidents.Money:
    """A typical day's money (revenue, else spend) and each KPI's worth per unit."""
    parts = daily.parts.get(series.TOTAL_SCOPE, {})

    def total(name: str) -> float:
        values = parts.get(name)
        return 0.0 if values is None else float(np.nansum(values))

    def per(num: str, den: str) -> float:
        return total(num) / total(den) if total(den) > 0 else 0.0

    revenue = parts.get("revenue")
    spend = parts.get("spend")
    day = 0.0
    for values in (revenue, spend):
        if values is not None and not np.isnan(values).all():
            day = float(np.nanmedian(values))
            if day > 0:
                break
    per_unit = {
        "orders": per("revenue", "orders"),
        "conversions": per("revenue", "conversions"),
        "sessions": per("revenue", "sessions"),
        "clicks": per("spend", "clicks"),
        "impressions": per("spend", "impressions"),
        "attributed_conversions": per("attributed_revenue", "attributed_conversions"),
    }
    return incidents.Money(currency, tz, day, per_unit)
