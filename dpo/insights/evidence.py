"""The evidence of one point against a shifted level: the detector's likelihood ratios.

Pure functions of the fitted noise model (`noise.Noise`); `anomalies._Detector` sums them into
CUSUM runs and compares them with its thresholds.
"""

from __future__ import annotations

import math

from dpo.insights.noise import Noise


def point_z(y: float, e: float, z: float, sd: float, *, is_log: bool) -> float:
    """A high value's z from a gamma tail (matching mean and variance), not a normal one.

    Sparse amounts are skewed: four orders in an hour that expects a third of one happen
    every few months; a normal tail would call them a 7-sigma event.
    """
    if is_log or z <= 3.0 or e <= 0:
        return z
    from scipy.special import gammaincc, ndtri

    shape, scale = (e / sd) ** 2, sd * sd / e
    tail = float(gammaincc(shape, y / scale))
    return min(z, float(-ndtri(max(tail, 1e-300))))


def llr(noise: Noise, y: float, e: float, q: float, *, var: float) -> float:
    """Quasi-log-likelihood ratio of "expected x (1+q)" against "expected", for y.

    With variance V(m) = κ²(c²m² + um): exact Poisson for counts (c = 0), log-normal-like
    for large volumes, so a run of empty hours in a sparse series and a 30 % drop in a big
    one both build evidence at the right speed. `var` is κ² times the early-history widening.
    """
    if e <= 0:
        return 0.0
    return (quasi(noise, y, e * (1 + q)) - quasi(noise, y, e)) / var


def quasi(noise: Noise, y: float, m: float) -> float:
    """∫ (y - m) / (c²m² + um) dm, up to a constant."""
    u, c2 = noise.u, noise.c * noise.c
    if c2 == 0:
        return (y * math.log(m) - m) / u
    return (y / u) * (math.log(m) - math.log(u + c2 * m)) - math.log1p(c2 * m / u) / c2


def typical_llr(noise: Noise, e: float, sd: float, q: float, *, is_log: bool, var: float) -> float:
    """The evidence a point right at the changed level would give."""
    if is_log:
        delta = math.log(1 + q) / sd if sd > 0 else 0.0
        return 0.5 * delta * delta
    return llr(noise, e * (1 + q), e, q, var=var)


def llr_log(z: float, sd: float, q: float) -> float:
    """Gaussian log-likelihood ratio of a shift by log(1+q) on the log scale."""
    delta = math.log(1 + q) / sd
    return delta * z - 0.5 * delta * delta
