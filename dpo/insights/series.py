"""KPI series from the rollups: per organization x KPI x (total, channel, campaign), on a grid.

Hourly series come from `agg_hourly` (UTC hours, slots in the organization's time zone),
daily ones from `agg_daily` (local dates). Ratios are computed hour by hour (day by day) from
the summed parts, undefined (NaN) where the denominator is zero, as everywhere in dpo.

What a missing value means depends on the level. The organization's total row is missing
only when no source reported anything, and a NULL part on it means its source sent nothing
for that hour: both are *missing* (a tracking outage is a finding). A channel or campaign
without a row in an hour the organization has data for simply had no activity (ad platforms
do not report idle hours): zero.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa
from sqlalchemy import Connection

from dpo.insights import timeline
from dpo.kpis import KPIS, PARTS
from dpo.storage.tables import TOTAL
from dpo.storage.tables import agg_daily as DAILY
from dpo.storage.tables import agg_hourly as HOURLY
from dpo.vocab import Grain

if TYPE_CHECKING:
    import pandas as pd

Floats = npt.NDArray[np.float64]

# The KPIs watched for anomalies; ratios are judged on a log scale, weighed by their volume.
HOURLY_KPIS = ("spend", "revenue", "orders", "sessions", "conversions", "clicks", "impressions")
HOURLY_RATIOS = ("cpc", "cpm", "ctr")
DAILY_KPIS = (*HOURLY_KPIS, "attributed_revenue", "attributed_conversions")
DAILY_RATIOS = ("roas", "cpa", "cpc", "cpm", "ctr", "conversion_rate", "aov")
VOLUME = {  # the count behind a ratio: how much evidence one value holds
    "cpc": "clicks",
    "cpm": "impressions",
    "ctr": "clicks",
    "roas": "orders",
    "cpa": "orders",
    "conversion_rate": "orders",
    "aov": "orders",
}
SEGMENT_VOLUME = {**VOLUME, "roas": "attributed_conversions", "cpa": "attributed_conversions"}
SEGMENT_KPIS = ("spend", "sessions", "conversions", "clicks", "impressions")


@dataclass(frozen=True)
class Scope:
    """The organization as a whole, one channel, or one campaign."""

    level: str  # total, channel, campaign
    channel: str = ""
    campaign: str = ""
    campaign_name: str = ""

    @property
    def label(self) -> str:
        """How people call it."""
        if self.level == "campaign":
            return self.campaign_name or self.campaign
        return self.channel if self.level == "channel" else "total"

    @property
    def depth(self) -> int:
        """0 for the total, 1 for a channel, 2 for a campaign."""
        return {"total": 0, "channel": 1, "campaign": 2}[self.level]


TOTAL_SCOPE = Scope("total")


@dataclass
class KpiSeries:
    """One KPI of one scope on a grid."""

    kpi: str
    scope: Scope
    values: Floats
    volume: Floats | None = None

    @property
    def is_log(self) -> bool:
        """Ratios are judged on a log scale."""
        return not KPIS[self.kpi].is_additive


@dataclass
class OrgSeries:
    """Everything the detector looks at for one organization and one grain."""

    grain: Grain
    grid: timeline.Timeline
    series: list[KpiSeries]
    parts: dict[Scope, dict[str, Floats]]  # the summed parts per scope, for evidence


def load_hourly(
    conn: Connection, org_id: int, tz: Any, *, start: datetime, end: datetime
) -> OrgSeries:
    """Hourly series of [start, end) (aware UTC hours)."""
    hours = int((end - start) / timedelta(hours=1))
    grid = timeline.hourly_in_zone(start, max(hours, 0), tz)
    t = HOURLY.c
    rows = _rows(
        conn,
        HOURLY,
        t.hour_start,
        (t.org_id == org_id, t.hour_start >= start, t.hour_start < end),
    )
    positions = (
        grid.position(np.array([_ns(r) for r in rows["key"]], dtype=np.int64))
        if len(rows)
        else np.array([], dtype=np.int64)
    )
    return _build(Grain.hour, grid, rows, positions, kpis=HOURLY_KPIS, ratios=HOURLY_RATIOS)


def load_daily(conn: Connection, org_id: int, *, first: date, last: date) -> OrgSeries:
    """Daily series of the local dates first…last."""
    days = (last - first).days + 1
    grid = timeline.daily(first.toordinal(), max(days, 0))
    t = DAILY.c
    rows = _rows(conn, DAILY, t.day, (t.org_id == org_id, t.day >= first, t.day <= last))
    positions = np.array([d.toordinal() - first.toordinal() for d in rows["key"]], dtype=np.int64)
    return _build(Grain.day, grid, rows, positions, kpis=DAILY_KPIS, ratios=DAILY_RATIOS)


def _ns(moment: datetime) -> int:
    return int(moment.timestamp()) * 10**9


def _rows(conn: Connection, table: sa.Table, key: Any, where: tuple[Any, ...]) -> pd.DataFrame:
    import pandas as pd

    t = table.c
    query = sa.select(
        key.label("key"),
        t.source_id,
        t.channel,
        t.campaign,
        t.campaign_name,
        *(t[p] for p in PARTS),
    ).where(*where)
    records = conn.execute(query).all()
    frame = pd.DataFrame(
        records, columns=["key", "source_id", "channel", "campaign", "name", *PARTS]
    )
    for part in PARTS:
        frame[part] = pd.to_numeric(frame[part].astype(object), errors="coerce").astype(float)
    return frame


def _build(
    grain: Grain,
    grid: timeline.Timeline,
    rows: pd.DataFrame,
    positions: npt.NDArray[np.int64],
    *,
    kpis: tuple[str, ...],
    ratios: tuple[str, ...],
) -> OrgSeries:
    rows = rows.assign(pos=positions)
    rows = rows[(rows["pos"] >= 0) & (rows["pos"] < grid.size)]
    totals = rows[rows["source_id"] == TOTAL]
    has_data = np.zeros(grid.size, dtype=bool)
    has_data[totals["pos"].to_numpy()] = True
    parts: dict[Scope, dict[str, Floats]] = {TOTAL_SCOPE: _on_grid(totals, grid.size)}
    segments = rows[rows["source_id"] != TOTAL]
    for scope, frame in _segments(segments):
        parts[scope] = _idle_is_zero(_on_grid(frame, grid.size), has_data)
    series: list[KpiSeries] = []
    for scope, scope_parts in parts.items():
        series += _kpi_series(scope, scope_parts, kpis, ratios)
    return OrgSeries(grain, grid, series, parts)


def _segments(rows: pd.DataFrame) -> Iterator[tuple[Scope, pd.DataFrame]]:
    for channel, frame in rows[rows["channel"] != ""].groupby("channel"):
        yield Scope("channel", str(channel)), frame
    for campaign, frame in rows[rows["campaign"] != ""].groupby("campaign"):
        names = frame["name"].dropna()
        channel = str(frame["channel"].iloc[0])
        name = str(names.iloc[-1]) if len(names) else ""
        yield Scope("campaign", channel, str(campaign), name), frame


def _on_grid(frame: pd.DataFrame, size: int) -> dict[str, Floats]:
    """Each part summed per position (NaN where nothing was reported)."""
    summed = frame.groupby("pos")[list(PARTS)].sum(min_count=1)
    out = {}
    index = summed.index.to_numpy(dtype=np.int64)
    for part in PARTS:
        values = np.full(size, np.nan)
        values[index] = summed[part].to_numpy(dtype=np.float64)
        out[part] = values
    return out


def _idle_is_zero(parts: dict[str, Floats], has_data: npt.NDArray[np.bool_]) -> dict[str, Floats]:
    """A segment's missing hours are idle hours where the organization has data."""
    out = {}
    for part, values in parts.items():
        if np.isnan(values).all():
            out[part] = values
        else:
            out[part] = np.where(np.isnan(values) & has_data, 0.0, values)
    return out


