"""The small vocabularies shared by the models, the CLI and the API (cheap to import)."""

from __future__ import annotations

from enum import StrEnum


class Grain(StrEnum):
    hour = "hour"
    day = "day"


class Period(StrEnum):
    day = "day"
    week = "week"
    month = "month"
    quarter = "quarter"
    year = "year"
    custom = "custom"


class Comparison(StrEnum):
    at_least = "at-least"
    at_most = "at-most"


class JobStatus(StrEnum):
    running = "running"
    ok = "ok"
    failed = "failed"
    skipped = "skipped"
    partial = "partial"
    dead = "dead"  # the process died mid-run; found by the next run of the same job


class InsightKind(StrEnum):
    anomaly = "anomaly"
    trend = "trend"
    forecast = "forecast"
    recommendation = "recommendation"
    goal_risk = "goal_risk"
    data_quality = "data_quality"


class Severity(StrEnum):
    info = "info"
    warning = "warning"
    critical = "critical"


class InsightStatus(StrEnum):
    open = "open"
    acknowledged = "acknowledged"
    resolved = "resolved"


class EventKind(StrEnum):
    """What `GET /api/events/{org}` tells a dashboard: a sync ended, rollups were brought up to
    date, an insight was raised, reopened, acknowledged or resolved, a goal was changed or put
    at risk."""

    sync = "sync"
    rollups = "rollups"
    insight = "insight"
    goal = "goal"


class Rollup(StrEnum):
    hourly = "hourly"
    daily = "daily"


class ReportBy(StrEnum):
    day = "day"
    channel = "channel"
    campaign = "campaign"
    source = "source"


class TokenRole(StrEnum):
    """What an organization's API token may do there: read; also change goals, acknowledge
    insights, start syncs and rollups (editor); also change the organization (admin)."""

    viewer = "viewer"
    editor = "editor"
    admin = "admin"

    def allows(self, needed: TokenRole) -> bool:
        """True when this role may do what `needed` may."""
        order = list(TokenRole)
        return order.index(self) >= order.index(needed)


class CompareTo(StrEnum):
    previous = "previous"
    yoy = "yoy"


class DataQuality(StrEnum):
    """What an upstream said about the completeness of a window it answered for."""

    thresholded = "thresholded"  # rows withheld for privacy (GA thresholding)
    other_row = "other_row"  # rows folded into "(other)" (GA's cardinality limit)
    sampled = "sampled"  # figures estimated from a sample

    @property
    def text(self) -> str:
        """What the upstream did, as reports say it ("… on 3 days")."""
        return {
            DataQuality.thresholded: "withheld rows for privacy (thresholding)",
            DataQuality.other_row: 'grouped rows into "(other)"',
            DataQuality.sampled: "sampled the data",
        }[self]
