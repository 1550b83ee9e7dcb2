"""Forecasts of daily KPIs, chosen per series by a backtest, with calibrated intervals.

With three weeks of history or more, three candidates are compared on the series itself: a
seasonal-naive forecast (each day as the same weekday a week before), and two additive-error
ETS models with a weekly season (statsmodels' `ETSModel`), one with a damped trend and one
without. A rolling-origin backtest over the last eight weeks' days forecasts the next days
(up to 28) from each origin and measures the error of their *total* — what goal pacing and
trend outlooks use; the candidate with the smallest mean absolute error is chosen (ties: the
seasonal-naive one), and the choice and its errors are kept (`Forecast.backtest`).

The chosen model's simulated paths give intervals for each day and for sums over days, and
the share of paths meeting a target is the probability of meeting it. Their spread is then
scaled (`_calibrated`) so that the backtest's errors of totals would have fallen inside the
80 % intervals 80 % of the time: a model's own intervals are too narrow on real series.

With three days to three weeks the forecast is the recent average with the spread of the
daily values around it (it says so); with less, there is no forecast. A series that never
moves is forecast as itself.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]
log = logging.getLogger(__name__)

ETS_MIN_DAYS = 21
AVERAGE_MIN_DAYS = 3
HISTORY = 182  # days a model is fitted on
PATHS = 1000
LEVEL = 0.8
Z80 = 1.2816  # the normal quantile of a central 80 % interval
BACKTEST_DAYS = 56  # forecast origins: the last eight weeks' days
BACKTEST_HORIZON = 28  # days ahead the backtest compares totals over (at most)
MIN_ORIGINS = 14  # fewer: no comparison, no calibration
MIN_SCALE, MAX_SCALE = 1.0, 5.0  # a backtest widens a model's spread, never narrows it


@dataclass(frozen=True)
class Forecast:
    """Simulated future daily values: `paths[i, d]` is path i on future day d."""

    method: str  # seasonal_naive, ets, ets_level, average, constant, none
    paths: Floats
    note: str = ""
    backtest: dict[str, Any] = field(default_factory=dict)
    """How the method was chosen: origins, days, each candidate's mean absolute error of
    totals, and the factor the interval was scaled by."""

    @property
    def horizon(self) -> int:
        """How many days ahead."""
        return int(self.paths.shape[1])

    @property
    def mean(self) -> Floats:
        """The expected value of each future day."""
        return np.asarray(self.paths.mean(axis=0), dtype=np.float64)

    def interval(self, level: float = LEVEL) -> tuple[Floats, Floats]:
        """The central `level` prediction interval of each future day."""
        lo, hi = np.quantile(self.paths, [(1 - level) / 2, (1 + level) / 2], axis=0)
        return np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)

    def totals(self, days: int | None = None) -> Floats:
        """Each path's sum over the next `days` days (all by default)."""
        return np.asarray(self.paths[:, : days or self.horizon].sum(axis=1), dtype=np.float64)


def forecast_daily(history: Floats, horizon: int, *, seed: int = 0) -> Forecast:
    """Forecast `horizon` days after `history` (daily values, oldest first, NaN = missing).

    Values are non-negative quantities (amounts, counts): paths are floored at zero.
    """
    values = _filled(history)
    simple = _simple(values, horizon, seed=seed)
    if simple is not None:
        return simple
    window = values[-HISTORY:]
    models: dict[str, Any] = {}
    for name, trend in (("ets", "add"), ("ets_level", None)):
        try:
            models[name] = _fit(window, trend)
        except (ValueError, np.linalg.LinAlgError) as exc:  # a model that will not fit
            log.debug("%s failed (%s)", name, exc)
    days = min(horizon, BACKTEST_HORIZON)
    origins = _origins(len(window), days)
    rng = np.random.default_rng(seed)
    if len(origins) < MIN_ORIGINS:  # too short to compare: the damped ETS, as it is fitted
        try:
            return Forecast("ets", np.maximum(_simulate(models["ets"], horizon, rng), 0.0))
        except (KeyError, ValueError):  # no fit, or simulations that are not finite
            return _average(values, horizon, seed=seed)
    predicted = {"seasonal_naive": _naive_backtest(window, origins, days)}
    for name, fit in models.items():
        predicted[name] = _ets_backtest(fit, origins, days)
    actual = np.stack([np.cumsum(window[o : o + days]) for o in origins])
    errors = {name: float(np.abs(p[:, -1] - actual[:, -1]).mean()) for name, p in predicted.items()}
    chosen = min(errors, key=lambda name: (errors[name], name != "seasonal_naive"))
    if chosen == "seasonal_naive":
        paths = _naive_paths(window, horizon, rng)
    else:
        try:
            paths = _simulate(models[chosen], horizon, rng)
        except ValueError:
            chosen, paths = "seasonal_naive", _naive_paths(window, horizon, rng)
    paths, widened = _calibrated(paths, predicted[chosen] - actual)
    backtest = {
        "origins": len(origins),
        "days": days,
        "mae_of_totals": {name: round(e, 4) for name, e in errors.items()},
        "mean_total": round(float(actual[:, -1].mean()), 4),
        "interval_scale": round(widened, 3),
    }
    return Forecast(chosen, np.maximum(paths, 0.0), backtest=backtest)


NAMES = {"seasonal_naive": "seasonal naive", "ets": "ETS", "ets_level": "ETS without trend"}


