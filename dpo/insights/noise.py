"""How noisy a series is around its expected value: a variance model fitted robustly.

Marketing counts and amounts have two kinds of noise at once: multiplicative (demand moves
by ±10 % whatever the volume) and counting noise (an hour with 2 expected orders sees 0 or 5).
So sd(y) = κ·sqrt(c²·e² + u·e + u²/4) for expected value e: c is the relative noise, u the size
of one event (1 for counts; about one order's value for revenue) and the u² term a floor, so
that at e ≈ 0 half an event is one standard deviation, not infinitely many — the Poisson-aware
floor that keeps sparse series from alerting on every blip. Multiplicative metrics (CPC,
ROAS…) are modelled on a log scale: sd(log y) = κ·sqrt(c² + b / volume), where volume is the
count behind the ratio (clicks for CPC), because a CPC over three clicks is noisier than one
over three thousand.

(c, u) are fitted by moments (see `fit_linear`); (c, b) on a grid by a Huber M-estimate
(outliers weigh little), then κ calibrates the standardized residuals to unit variance. The lag-1
autocorrelation of those residuals is kept too: a run of correlated residuals is weaker
evidence than the same run of independent ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]

_HUBER = 5.0  # sparse series' events are data, not outliers: a wide Huber zone
_CLIP = 3.0
# E[min(Z², δ²)] for a standard normal Z and δ = _CLIP (the winsorized second moment).
_INSIDE = math.erf(_CLIP / math.sqrt(2))
_WINSOR_MOMENT = (
    _INSIDE
    - 2 * _CLIP * math.exp(-_CLIP * _CLIP / 2) / math.sqrt(2 * math.pi)
    + _CLIP * _CLIP * (1 - _INSIDE)
)
_C_GRID = np.array([0.0, 0.01, 0.02, 0.035, 0.05, 0.07, 0.1, 0.14, 0.2, 0.28, 0.4, 0.56])
_B_GRID = np.array([0.0, 0.25, 0.5, 1.0, 2.0, 4.0])
_MIN_POINTS = 12
SPARSE_SHARE = 0.05  # a non-count series with 5 % zeros counts discrete events
_FLOOR = 0.25  # at e ≈ 0, half an event is one standard deviation


@dataclass(frozen=True)
class Noise:
    """A fitted variance model; see the module docstring."""

    is_log: bool
    c: float
    u: float  # linear: the event size; log: b (variance per unit of 1/volume)
    kappa: float = 1.0
    rho: float = 0.0
    is_integer: bool = False

    def sd(self, expected: float, volume: float = 1.0) -> float:
        """The standard deviation of one value around `expected` (log-scale for log models)."""
        if self.is_log:
            return self.kappa * math.sqrt(self.c * self.c + self.u / max(volume, 1.0))
        e = max(expected, 0.0)
        sd = self.kappa * math.sqrt(self.c * self.c * e * e + self.u * e + _FLOOR * self.u**2)
        if self.is_integer:  # never tighter than Poisson counting noise
            sd = max(sd, math.sqrt(e + 1.0))
        return sd

    def sd_array(self, expected: Floats, volume: Floats | None = None) -> Floats:
        """`sd` for many expected values at once."""
        if self.is_log:
            vol = np.ones_like(expected) if volume is None else np.maximum(volume, 1.0)
            return self.kappa * np.sqrt(self.c * self.c + self.u / vol)
        e = np.maximum(expected, 0.0)
        sd = self.kappa * np.sqrt(self.c * self.c * e * e + self.u * e + _FLOOR * self.u**2)
        return np.maximum(sd, np.sqrt(e + 1.0)) if self.is_integer else sd

    @property
    def run_scale(self) -> float:
        """How much wider the spread of a run of residuals is than for independent ones."""
        rho = min(max(self.rho, 0.0), 0.8)
        return math.sqrt((1 + rho) / (1 - rho))


def event_size(values: Floats, *, is_integer: bool) -> float:
    """The size of one event (an order's value in a revenue series; 1 for counts).

    From the share of empty periods: if a share z0 of them is zero, periods hold about
    λ = -ln z0 events, so a typical non-zero value holds λ / (1 - z0) of them. A series
    without (many) zeros is treated as continuous: its events are tiny.
    """
    if is_integer:
        return 1.0
    present = values[~np.isnan(values)]
    positive = present[present > 0]
    if len(positive) == 0:
        return 1.0
    typical = float(np.median(positive))
    zeros = float(np.mean(present == 0))
    if zeros < SPARSE_SHARE:
        return typical * 1e-3
    return typical * (1 - zeros) / -math.log(zeros)


def default_noise(*, is_log: bool, is_integer: bool, typical: float) -> Noise:
    """A cautious model for a series too short to fit one (wide: it says little)."""
    if is_log:
        return Noise(True, 0.3, 0.0, is_integer=False)
    unit = 1.0 if is_integer else max(typical * 0.05, 1e-9)
    return Noise(False, 0.3, unit, is_integer=is_integer)


def default_for(values: Floats, *, is_log: bool, is_integer: bool) -> Noise:
    """`default_noise` for a history of `values` (their median as the typical value)."""
    present = values[~np.isnan(values)]
    typical = float(np.median(present)) if len(present) else 1.0
    return default_noise(is_log=is_log, is_integer=is_integer, typical=typical)


def fit_linear(
    y: Floats, expected: Floats, *, is_integer: bool, min_unit: float = 0.0
) -> Noise | None:
    """Fit sd(y) = sqrt(c²e² + ue + u²/4) to values and their expected values, by moments.

    The squared residuals, averaged in bins of expected value (the top 0.5 % of each bin
    clipped), are regressed on e and e² with non-negative coefficients. Moments, unlike a
    Gaussian likelihood, are right for zero-heavy compound series (a few orders a day, each
    worth 30-300): their variance is u·e with u = E[order²] / E[order], which a likelihood
    fit would mistake for outliers. `min_unit` bounds u from below by the event size seen in
    the data's zeros (see `event_size`).
    """
    ok = ~np.isnan(y) & ~np.isnan(expected) & (expected > 0)
    if ok.sum() < _MIN_POINTS:
        return None
    yv, ev = y[ok], expected[ok]
    r2 = (yv - ev) ** 2
    order = np.argsort(ev, kind="stable")
    rows, targets = [], []
    for chunk in np.array_split(order, max(1, min(12, len(ev) // 40))):
        part = r2[chunk]
        cap = float(np.partition(part, int(0.995 * (len(part) - 1)))[int(0.995 * (len(part) - 1))])
        m = float(np.mean(np.minimum(r2[chunk], cap)))
        e1, e2 = float(np.mean(ev[chunk])), float(np.mean(ev[chunk] ** 2))
        weight = math.sqrt(len(chunk)) / max(m, 1e-12)  # relative errors count
        rows.append((e1 * weight, e2 * weight))
        targets.append(m * weight)
    u, c2 = _nnls(np.array(rows), np.array(targets))
    u = max(u, min_unit, 1.0 if is_integer else 1e-12)
    model = Noise(False, min(math.sqrt(c2), 1.0), u, is_integer=is_integer)
    return _calibrated(model, yv - ev, ev, np.ones_like(ev), ok, scale=False)


def _nnls(a: Floats, b: Floats) -> tuple[float, float]:
    """Two non-negative coefficients minimizing |a·x - b|² (closed form: few candidates)."""
    candidates = []
    solution = np.linalg.lstsq(a, b, rcond=None)[0]
    if solution[0] >= 0 and solution[1] >= 0:
        candidates.append((float(solution[0]), float(solution[1])))
    for j in (0, 1):
        column = a[:, j]
        norm = float(column @ column)
        coef = max(0.0, float(column @ b) / norm) if norm > 0 else 0.0
        candidates.append((coef, 0.0) if j == 0 else (0.0, coef))
    return min(candidates, key=lambda x: float(np.sum((a @ np.array(x) - b) ** 2)))


def fit_log(y: Floats, expected: Floats, volume: Floats) -> Noise | None:
    """Fit sd(log y - log e) = κ·sqrt(c² + b/volume)."""
    ok = ~np.isnan(y) & ~np.isnan(expected) & (y > 0) & (expected > 0)
    if ok.sum() < _MIN_POINTS:
        return None
    r = np.log(y[ok]) - np.log(expected[ok])
    vol = np.maximum(np.nan_to_num(volume[ok], nan=1.0), 1.0)
    c2 = (_C_GRID[1:] ** 2)[:, None, None]
    b = _B_GRID[None, :, None]
    sd = np.sqrt(c2 + b / vol[None, None, :])
    loss = _huber(r[None, None, :] / sd).sum(axis=2) + np.log(sd).sum(axis=2)
    i, j = np.unravel_index(int(np.argmin(loss)), loss.shape)
    model = Noise(True, float(_C_GRID[1:][i]), float(_B_GRID[j]))
    return _calibrated(model, r, expected[ok], vol, ok)


def _calibrated(
    model: Noise,
    r: Floats,
    ev: Floats,
    vol: Floats,
    ok: npt.NDArray[np.bool_],
    *,
    scale: bool = True,
) -> Noise:
    """With `scale`, scale the model so standardized residuals have unit (winsorized)
    variance; in any case measure their lag-1 autocorrelation."""
    z = r / model.sd_array(ev, vol)
    kappa = 1.0
    if scale:
        moment = float(np.mean(np.minimum(z * z, _CLIP * _CLIP)))
        kappa = min(max(math.sqrt(max(moment, 1e-12) / _WINSOR_MOMENT), 0.5), 20.0)
    zs = np.full(len(ok), np.nan)
    zs[ok] = np.clip(z / kappa, -_CLIP, _CLIP)
    return Noise(
        model.is_log,
        model.c,
        model.u,
        kappa=kappa,
        rho=_lag1(zs),
        is_integer=model.is_integer,
    )


def _lag1(z: Floats) -> float:
    """Lag-1 autocorrelation over consecutive pairs that are both present."""
    a, b = z[:-1], z[1:]
    ok = ~np.isnan(a) & ~np.isnan(b)
    if ok.sum() < _MIN_POINTS:
        return 0.0
    a, b = a[ok] - a[ok].mean(), b[ok] - b[ok].mean()
    den = math.sqrt(float((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / den) if den > 0 else 0.0


def _huber(z: Floats) -> Floats:
    a = np.abs(z)
    return np.where(a <= _HUBER, 0.5 * z * z, _HUBER * a - 0.5 * _HUBER * _HUBER)
