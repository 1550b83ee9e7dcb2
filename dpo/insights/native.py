"""Rows finer than the grid, judged on their own: the spike one 5-minute row shows and the
sum (or mean) of its hour hides.

The detector's model is hourly (an hour-of-week profile), so a row of finer data is judged
against its hour's expected value, per row. Its spread is not modelled: server and sensor
metrics are heavy-tailed in ways a normal spread misses. Instead a row is anomalous when it
is more than twice as far from its expected value as the furthest row of the two weeks
before its hour — a record broken by a wide margin, however heavy the tails are. Causal like
the rest: an hour's rows are judged against what came before that hour.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from dpo.insights.csvread import CsvSeries
from dpo.insights.detection import Scores
from dpo.vocab import Grain

Floats = npt.NDArray[np.float64]

MARGIN = 2.0  # times the furthest row of the history
HISTORY = {Grain.hour: 14 * 24, Grain.day: 14}  # positions looked back
MIN_HISTORY = {Grain.hour: 24, Grain.day: 7}  # positions with judged rows, at least


def row_evidence(data: CsvSeries, scores: Scores) -> Floats:
    """Per row: its distance from its expected value over MARGIN x the furthest of the
    history (1 is the line at the default sensitivity); 0 where not judged."""
    out = np.zeros(len(data.values))
    if not data.resampling.is_resampled:
        return out
    per_row = scores.expected[data.positions]
    if data.resampling.agg == "sum":
        per_row = per_row / data.resampling.rows_per_bucket
    with np.errstate(invalid="ignore"):
        distance = np.abs(data.values - per_row)
    judged = scores.is_judged[data.positions] & ~np.isnan(distance)
    size = len(scores.expected)
    furthest = np.full(size, np.nan)
    np.fmax.at(furthest, data.positions[judged], distance[judged])
    record = _record_before(furthest, HISTORY[data.grain], MIN_HISTORY[data.grain])
    base = record[data.positions]
    with np.errstate(invalid="ignore"):
        usable = judged & (base > 0)
    out[usable] = distance[usable] / (MARGIN * base[usable])
    return out


def _record_before(furthest: Floats, window: int, min_positions: int) -> Floats:
    """Per position: the largest value of the `window` positions before it (NaN when fewer
    than `min_positions` of them have one)."""
    size = len(furthest)
    record = np.full(size, np.nan)
    for p in range(size):
        seen = furthest[max(0, p - window) : p]
        present = seen[~np.isnan(seen)]
        if len(present) >= min_positions:
            record[p] = present.max()
    return record