def _kpi_series(
    scope: Scope, parts: dict[str, Floats], kpis: tuple[str, ...], ratios: tuple[str, ...]
) -> list[KpiSeries]:
    level = "org" if scope.level == "total" else "segment"
    wanted = kpis if scope.level == "total" else tuple(k for k in kpis if k in SEGMENT_KPIS)
    out = []
    for kpi in wanted:
        values = parts[KPIS[kpi].part or kpi]
        if _worth_watching(values):
            out.append(KpiSeries(kpi, scope, values))
    volumes = VOLUME if level == "org" else SEGMENT_VOLUME
    for kpi in ratios:
        values = ratio_values(kpi, parts, level=level)
        if _worth_watching(values):
            out.append(KpiSeries(kpi, scope, values, parts.get(volumes[kpi])))
    return out


def ratio_values(kpi: str, parts: dict[str, Floats], *, level: str) -> Floats:
    """A ratio KPI position by position (NaN where undefined), as `kpis` defines it."""
    definition = KPIS[kpi]
    ratio = definition.segment_ratio if level == "segment" and definition.segment_ratio else None
    ratio = ratio or definition.ratio
    assert ratio is not None
    num = _first_reported(parts, ratio.numerators)
    den = _first_reported(parts, ratio.denominators)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num * ratio.scale / np.where(den > 0, den, 1.0), np.nan)


def _first_reported(parts: dict[str, Floats], names: tuple[str, ...]) -> Floats:
    """The first part that is reported at all (as `kpis.Ratio` picks it)."""
    for name in names:
        values = parts.get(name)
        if values is not None and not np.isnan(values).all():
            return values
    return np.full(len(next(iter(parts.values()))), np.nan)


def _worth_watching(values: Floats) -> bool:
    """A series with some non-zero values (an all-empty one says nothing)."""
    present = values[~np.isnan(values)]
    return len(present) > 0 and bool((present != 0).any())
