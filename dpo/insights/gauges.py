"""A second model for gauges: server and sensor metrics judged by the records they break.

The detector's model (`anomalies`) expects a series to repeat its week: marketing counts do,
a CPU's load or a machine's temperature mostly does not. Their anomalies are a level no
recent hour has had, a spike above every spike, a dip below every dip, an hour far more
erratic than any — and their ordinary hours are bursty and heavy-tailed in ways a fitted
spread misjudges. So this model fits no spread: per hour it takes the mean of its rows (and
of the last two and three hours), their maximum, minimum and standard deviation, and an hour
is anomalous when one of them breaks the record of the four weeks before it by a margin of
the usual range: the 10th to 90th percentile of the same figure over those weeks, or a share
of the distance from its median to its record if wider (half for the levels; all of it for
an hour's extremes, which one row's heavy tail moves). Maxima and spreads count upwards only,
minima downwards only. With little history records are easy to break: the margin is
(1 + 2 days / history) times larger, and nothing is judged before 48 hours.

Which model speaks is chosen per hour from the history before it: where the hour of the day
explains at least half of the variation of the last four weeks' hours (adjusted R² of the
hours around a rolling 24-hour mean, counting noise set aside), the series has a daily cycle
and the seasonal model alone judges it. Elsewhere — and in the first three days, before a
cycle can be told — both judge, the seasonal model held to a stricter line (`SEASONAL_SHARE`
of its evidence), and an hour either flags is flagged.

Chosen on real labelled server, sensor and traffic series together with the synthetic suites
(`bench/real_eval.py`, `bench/detector_eval.py`); `dpo insights detect` uses it for series on
an hourly grid. `insights generate` judges marketing series, which have a week to learn, with
the seasonal model alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from dpo.insights import noise, seasonal
from dpo.insights.csvread import CsvSeries
from dpo.insights.detection import Scores, is_integer_valued

Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]

MARGIN = 0.6  # times the usual range beyond the record
HISTORY = 28 * 24  # hours a record is kept
WARMUP = 48  # hours with data before an hour is judged
EARLY = 2.0  # days: the margin is (1 + EARLY / days of history) times MARGIN
LEVEL_HOURS = (1, 2, 3)  # the level: the mean of the last 1, 2 and 3 hours
SEASONAL_R2 = 0.5  # the hour of the day explains this share of the variation: a daily cycle
SEASONAL_SHARE = 0.8  # of the seasonal model's evidence, where a series has no daily cycle
_CYCLE_DAYS = 3  # days of history before a daily cycle is recognised
_UP, _DOWN, _BOTH = 1, -1, 0
# The range is at least this share of the record's distance from the median: half for levels,
# all of it for one hour's extremes (a single row's heavy tail breaks records more easily).
_LEVEL_REACH, _EXTREME_REACH = 0.5, 1.0


@dataclass(frozen=True)
class GaugeScores:
    """Per grid position."""

    evidence: Floats  # how far past its record an hour went: 1 is the line (0 when not)
    judged: Bools  # by this model (not where `cyclic`)
    cyclic: Bools  # the history before it has a daily cycle: the seasonal model alone judges


def judge(data: CsvSeries) -> GaugeScores:
    """Score every hour of an hourly-grid series (causally: each against the hours before)."""
    size = len(data.grid_values)
    features = _features(data, size)
    present = ~np.isnan(features[0][1])
    history = np.concatenate([[0], np.cumsum(present)])
    seen = history[np.arange(size)] - history[np.maximum(np.arange(size) - HISTORY, 0)]
    cyclic = _cyclic(data, features[0][1])
    judged = present & (seen >= WARMUP) & ~cyclic  # a cyclic hour is the seasonal model's
    need = MARGIN * (1.0 + EARLY * 24.0 / np.maximum(seen, 1))
    evidence = np.zeros(size)
    for k, (direction, values) in enumerate(features):
        reach = _LEVEL_REACH if k < len(LEVEL_HOURS) else _EXTREME_REACH
        beyond = _beyond_record(values, direction, reach, judged)
        with np.errstate(invalid="ignore"):
            evidence = np.fmax(evidence, np.where(judged, beyond / need, 0.0))
    return GaugeScores(np.maximum(evidence, 0.0), judged, cyclic)


def combine(
    cyclic_scores: Scores, strict: Scores, gauge: GaugeScores, *, sensitivity: float
) -> Scores:
    """The seasonal model's scores where the series has a daily cycle; elsewhere the seasonal
    model's at its stricter line (`strict`: run at SEASONAL_SHARE of `sensitivity`) or'd with
    the gauge model's. Evidence is on one scale: flagged where evidence x sensitivity >= 1."""
    own = ~gauge.cyclic
    flagged = strict.is_anomaly | (gauge.evidence * sensitivity >= 1.0)
    return Scores(
        expected=np.where(own, strict.expected, cyclic_scores.expected),
        z=np.where(own, strict.z, cyclic_scores.z),
        evidence=np.where(
            own,
            np.fmax(strict.evidence * SEASONAL_SHARE, gauge.evidence),
            cyclic_scores.evidence,
        ),
        is_anomaly=np.where(own, flagged, cyclic_scores.is_anomaly),
        is_missing=cyclic_scores.is_missing,
        is_judged=np.where(own, strict.is_judged | gauge.judged, cyclic_scores.is_judged),
        noise=cyclic_scores.noise,
        history_days=cyclic_scores.history_days,
        first=min(cyclic_scores.first, strict.first),
        adapted_at=cyclic_scores.adapted_at,
    )