def why(forecast: Forecast) -> str:
    """How the forecast was chosen, in words: its backtest error of totals beside the other
    candidates', and how much its interval was widened ("" when there was no backtest)."""
    test = forecast.backtest
    if not test or not test.get("mean_total"):
        return ""
    errors, mean = test["mae_of_totals"], test["mean_total"]
    others = ", ".join(
        f"{NAMES[name]} {error / mean:.1%}"
        for name, error in errors.items()
        if name != forecast.method
    )
    text = (
        f"{NAMES[forecast.method]}, whose {test['days']}-day totals erred "
        f"{errors[forecast.method] / mean:.1%} on average over the last {test['origins']} days "
        f"(others: {others})"
    )
    if test["interval_scale"] >= 1.05:  # a visible widening (the factor is shown to 0.1)
        text += f"; its interval widened {test['interval_scale']:.1f}x to what those errors were"
    return text


def _simple(values: Floats, horizon: int, *, seed: int) -> Forecast | None:
    """The forecast of a series too short or too flat for models; None for the others."""
    if horizon <= 0:
        return Forecast("none", np.zeros((1, 0)))
    n = len(values)
    if n < AVERAGE_MIN_DAYS:
        return Forecast(
            "none", np.full((1, horizon), np.nan), f"{n} days of history: too few to forecast"
        )
    recent = values[-28:]
    if float(np.ptp(recent)) <= 1e-9 * max(1.0, float(np.abs(recent).max())):
        return Forecast("constant", np.full((1, horizon), float(recent[-1])))
    if n < ETS_MIN_DAYS:
        return _average(values, horizon, seed=seed)
    return None


def _origins(n: int, days: int) -> list[int]:
    """The backtest's forecast origins: every day of the last `BACKTEST_DAYS` whose next
    `days` days are known, after at least two weeks of history."""
    last = n - days
    return list(range(max(14, last - BACKTEST_DAYS + 1), last + 1))


def _fit(values: Floats, trend: str | None) -> Any:
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter on short, flat or spiky series
        model = ETSModel(
            values,
            error="add",
            trend=trend,
            damped_trend=trend is not None,
            seasonal="add",
            seasonal_periods=7,
        )
        return model.fit(disp=False, maxiter=200)


def _simulate(fit: Any, horizon: int, rng: np.random.Generator) -> Floats:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sims = fit.simulate(nsimulations=horizon, repetitions=PATHS, anchor="end", rng=rng)
    paths = np.asarray(sims, dtype=np.float64).reshape(horizon, PATHS).T
    if not np.isfinite(paths).all():
        raise ValueError("the model's simulations are not finite")
    return paths


def _ets_backtest(fit: Any, origins: list[int], days: int) -> Floats:
    """Running totals of `days`-day forecasts made at each origin from the data before it
    (the parameters are the full fit's: the states are the origin's own)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rows = [
            np.cumsum(np.asarray(fit.predict(start=o, end=o + days - 1, dynamic=True)))
            for o in origins
        ]
    return np.stack(rows)


def _naive_backtest(values: Floats, origins: list[int], days: int) -> Floats:
    """Running totals of seasonal-naive forecasts: each day as the same weekday before it."""
    steps = np.arange(days) % 7
    return np.stack([np.cumsum(values[o - 7 + steps]) for o in origins])


def _naive_paths(values: Floats, horizon: int, rng: np.random.Generator) -> Floats:
    """Last week repeated, with week-on-week changes drawn from the last eight weeks."""
    point = values[-7:][np.arange(horizon) % 7]
    changes = (values[7:] - values[:-7])[-56:] / np.sqrt(2)
    return point + rng.choice(changes - changes.mean(), size=(PATHS, horizon))


def _calibrated(paths: Floats, errors: Floats) -> tuple[Floats, float]:
    """`paths` with their spread widened or narrowed so that the 80 % intervals of their
    running totals would have held the backtest's errors of totals (`errors[o, d]`: predicted
    minus actual total of days 1..d+1 from origin o) 80 % of the time, horizon by horizon.
    Returns the paths and the factor applied to the longest backtested total."""
    days = errors.shape[1]
    mean = paths.mean(axis=0)
    running = np.cumsum(paths - mean, axis=1)
    spread = running[:, :days].std(axis=0)
    if not (spread > 1e-9).all():
        return paths, 1.0
    factors = np.quantile(np.abs(errors) / spread, LEVEL, axis=0) / Z80
    # Uncertainty about a total does not shrink with more days: no factor below an earlier one.
    factors = np.clip(np.maximum.accumulate(factors), MIN_SCALE, MAX_SCALE)
    horizon = paths.shape[1]
    scale = np.concatenate([factors, np.full(max(0, horizon - days), factors[-1])])[:horizon]
    scaled = running * scale
    daily = np.diff(scaled, axis=1, prepend=0.0)
    return mean + daily, float(factors[-1])


def _average(values: Floats, horizon: int, *, seed: int) -> Forecast:
    recent = values[-14:]
    mean, spread = float(recent.mean()), float(recent.std(ddof=1)) if len(recent) > 1 else 0.0
    rng = np.random.default_rng(seed)
    paths = mean + spread * rng.standard_normal((PATHS, horizon))
    note = f"{len(values)} days of history: the recent average, without weekly pattern or trend"
    return Forecast("average", np.maximum(paths, 0.0), note)


def _filled(history: Floats) -> Floats:
    """Missing days filled from the same weekday a week earlier, else the mean."""
    values = np.asarray(history, dtype=np.float64).copy()
    present = ~np.isnan(values)
    if not present.any():
        return values[:0]
    first = int(np.flatnonzero(present)[0])
    values = values[first:]
    mean = float(np.nanmean(values))
    for i in np.flatnonzero(np.isnan(values)):
        values[i] = values[i - 7] if i >= 7 and not np.isnan(values[i - 7]) else mean
    return values
