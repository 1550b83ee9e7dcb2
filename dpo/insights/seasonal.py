"""Seasonal profiles: how a series usually moves over the week, from its recent history.

A profile has one factor per *slot* (hour of the week for hourly series, day of the week for
daily ones), with mean 1: expected value = level x factor. It is learned from the raw values
in two passes: the second weighs each value by how well the first explains it (Tukey's
bisquare on its standardized residual), so a recurring pattern — every Saturday morning is
quiet — is learned however unusual it first looked, while a one-off incident is left out.
Factors are ratios of sums (Σ values / Σ baseline), not means of ratios, so zero-heavy series
(orders of a small shop) get sensible factors instead of 0/0. Recent weeks weigh more (a
half-life of three weeks), so a profile follows a changing week, or a DST change in a series
kept in UTC.

Hourly profiles are hour-of-day x day-of-week, times each hour of the week's own deviation
(the weekend's later start) where the evidence supports one: far less noisy than 168 free
factors. Every factor is shrunk towards its parent as far as its noise demands (`_shrunk`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]

HOURS = 24
DAYS = 7
WEEK = HOURS * DAYS
_MIN_FACTOR = 1e-3
_LOG_CLIP = 2.5  # a factor stays within e^±2.5 (0.08x…12x) of its parent
_BISQUARE = 6.0  # residuals beyond 6 sd get no weight in the second pass


@dataclass(frozen=True)
class ProfileInput:
    """Cleaned history to learn from: values (NaN = missing) and their slots."""

    values: Floats
    slots: Ints
    unit: float  # the size of one "event" (1 for counts): how much evidence a sum holds
    rel_noise: float = 0.2  # relative noise of one value (c of the noise model)
    half_life: float = 21 * 24  # positions


@dataclass(frozen=True)
class _Sums:
    """Per slot: Σ weight·value, Σ weight·baseline, Σ weight."""

    num: Floats
    den: Floats
    points: Floats


def hourly_profile(history: ProfileInput) -> Floats:
    """168 factors (hour of week = weekday x 24 + hour), mean 1.

    With two weeks or more of history: raw hour-of-week factors against a centered one-week
    baseline (which removes the trend but not the week), a structured hour x weekday model
    from their margins, and each hour's own deviation from it as far as the evidence allows.
    With one to two weeks the same against the plain mean; with less, one shape a day.
    """
    y = history.values
    baseline = centered_mean(y, WEEK, min_share=0.7)
    if np.count_nonzero(~np.isnan(baseline)) >= WEEK:
        return _two_passes(history, baseline, _week_shape)
    if len(y) >= WEEK:  # one to two weeks: against the mean, which ignores any trend
        return _two_passes(history, _flat(y), _week_shape)
    return _two_passes(history, centered_mean(y, HOURS, min_share=0.7), _one_shape)


def daily_profile(history: ProfileInput) -> Floats:
    """7 factors (Monday first), mean 1."""
    y = history.values
    baseline = centered_mean(y, DAYS, min_share=0.7)
    if np.count_nonzero(~np.isnan(baseline)) >= DAYS:
        return _two_passes(history, baseline, _day_shape)
    if len(y) >= DAYS:
        return _two_passes(history, _flat(y), _day_shape)
    return np.ones(DAYS)


def _flat(y: Floats) -> Floats:
    """The mean of the present values, everywhere."""
    present = y[~np.isnan(y)]
    return np.full(len(y), float(present.mean()) if len(present) else np.nan)


Shape = Callable[[ProfileInput, Floats, Floats], Floats]


def _two_passes(history: ProfileInput, baseline: Floats, shape: Shape) -> Floats:
    """Fit `shape`, then refit with each value weighed by how well the fit explains it."""
    y = history.values
    weight = _recency(len(y), history.half_life)
    ok = ~np.isnan(y) & ~np.isnan(baseline) & (baseline > 0)
    weight = np.where(ok, weight, 0.0)
    profile = shape(history, baseline, weight)
    expected = baseline * profile[history.slots % len(profile)]
    unit = max(history.unit, 1e-12)
    sd = np.sqrt((history.rel_noise * expected) ** 2 + unit * expected + 0.25 * unit * unit)
    z = np.where(ok, (np.nan_to_num(y) - np.nan_to_num(expected)) / np.where(ok, sd, 1.0), 0.0)
    bisquare = np.where(np.abs(z) < _BISQUARE, (1 - (z / _BISQUARE) ** 2) ** 2, 0.0)
    return shape(history, baseline, weight * bisquare)


def _one_shape(history: ProfileInput, baseline: Floats, weight: Floats) -> Floats:
    sums = _sums(history, baseline, weight, history.slots % HOURS, HOURS)
    return _normalized(np.tile(_shrunk(sums, history), DAYS))


def _day_shape(history: ProfileInput, baseline: Floats, weight: Floats) -> Floats:
    return _normalized(
        _shrunk(_sums(history, baseline, weight, history.slots % DAYS, DAYS), history)
    )


def _week_shape(history: ProfileInput, baseline: Floats, weight: Floats) -> Floats:
    """Weekday x hour-of-day, times each hour of the week's own (shrunk) deviation."""
    sums = _sums(history, baseline, weight, history.slots % WEEK, WEEK)
    num, den, points = (a.reshape(DAYS, HOURS) for a in (sums.num, sums.den, sums.points))
    weekday = _shrunk(_Sums(num.sum(axis=1), den.sum(axis=1), points.sum(axis=1)), history)
    by_hour = _Sums(num.sum(axis=0), (den * weekday[:, None]).sum(axis=0), points.sum(axis=0))
    model = np.outer(weekday, _shrunk(by_hour, history)).ravel()
    own = _shrunk(_Sums(sums.num, sums.den * model, sums.points), history, sparse=True)
    return _normalized(model * own)


