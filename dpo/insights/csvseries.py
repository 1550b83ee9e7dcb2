"""`dpo insights detect`: the detector on any CSV series (read by `csvread`), gaps allowed.

An hourly series is judged by the seasonal model and, where it has no daily cycle, by the
gauge model too (see `gauges`). Flagged points form findings (lulls of up to 6 hours or 2 days
merged, whichever way each point went: one incident, one alert): one alert each, on the row
where the finding is first known —
the first flagged row, or for rows finer than the grid, the last row of the first flagged
hour (an hour is judged once it is complete), unless a row of it was flagged on its own
(`native`): then that row. A gap (no data where data was due) is a data-quality finding of
its own, never an anomaly.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from dpo.insights import gauges, native
from dpo.insights.anomalies import detect
from dpo.insights.csvread import CsvSeries, read_series
from dpo.insights.detection import DetectorConfig, Scores, Series
from dpo.insights.findings import SUPPRESS, flagged_runs
from dpo.vocab import Grain

COLUMNS = ["timestamp", "value", "score", "is_anomaly", "alert", "finding", "history_days"]
EARLY_DAYS = 7  # an hourly row judged on less history than this: wider bands, 60 %+ changes


@dataclass(frozen=True)
class PointScore:
    """One input row with its score, and the finding it belongs to."""

    timestamp: str
    value: float | None
    score: float
    is_anomaly: bool
    expected: float | None
    alert: bool = False
    finding: int | None = None
    history_days: float | None = None  # days of data behind the row's judgement (None: unjudged)


@dataclass(frozen=True)
class Gap:
    """A stretch of the grid without data, inside the series."""

    start: str
    end: str  # exclusive
    positions: int


@dataclass
class Detection:
    """The scored rows and what a reader should know about them."""

    series: CsvSeries
    points: list[PointScore]
    first_judged: str | None
    findings: int = 0
    gaps: list[Gap] = field(default_factory=list)
    early_until: str | None = None
    """The last row judged on under `EARLY_DAYS` of history (hourly series), if any."""

    @property
    def alerts(self) -> list[PointScore]:
        """The alert rows, one per finding."""
        return [p for p in self.points if p.alert]


def detect_csv(
    path: Path,
    *,
    time_column: str | None = None,
    value_column: str | None = None,
    scale: str = "auto",
    every: str = "auto",
    agg: str | None = None,
    missing: str = "gap",
    sensitivity: float = 1.0,
) -> Detection:
    """Read a CSV series and score every row (causally, at `sensitivity`)."""
    data = read_series(
        path,
        time_column=time_column,
        value_column=value_column,
        scale=scale,
        every=every,
        agg=agg,
        missing=missing,
    )
    series = Series(
        data.grid_values,
        data.grid.slots,
        data.grid.days,
        data.grain,
        is_log=data.scale.is_log,
        missing_is_gap=missing == "gap",
    )
    scores = detect(series, DetectorConfig(sensitivity=sensitivity))
    share = np.ones(len(data.grid_values))  # of the seasonal model's evidence, per position
    if data.grain is Grain.hour:
        gauge = gauges.judge(data)
        strict = scores
        if (scores.is_judged & ~gauge.cyclic).any():  # else its stricter line changes nothing
            strict = detect(series, DetectorConfig(sensitivity=sensitivity * gauges.SEASONAL_SHARE))
        scores = gauges.combine(scores, strict, gauge, sensitivity=sensitivity)
        share = np.where(gauge.cyclic, 1.0, gauges.SEASONAL_SHARE)
    own, row_flags, row_score = _rows(data, scores, sensitivity, share[data.positions])
    finding_of, alert_rows = _findings(data, scores, row_flags, own=own)
    history = _history_days(data, scores)
    points = []
    for i, pos in enumerate(data.positions):
        value = data.values[i]
        expected = scores.expected[pos]
        points.append(
            PointScore(
                timestamp=data.times[i],
                value=None if np.isnan(value) else float(value),
                score=round(float(row_score[i]), 4),
                is_anomaly=bool(row_flags[i]),
                expected=None if np.isnan(expected) else round(float(expected), 4),
                alert=i in alert_rows,
                finding=alert_rows.get(i) or (int(finding_of[pos]) if row_flags[i] else None),
                history_days=None if np.isnan(history[pos]) else round(float(history[pos]), 2),
            )
        )
    judged = np.flatnonzero(scores.is_judged[data.positions])
    first = data.times[int(judged.min())] if len(judged) else None
    gaps = _gaps(data) if missing == "gap" else []
    early = [data.times[i] for i, pos in enumerate(data.positions) if history[pos] < EARLY_DAYS]
    until = max(early) if early and data.grain is Grain.hour else None
    return Detection(data, points, first, findings=len(alert_rows), gaps=gaps, early_until=until)


def _history_days(data: CsvSeries, scores: Scores) -> np.ndarray:
    """Per grid position: days of data before it, from the first the detector modelled (NaN
    where the position is not judged) — how much history stood behind its judgement."""
    per_day = 24 if data.grain is Grain.hour else 1
    days = (np.arange(len(scores.is_judged)) - scores.first) / per_day
    return np.where(scores.is_judged, days, np.nan)


def _rows(
    data: CsvSeries, scores: Scores, sensitivity: float, share: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row: flagged on its own (see `native`), flagged, and its score: its hour's
    (day's), or its own where it is finer than the grid and further out. `share` of a row's
    own evidence counts (less than 1 on a gauge: see `gauges`)."""
    evidence = native.row_evidence(data, scores) * share
    own = evidence * sensitivity >= 1.0
    flags = scores.is_anomaly[data.positions] | own
    score = np.maximum(scores.score[data.positions], 1.0 - np.exp2(-evidence))
    return own, flags, score


