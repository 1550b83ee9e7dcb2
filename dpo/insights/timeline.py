"""Timelines: a regular grid of hours or days, with each position's seasonal slot and local day.

The detector works on positions 0…n-1 of a regular grid; gaps are positions without a value.
Seasonality follows the wall clock where the data was made (a shop's 9 am is 9 am local, in
winter and in summer), so slots come from local time while positions come from real time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from dpo.vocab import Grain

Ints = npt.NDArray[np.int64]

HOUR_NS = 3600 * 10**9
DAY_NS = 24 * HOUR_NS


@dataclass(frozen=True)
class Timeline:
    """Positions 0…n-1 of `grain` from `start` (ns since the epoch; UTC or naive wall time)."""

    grain: Grain
    start: int
    slots: Ints  # hour of week (weekday x 24 + hour) or weekday, Monday = 0
    days: Ints  # local day number of each position

    @property
    def step(self) -> int:
        """Nanoseconds between positions."""
        return HOUR_NS if self.grain is Grain.hour else DAY_NS

    @property
    def size(self) -> int:
        """How many positions."""
        return len(self.slots)

    def position(self, ns: Ints) -> Ints:
        """The positions of instants (ns, same clock as `start`)."""
        return ((ns - self.start) // self.step).astype(np.int64)

    def instant(self, position: int) -> int:
        """The start of a position, in ns."""
        return self.start + position * self.step


def from_wall_clock(grain: Grain, start: int, wall_ns: Ints) -> Timeline:
    """A timeline whose positions' wall-clock times (ns, naive) are `wall_ns`."""
    days = (wall_ns // DAY_NS).astype(np.int64)
    weekday = (days + 3) % 7  # 1970-01-01 was a Thursday
    if grain is Grain.hour:
        hour = (wall_ns % DAY_NS) // HOUR_NS
        slots = (weekday * 24 + hour).astype(np.int64)
    else:
        slots = weekday.astype(np.int64)
    return Timeline(grain, start, slots, days)


def hourly_in_zone(first: datetime, hours: int, tz: ZoneInfo) -> Timeline:
    """`hours` UTC hours from `first` (aware), with slots in the time zone `tz`."""
    start = int(first.timestamp()) * 10**9
    utc = start + np.arange(hours, dtype=np.int64) * HOUR_NS
    return from_wall_clock(Grain.hour, start, utc + _offsets(utc, tz))


def daily(first_ordinal: int, days: int) -> Timeline:
    """`days` local dates from the date with proleptic ordinal `first_ordinal`."""
    epoch = datetime(1970, 1, 1).toordinal()
    start = (first_ordinal - epoch) * DAY_NS
    wall = start + np.arange(days, dtype=np.int64) * DAY_NS
    return from_wall_clock(Grain.day, start, wall)


def _offsets(utc_ns: Ints, tz: ZoneInfo) -> Ints:
    """UTC offsets (ns) of instants in `tz`, computed once per distinct offset change."""
    out = np.empty(len(utc_ns), dtype=np.int64)
    cache: dict[int, int] = {}
    for i, ns in enumerate(utc_ns):
        day = int(ns // DAY_NS)
        hour = int(ns % DAY_NS // HOUR_NS)
        key = day * 24 + hour
        if key not in cache:
            moment = datetime.fromtimestamp(int(ns) // 10**9, tz)
            offset = moment.utcoffset()
            cache[key] = int(offset.total_seconds()) * 10**9 if offset else 0
        out[i] = cache[key]
    return out
