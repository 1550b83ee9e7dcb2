"""Daily forecasts: ETS with weekly seasonality, honest intervals, graceful with little history."""

from __future__ import annotations

import numpy as np

from dpo.insights.forecast import forecast_daily

WEEK = np.array([1.0, 1.0, 1.0, 1.0, 0.95, 0.6, 0.7])


def history(days: int, *, seed: int = 0, noise: float = 0.08) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(days)
    series: np.ndarray = 1000 * WEEK[t % 7] * (1 + 0.002 * t) * np.exp(rng.normal(0, noise, days))
    return series


def test_ets_follows_the_week_and_its_intervals_cover_the_truth() -> None:
    covered = []
    for seed in range(12):
        full = history(84 + 14, seed=seed)
        forecast = forecast_daily(full[:84], 14)
        assert forecast.method == "ets"
        mean = forecast.mean
        assert mean[5] < 0.8 * mean[2] and mean[6] < 0.85 * mean[3]  # day 84 is a Monday
        low, high = forecast.interval()
        covered.append(((full[84:] >= low) & (full[84:] <= high)).mean())
    assert 0.65 <= float(np.mean(covered)) <= 0.95  # an 80 % interval, roughly


def test_totals_are_sums_of_paths_and_reproducible() -> None:
    values = history(63)
    a, b = forecast_daily(values, 10), forecast_daily(values, 10)
    np.testing.assert_array_equal(a.paths, b.paths)
    np.testing.assert_allclose(a.totals(), a.paths.sum(axis=1))
    assert a.totals(3).mean() < a.totals().mean()
    assert (a.paths >= 0).all()


def test_short_flat_or_missing_history() -> None:
    flat = forecast_daily(np.full(40, 250.0), 5)
    assert flat.method == "constant" and (flat.mean == 250).all()
    short = forecast_daily(history(10), 5)
    assert short.method == "average" and "10 days of history" in short.note
    assert abs(float(short.mean.mean()) - float(history(10)[-14:].mean())) < 60
    none = forecast_daily(np.array([5.0, np.nan]), 5)
    assert none.method == "none" and np.isnan(none.mean).all()
    gappy = history(60)
    gappy[[10, 30, 31]] = np.nan
    assert forecast_daily(gappy, 7).method == "ets"
