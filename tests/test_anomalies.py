"""The anomaly detector on series whose incidents we know: found, quiet otherwise, causal."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np

from dpo.insights import pooled as pooled_mod
from dpo.insights import seasonal, timeline
from dpo.insights.anomalies import detect
from dpo.insights.detection import DetectorConfig, Scores, Series
from dpo.insights.series import TOTAL_SCOPE, KpiSeries, OrgSeries
from dpo.vocab import Grain

SHOP = np.array(
    [0.25, 0.15, 0.1, 0.08, 0.08, 0.12, 0.25, 0.45, 0.65, 0.8, 0.9, 0.95,
     1.0, 0.95, 0.9, 0.9, 0.95, 1.0, 1.1, 1.25, 1.35, 1.3, 1.0, 0.55]
)  # fmt: skip
WEEK = np.array([1.0, 0.98, 0.97, 0.99, 0.95, 0.7, 0.8])


def hourly(
    days: int = 60, *, per_hour: float = 200.0, seed: int = 1, noise: float = 0.08
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Counts with a shop's day and a quiet weekend: (values, slots, days)."""
    rng = np.random.default_rng(seed)
    t = np.arange(days * 24)
    hod, day = t % 24, t // 24
    dow = day % 7
    mean = per_hour * SHOP[hod] / SHOP.mean() * WEEK[dow] * np.exp(rng.normal(0, noise, len(t)))
    return rng.poisson(mean).astype(float), (dow * 24 + hod).astype(np.int64), day.astype(np.int64)


def run(values: np.ndarray, slots: np.ndarray, days: np.ndarray, **kw: object) -> Scores:
    is_log = bool(kw.pop("is_log", False))
    return detect(Series(values, slots, days, Grain.hour, is_log=is_log), DetectorConfig(**kw))  # type: ignore[arg-type]


def flagged(scores: Scores, lo: int, hi: int) -> int:
    return int(scores.is_anomaly[lo:hi].sum())


def test_finds_a_drop_a_spike_and_an_outage_and_nothing_else() -> None:
    y, slots, days = hourly()
    y[30 * 24 + 9 : 30 * 24 + 21] *= 0.2  # checkout broken for 12 hours
    y[40 * 24 + 10 : 40 * 24 + 16] *= 4  # a spike for 6 hours
    y[50 * 24 + 8 : 50 * 24 + 14] = 0  # tracking outage
    scores = run(y, slots, days)
    assert flagged(scores, 30 * 24 + 9, 30 * 24 + 21) >= 11
    assert flagged(scores, 40 * 24 + 10, 40 * 24 + 16) == 6
    assert flagged(scores, 50 * 24 + 8, 50 * 24 + 14) == 6
    incidents = np.zeros(len(y), dtype=bool)
    for lo, hi in ((30 * 24 + 9, 30 * 24 + 21), (40 * 24 + 10, 40 * 24 + 16), (1208, 1214)):
        incidents[lo:hi] = True
    assert not (scores.is_anomaly & ~incidents).any(), np.flatnonzero(
        scores.is_anomaly & ~incidents
    )


def test_scores_are_causal() -> None:
    """A point's score is the same whether or not later points exist (as the hourly job sees it)."""
    y, slots, days = hourly(days=40)
    y[25 * 24 : 25 * 24 + 8] *= 0.3
    full = run(y, slots, days)
    for cut in (20 * 24 + 5, 25 * 24 + 3, 33 * 24 + 17):
        part = run(y[:cut], slots[:cut], days[:cut])
        np.testing.assert_array_equal(part.is_anomaly, full.is_anomaly[:cut])
        np.testing.assert_allclose(part.score, full.score[:cut])
        np.testing.assert_allclose(part.expected, full.expected[:cut])


def test_normal_seasonal_swings_and_a_quiet_weekend_raise_nothing() -> None:
    for seed in range(4):
        y, slots, days = hourly(seed=seed, noise=0.12)
        assert run(y, slots, days).is_anomaly.sum() == 0, seed


