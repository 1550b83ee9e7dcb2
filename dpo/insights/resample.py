"""Putting a CSV series' rows on the detector's grid of hours or days.

The detector judges hourly or daily values. Rows at that grain are used as they are; finer
rows (every 5 minutes, every 30) are aggregated per hour, coarser ones (every 6 hours) per
day: summed for counts and amounts, averaged for gauges and ratios. Missing rows are no data,
not zeros, unless the series says so (`missing="zero"`): a sum over an hour that lacks some
of its rows is the rows it has, scaled up to the whole hour, and an hour with fewer than half
of its usual rows is a gap — a pause in collection is not a drop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from dpo.errors import InvalidInputError
from dpo.insights import timeline
from dpo.vocab import Grain

EVERY = ("auto", "1h", "1d")
AGGREGATIONS = ("sum", "mean")
MISSING = ("gap", "zero")
_HOURLY_MAX = 4200.0  # seconds: rows up to 70 minutes apart are hourly (or finer)
_DAILY_MAX = 28 * 3600.0
_MIN_COVERAGE = 0.5  # of a bucket's usual rows, for its value to count


@dataclass(frozen=True)
class Resampling:
    """How rows become values on the grid."""

    grain: Grain
    native_seconds: float  # the typical step between distinct row times
    rows_per_bucket: int  # native rows a complete hour (day) holds; 1 at the native grain
    agg: str
    missing: str

    @property
    def step(self) -> int:
        """Nanoseconds per grid position."""
        return timeline.HOUR_NS if self.grain is Grain.hour else timeline.DAY_NS

    @property
    def is_resampled(self) -> bool:
        """True when several native rows make one grid value."""
        return self.rows_per_bucket > 1

    def describe(self) -> str:
        """How the rows were put on the grid, for the summary line."""
        unit = "hour" if self.grain is Grain.hour else "day"
        if not self.is_resampled:
            return "hourly rows" if self.grain is Grain.hour else "daily rows"
        what = "summed" if self.agg == "sum" else "averaged"
        return (
            f"rows {describe_step(self.native_seconds)} apart, {what} per {unit} "
            f"({self.rows_per_bucket} rows)"
        )


def choose(real_ns: np.ndarray, *, every: str, agg: str, missing: str) -> Resampling:
    """The grid for rows at `real_ns`: `every` is 1h, 1d or auto (hourly when it can)."""
    distinct = np.unique(real_ns)
    if len(distinct) < 3:
        raise InvalidInputError("a series needs at least three distinct times")
    step = float(np.median(np.diff(distinct))) / 1e9
    if every == "1h" and step > _HOURLY_MAX:
        raise InvalidInputError(
            f"the rows are {describe_step(step)} apart: --every 1h needs a row at least hourly"
        )
    if step > _DAILY_MAX:
        raise InvalidInputError(
            f"the rows are {describe_step(step)} apart: dpo scores series with a row "
            "at least every day"
        )
    grain = Grain.day if every == "1d" or (every == "auto" and step > _HOURLY_MAX) else Grain.hour
    return Resampling(grain, step, 1, agg, missing)


def with_rows_per_bucket(how: Resampling, positions: np.ndarray, real_ns: np.ndarray) -> Resampling:
    """`how` knowing how many rows a complete bucket holds: the typical count of distinct
    row times per bucket that has any (robust to irregular times and to gaps)."""
    times = _distinct_times(positions, real_ns, int(positions.max()) + 1)
    rows = max(1, round(float(np.median(times[times > 0]))))
    return replace(how, rows_per_bucket=rows)


def grid_values(
    how: Resampling, positions: np.ndarray, real_ns: np.ndarray, values: np.ndarray, size: int
) -> np.ndarray:
    """One value per grid position; NaN where there is no data (a gap)."""
    present = ~np.isnan(values)
    sums = np.bincount(positions[present], weights=values[present], minlength=size)
    times = _distinct_times(positions[present], real_ns[present], size)
    out = np.full(size, np.nan)
    if how.missing == "zero":  # the series says a missing row is a zero
        if how.agg == "sum":
            return np.asarray(sums, dtype=np.float64)
        return np.asarray(sums / np.maximum(times, how.rows_per_bucket), dtype=np.float64)
    need = max(1, math.ceil(_MIN_COVERAGE * how.rows_per_bucket)) if how.is_resampled else 1
    has = times >= need
    if how.agg == "sum":
        # The rows there are, at the pace of a complete bucket (a duplicate time adds up).
        scale = np.maximum(how.rows_per_bucket, times[has]) / times[has]
        out[has] = sums[has] * scale
    else:
        counts = np.bincount(positions[present], minlength=size)
        out[has] = sums[has] / counts[has]
    return out


def _distinct_times(positions: np.ndarray, real_ns: np.ndarray, size: int) -> np.ndarray:
    """How many distinct row times fall in each position."""
    if len(positions) == 0:
        return np.zeros(size, dtype=np.int64)
    pairs = np.unique(np.stack([positions, real_ns]), axis=1)
    return np.bincount(pairs[0], minlength=size)


def describe_step(seconds: float) -> str:
    """A step in words: about 30 seconds, about 5 minutes, about 6.0 hours, about 7.0 days."""
    if seconds < 90:
        whole = round(seconds)
        return f"about {whole} second{'' if whole == 1 else 's'}"
    if seconds < 3600:
        return f"about {seconds / 60:.0f} minutes"
    if seconds < 86400:
        return f"about {seconds / 3600:.1f} hours"
    return f"about {seconds / 86400:.1f} days"
