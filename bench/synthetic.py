"""Synthetic marketing series with labelled incidents, for evaluating the anomaly detector.

Each series imitates one hourly metric of one account — sessions, orders, revenue, spend,
clicks or CPC — with what makes real ones hard: a daily profile of one of several shapes
(shop, B2B office hours, media), weekday effects (with a weekend-shaped day for some), a
trend, a slow random walk of the level, autocorrelated and heavy-tailed demand noise,
counting noise (Poisson; compound for revenue), zero-heavy series, DST shifts of the profile,
and *unlabelled* business events a detector should mostly tolerate: permanent level shifts
(budget changes) and promotions (+20-50 % for days). Labelled incidents are outages (to zero),
drops (-40…-85 %), dips (-20…-40 %, long), spikes (2-5x) and, for CPC, price spikes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]

SHOP = np.array(
    [0.25, 0.15, 0.1, 0.08, 0.08, 0.12, 0.25, 0.45, 0.65, 0.8, 0.9, 0.95,
     1.0, 0.95, 0.9, 0.9, 0.95, 1.0, 1.1, 1.25, 1.35, 1.3, 1.0, 0.55]
)  # fmt: skip
OFFICE = np.array(
    [0.05, 0.04, 0.03, 0.03, 0.04, 0.08, 0.2, 0.5, 1.1, 1.6, 1.8, 1.8,
     1.5, 1.7, 1.8, 1.7, 1.5, 1.2, 0.8, 0.5, 0.35, 0.25, 0.15, 0.08]
)  # fmt: skip
MEDIA = np.array(
    [0.6, 0.45, 0.35, 0.3, 0.3, 0.35, 0.5, 0.7, 0.85, 0.9, 0.95, 1.0,
     1.05, 1.0, 0.95, 0.95, 1.0, 1.05, 1.15, 1.3, 1.45, 1.5, 1.3, 0.9]
)  # fmt: skip
KINDS = ("sessions", "orders", "revenue", "spend", "clicks", "cpc")


@dataclass
class Incident:
    """A labelled incident: [start, end) positions, what, how big."""

    start: int
    end: int
    kind: str
    factor: float


@dataclass
class SynthSeries:
    """One synthetic series with its labels."""

    name: str
    kind: str
    values: Floats
    slots: npt.NDArray[np.int64]
    days: npt.NDArray[np.int64]
    labels: npt.NDArray[np.bool_]
    incidents: list[Incident] = field(default_factory=list)
    is_log: bool = False
    volume: Floats | None = None
    events: list[str] = field(default_factory=list)  # unlabelled business events


def _profile(rng: np.random.Generator) -> tuple[Floats, Floats, bool]:
    """A daily profile (24), weekday factors (7) and whether weekends have their own shape."""
    shape = [SHOP, OFFICE, MEDIA][rng.integers(3)].copy()
    shape *= np.exp(rng.normal(0, 0.08, 24))
    shape = np.roll(shape, int(rng.integers(-2, 3)))
    weekday = np.exp(rng.normal(0, 0.04, 7))
    weekend = rng.uniform(0.45, 1.25) if shape is not OFFICE else rng.uniform(0.25, 0.6)
    weekday[5:] *= weekend
    return shape / shape.mean(), weekday / weekday.mean(), bool(rng.random() < 0.5)


def _demand(rng: np.random.Generator, n: int) -> Floats:
    """Log-demand noise: AR(1) with heavy-tailed innovations, a slow walk and a trend."""
    phi = rng.uniform(0.2, 0.7)
    sd = rng.uniform(0.03, 0.15)
    innov = rng.standard_t(5, n) * sd * np.sqrt(1 - phi * phi) / np.sqrt(5 / 3)
    ar = np.zeros(n)
    for i in range(1, n):
        ar[i] = phi * ar[i - 1] + innov[i]
    walk = np.repeat(np.cumsum(rng.normal(0, 0.015, n // 24 + 1)), 24)[:n]
    trend = np.linspace(0, rng.uniform(-0.4, 0.6), n)
    return ar + walk + trend


def _business_events(rng: np.random.Generator, n: int, events: list[str]) -> Floats:
    """Unlabelled, legitimate changes: a budget change, a promotion."""
    factor = np.ones(n)
    if rng.random() < 0.3:
        at = int(rng.integers(20 * 24, n - 24))
        step = float(np.exp(rng.uniform(0.3, 0.6) * rng.choice([-1, 1])))
        factor[at:] *= step
        events.append(f"level x{step:.2f} at {at}")
    if rng.random() < 0.25:
        at = int(rng.integers(20 * 24, n - 96))
        length = int(rng.integers(24, 72))
        lift = rng.uniform(1.2, 1.5)
        ramp = np.sin(np.linspace(0, np.pi, length)) ** 0.5
        factor[at : at + length] *= 1 + (lift - 1) * ramp
        events.append(f"promo x{lift:.2f} {at}+{length}")
    return factor


def _incidents(rng: np.random.Generator, n: int, kind: str, *, count: int) -> list[Incident]:
    out: list[Incident] = []
    for _ in range(count * 10):
        if len(out) >= count:
            break
        what = rng.choice(["outage", "drop", "dip", "spike"], p=[0.2, 0.35, 0.2, 0.25])
        if kind == "cpc":
            what = "price"
        length, factor = {
            "outage": (int(rng.integers(2, 37)), 0.0),
            "drop": (int(rng.integers(3, 25)), rng.uniform(0.15, 0.6)),
            "dip": (int(rng.integers(8, 49)), rng.uniform(0.6, 0.8)),
            "spike": (int(rng.integers(1, 9)), rng.uniform(2.0, 5.0)),
            "price": (int(rng.integers(2, 13)), rng.uniform(1.6, 3.0)),
        }[str(what)]
        start = int(rng.integers(16 * 24, n - length - 1))
        if any(start < i.end + 72 and i.start < start + length + 72 for i in out):
            continue
        out.append(Incident(start, start + length, str(what), float(factor)))
    return sorted(out, key=lambda i: i.start)


def make_series(
    rng: np.random.Generator, kind: str, *, days: int = 90, name: str = ""
) -> SynthSeries:
    """One synthetic hourly series of `kind` with 0-3 labelled (visible) incidents."""
    n = days * 24
    t = np.arange(n)
    first_dow = int(rng.integers(7))
    hod, day = t % 24, t // 24
    dow = (day + first_dow) % 7
    shape, weekday, weekend_shape = _profile(rng)
    hourly = shape[hod]
    if weekend_shape:  # weekends start later
        late = np.roll(shape, 2)
        hourly = np.where(dow >= 5, late[hod], hourly)
    if rng.random() < 0.3:  # a DST change: the profile moves by an hour in UTC
        at = int(rng.integers(20, days - 10)) * 24
        hourly[at:] = np.roll(shape, 1)[hod[at:]]
    events: list[str] = []
    base = hourly * weekday[dow] * np.exp(_demand(rng, n)) * _business_events(rng, n, events)
    base *= VOLUME[kind](rng)
    incidents = [
        i
        for i in _incidents(rng, n, kind, count=int(rng.integers(0, 4)))
        if _is_visible(kind, base, i)
    ]
    effect = np.ones(n)
    for inc in incidents:
        effect[inc.start : inc.end] = inc.factor
    values, volume, is_log = _observe(rng, kind, base, effect)
    labels = np.zeros(n, dtype=np.bool_)
    for inc in incidents:
        labels[inc.start : inc.end] = True
    return SynthSeries(
        name or kind,
        kind,
        values,
        (dow * 24 + hod).astype(np.int64),
        day.astype(np.int64),
        labels,
        incidents,
        is_log,
        volume,
        events,
    )


# Mean events per hour (sessions, orders, clicks; orders behind revenue; clicks behind CPC),
# or mean spend per hour.
VOLUME = {
    "sessions": lambda rng: 10 ** rng.uniform(1.3, 3.5),
    "orders": lambda rng: 10 ** rng.uniform(-1, 1.2),
    "revenue": lambda rng: 10 ** rng.uniform(-0.7, 1.3),
    "spend": lambda rng: 10 ** rng.uniform(0.3, 2.7),
    "clicks": lambda rng: 10 ** rng.uniform(0.7, 2.7),
    "cpc": lambda rng: 10 ** rng.uniform(1.0, 2.7),
}


def _is_visible(kind: str, base: Floats, inc: Incident) -> bool:
    """Would someone looking at the chart see it? (Counting noise hides small ones.)"""
    if kind in ("spend", "cpc"):
        return True
    expected = float(base[inc.start : inc.end].sum())
    return expected * abs(1 - inc.factor) / np.sqrt(max(expected, 1e-9)) >= 4.0


def _observe(
    rng: np.random.Generator, kind: str, base: Floats, effect: Floats
) -> tuple[Floats, Floats | None, bool]:
    """Turn expected demand into observed values of one kind."""
    mean = base * effect
    if kind in ("sessions", "orders", "clicks"):
        return rng.poisson(mean).astype(float), None, False
    if kind == "revenue":
        aov = rng.uniform(30, 150)
        orders = rng.poisson(mean)
        revenue = np.array([rng.lognormal(np.log(aov), 0.6, k).sum() for k in orders])
        return np.round(revenue, 2), None, False
    if kind == "spend":
        noise = np.exp(rng.normal(0, rng.uniform(0.03, 0.15), len(base)))
        return np.round(mean * noise, 2), None, False
    clicks = rng.poisson(base).astype(float)
    cpc = rng.uniform(0.3, 2.5) * np.exp(rng.normal(0, 0.1, len(base))) * effect
    spend = clicks * cpc * np.exp(rng.normal(0, 0.25, len(base)) / np.sqrt(np.maximum(clicks, 1)))
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(clicks > 0, spend / np.maximum(clicks, 1), np.nan)
    return ratio, clicks, True


def make_suite(seed: int, count: int, *, days: int = 90) -> list[SynthSeries]:
    """`count` series, the kinds in turn."""
    rng = np.random.default_rng(seed)
    return [
        make_series(rng, KINDS[i % len(KINDS)], days=days, name=f"{KINDS[i % len(KINDS)]}-{i}")
        for i in range(count)
    ]


def make_daily_series(rng: np.random.Generator, *, days: int = 180, name: str = "") -> SynthSeries:
    """A daily series (orders, sessions or spend of an account) with 0-3 labelled incidents.

    Incidents last 1-4 days: drops (x0.2-0.6), dips (x0.65-0.8) and spikes (x1.8-4).
    """
    t = np.arange(days)
    dow = (t + int(rng.integers(7))) % 7
    weekday = np.exp(rng.normal(0, 0.04, 7))
    weekday[5:] *= rng.uniform(0.5, 1.25)
    level = 10 ** rng.uniform(1.0, 4.0)
    walk = np.cumsum(rng.normal(0, 0.01, days))
    trend = np.linspace(0, rng.uniform(-0.4, 0.6), days)
    phi, sd = rng.uniform(0.0, 0.6), rng.uniform(0.04, 0.15)
    ar = np.zeros(days)
    for i in range(1, days):
        ar[i] = phi * ar[i - 1] + rng.normal(0, sd * np.sqrt(1 - phi * phi))
    events: list[str] = []
    base = (
        level * weekday[dow] * np.exp(walk + trend + ar) * _business_events_daily(rng, days, events)
    )
    incidents: list[Incident] = []
    for _ in range(int(rng.integers(0, 4)) * 10):
        if len(incidents) >= 3:
            break
        what = str(rng.choice(["drop", "dip", "spike"], p=[0.45, 0.25, 0.3]))
        length = int(rng.integers(1, 5))
        factor = {
            "drop": rng.uniform(0.2, 0.6),
            "dip": rng.uniform(0.65, 0.8),
            "spike": rng.uniform(1.8, 4.0),
        }[what]
        start = int(rng.integers(28, days - length - 1))
        if any(start < i.end + 7 and i.start < start + length + 7 for i in incidents):
            continue
        inc = Incident(start, start + length, what, float(factor))
        expected = float(base[inc.start : inc.end].sum())
        if expected * abs(1 - inc.factor) / np.sqrt(expected) >= 4.0:
            incidents.append(inc)
    effect = np.ones(days)
    labels = np.zeros(days, dtype=np.bool_)
    for inc in incidents:
        effect[inc.start : inc.end] = inc.factor
        labels[inc.start : inc.end] = True
    values = rng.poisson(base * effect).astype(float)
    return SynthSeries(
        name or "daily", "daily", values, dow.astype(np.int64), t.astype(np.int64), labels,
        sorted(incidents, key=lambda i: i.start), False, None, events,
    )  # fmt: skip


def _business_events_daily(rng: np.random.Generator, days: int, events: list[str]) -> Floats:
    factor = np.ones(days)
    if rng.random() < 0.3:
        at = int(rng.integers(40, days - 10))
        step = float(np.exp(rng.uniform(0.3, 0.6) * rng.choice([-1, 1])))
        factor[at:] *= step
        events.append(f"level x{step:.2f} at {at}")
    return factor


def make_daily_suite(seed: int, count: int, *, days: int = 180) -> list[SynthSeries]:
    """`count` daily series."""
    rng = np.random.default_rng(seed)
    return [make_daily_series(rng, days=days, name=f"daily-{i}") for i in range(count)]
