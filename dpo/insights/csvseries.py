"""`dpo insights detect`: the detector on any CSV series (read by `csvread`), gaps allowed."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dpo.insights.anomalies import detect
from dpo.insights.csvread import CsvSeries, read_series
from dpo.insights.detection import DetectorConfig, Series


@dataclass(frozen=True)
class PointScore:
    """One input row with its score."""

    timestamp: str
    value: float | None
    score: float
    is_anomaly: bool
    expected: float | None


@dataclass
class Detection:
    """The scored rows and what a reader should know about them."""

    series: CsvSeries
    points: list[PointScore]
    first_judged: str | None


def detect_csv(
    path: Path,
    *,
    time_column: str | None = None,
    value_column: str | None = None,
    scale: str = "auto",
    sensitivity: float = 1.0,
) -> Detection:
    """Read a CSV series and score every row (causally, at `sensitivity`)."""
    data = read_series(path, time_column=time_column, value_column=value_column, scale=scale)
    grid_values = _grid_values(data)
    series = Series(
        grid_values, data.grid.slots, data.grid.days, data.grain, is_log=data.scale.is_log
    )
    scores = detect(series, DetectorConfig(sensitivity=sensitivity))
    score = scores.score
    points = []
    for i, pos in enumerate(data.positions):
        value = data.values[i]
        expected = scores.expected[pos]
        points.append(
            PointScore(
                timestamp=data.times[i],
                value=None if np.isnan(value) else float(value),
                score=round(float(score[pos]), 4),
                is_anomaly=bool(scores.is_anomaly[pos]),
                expected=None if np.isnan(expected) else round(float(expected), 4),
            )
        )
    judged = np.flatnonzero(scores.is_judged[data.positions])
    first = data.times[int(judged.min())] if len(judged) else None
    return Detection(data, points, first)


def _grid_values(data: CsvSeries) -> np.ndarray:
    """Values on the grid: gaps are NaN; rows sharing a position are averaged."""
    size = data.grid.size
    present = ~np.isnan(data.values)
    sums = np.bincount(data.positions[present], weights=data.values[present], minlength=size)
    counts = np.bincount(data.positions[present], minlength=size)
    out = np.full(size, np.nan)
    has = counts > 0
    out[has] = sums[has] / counts[has]
    return out


def to_csv(points: Sequence[PointScore]) -> str:
    """timestamp,value,score,is_anomaly for every row, in input order."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["timestamp", "value", "score", "is_anomaly"])
    for p in points:
        value = "" if p.value is None else _number(p.value)
        writer.writerow([p.timestamp, value, f"{p.score:.4f}", "true" if p.is_anomaly else "false"])
    return out.getvalue()


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) and abs(value) < 1e15 else repr(value)
