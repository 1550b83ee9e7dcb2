"""Forecasts of daily KPIs: ETS (Holt-Winters) with weekly seasonality and simulated paths.

With three weeks of history or more, an additive-error ETS model with a damped trend and a
weekly season (statsmodels' `ETSModel`) is fitted and simulated: the paths give prediction
intervals for each day *and* for sums over days (what goal pacing needs), and the share of
paths meeting a target is the probability of meeting it. With three days to three weeks the
forecast is the recent average with the spread of the daily values around it (it says so);
with less, there is no forecast. A series that never moves is forecast as itself.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]
log = logging.getLogger(__name__)

ETS_MIN_DAYS = 21
AVERAGE_MIN_DAYS = 3
PATHS = 1000
LEVEL = 0.8


@dataclass(frozen=True)
class Forecast:
    """Simulated future daily values: `paths[i, d]` is path i on future day d."""

    method: str  # ets, average, constant, none
    paths: Floats
    note: str = ""

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
    try:
        paths = _ets(values, horizon, seed=seed)
    except (ValueError, np.linalg.LinAlgError) as exc:  # a model that will not fit
        log.debug("ETS failed (%s): falling back to the average", exc)
        return _average(values, horizon, seed=seed)
    return Forecast("ets", np.maximum(paths, 0.0))


def _ets(values: Floats, horizon: int, *, seed: int) -> Floats:
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter on short, flat or spiky series
        model = ETSModel(
            values[-182:],
            error="add",
            trend="add",
            damped_trend=True,
            seasonal="add",
            seasonal_periods=7,
        )
        fit = model.fit(disp=False, maxiter=200)
        sims = fit.simulate(
            nsimulations=horizon, repetitions=PATHS, anchor="end", rng=np.random.default_rng(seed)
        )
    paths = np.asarray(sims, dtype=np.float64).reshape(horizon, PATHS).T
    if not np.isfinite(paths).all():
        raise ValueError("the model's simulations are not finite")
    return paths


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
