"""An organization's local days as UTC instants, without a time zone database in SQL.

SQLite knows no time zones, and PostgreSQL's tz database may differ from Python's, so the
rollups never ask the database which local day an instant falls on. Python splits a UTC range
into *pieces* over which the zone's UTC offset is constant (two or three a year in a zone
with DST); SQL joins facts to those pieces and adds the piece's offset, so every backend puts
an instant on the same local date as `zoneinfo` does. A DST day simply gets 23 or 25 hours.

A fact of grain `day` (e.g. Meta's daily purchases, stamped with the upstream's local
midnight) counts on the local date of its *middle* (start + 12 h): that keeps it on its own
calendar date even when the upstream's time zone is not the organization's.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DAY_FACT_SHIFT = timedelta(hours=12)
_ONE_DAY = timedelta(days=1)
_PRECISION = timedelta(seconds=1)


@dataclass(frozen=True)
class Piece:
    """A UTC range [start, end) over which a fact of `grain` is on local date utc + offset."""

    grain: str
    start: datetime
    end: datetime
    offset_seconds: int


def day_start(day: date, tz: ZoneInfo) -> datetime:
    """The UTC instant local `day` begins (as sync windows count it)."""
    return datetime.combine(day, time(), tz).astimezone(UTC)


def local_date(moment: datetime, tz: ZoneInfo) -> date:
    """The local date of a UTC instant."""
    return moment.astimezone(tz).date()


def days(first: date, last: date) -> Iterator[date]:
    """Every date from `first` to `last`, inclusive."""
    day = first
    while day <= last:
        yield day
        day += _ONE_DAY


def days_touched(start: datetime, end: datetime, tz: ZoneInfo) -> tuple[date, date]:
    """The local dates whose rollups facts in the UTC range [start, end) can change.

    Hour facts fall on the dates of [start, end); day facts on the dates of their middles.
    """
    last = end + DAY_FACT_SHIFT - timedelta(microseconds=1)
    return local_date(start, tz), local_date(last, tz)


def offset_pieces(
    start: datetime, end: datetime, tz: ZoneInfo
) -> list[tuple[datetime, datetime, int]]:
    """Split the UTC range [start, end) where the zone's UTC offset changes."""
    out = []
    lo = start
    while lo < end:
        offset = _offset(lo, tz)
        hi = _next_change(lo, end, offset, tz)
        out.append((lo, hi, offset))
        lo = hi
    return out


def pieces_for_days(first: date, last: date, tz: ZoneInfo) -> list[Piece]:
    """The pieces that put hour and day facts on the local dates first…last, and no others."""
    start, end = day_start(first, tz), day_start(last + _ONE_DAY, tz)
    out = []
    for lo, hi, offset in offset_pieces(start, end, tz):
        out.append(Piece("hour", lo, hi, offset))
        shift = int(DAY_FACT_SHIFT.total_seconds())
        out.append(Piece("day", lo - DAY_FACT_SHIFT, hi - DAY_FACT_SHIFT, offset + shift))
    return out


def _offset(moment: datetime, tz: ZoneInfo) -> int:
    delta = moment.astimezone(tz).utcoffset()
    return int(delta.total_seconds()) if delta is not None else 0


def _next_change(lo: datetime, end: datetime, offset: int, tz: ZoneInfo) -> datetime:
    """The first instant after `lo` (and before `end`) with another offset, else `end`."""
    probe = lo
    while True:
        step = min(probe + _ONE_DAY, end)
        if _offset(step, tz) != offset or step == end:
            break
        probe = step
    if step == end and _offset(end - _PRECISION, tz) == offset:
        return end
    # The change lies in (probe, step]: bisect to the second.
    same, other = probe, step
    while other - same > _PRECISION:
        mid = same + (other - same) / 2
        if _offset(mid, tz) == offset:
            same = mid
        else:
            other = mid
    return other.replace(microsecond=0) if other.microsecond else other
