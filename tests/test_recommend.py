"""Recommendation rules: each fires on the situation it names, with the numbers behind it,
and stays quiet otherwise."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from dpo.insights import recommend
from dpo.insights.series import TOTAL_SCOPE, OrgSeries, Scope
from dpo.insights.timeline import daily
from dpo.kpis import PARTS
from dpo.vocab import Grain

DAYS = 56
FIRST = date(2026, 1, 5).toordinal()


def parts(**per_day: float | np.ndarray) -> dict[str, np.ndarray]:
    out = {p: np.full(DAYS, np.nan) for p in PARTS}
    for name, value in per_day.items():
        out[name] = np.broadcast_to(np.asarray(value, dtype=float), (DAYS,)).copy()
    return out


def campaign(name: str) -> Scope:
    return Scope("campaign", "Paid Social", f"id-{name}", name)


def org(scopes: dict[Scope, dict[str, np.ndarray]], grain: Grain = Grain.day) -> OrgSeries:
    return OrgSeries(grain, daily(FIRST, DAYS), [], scopes)


def test_budget_moves_from_low_to_high_roas() -> None:
    data = org(
        {
            campaign("Weak"): parts(spend=100, attributed_revenue=100, attributed_conversions=4),
            campaign("Middle"): parts(spend=100, attributed_revenue=250, attributed_conversions=8),
            campaign("Strong"): parts(spend=100, attributed_revenue=400, attributed_conversions=12),
            campaign("Tiny"): parts(spend=5, attributed_revenue=1, attributed_conversions=0),
        }
    )
    (rec,) = recommend.budget_shifts(data, "EUR")
    assert rec.title == "Move budget from Weak (ROAS 1.00) to Strong (ROAS 4.00)"
    assert rec.campaign == "id-Weak"
    # A fifth of Weak's 100 a day = 20 a day; at ROAS 4 instead of 1: 60 more a day.
    assert rec.evidence["move_per_day"] == 20 and rec.evidence["gain_per_day"] == 60
    assert rec.evidence["median_roas"] == 2.5  # Tiny spends under 5 %: not compared
    assert "EUR 20 a day" in rec.description
    even = org({campaign(n): parts(spend=100, attributed_revenue=250) for n in "ABC"})
    assert recommend.budget_shifts(even, "EUR") == []


def test_rising_cpa_needs_more_than_chance() -> None:
    orders = np.full(DAYS, 10.0)
    orders[-7:] = 6.0  # 60 a week instead of 70 … then 42: CPA from 10 to 16.7
    (rec,) = recommend.rising_cpa(org({TOTAL_SCOPE: parts(spend=100, orders=orders)}), "EUR")
    assert rec.title == "CPA rose 67% in the last 7 days"
    assert rec.evidence["cpa_recent"] == pytest.approx(700 / 42, abs=1e-4)
    assert rec.evidence["cpa_before"] == 10 and rec.evidence["conversions_expected"] == 70
    slightly = np.full(DAYS, 10.0)
    slightly[-7:] = 9.0
    assert recommend.rising_cpa(org({TOTAL_SCOPE: parts(spend=100, orders=slightly)}), "EUR") == []


def test_spend_without_conversions() -> None:
    conversions = np.full(DAYS, 5.0)
    conversions[-7:] = 0.0
    data = org({campaign("Dead"): parts(spend=100, attributed_conversions=conversions)})
    (rec,) = recommend.spend_without_conversions(data, "EUR")
    assert rec.title == "Dead spent EUR 700 in 7 days without a purchase"
    # Usual CPA over 8 weeks: 5600 / 245 = 22.86; 700 would have bought about 31.
    assert rec.evidence["usual_cpa"] == pytest.approx(5600 / 245, abs=1e-4)
    assert rec.severity.value == "critical"
    never_reported = org({campaign("Organic"): parts(spend=100)})
    assert recommend.spend_without_conversions(never_reported, "EUR") == []


def test_orders_at_zero_with_normal_sessions_is_broken_tracking() -> None:
    hours = 10 * 24
    sessions = np.full(hours, 100.0)
    orders = np.full(hours, 2.0)
    orders[-6:] = 0
    data = OrgSeries(Grain.hour, daily(FIRST, hours), [], {TOTAL_SCOPE: _hourly(sessions, orders)})
    (rec,) = recommend.broken_tracking(data)
    assert rec.severity.value == "critical" and rec.fingerprint == "rec:tracking:orders"
    assert rec.evidence == {"hours": 6, "sessions": 600, "usual_sessions": 600, "usual_orders": 12}
    sessions[-6:] = 10  # the site is down, not the tracking: the anomaly says so
    data = OrgSeries(Grain.hour, daily(FIRST, hours), [], {TOTAL_SCOPE: _hourly(sessions, orders)})
    assert recommend.broken_tracking(data) == []


def _hourly(sessions: np.ndarray, orders: np.ndarray) -> dict[str, np.ndarray]:
    out = {p: np.full(len(sessions), np.nan) for p in PARTS}
    out["sessions"], out["orders"] = sessions, orders
    return out


def test_platform_claims_above_store_revenue() -> None:
    data = org({TOTAL_SCOPE: parts(revenue=1000, attributed_revenue=1500, spend=400)})
    (rec,) = recommend.attribution_gap(data, "EUR")
    assert rec.title == "Ad platforms claim 1.5x the store's revenue"
    assert rec.evidence["mer"] == 2.5 and rec.evidence["claimed"] == 21000
    fair = org({TOTAL_SCOPE: parts(revenue=1000, attributed_revenue=900, spend=400)})
    assert recommend.attribution_gap(fair, "EUR") == []
