"""One channel of an organization over a period: its KPIs, compared, per day and per campaign.

The channel's numbers are the same as its row in `dpo report --by channel` (segment KPIs: a
channel's ROAS is what its ad platforms attribute to it over its spend), read from the daily
rollups only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlmodel import Session

from dpo.errors import NotFoundError
from dpo.kpis import KPIS, Value, change, compute_kpis
from dpo.reporting.reports import (
    DateRange,
    Kpis,
    ReportRequest,
    Row,
    compare_period,
    numbers,
    parts_columns,
    row_dict,
    segment_kpis,
    sum_days,
)
from dpo.resources.orgs import get_org
from dpo.storage.tables import TOTAL
from dpo.storage.tables import agg_daily as DAILY
from dpo.validation import check_text
from dpo.vocab import CompareTo


@dataclass
class ChannelReport:
    """A channel's KPIs over a period and the one compared with, as plain values."""

    org: str
    channel: str
    currency: str
    timezone: str
    period: DateRange
    compare_mode: CompareTo
    compare: DateRange
    totals: Kpis
    compare_totals: Kpis
    changes: Kpis
    daily: dict[date, Kpis]
    campaigns: list[Row]

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape, numbers rounded as `dpo report` shows them."""
        return {
            "org": self.org,
            "channel": self.channel,
            "currency": self.currency,
            "timezone": self.timezone,
            "period": self.period.as_dict(),
            "compare": {
                "mode": self.compare_mode.value,
                **self.compare.as_dict(),
                "totals": numbers(self.compare_totals),
                "change": numbers(self.changes),
            },
            "totals": numbers(self.totals),
            "days": [{"day": d.isoformat(), **numbers(k)} for d, k in self.daily.items()],
            "campaigns": [row_dict("campaign", row) for row in self.campaigns],
        }


def build_channel_report(
    session: Session, org_slug: str, channel: str, request: ReportRequest, *, now: datetime
) -> ChannelReport:
    """The channel's report; NotFoundError when the organization never had that channel."""
    org = get_org(session, org_slug)
    assert org.id is not None
    conn = session.connection()
    if not _has_channel(conn, org.id, channel):
        raise NotFoundError(f"unknown channel {channel!r} of organization {org.slug!r}")
    period = request.period(now.astimezone(ZoneInfo(org.timezone)).date())
    before = compare_period(period, request.compare)
    days = _daily_parts(conn, org.id, channel, min(before.start, period.start), period.end)
    totals = compute_kpis(sum_days(days, period), level="segment")
    compare_totals = compute_kpis(sum_days(days, before), level="segment")
    return ChannelReport(
        org=org.slug,
        channel=channel,
        currency=org.currency,
        timezone=org.timezone,
        period=period,
        compare_mode=request.compare,
        compare=before,
        totals=totals,
        compare_totals=compare_totals,
        changes={k: change(totals[k], compare_totals[k]) for k in KPIS},
        daily={d: compute_kpis(days.get(d, {}), level="segment") for d in period.dates()},
        campaigns=_campaigns(conn, org.id, channel, period),
    )


def _has_channel(conn: Connection, org_id: int, channel: str) -> bool:
    try:
        check_text(channel)
    except ValueError:
        return False  # no channel name holds control characters
    t = DAILY
    query = sa.select(t.c.day).where(
        t.c.org_id == org_id, t.c.source_id != TOTAL, t.c.channel == channel
    )
    return conn.execute(query.limit(1)).first() is not None


def _daily_parts(
    conn: Connection, org_id: int, channel: str, first: date, last: date
) -> dict[date, dict[str, Value]]:
    t = DAILY
    query = (
        sa.select(t.c.day, *parts_columns(t))
        .where(
            t.c.org_id == org_id,
            t.c.source_id != TOTAL,
            t.c.channel == channel,
            t.c.day >= first,
            t.c.day <= last,
        )
        .group_by(t.c.day)
    )
    return {row.day: dict(row._mapping) for row in conn.execute(query)}


def _campaigns(conn: Connection, org_id: int, channel: str, period: DateRange) -> list[Row]:
    """The channel's campaigns in the period, largest spend first."""
    t = DAILY
    query = (
        sa.select(t.c.campaign, sa.func.max(t.c.campaign_name).label("name"), *parts_columns(t))
        .where(
            t.c.org_id == org_id,
            t.c.source_id != TOTAL,
            t.c.channel == channel,
            t.c.campaign != "",
            t.c.day >= period.start,
            t.c.day <= period.end,
        )
        .group_by(t.c.campaign)
    )
    rows = [
        Row(r.campaign, segment_kpis(r), {"campaign_name": r.name or ""})
        for r in conn.execute(query)
    ]
    return sorted(rows, key=lambda r: (-(r.kpis["spend"] or 0), r.key))
