"""Pooled evidence: the purchases an organization counts twice, judged together.

A checkout failure drops the store's orders and analytics' purchases (key events) at once. In
a small shop each is a few events an hour: neither alone holds enough evidence to call a loss
within hours, while their sum holds the evidence of both. The sum is judged as one more series
(hourly and daily), and its fitted noise says how far the two counts are one: analytics that
tracks the store's very orders makes a sum that is twice one count, overdispersed by two and
holding no more evidence than one, while counts that vary apart add their evidence up.

The sum is a second look at purchases already judged one by one, so it must say more: its
line asks for a likelihood ratio twice as large, and a point of its runs counts only where
both counts' own data favour the run's change over none (a loss that only one count shows is
that count's business, and a tracking problem of the other). There, the KPIs those purchases
make — orders, revenue, conversions — are flagged where their data favours it too, so the
incident is told in the organization's terms: revenue and orders lost.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

from dpo.insights import evidence
from dpo.insights.anomalies import detect
from dpo.insights.detection import DetectorConfig, Floats, Scores, Series
from dpo.insights.findings import SUPPRESS, flagged_runs
from dpo.insights.series import TOTAL_SCOPE, KpiSeries, OrgSeries

POOLED = ("orders", "conversions")  # the store's and analytics' counts of the same purchases
MOVED = ("revenue", "orders", "conversions")  # what a change in purchases moves
# The changes a member is tested for lie within the range of the runs the detector looks for.
_LOWEST, _HIGHEST = -0.9, 2.0
_SECOND_LOOK = math.log(2.0)  # the sum's line: this much more evidence than one series'

Scored = tuple[KpiSeries, Scores]


def corroborate(data: OrgSeries, scored: Sequence[Scored], config: DetectorConfig) -> list[Scored]:
    """`scored` (every series of `data` with its scores), where the pooled purchases are
    anomalous also flagging the total's orders, revenue and conversions that moved with them."""
    out = list(scored)
    members = {
        s.kpi: i
        for i, (s, scores) in enumerate(out)
        if s.scope == TOTAL_SCOPE and s.kpi in MOVED and scores.noise is not None
    }
    if any(kpi not in members for kpi in POOLED):
        return out
    # A position missing either count has no sum: a gap, never judged (the missing count is
    # a finding of its own series).
    total = np.sum([out[members[kpi]][0].values for kpi in POOLED], axis=0)
    pooled = Series(total, data.grid.slots, data.grid.days, data.grain, missing_is_gap=True)
    joint = detect(pooled, _second_look(config))
    if not joint.is_anomaly.any():
        return out
    change, since = _run_changes(pooled, joint)
    favours = {kpi: _favours(*out[i], change, since) for kpi, i in members.items()}
    agreed = joint.is_anomaly & np.logical_and.reduce([favours[kpi] for kpi in POOLED])
    for kpi, i in members.items():
        s, scores = out[i]
        out[i] = (s, _flagged(scores, agreed & favours[kpi], joint))
    return out


def _second_look(config: DetectorConfig) -> DetectorConfig:
    """`config` with every line raised as far as a large loss's line rises by ln 2."""
    line = config.run_h * config.loss_h_share
    return dataclasses.replace(
        config, sensitivity=config.sensitivity * line / (line + _SECOND_LOOK)
    )


def _run_changes(pooled: Series, joint: Scores) -> tuple[Floats, np.ndarray]:
    """For each point of a flagged run of the sum: the run's relative change so far (from its
    first flagged point up to the point, causally), and that first point; NaN and -1 elsewhere."""
    n = len(joint.is_anomaly)
    change, since = np.full(n, np.nan), np.full(n, -1, dtype=np.int64)
    with np.errstate(invalid="ignore"):
        direction = np.where(np.nan_to_num(pooled.values) < joint.expected, -1, 1)
    for lo, hi, _ in flagged_runs(joint.is_anomaly, direction, SUPPRESS[pooled.grain]):
        actual = wanted = 0.0
        for t in range(lo, hi):
            if not joint.is_judged[t]:
                continue
            actual += float(pooled.values[t])
            wanted += float(joint.expected[t])
            if wanted <= 0:
                continue
            change[t] = min(max(actual / wanted - 1, _LOWEST), _HIGHEST)
            since[t] = lo
    return change, since


def _favours(series: KpiSeries, scores: Scores, change: Floats, since: np.ndarray) -> np.ndarray:
    """Where a member's own data, over its judged points of the run so far, is more likely
    under the run's change than under no change (a missing value is zero, as the detector
    judges it)."""
    assert scores.noise is not None
    out = np.zeros(len(change), dtype=np.bool_)
    for t in np.flatnonzero(~np.isnan(change) & scores.is_judged):
        total = 0.0
        for i in range(int(since[t]), int(t) + 1):
            e = float(scores.expected[i])
            if scores.is_judged[i] and not math.isnan(e):
                y = float(np.nan_to_num(series.values[i]))
                total += evidence.llr(scores.noise, y, e, float(change[t]), var=1.0)
        out[t] = total > 0
    return out


def _flagged(scores: Scores, moved: np.ndarray, joint: Scores) -> Scores:
    """A member's scores with the points it moved with the sum flagged, at the sum's evidence
    where that is the stronger."""
    if not moved.any():
        return scores
    return dataclasses.replace(
        scores,
        is_anomaly=scores.is_anomaly | moved,
        evidence=np.where(moved, np.maximum(scores.evidence, joint.evidence), scores.evidence),
    )
