"""Trend insights: a KPI that moved for weeks is told with its numbers and its outlook, and a
steady one is not."""

from __future__ import annotations

from datetime import date

import numpy as np

from dpo.insights import trends
from dpo.insights.series import TOTAL_SCOPE
from dpo.storage.models import Organization
from tests.test_recommend import DAYS, org, parts

WEEK = np.array([1.0, 1.0, 1.0, 1.0, 0.95, 0.6, 0.7])
LAST = date(2026, 3, 1)


def revenue(level: np.ndarray, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(DAYS)
    values: np.ndarray = level * WEEK[t % 7] * (1 + rng.normal(0, 0.04, DAYS))
    return values


def test_a_rise_is_a_trend_with_its_outlook_and_how_it_was_forecast() -> None:
    level = np.where(np.arange(DAYS) >= DAYS - 14, 1300.0, 1000.0)  # +30 % for two weeks
    acme = Organization(id=1, slug="acme", name="Acme", timezone="UTC", currency="EUR")
    daily = org({TOTAL_SCOPE: parts(revenue=revenue(level), orders=20.0, spend=300.0)})
    drafts = {d.kpi: d for d in trends.trend_drafts(acme, daily, LAST)}
    rise = drafts["revenue"]
    assert rise.title.startswith("Revenue is up ")
    assert rise.title.endswith("% over the last two weeks (against the four before)")
    assert 0.25 < rise.evidence["change"] < 0.35
    outlook = rise.evidence["forecast_7d"]
    assert outlook["low"] < outlook["mean"] < outlook["high"]
    assert outlook["why"] and f"; forecast: {outlook['why']}." in rise.description
    assert "whose 7-day totals erred" in outlook["why"]
    assert "orders" not in drafts and "spend" not in drafts  # flat: no trend


def test_a_steady_week_is_no_trend() -> None:
    acme = Organization(id=1, slug="acme", name="Acme", timezone="UTC", currency="EUR")
    daily = org({TOTAL_SCOPE: parts(revenue=revenue(np.full(DAYS, 1000.0), seed=3))})
    assert trends.trend_drafts(acme, daily, LAST) == []
