"""Findings: the flagged runs of one series, each with what was expected and what happened.

A finding is a run of anomalous points of one KPI in one scope, in one direction. Runs of
the same series separated by a short lull are one finding (a repeat is not a new alert):
six hours for hourly series, two days for daily ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from dpo.insights.detection import Scores
from dpo.insights.series import KpiSeries, Scope
from dpo.kpis import KPIS
from dpo.vocab import Grain

SUPPRESS = {Grain.hour: 6, Grain.day: 2}


@dataclass
class Finding:
    """A run of anomalous points of one series."""

    kpi: str
    scope: Scope
    grain: Grain
    start: datetime  # UTC, inclusive
    end: datetime  # UTC, exclusive
    direction: int  # +1 above normal, -1 below
    points: int  # flagged positions in [start, end) (a run may hold a short lull)
    missing: int  # how many of them had no data at all
    peak: float  # the highest score
    expected: float  # summed (or, for ratios, averaged) over [start, end)
    actual: float
    ongoing: bool
    history_days: float
    noise: float  # the series' relative noise
    money: float = 0.0  # the scope's spend (or revenue) over [start, end), for ratios

    @property
    def is_missing(self) -> bool:
        """Most of the run had no data: a data problem before a business one."""
        return self.missing * 2 > self.points

    @property
    def change(self) -> float | None:
        """actual / expected - 1."""
        return self.actual / self.expected - 1 if self.expected else None


def findings_of(
    series: KpiSeries,
    scores: Scores,
    grain: Grain,
    moment: Callable[[int], datetime],
    *,
    money: np.ndarray | None = None,
) -> Iterator[Finding]:
    """The findings of one scored series; `moment(i)` is the UTC start of position i.

    `money` (per position) is what a ratio's change applies to: spend for cost ratios.
    """
    flags = scores.is_anomaly
    if not flags.any():
        return
    values = series.values
    expected = scores.expected
    with np.errstate(invalid="ignore"):
        direction = np.where(np.isnan(values) | (np.nan_to_num(values) < expected), -1, 1)
    for lo, hi, sign in flagged_runs(flags, direction, SUPPRESS[grain]):
        hits = np.arange(lo, hi)[flags[lo:hi]]
        # Over the whole run, lulls included: the numbers cover the span the insight shows.
        span = np.arange(lo, hi)
        actual, wanted = _amounts(series, span, expected)
        yield Finding(
            kpi=series.kpi,
            scope=series.scope,
            grain=grain,
            start=moment(lo),
            end=moment(hi),
            direction=sign,
            points=len(hits),
            missing=int(np.isnan(values[hits]).sum()),
            peak=float(scores.score[hits].max()),
            expected=wanted,
            actual=actual,
            ongoing=hi >= len(flags) - 1,
            history_days=scores.history_days,
            noise=_relative_noise(scores),
            money=0.0 if money is None else float(np.nansum(money[span])),
        )


def flagged_runs(
    flags: np.ndarray, direction: np.ndarray, gap: int
) -> Iterator[tuple[int, int, int]]:
    """[lo, hi) of same-direction flagged runs, merged across lulls of up to `gap` points."""
    current: list[int] | None = None
    for i in np.flatnonzero(flags):
        sign = int(direction[i])
        if current and current[2] == sign and i - current[1] <= gap:
            current[1] = int(i) + 1
            continue
        if current:
            yield current[0], current[1], current[2]
        current = [int(i), int(i) + 1, sign]
    if current:
        yield current[0], current[1], current[2]


def _amounts(series: KpiSeries, hits: np.ndarray, expected: np.ndarray) -> tuple[float, float]:
    """(actual, expected): sums for additive KPIs, averages for ratios."""
    actual = np.nan_to_num(series.values[hits])
    wanted = np.nan_to_num(expected[hits])
    if KPIS[series.kpi].is_additive:
        return float(actual.sum()), float(wanted.sum())
    present = ~np.isnan(series.values[hits])
    if not present.any():
        return 0.0, float(wanted.mean())
    return float(actual[present].mean()), float(wanted[present].mean())


def _relative_noise(scores: Scores) -> float:
    """The series' relative noise (c·κ of its noise model; 1 when it has none)."""
    noise = scores.noise
    return 1.0 if noise is None else float(noise.c * noise.kappa)
