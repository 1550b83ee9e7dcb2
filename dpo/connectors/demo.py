"""The demo connector: deterministic synthetic data in the shapes of the real upstreams.

A demo source's account names the upstream it imitates:

- `ga`   — GA4-like sessions, users, key events and revenue per hour and default channel group;
- `meta` — Meta-like campaigns: hourly impressions, clicks and spend, daily purchases and
  purchase value (attributed, as Meta reports them only per day);
- `woo`  — WooCommerce-like orders, revenue and refunds per hour.

Values follow hour-of-day and day-of-week seasonality, a slow trend, shared demand noise (so
the three agree with each other) and per-series noise. Every value is a pure function of the
source's `seed`, the series and the hour: the same seed always gives the same data, however
the days are windowed. Three incidents are injected relative to the `anchor` date (by default
the day the source was added) and reported by `incidents()`, so detectors can be checked.
Setting `latency_seconds` makes each window slow, like a sluggish upstream.
"""

from __future__ import annotations

import hashlib
import math
import random
import time as _time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import cached_property
from typing import Any

from dpo.connectors.base import Budget, Connector, FactRow, Role, Window
from dpo.connectors.settings import ConnectorSettings
from dpo.metrics import BY_NAME
from dpo.validation import check_timezone
from dpo.vocab import Grain

PROFILES = ("ga", "meta", "woo")
DEFAULT_SEED = 7

# Share of an e-commerce day's traffic by local hour, and by weekday (Monday first).
HOUR_WEIGHT = (
    0.25, 0.15, 0.10, 0.08, 0.08, 0.12, 0.25, 0.45, 0.65, 0.80, 0.90, 0.95,
    1.00, 0.95, 0.90, 0.90, 0.95, 1.00, 1.10, 1.25, 1.35, 1.30, 1.00, 0.55,
)  # fmt: skip
WEEKDAY_WEIGHT = (1.00, 0.98, 0.97, 0.99, 0.95, 0.85, 1.05)
SESSIONS_PER_HOUR = 180.0
TREND_PER_DAY = 0.002

# GA default channel groups: (name, share of sessions, key-event rate).
CHANNELS = (
    ("Organic Search", 0.34, 0.025),
    ("Paid Social", 0.22, 0.018),
    ("Direct", 0.20, 0.032),
    ("Paid Search", 0.10, 0.030),
    ("Email", 0.08, 0.040),
    ("Referral", 0.06, 0.020),
)


@dataclass(frozen=True)
class Campaign:
    id: str
    name: str
    daily_budget: float
    cpm: float
    ctr: float
    cpa: float


CAMPAIGNS = (
    # Prospecting buys its purchases dearly (platform ROAS about 1.1, against 4.6 for
    # Retargeting): the budget imbalance a recommendation should point out.
    Campaign("120210000000000101", "Prospecting - Broad", 480.0, 9.0, 0.011, 60.0),
    Campaign("120210000000000102", "Retargeting - 7d", 180.0, 14.0, 0.018, 14.0),
    Campaign("120210000000000103", "Lookalike 1%", 300.0, 10.5, 0.013, 26.0),
    Campaign("120210000000000104", "Catalog Sales", 240.0, 8.0, 0.015, 20.0),
)
ORDER_RATE = 0.022  # orders per session
# Slow movements over the last weeks before the anchor, for trends and recommendations (not
# incidents: nothing breaks): traffic grows by GROWTH (a season starting), and the purchases
# of one campaign fade by FATIGUE (its creatives wearing out), both ramping in over RAMP_DAYS.
RAMP_DAYS = 21
GROWTH = 0.3
FATIGUE = 0.5
FATIGUE_CAMPAIGN = "120210000000000103"  # Lookalike 1%
AOV = 61.0
REFUND_RATE = 0.03


@dataclass(frozen=True)
class Incident:
    """An anomaly the generator injected: what, where and when (UTC, half-open)."""

    kind: str
    profile: str
    start: datetime
    end: datetime
    description: str
    channel: str = ""
    campaign: str = ""


# (kind, profile, days before anchor, first local hour, hours, description)
_INCIDENTS = (
    ("tracking_outage", "ga", 6, 9, 6, "GA tracking outage: no sessions recorded"),
    ("spend_spike", "meta", 13, 10, 6, "Prospecting - Broad spends 4x its usual rate"),
    ("conversion_drop", "woo", 20, 8, 12, "checkout broken: orders drop by 80%"),
)
_SPIKE_CAMPAIGN = CAMPAIGNS[0].id


