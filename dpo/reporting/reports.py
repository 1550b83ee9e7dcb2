"""Report data: an organization's KPIs over a period, compared and broken down — plain data.

Reports read the daily rollups only (never raw facts), so their cost follows the number of
days and segments shown, not the number of facts. `Report.as_dict()` is the JSON shape shared by
`dpo report --json` and the API; the CLI renders the same object as tables.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlmodel import Session

from dpo.errors import InvalidInputError
from dpo.kpis import KPIS, PARTS, Value, add_parts, change, compute_kpis
from dpo.metrics import OWNED
from dpo.resources.orgs import get_org
from dpo.storage import fx, tables
from dpo.storage.models import Organization
from dpo.storage.quality import quality_notes
from dpo.storage.tables import TOTAL
from dpo.storage.tables import agg_daily as DAILY
from dpo.validation import check_day
from dpo.vocab import CompareTo, ReportBy

DEFAULT_DAYS = 28  # four whole weeks: the same weekdays in the period and the one before
MAX_DAYS = 3660
_SOURCE = tables.source
Kpis = dict[str, Decimal | None]


@dataclass(frozen=True)
class DateRange:
    """Local dates from `start` to `end`, both included."""

    start: date
    end: date

    @property
    def days(self) -> int:
        """How many days the range has."""
        return (self.end - self.start).days + 1

    def dates(self) -> list[date]:
        """Every date of the range."""
        return [self.start + timedelta(days=i) for i in range(self.days)]

    def as_dict(self) -> dict[str, str]:
        """ISO dates, for JSON."""
        return {"start": self.start.isoformat(), "end": self.end.isoformat()}


@dataclass(frozen=True)
class ReportRequest:
    """What a report was asked for, checked."""

    days: int | None = None
    since: date | None = None
    until: date | None = None
    by: ReportBy = ReportBy.day
    compare: CompareTo = CompareTo.previous

    def __post_init__(self) -> None:
        for option, day in (("--since", self.since), ("--until", self.until)):
            if day is not None:
                check_day(day, option=option)
        if self.days is not None and (self.since or self.until):
            raise InvalidInputError("give --days or --since/--until, not both")
        if self.days is not None and not 1 <= self.days <= MAX_DAYS:
            raise InvalidInputError(f"--days must be between 1 and {MAX_DAYS}")
        if self.until and not self.since:
            raise InvalidInputError("--until needs --since")
        if self.since and self.until and self.until < self.since:
            raise InvalidInputError(
                f"--until {self.until.isoformat()} is before --since {self.since.isoformat()}"
            )
        if self.since and self.until and (self.until - self.since).days >= MAX_DAYS:
            raise InvalidInputError(f"a report covers at most {MAX_DAYS} days")

    def period(self, today: date) -> DateRange:
        """The period asked for; by default the DEFAULT_DAYS days before today."""
        yesterday = today - timedelta(days=1)
        if self.since:
            return DateRange(self.since, self.until or max(yesterday, self.since))
        days = self.days or DEFAULT_DAYS
        return DateRange(yesterday - timedelta(days=days - 1), yesterday)


def parse_request(
    *,
    days: int | None = None,
    since: date | None = None,
    until: date | None = None,
    by: str = "day",
    compare: str = "previous",
) -> ReportRequest:
    """A ReportRequest from what a user typed (one clear error for anything wrong)."""
    return ReportRequest(
        days=days,
        since=since,
        until=until,
        by=_choice(ReportBy, by, "--by"),
        compare=_choice(CompareTo, compare, "--compare"),
    )


def _choice(enum: Any, value: str, option: str) -> Any:
    try:
        return enum(value.strip().lower())
    except ValueError:
        choices = ", ".join(e.value for e in enum)
        raise InvalidInputError(f"{option}: {value!r} is not one of {choices}") from None


def compare_period(period: DateRange, mode: CompareTo) -> DateRange:
    """The period compared with: the one just before, or the same dates a year earlier."""
    if mode is CompareTo.previous:
        return DateRange(
            period.start - timedelta(days=period.days), period.start - timedelta(days=1)
        )
    return DateRange(_year_before(period.start), _year_before(period.end))


def _year_before(day: date) -> date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year - 1, day=28)


@dataclass
class Row:
    """One line of a breakdown: its key, extra labels, and every KPI."""

    key: str
    kpis: Kpis
    labels: dict[str, str] = field(default_factory=dict)


@dataclass
class Report:
    """Everything `dpo report` shows, as plain values (Decimal, date, str, None)."""

    org: str
    name: str
    currency: str
    timezone: str
    by: ReportBy
    period: DateRange
    compare_mode: CompareTo
    compare: DateRange
    totals: Kpis
    compare_totals: Kpis
    changes: Kpis
    daily: dict[date, Kpis]
    compare_daily: dict[date, Kpis]
    rows: list[Row]
    top_campaigns: list[Row]
    bottom_campaigns: list[Row]
    warnings: list[str] = field(default_factory=list)

    def trend(self, kpi: str) -> list[Decimal | None]:
        """The KPI's value on each day of the period."""
        return [self.daily[d][kpi] for d in self.period.dates()]

    def compare_trend(self, kpi: str) -> list[Decimal | None]:
        """The KPI's value on each day of the comparison period."""
        return [self.compare_daily[d][kpi] for d in self.compare.dates()]

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape: dates as ISO strings, numbers as numbers, None when undefined."""
        return {
            "org": self.org,
            "currency": self.currency,
            "timezone": self.timezone,
            "period": self.period.as_dict(),
            "compare": {
                "mode": self.compare_mode.value,
                **self.compare.as_dict(),
                "totals": numbers(self.compare_totals),
                "change": {k: _number(v) for k, v in self.changes.items()},
            },
            "totals": numbers(self.totals),
            "rows": [row_dict(self.by.value, row) for row in self.rows],
            "warnings": list(self.warnings),
        }


def numbers(kpis: Mapping[str, Decimal | None]) -> dict[str, int | float | None]:
    """KPI values as JSON numbers."""
    return {k: _number(v) for k, v in kpis.items()}


def row_dict(by: str, row: Row) -> dict[str, Any]:
    """One breakdown row as JSON: its key under the breakdown's name, labels, then KPIs."""
    return {by: row.key, **row.labels, **numbers(row.kpis)}