def test_sparse_counts_do_not_alert_on_every_blip() -> None:
    y, slots, days = hourly(days=90, per_hour=0.3)
    assert (y == 0).mean() > 0.6
    assert run(y, slots, days).is_anomaly.sum() == 0


def test_a_long_silence_in_a_sparse_series_is_found() -> None:
    y, slots, days = hourly(days=60, per_hour=3.0)
    y[45 * 24 : 47 * 24] = 0  # two days without a single order, when ~140 were due
    scores = run(y, slots, days)
    assert flagged(scores, 45 * 24, 47 * 24) >= 30
    assert flagged(scores, 0, 45 * 24) == 0


def test_a_level_shift_alerts_then_adapts() -> None:
    y, slots, days = hourly()
    y[40 * 24 + 12 :] *= 2  # the budget doubled for good
    scores = run(y, slots, days)
    shift = 40 * 24 + 12
    assert flagged(scores, shift, shift + 6) >= 5
    assert flagged(scores, shift + 30, len(y)) <= 1  # a stray night hour at most, no run
    assert scores.adapted_at and shift < scores.adapted_at[0] <= shift + 30


def test_a_level_shift_in_the_second_week_stays_the_new_normal() -> None:
    """With under two weeks of history the profile is learned against a flat baseline: the
    hours after an accepted step must not be learned as the week's busy hours (which would
    flag the new level again at the next refit)."""
    rng = np.random.default_rng(3)
    t = np.arange(14 * 24)
    y = rng.poisson(480, len(t)).astype(float)  # a flat gauge, summed per hour
    shift = 10 * 24 + 14
    y[shift:] += 300
    slots, days = ((t // 24) % 7 * 24 + t % 24).astype(np.int64), (t // 24).astype(np.int64)
    scores = run(y, slots, days)
    assert flagged(scores, shift, shift + 3) == 3
    assert scores.adapted_at and scores.adapted_at[0] <= shift + 30
    assert flagged(scores, scores.adapted_at[0] + 1, len(y)) == 0


def test_an_incident_longer_than_a_day_ends_cleanly() -> None:
    """After re-basing on a long drop, the return to normal is not a new incident."""
    y, slots, days = hourly()
    y[40 * 24 : 41 * 24 + 12] *= 0.4
    scores = run(y, slots, days)
    assert flagged(scores, 40 * 24, 41 * 24) >= 20
    assert flagged(scores, 41 * 24 + 12, len(y)) <= 1


def test_an_outage_is_flagged_while_it_lasts() -> None:
    y, slots, days = hourly()
    y[40 * 24 : 43 * 24] = 0  # three days of nothing is an outage, not a new normal
    scores = run(y, slots, days)
    assert flagged(scores, 40 * 24, 43 * 24) == 72
    assert flagged(scores, 43 * 24, len(y)) == 0


def test_missing_hours_are_judged_as_missing() -> None:
    y, slots, days = hourly()
    y[45 * 24 + 9 : 45 * 24 + 15] = np.nan
    scores = run(y, slots, days)
    assert scores.is_missing[45 * 24 + 9 : 45 * 24 + 15].all()
    assert flagged(scores, 45 * 24 + 9, 45 * 24 + 15) == 6
    # Missing night hours of a quiet series are not an outage.
    quiet, slots, days = hourly(per_hour=0.5)
    quiet[45 * 24 + 1 : 45 * 24 + 4] = np.nan
    assert run(quiet, slots, days).is_anomaly.sum() == 0


def test_short_history_is_not_judged() -> None:
    y, slots, days = hourly(days=3)
    y[-5:] = 0
    scores = run(y, slots, days)
    assert not scores.is_judged.any() and not scores.is_anomaly.any()
    assert (scores.score == 0).all()


def test_a_large_sustained_loss_is_flagged_within_three_hours() -> None:
    """A checkout that stops taking 80 % of the orders of a shop selling about 10 an hour."""
    for seed in (1, 2, 3, 4, 5):
        y, slots, days = hourly(days=42, per_hour=10.0, seed=seed)
        start = 30 * 24 + 10  # 10:00
        y[start : start + 10] = np.round(y[start : start + 10] * 0.2)
        scores = run(y, slots, days)
        assert scores.is_anomaly[start : start + 3].any(), seed  # known by 13:00
        assert flagged(scores, 7 * 24, start) == 0


def test_three_days_are_enough_for_a_large_loss_and_not_for_the_weekend() -> None:
    """From day 3 a large loss is an incident (within 3 hours), while the first weekend,
    which the history has not shown yet, is not."""
    y, slots, days = hourly(days=14, per_hour=120.0, seed=5)
    start = 3 * 24 + 10  # day 4 (a Friday) at 10:00, the weekend after it unseen
    y[start : start + 8] = np.round(y[start : start + 8] * 0.2)
    scores = run(y, slots, days)
    assert scores.is_judged[3 * 24 :].all() and not scores.is_judged[: 3 * 24].any()
    assert scores.is_anomaly[start : start + 3].any()
    assert flagged(scores, 0, start) == 0 and flagged(scores, start + 12, len(y)) == 0


def test_ratios_are_judged_on_a_log_scale() -> None:
    rng = np.random.default_rng(3)
    y, slots, days = hourly()
    cpc = 0.8 * np.exp(rng.normal(0, 0.08, len(y)))
    cpc[40 * 24 + 10 : 40 * 24 + 16] *= 2.0  # the price doubles for six hours
    cpc[50 * 24 + 10 : 50 * 24 + 16] *= 0.5  # and halves: as unusual on a log scale
    scores = run(cpc, slots, days, is_log=True)
    assert flagged(scores, 40 * 24 + 10, 40 * 24 + 16) == 6
    assert flagged(scores, 50 * 24 + 10, 50 * 24 + 16) == 6
    assert scores.is_anomaly.sum() == 12


def test_score_is_a_probability_like_number_with_the_line_at_one_half() -> None:
    y, slots, days = hourly()
    y[40 * 24 + 10 : 40 * 24 + 16] *= 4
    scores = run(y, slots, days)
    assert ((scores.score >= 0) & (scores.score <= 1)).all()
    np.testing.assert_array_equal(scores.score >= 0.5, scores.is_anomaly)


def test_higher_sensitivity_flags_more() -> None:
    y, slots, days = hourly(noise=0.15)
    y[40 * 24 + 10 : 40 * 24 + 22] *= 0.7
    counts = [run(y, slots, days, sensitivity=s).is_anomaly.sum() for s in (0.5, 1.0, 2.0)]
    assert counts[0] <= counts[1] <= counts[2]
    assert counts[0] < counts[2]


def test_profile_recovers_a_known_week() -> None:
    y, slots, _ = hourly(days=42, per_hour=5000.0, noise=0.0)
    profile = seasonal.hourly_profile(seasonal.ProfileInput(y, slots, unit=1.0, rel_noise=0.02))
    truth = np.outer(WEEK, SHOP).ravel()
    np.testing.assert_allclose(profile, truth / truth.mean(), rtol=0.05)


def test_hours_that_never_have_data_are_not_missing() -> None:
    """An export of business hours only: its nights are not an outage, its days are judged."""
    y, slots, days = hourly()
    hod = slots % 24
    y[(hod < 8) | (hod > 19)] = np.nan
    scores = run(y, slots, days)
    assert scores.is_anomaly.sum() == 0
    y[45 * 24 + 10 : 45 * 24 + 14] = np.nan  # but a gap in business hours is
    assert flagged(run(y, slots, days), 45 * 24 + 10, 45 * 24 + 14) == 4


def test_heavy_tails_raise_the_bar_for_a_single_point() -> None:
    """A smooth gauge whose ordinary hours stray 4-6 sd now and then (t-distributed noise):
    those are mostly not incidents, while a jump far beyond them still is."""
    for seed in (21, 22, 23):
        rng = np.random.default_rng(seed)
        y = 40 * (1 + 0.02 * rng.standard_t(3, size=60 * 24))
        y[50 * 24 + 3] = 80.0
        _, slots, days = hourly(days=60)
        scores = run(y, slots, days)
        assert scores.is_anomaly[50 * 24 + 3]
        assert flagged(scores, 0, len(y)) - 1 <= 5, seed  # under one hour in ten days


def shop(values: dict[str, np.ndarray]) -> tuple[dict[str, Scores], dict[str, Scores]]:
    """An organization's total KPIs scored one by one, and after pooling its purchases."""
    n = len(values["orders"])
    grid = timeline.hourly_in_zone(datetime(2026, 1, 5, tzinfo=UTC), n, ZoneInfo("UTC"))
    scored = [
        (KpiSeries(kpi, TOTAL_SCOPE, v), detect(Series(v, grid.slots, grid.days, Grain.hour)))
        for kpi, v in values.items()
    ]
    data = OrgSeries(Grain.hour, grid, [s for s, _ in scored], {})
    pooled = pooled_mod.corroborate(data, scored, DetectorConfig())
    return {s.kpi: sc for s, sc in scored}, {s.kpi: sc for s, sc in pooled}


def small_shop(seed: int = 1) -> dict[str, np.ndarray]:
    """About 1.5 orders an hour, GA counting its purchases apart, and their revenue."""
    orders = hourly(per_hour=1.5, seed=seed)[0]
    conversions = hourly(per_hour=1.5, seed=seed + 10)[0]
    rng = np.random.default_rng(seed)
    revenue = np.array([rng.lognormal(4, 0.35, int(k)).sum() for k in orders])
    return {"orders": orders, "conversions": conversions, "revenue": revenue}


def first_flag(scores: Scores, lo: int, hi: int) -> int | None:
    """Hours of the incident seen when it is first flagged (None: never)."""
    hits = np.flatnonzero(scores.is_anomaly[lo:hi])
    return int(hits[0]) + 1 if len(hits) else None


def test_a_loss_both_purchase_counts_show_is_flagged_within_three_hours() -> None:
    """A checkout that stops selling in a shop expecting about 5 orders in 3 hours: neither
    count alone is sure of it before hour 6, their sum is in 3, and the alert is on orders
    and revenue."""
    values = small_shop()
    lo = 45 * 24 + 10
    for v in values.values():
        v[lo : lo + 12] = 0
    alone, pooled = shop(values)
    assert [first_flag(alone[k], lo, lo + 12) for k in values] == [6, 6, 7]
    assert [first_flag(pooled[k], lo, lo + 12) for k in values] == [3, 3, 3]
    outside = np.ones(len(values["orders"]), dtype=bool)
    outside[lo : lo + 12] = False
    assert not any((pooled[k].is_anomaly & outside).any() for k in values)


def test_counting_the_same_purchases_twice_is_no_more_evidence() -> None:
    """GA's purchases that are the store's very orders: their sum is twice one count, its
    noise fitted as such, so it sees the loss no sooner than orders alone."""
    values = small_shop()
    values["conversions"] = values["orders"].copy()
    lo = 45 * 24 + 10
    for v in values.values():
        v[lo : lo + 12] = 0
    alone, pooled = shop(values)
    assert first_flag(pooled["orders"], lo, lo + 12) == first_flag(alone["orders"], lo, lo + 12)
    assert first_flag(pooled["orders"], lo, lo + 12) == 6


def test_a_loss_only_analytics_shows_is_not_blamed_on_orders() -> None:
    """GA's key events (four times the orders) gone for 12 hours while the store sells on:
    the sum of both counts falls far enough to be flagged, but it is a tracking problem of
    conversions, never lost orders or revenue."""
    values = small_shop()
    y, slots, days = hourly(per_hour=6.0, seed=11)
    values["conversions"] = y
    lo = 45 * 24 + 10
    values["conversions"][lo : lo + 12] = 0
    alone, pooled = shop(values)
    total = Series(values["orders"] + y, slots, days, Grain.hour, missing_is_gap=True)
    assert detect(total).is_anomaly[lo : lo + 12].sum() >= 6
    assert first_flag(alone["conversions"], lo, lo + 12) is not None
    for kpi in ("orders", "revenue"):
        assert (pooled[kpi].is_anomaly == alone[kpi].is_anomaly).all()