class DemoConnector(Connector):
    """Synthetic GA-, Meta- or Woo-shaped facts; see the module docstring."""

    kind = "demo"
    summary = "Deterministic demo data shaped like GA4, Meta Ads or WooCommerce"
    account_help = "the demo profile: ga, meta or woo"
    role = Role.analytics  # per source: the role of the kind its profile imitates
    settings_model = ConnectorSettings
    metrics = frozenset(BY_NAME)
    default_lookback_days = 2

    @classmethod
    def role_for(cls, account: str) -> Role:
        """A demo source plays the role of the kind its profile imitates."""
        return {"ga": Role.analytics, "meta": Role.ads, "woo": Role.store}.get(account, cls.role)

    @classmethod
    def normalize_settings(
        cls, account: str, settings: Mapping[str, Any], *, today: date
    ) -> dict[str, Any]:
        if account not in PROFILES:
            raise ValueError(f"a demo source's account is one of {', '.join(PROFILES)}")
        unknown = set(settings) - {"seed", "anchor", "latency_seconds", "timezone"}
        if unknown:
            raise ValueError(f"unknown demo settings: {', '.join(sorted(unknown))}")
        try:
            out = {
                "seed": int(settings.get("seed", DEFAULT_SEED)),
                "anchor": date.fromisoformat(str(settings.get("anchor", today))).isoformat(),
            }
            if "latency_seconds" in settings:
                out["latency_seconds"] = max(0.0, float(settings["latency_seconds"]))
        except ValueError as exc:
            raise ValueError(f"invalid demo setting: {exc}") from None
        if "timezone" in settings:
            out["timezone"] = check_timezone(str(settings["timezone"]))
        return out

    @property
    def profile(self) -> str:
        return self.spec.account

    @property
    def seed(self) -> int:
        return int(self.spec.settings.get("seed", DEFAULT_SEED))

    @property
    def anchor(self) -> date:
        return date.fromisoformat(str(self.spec.settings["anchor"]))

    def fetch_window(self, window: Window, *, now: datetime, budget: Budget) -> Iterator[FactRow]:
        latency = float(self.spec.settings.get("latency_seconds", 0))
        if latency:
            _time.sleep(budget.timeout(latency))
            budget.check()
        hours = list(_hours(window, now))
        if self.profile == "ga":
            yield from self._ga(hours)
        elif self.profile == "meta":
            yield from self._meta(window, hours)
        else:
            yield from self._woo(hours)

    def check(self) -> str:
        return f"demo {self.profile} data, seed {self.seed}"

    def incidents(self) -> list[Incident]:
        """The incidents injected into this source's data."""
        return [i for i in self._incidents.values() if i.profile == self.profile]

    @cached_property
    def _incidents(self) -> dict[str, Incident]:
        tz = self.timezone()
        found = {}
        for kind, profile, days_before, hour, length, text in _INCIDENTS:
            day = self.anchor - timedelta(days=days_before)
            start = datetime.combine(day, time(hour), tz).astimezone(UTC)
            campaign = _SPIKE_CAMPAIGN if kind == "spend_spike" else ""
            end = start + timedelta(hours=length)
            channel = "Paid Social" if campaign else ""
            found[kind] = Incident(kind, profile, start, end, text, channel, campaign)
        return found

    # --- the three shapes ---------------------------------------------------------------------

    def _ga(self, hours: list[datetime]) -> Iterator[FactRow]:
        currency = self.spec.org_currency
        for hour in hours:
            if self._in_incident("tracking_outage", hour):
                continue  # GA returns no rows for hours it recorded nothing
            drop = 0.2 if self._in_incident("conversion_drop", hour) else 1.0
            base = self._traffic(hour)
            for channel, share, rate in CHANNELS:
                rng = self._rng("ga", channel, hour)
                sessions = _poisson(rng, base * share * rng.lognormvariate(0, 0.1))
                conversions = _poisson(rng, sessions * rate * drop)
                revenue = conversions * AOV * rng.lognormvariate(0, 0.15)
                yield FactRow(
                    Grain.hour,
                    hour,
                    channel=channel,
                    currency=currency,
                    sessions=sessions,
                    users=round(sessions * rng.uniform(0.78, 0.86)),
                    conversions=Decimal(conversions),
                    revenue=_money(revenue),
                )

    def _meta(self, window: Window, hours: list[datetime]) -> Iterator[FactRow]:
        currency = self.spec.org_currency
        for c in CAMPAIGNS:
            day_spend = 0.0
            for hour in hours:
                spend, impressions, clicks = self._meta_hour(c, hour)
                day_spend += spend
                yield FactRow(
                    Grain.hour,
                    hour,
                    channel="Paid Social",
                    campaign=c.id,
                    campaign_name=c.name,
                    currency=currency,
                    impressions=impressions,
                    clicks=clicks,
                    spend=_money(spend),
                )
            if not hours:
                continue
            rng = self._rng("meta-day", c.id, window.start)
            drop = 0.6 if any(self._in_incident("conversion_drop", h) for h in hours) else 1.0
            fade = 1 - FATIGUE * self._ramp(window.start) if c.id == FATIGUE_CAMPAIGN else 1.0
            rate = day_spend / c.cpa * drop * fade
            purchases = _poisson(rng, rate * rng.lognormvariate(0, 0.15))
            yield FactRow(
                Grain.day,
                window.start,
                channel="Paid Social",
                campaign=c.id,
                campaign_name=c.name,
                currency=currency,
                attributed_conversions=Decimal(purchases),
                attributed_revenue=_money(purchases * AOV * 1.05 * rng.lognormvariate(0, 0.1)),
            )

    def _meta_hour(self, c: Campaign, hour: datetime) -> tuple[float, int, int]:
        rng = self._rng("meta", c.id, hour)
        local = hour.astimezone(self.timezone())
        share = HOUR_WEIGHT[local.hour] / sum(HOUR_WEIGHT)
        spend = (
            c.daily_budget * share * WEEKDAY_WEIGHT[local.weekday()] * rng.lognormvariate(0, 0.12)
        )
        cpm = c.cpm * rng.lognormvariate(0, 0.05)
        if c.id == _SPIKE_CAMPAIGN and self._in_incident("spend_spike", hour):
            spend, cpm = spend * 4, cpm * 1.6
        impressions = round(spend / cpm * 1000)
        clicks = _poisson(rng, impressions * c.ctr * rng.lognormvariate(0, 0.1))
        return spend, impressions, clicks

    def _woo(self, hours: list[datetime]) -> Iterator[FactRow]:
        currency = self.spec.org_currency
        for hour in hours:
            rng = self._rng("woo", "orders", hour)
            drop = 0.2 if self._in_incident("conversion_drop", hour) else 1.0
            orders = _poisson(rng, self._traffic(hour) * ORDER_RATE * drop)
            refunded = sum(1 for _ in range(orders) if rng.random() < REFUND_RATE)
            yield FactRow(
                Grain.hour,
                hour,
                currency=currency,
                orders=orders,
                revenue=_money(sum(AOV * rng.lognormvariate(0, 0.35) for _ in range(orders))),
                refunds=_money(refunded * AOV * rng.lognormvariate(0, 0.3)),
            )

    # --- the shared world ---------------------------------------------------------------------

    def _traffic(self, hour: datetime) -> float:
        """Expected sessions in `hour`, with demand noise shared by all three profiles."""
        local = hour.astimezone(self.timezone())
        days = (local.date() - self.anchor).days
        demand = self._rng("demand", "", hour).lognormvariate(0, 0.08)
        return (
            SESSIONS_PER_HOUR
            * HOUR_WEIGHT[local.hour]
            * WEEKDAY_WEIGHT[local.weekday()]
            * (1 + TREND_PER_DAY * days)
            * (1 + GROWTH * self._ramp(hour))
            * demand
        )

    def _ramp(self, at: datetime) -> float:
        """0 until RAMP_DAYS before the anchor, rising to 1 on the anchor (local days)."""
        days = (at.astimezone(self.timezone()).date() - self.anchor).days + RAMP_DAYS
        return min(1.0, max(0.0, days / RAMP_DAYS))

    def _in_incident(self, kind: str, hour: datetime) -> bool:
        incident = self._incidents[kind]
        return incident.start <= hour < incident.end

    def _rng(self, stream: str, series: str, hour: datetime) -> random.Random:
        key = f"{self.seed}|{stream}|{series}|{hour.timestamp():.0f}".encode()
        return random.Random(int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big"))


def _hours(window: Window, now: datetime) -> Iterator[datetime]:
    """The whole UTC hours of `window` that have started by `now`."""
    hour = window.start
    while hour < window.end and hour < now:
        yield hour
        hour += timedelta(hours=1)


def _poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw (normal approximation for large means)."""
    if mean <= 0:
        return 0
    if mean > 50:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _money(value: float) -> Decimal:
    return Decimal(str(round(value, 2))).quantize(Decimal("0.01"))