def _number(value: Decimal | None) -> int | float | None:
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


# --- building -------------------------------------------------------------------------------


def build_report(
    session: Session, org_slug: str, request: ReportRequest, *, now: datetime
) -> Report:
    """The report of one organization, read from its daily rollups."""
    org = get_org(session, org_slug)
    assert org.id is not None
    conn = session.connection()
    period = request.period(now.astimezone(ZoneInfo(org.timezone)).date())
    before = compare_period(period, request.compare)
    days = _daily_parts(conn, org.id, min(before.start, period.start), period.end)
    current, previous = sum_days(days, period), sum_days(days, before)
    totals, compare_totals = compute_kpis(current), compute_kpis(previous)
    campaigns = _breakdown(conn, org.id, period, ReportBy.campaign)
    top, bottom = _ranked(campaigns)
    report = Report(
        org=org.slug,
        name=org.name,
        currency=org.currency,
        timezone=org.timezone,
        by=request.by,
        period=period,
        compare_mode=request.compare,
        compare=before,
        totals=totals,
        compare_totals=compare_totals,
        changes={k: change(totals[k], compare_totals[k]) for k in KPIS},
        daily={d: compute_kpis(days.get(d, {})) for d in period.dates()},
        compare_daily={d: compute_kpis(days.get(d, {})) for d in before.dates()},
        rows=_rows(conn, org.id, period, request.by, days=days, campaigns=campaigns),
        top_campaigns=top,
        bottom_campaigns=bottom,
    )
    report.warnings = _warnings(conn, org, (period, before))
    return report


def parts_columns(table: sa.Table, *, own: bool = False) -> list[Any]:
    """SUM of every part; with `own`, each source's own revenue/orders/refunds instead."""
    out = []
    for part in PARTS:
        column = table.c[f"source_{part}"] if own and part in OWNED else table.c[part]
        out.append(sa.func.sum(column).label(part))
    return out


def _daily_parts(
    conn: Connection, org_id: int, first: date, last: date
) -> dict[date, dict[str, Value]]:
    t = DAILY
    query = sa.select(t.c.day, *(t.c[p] for p in PARTS), t.c.skipped_facts).where(
        t.c.org_id == org_id, t.c.source_id == TOTAL, t.c.day >= first, t.c.day <= last
    )
    out: dict[date, dict[str, Value]] = {}
    for row in conn.execute(query):
        parts = {p: row._mapping[p] for p in PARTS}
        parts["skipped_facts"] = row.skipped_facts
        out[row.day] = parts
    return out


