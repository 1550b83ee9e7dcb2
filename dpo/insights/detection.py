"""The anomaly detector: a causal, seasonal, robust score for every point of a series.

This module holds what the detector takes (`Series`), how it is tuned (`DetectorConfig`,
`SPECS`) and what it gives (`Scores`); `anomalies.detect` runs it. How it judges:

Every point is judged only from the points before it, exactly as the hourly job sees it:

- **Expected value** = level x seasonal factor. The factor comes from a profile over the week
  (`seasonal`, robust to incidents), refitted every local day (every week once a month of
  history is in). The level is a ratio of sums over the last day (up to a week for sparse
  series) of the *cleaned* history, in which anomalous points were replaced by their
  expected values, so an incident does not teach the detector that incidents are normal.
- **Spread** from a fitted variance model (`noise`): multiplicative noise plus counting noise
  with a Poisson-aware floor for counts and amounts; log scale for ratios such as CPC or ROAS.
  It is widened while history is short.
- **Evidence**: a point is anomalous when it is far out on its own (|z| ≥ `point_z`), or when
  it continues a run of same-direction deviations whose CUSUM passed `run_h` (a 30 % drop for
  twelve hours is obvious although no single hour is; a loss of 60 % or more needs only
  three quarters of it, so a checkout that stops selling is known within hours). Every point
  of an incident is flagged while it lasts.
- **Level shifts**: a run that lasts `adapt_*` (a day for hourly series) is taken as the new
  normal: the level is re-based and alerts stop. A drop to (almost) zero is an outage, not a
  new normal, and is flagged for up to a week. After re-basing, a point that fits the old
  level better is not an anomaly (the incident ended), and two such points restore it.
- **Short history** is not guessed at: nothing is judged in the first `warmup` (3 days of
  hourly data, two weeks of daily data and of hourly ratios), the spread is widened for a
  while after, and until a whole week is seen only large changes (60 % or more) make a run.

`Scores.score` is in [0, 1]: 1 - 2^-e, where e is the evidence relative to the default
thresholds, so 0.5 is the default line. A missing point in a series that should have data is
judged as a zero (and flagged as missing): a tracking outage is an insight too. Where a series
never has data (the nights of a business-hours export), a missing point is not judged.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from dpo.insights.noise import Noise
from dpo.vocab import Grain

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class DetectorConfig:
    """The detector's thresholds. `sensitivity` scales them all: 2 alerts more, 0.5 less."""

    sensitivity: float = 1.0
    point_z: float = 5.0
    run_h: float = 8.5
    # A large loss (-60 %, -90 %) is an incident at this share of run_h: a checkout that
    # stops selling is known within three hours, where a 30 % dip needs a longer run.
    loss_h_share: float = 0.75
    normal_z: float = 1.5
    adapt_hours: int = 24
    adapt_days: int = 3
    outage_hours: int = 168
    outage_days: int = 7
    tolerance: float = 0.5  # how far towards the neighbouring hours' values (0…1)


@dataclass(frozen=True)
class GrainSpec:
    """What differs between hourly and daily series."""

    slots: int
    per_day: int
    warmup: int  # positions before the first judgement
    profile_window: int
    noise_window: int
    level_unit: int  # the level's window is a whole number of these (a day, a week)
    level_units_max: int
    early_days: float  # spread x (1 + early_days / days of history)
    revert_window: int
    half_life: float  # of the profile's weights
    # Thresholds x this: a daily series has 24 times fewer points to raise false alarms on,
    # so the same alarm rate per month allows lower thresholds.
    threshold_scale: float = 1.0
    # Ratios are noisier than what they are made of: more history before judging them.
    log_warmup: int = 0


SPECS = {
    Grain.hour: GrainSpec(
        168, 24, 72, 56 * 24, 28 * 24, 24, 7, 4.0, 7 * 24, 21 * 24, log_warmup=14 * 24
    ),
    Grain.day: GrainSpec(7, 1, 14, 84, 56, 7, 4, 7.0, 14, 42, threshold_scale=0.8, log_warmup=28),
}


@dataclass(frozen=True)
class Series:
    """A regular series: values (NaN = missing) with their seasonal slots and local days."""

    values: Floats
    slots: Ints
    days: Ints
    grain: Grain
    is_log: bool = False
    volume: Floats | None = None  # counts behind a ratio (log series only)
    # True: a missing point is no data (a pause in collection), never judged; False: where
    # the series usually has data, a missing point is judged as a zero (a tracking outage).
    missing_is_gap: bool = False


@dataclass
class Scores:
    """What the detector says about every point of a series."""

    expected: Floats
    z: Floats
    evidence: Floats
    is_anomaly: Bools
    is_missing: Bools
    is_judged: Bools
    noise: Noise | None = None
    history_days: float = 0.0
    first: int = 0  # the first point modelled: history is counted from it
    adapted_at: list[int] = field(default_factory=list)

    @property
    def score(self) -> Floats:
        """Evidence mapped to [0, 1]; 0.5 is the default threshold."""
        return 1.0 - np.exp2(-np.maximum(self.evidence, 0.0))


def is_integer_valued(values: Floats) -> bool:
    """True when every present value is a whole number (counts)."""
    present = values[~np.isnan(values)]
    return bool(len(present)) and bool(np.all(np.abs(present - np.round(present)) < 1e-9))