def _sums(
    history: ProfileInput, baseline: Floats, weight: Floats, slot: Ints, n_slots: int
) -> _Sums:
    """Weighted sums per slot of values, baselines and weights (zero weight: left out)."""
    ok = weight > 0
    y = np.nan_to_num(history.values)
    base = np.nan_to_num(baseline)
    return _Sums(
        np.bincount(slot[ok], weights=(weight * y)[ok], minlength=n_slots).astype(np.float64),
        np.bincount(slot[ok], weights=(weight * base)[ok], minlength=n_slots).astype(np.float64),
        np.bincount(slot[ok], weights=weight[ok], minlength=n_slots).astype(np.float64),
    )


def _shrunk(sums: _Sums, history: ProfileInput, *, sparse: bool = False) -> Floats:
    """num/den per slot, each log shrunk towards 0 as far as its noise demands.

    Empirical Bayes: the spread of the logs across slots is signal plus noise (counting noise
    1/events and relative noise c²/points); a slot keeps signal / (signal + its noise) of its
    log. With `sparse`, where most slots have no effect and a few a strong one (the weekend's
    late night), a slot also keeps 1 - 2·noise / log² when that is more: a deviation many
    times its noise is real, however rare.
    """
    num, den, points = sums.num, sums.den, sums.points
    have = den > 0
    if have.sum() < 2:
        return np.ones(len(num))
    raw = np.where(have, num / np.where(have, den, 1.0), 1.0)
    log_raw = np.log(np.clip(raw, np.exp(-_LOG_CLIP), np.exp(_LOG_CLIP)))
    events = den / max(history.unit, 1e-12)
    noise = 1.0 / np.maximum(events, 0.5) + history.rel_noise**2 / np.maximum(points, 0.5)
    signal = max(0.0, float(np.var(log_raw[have])) - float(np.mean(noise[have])))
    share = signal / (signal + noise)
    if sparse:
        share = np.maximum(share, 1.0 - 2.0 * noise / np.maximum(log_raw * log_raw, 1e-12))
    return np.asarray(np.exp(log_raw * np.where(have, share, 0.0)), dtype=np.float64)


def _recency(n: int, half_life: float) -> Floats:
    """Weights halving every `half_life` positions back from the newest."""
    age = np.arange(n - 1, -1, -1, dtype=np.float64)
    return np.exp2(-age / max(half_life, 1.0))


def centered_mean(y: Floats, width: int, *, min_share: float) -> Floats:
    """The mean of the `width` values around each point (NaN-aware; NaN when too few)."""
    n = len(y)
    present = ~np.isnan(y)
    values = np.where(present, y, 0.0)
    csum = np.concatenate(([0.0], np.cumsum(values)))
    ccount = np.concatenate(([0], np.cumsum(present)))
    lo = np.arange(n) - width // 2
    hi = lo + width
    valid = (lo >= 0) & (hi <= n)
    lo_c, hi_c = np.clip(lo, 0, n), np.clip(hi, 0, n)
    total = csum[hi_c] - csum[lo_c]
    count = ccount[hi_c] - ccount[lo_c]
    enough = valid & (count >= min_share * width)
    return np.where(enough, total / np.maximum(count, 1), np.nan)


def in_sample(clean: Floats, profile: Floats, width: int) -> Floats:
    """Expected values of a warm-up from its own centered level (a first guess only);
    `profile` is the seasonal factor at each point."""
    return centered_mean(clean / profile, width, min_share=0.5) * profile


def reported_share(values: Floats, slots: Ints, n_slots: int) -> Floats:
    """The share of each slot's points that have a value (1 for a slot without points)."""
    seen = np.bincount(slots, minlength=n_slots)
    present = np.bincount(slots[~np.isnan(values)], minlength=n_slots)
    share = np.where(seen > 0, present / np.maximum(seen, 1), 1.0)
    if n_slots == WEEK and (seen == 0).any():  # a slot not seen yet: its hour of the day
        hours = np.arange(WEEK) % HOURS
        by_hour = np.bincount(hours, weights=present, minlength=HOURS) / np.maximum(
            np.bincount(hours, weights=seen, minlength=HOURS), 1
        )
        share = np.where(
            seen > 0,
            share,
            np.where(np.bincount(hours, weights=seen)[hours] > 0, by_hour[hours], 1.0),
        )
    return np.asarray(share, dtype=np.float64)


def _normalized(profile: Floats) -> Floats:
    profile = np.maximum(profile, _MIN_FACTOR)
    return np.asarray(profile / profile.mean(), dtype=np.float64)