def sum_days(days: Mapping[date, Mapping[str, Value]], period: DateRange) -> dict[str, Value]:
    """The summed parts of the days of `period` (days without data add nothing)."""
    total: dict[str, Value] = {}
    for day in period.dates():
        if day in days:
            add_parts(total, days[day])
    return total


def _rows(
    conn: Connection,
    org_id: int,
    period: DateRange,
    by: ReportBy,
    *,
    days: Mapping[date, Mapping[str, Value]],
    campaigns: list[Row],
) -> list[Row]:
    if by is ReportBy.day:
        return [Row(d.isoformat(), compute_kpis(days.get(d, {}))) for d in period.dates()]
    if by is ReportBy.campaign:
        return campaigns
    return _breakdown(conn, org_id, period, by)


def _breakdown(conn: Connection, org_id: int, period: DateRange, by: ReportBy) -> list[Row]:
    """Segment rows of the period, summed over its days, largest spend first."""
    t = DAILY
    in_period = (
        t.c.org_id == org_id,
        t.c.source_id != TOTAL,
        t.c.day >= period.start,
        t.c.day <= period.end,
    )
    if by is ReportBy.source:
        query = (
            sa.select(_SOURCE.c.name, _SOURCE.c.kind, *parts_columns(t, own=True))
            .join(_SOURCE, _SOURCE.c.id == t.c.source_id)
            .where(*in_period)
            .group_by(_SOURCE.c.id, _SOURCE.c.name, _SOURCE.c.kind)
        )
        rows = [Row(r.name, segment_kpis(r), {"kind": r.kind}) for r in conn.execute(query)]
    elif by is ReportBy.channel:
        query = sa.select(t.c.channel, *parts_columns(t)).where(*in_period).group_by(t.c.channel)
        rows = [Row(r.channel, segment_kpis(r)) for r in conn.execute(query)]
    else:
        query = (
            sa.select(
                t.c.campaign,
                sa.func.max(t.c.campaign_name).label("name"),
                sa.func.max(t.c.channel).label("channel"),
                *parts_columns(t),
            )
            .where(*in_period)
            .group_by(t.c.campaign)
        )
        rows = [
            Row(r.campaign, segment_kpis(r), {"campaign_name": r.name or "", "channel": r.channel})
            for r in conn.execute(query)
        ]
    return sorted(rows, key=lambda r: (-(r.kpis["spend"] or 0), r.key))


def segment_kpis(row: Any) -> Kpis:
    """Segment-level KPIs of a row of summed parts."""
    return compute_kpis({p: row._mapping[p] for p in PARTS}, level="segment")


def _ranked(campaigns: Sequence[Row], *, most: int = 3) -> tuple[list[Row], list[Row]]:
    """The best and the worst campaigns by ROAS, among those that spent."""
    ranked = [r for r in campaigns if r.key and r.kpis["spend"] and r.kpis["roas"] is not None]
    ranked.sort(key=lambda r: (-(r.kpis["roas"] or 0), r.key))
    k = min(most, (len(ranked) + 1) // 2)
    return ranked[:k], list(reversed(ranked[k:]))[: min(most, len(ranked) - k)]


def _warnings(
    conn: Connection,
    org: Organization,
    periods: tuple[DateRange, DateRange],
) -> list[str]:
    period, before = periods
    assert org.id is not None
    t = DAILY
    first, last = conn.execute(
        sa.select(sa.func.min(t.c.day), sa.func.max(t.c.day)).where(
            t.c.org_id == org.id, t.c.source_id == TOTAL
        )
    ).one()
    if first is None:
        return ["no data yet: sync the organization's sources (`dpo sync …`) first"]
    out = []
    if period.start < first or period.end > last:
        out.append(f"data covers {first.isoformat()} → {last.isoformat()} only")
    if before.start < first:
        out.append(
            f"the comparison period starts {before.start.isoformat()}, before the data: "
            "its changes compare with missing days"
        )
    out += [
        note.text
        for note in quality_notes(conn, first=period.start, last=period.end, org_id=org.id)
    ]
    zone = ZoneInfo(org.timezone)
    gaps = fx.unconverted(
        conn, org_id=org.id, target=org.currency, tz=zone, first=period.start, last=period.end
    )
    out += [gap.text for gap in gaps]
    return out