def _features(data: CsvSeries, size: int) -> list[tuple[int, Floats]]:
    """(direction, per-hour figure): the means of the last 1, 2, 3 hours, the maximum, the
    minimum and the standard deviation of each hour's rows (NaN for an hour without rows)."""
    ok = ~np.isnan(data.values)
    pos, values = data.positions[ok], data.values[ok]
    count = np.bincount(pos, minlength=size).astype(np.float64)
    total = np.bincount(pos, weights=values, minlength=size)
    has = count > 0
    mean = np.where(has, total / np.maximum(count, 1), np.nan)
    spread = np.bincount(pos, weights=(values - mean[pos]) ** 2, minlength=size)
    variance = np.where(has, spread / np.maximum(count, 1), np.nan)
    high = np.full(size, -np.inf)
    low = np.full(size, np.inf)
    np.maximum.at(high, pos, values)
    np.minimum.at(low, pos, values)
    out: list[tuple[int, Floats]] = []
    for hours in LEVEL_HOURS:
        level = mean if hours == 1 else _trailing_mean(mean, hours)
        out.append((_BOTH, level))
    out.append((_UP, np.where(has, high, np.nan)))
    out.append((_DOWN, np.where(has, low, np.nan)))
    out.append((_UP, np.sqrt(np.maximum(variance, 0.0))))
    return out


def _trailing_mean(values: Floats, hours: int) -> Floats:
    """The mean of each hour and the hours-1 before it (NaN unless all have data)."""
    padded = np.concatenate([np.full(hours - 1, np.nan), values])
    return np.asarray(sliding_window_view(padded, hours).mean(axis=1), dtype=np.float64)


def _past(values: Floats) -> npt.NDArray[np.float64]:
    """Per position: the HISTORY values before it, as rows (NaN-padded at the start)."""
    padded = np.concatenate([np.full(HISTORY, np.nan), values])
    return sliding_window_view(padded[:-1], HISTORY)


def _beyond_record(values: Floats, direction: int, reach: float, wanted: Bools) -> Floats:
    """How far each `wanted` value goes past the record of the hours before it, in usual
    ranges (negative within the record; NaN where it cannot be told or is not wanted)."""
    past = _past(values)
    n = len(values)
    out = np.full(n, np.nan)
    rows = np.flatnonzero(wanted & ~np.isnan(values))
    rows = rows[np.sum(~np.isnan(past[rows]), axis=1) >= 2]
    if len(rows) == 0:
        return out
    ordered = np.sort(past[rows], axis=1)  # NaN last
    count = np.sum(~np.isnan(ordered), axis=1)
    lo, median, hi = (_quantile(ordered, count, q) for q in (0.1, 0.5, 0.9))
    bottom, top = ordered[:, 0], ordered[np.arange(len(rows)), count - 1]
    with np.errstate(invalid="ignore", all="ignore"):
        floor = 1e-9 * np.maximum(np.abs(median), 1.0)
        value = values[rows]
        up = (value - top) / np.maximum.reduce([hi - lo, reach * (top - median), floor])
        down = (bottom - value) / np.maximum.reduce([hi - lo, reach * (median - bottom), floor])
    if direction == _UP:
        out[rows] = up
    elif direction == _DOWN:
        out[rows] = down
    else:
        out[rows] = np.maximum(up, down)
    return out