def _findings(
    data: CsvSeries, scores: Scores, row_flags: np.ndarray, *, own: np.ndarray
) -> tuple[np.ndarray, dict[int, int]]:
    """The finding number (0: none) of every grid position, and {alert row: its finding}."""
    flags = scores.is_anomaly.copy()
    flags[data.positions[row_flags]] = True
    number = np.zeros(len(flags), dtype=np.int64)
    if not flags.any():
        return number, {}
    # One incident, one alert: a spike and the dip after it (or what the two models each
    # flag of one incident) are one finding, whichever way each hour went.
    direction = np.ones(len(flags), dtype=np.int64)
    order = np.lexsort((data.real, data.positions))  # rows in time order
    sorted_positions = data.positions[order]
    alerts = {}
    for k, (lo, hi, _) in enumerate(flagged_runs(flags, direction, SUPPRESS[data.grain]), 1):
        number[lo:hi][flags[lo:hi]] = k
        # A row flagged on its own is known at once; a flagged hour when it is complete.
        first = order[(sorted_positions == lo) & own[order]]
        alerts[int(first[0]) if len(first) else _known_at(sorted_positions, order, lo)] = k
    return number, alerts


def _known_at(sorted_positions: np.ndarray, order: np.ndarray, position: int) -> int:
    """The row at which a finding starting at `position` is known: the last row of that
    hour (day), or where it has no rows (zeros by --missing zero), the next row."""
    at = int(np.searchsorted(sorted_positions, position, side="left"))
    if at < len(order) and sorted_positions[at] == position:
        end = int(np.searchsorted(sorted_positions, position, side="right"))
        return int(order[end - 1])
    return int(order[min(at, len(order) - 1)])


def _gaps(data: CsvSeries) -> list[Gap]:
    """Stretches of positions without data between the first and the last row."""
    missing = np.isnan(data.grid_values)
    if not missing.any():
        return []
    # No data is due where the series rarely has any (the nights of a business-hours export).
    slots = data.grid.slots
    size = int(slots.max()) + 1
    share = np.bincount(slots[~missing], minlength=size) / np.maximum(
        np.bincount(slots, minlength=size), 1
    )
    missing &= share[slots] >= 0.5
    # A first or last hour holding too few rows is incomplete, not a gap.
    missing[0] = missing[-1] = False
    edges = np.diff(np.concatenate([[0], missing.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return [
        Gap(_moment(data, int(a)), _moment(data, int(b)), int(b - a))
        for a, b in zip(starts, ends, strict=True)
    ]


def _moment(data: CsvSeries, position: int) -> str:
    """The start of a grid position as text (UTC when the rows carried offsets)."""
    when = datetime(1970, 1, 1) + timedelta(microseconds=data.grid.instant(position) // 1000)
    text = when.isoformat(sep=" ", timespec="minutes")
    return f"{text} UTC" if data.has_offsets else text


def to_csv(points: Sequence[PointScore]) -> str:
    """timestamp,value,score,is_anomaly,alert,finding,history_days for each row, in input
    order."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for p in points:
        value = "" if p.value is None else _number(p.value)
        writer.writerow(
            [
                p.timestamp,
                value,
                f"{p.score:.4f}",
                "true" if p.is_anomaly else "false",
                1 if p.alert else 0,
                "" if p.finding is None else p.finding,
                "" if p.history_days is None else f"{p.history_days:.2f}",
            ]
        )
    return out.getvalue()


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) and abs(value) < 1e15 else repr(value)