def _quantile(ordered: Floats, count: npt.NDArray[np.int64], q: float) -> Floats:
    """The q-quantile of each row's first `count` values (sorted), interpolated linearly as
    numpy's default."""
    at = q * (count - 1)
    below = np.floor(at).astype(np.int64)
    above = np.minimum(below + 1, count - 1)
    rows = np.arange(len(ordered))
    low, high = ordered[rows, below], ordered[rows, above]
    return np.asarray(low + (at - below) * (high - low), dtype=np.float64)


def _event_share(rows: Floats, rows_per_hour: int) -> float:
    """The counting noise of an hour's mean per unit of its value: the size of one event (1
    for counts; for amounts with many empty rows, see `noise.event_size`) over the rows an
    hour holds; 0 for a continuous gauge."""
    rows = rows[~np.isnan(rows)]
    if len(rows) == 0:
        return 0.0
    if is_integer_valued(rows):
        unit = 1.0
    elif float(np.mean(rows == 0)) >= noise.SPARSE_SHARE:
        unit = noise.event_size(rows, is_integer=False)  # sparse amounts: orders' revenue
    else:
        return 0.0
    return unit / max(rows_per_hour, 1)


def _cyclic(data: CsvSeries, mean: Floats) -> Bools:
    """Per position: whether the HISTORY hours before its day (of the grid) have a daily
    cycle."""
    size = len(mean)
    hours = np.asarray(data.grid.slots, dtype=np.int64) % 24
    order = np.argsort(data.positions, kind="stable")
    positions, values = data.positions[order], data.values[order]
    out = np.zeros(size, dtype=np.bool_)
    for day_start in range(24 * _CYCLE_DAYS, size, 24):
        lo = max(0, day_start - HISTORY)
        a, b = np.searchsorted(positions, (lo, day_start))
        share = _event_share(values[a:b], data.resampling.rows_per_bucket)
        r2 = _hour_of_day_r2(mean[lo:day_start], hours[lo:day_start], share)
        out[day_start : day_start + 24] = r2 >= SEASONAL_R2
    return out


def _hour_of_day_r2(history: Floats, hours: npt.NDArray[np.int64], event_share: float) -> float:
    """The adjusted R² of hour-of-day means of the hours' deviations from their centered
    24-hour mean, counting noise set aside (-inf when there are too few; +inf when counting
    noise is all there is: a sparse count, which the seasonal model judges)."""
    around = seasonal.centered_mean(history, 24, min_share=0.75)
    use = ~np.isnan(history) & ~np.isnan(around)
    if use.sum() < 24 * _CYCLE_DAYS // 2:
        return -math.inf
    deviation = (history - around)[use]
    hour = hours[use]
    total = float(np.sum((deviation - deviation.mean()) ** 2))
    if total <= 0:
        return -math.inf
    sums = np.bincount(hour, weights=deviation, minlength=24)
    counts = np.bincount(hour, minlength=24)
    fitted = np.where(counts > 0, sums / np.maximum(counts, 1), 0.0)[hour]
    residual = float(np.sum((deviation - fitted) ** 2))
    groups = int(np.count_nonzero(counts))
    m = len(deviation)
    if m - groups <= 0:
        return -math.inf
    counting = event_share * float(np.mean(history[use]))  # Poisson: variance = mean
    signal = total / (m - 1) - counting
    if signal <= 0:
        return math.inf
    return 1.0 - max(residual / (m - groups) - counting, 0.0) / signal
