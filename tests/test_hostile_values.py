"""Whatever an upstream puts where a number or a name belongs, each connector's parser and the
validation boundary (`dpo/ingest/values.py`) either refuse it with UpstreamDataError or hand
the engine values its columns hold: finite, within range, whole where the metric counts, not
negative where it cannot be, text without control characters and within its column."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date
from decimal import Decimal
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from dpo.connectors.base import FactRow, SourceSpec, Window
from dpo.connectors.ga import GaConnector
from dpo.connectors.meta import MetaConnector
from dpo.connectors.woo import WooConnector
from dpo.errors import UpstreamDataError
from dpo.ingest import values
from dpo.metrics import BY_NAME, COUNT_LIMIT, MONEY_LIMIT
from dpo.vocab import Grain

DAY = date(2026, 3, 9)
WINDOW = Window.for_day(DAY, ZoneInfo("UTC"))  # every connector below is given UTC days

HOSTILE_TEXT = [
    "NaN", "nan", "-NaN", "sNaN", "Infinity", "-inf", "1e308", "-1e308", "1e-308", "1.5e3",
    "1.5", "-0", "-3", "", " ", " 12 ", "0x1F", "1_000", "١٢", "12abc", "<html>", "9" * 40,
    "null", "true", "1,5", "\x00", "\uff15",
]  # fmt: skip
hostile = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.sampled_from(HOSTILE_TEXT),
    st.text(max_size=20),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
hostile_text = st.one_of(
    st.text(max_size=50),
    st.text(alphabet=st.characters(max_codepoint=0x1F), max_size=10),
    st.integers(min_value=200, max_value=3_000).map(lambda n: "x\x00" * n),
)


def spec(kind: str, **settings: Any) -> SourceSpec:
    return SourceSpec(1, 1, "acme", kind, "123", f"{kind}:123", "UTC", "USD", settings=settings)


def parsed(make: Callable[[], Iterable[FactRow]]) -> list[FactRow] | None:
    """The rows the engine would write, or None when the upstream's answer was refused."""
    try:
        return list(values.checked(list(make()), upstream="upstream", day=DAY))
    except UpstreamDataError as exc:
        assert exc.message and "Traceback" not in exc.message
        return None


def assert_storable(rows: list[FactRow] | None) -> None:
    for row in rows or []:
        for name, value in row.metrics.items():
            if value is None:
                continue
            metric = BY_NAME[name]
            if metric.integral:
                assert type(value) is int and abs(value) <= COUNT_LIMIT, (name, value)
            else:
                assert isinstance(value, Decimal) and value.is_finite(), (name, value)
                assert abs(value) < MONEY_LIMIT, (name, value)
            assert metric.signed or value >= 0, (name, value)
        for text, limit in (
            (row.channel, values.TEXT_LIMITS["channel"]),
            (row.campaign, values.TEXT_LIMITS["campaign"]),
            (row.campaign_name, values.TEXT_LIMITS["campaign_name"]),
        ):
            if text is not None:
                assert isinstance(text, str) and len(text) <= limit
                assert all(ord(c) >= 0x20 and not 0x7F <= ord(c) <= 0x9F for c in text), text


@settings(max_examples=300, deadline=None)
@given(
    spend=hostile,
    impressions=hostile,
    clicks=hostile,
    purchases=hostile,
    value=hostile,
    campaign=hostile,
    name=hostile_text,
    bucket=st.one_of(st.just("06:00:00 - 06:59:59"), hostile),
)
def test_meta_rows(
    spend: Any,
    impressions: Any,
    clicks: Any,
    purchases: Any,
    value: Any,
    campaign: Any,
    name: str,
    bucket: Any,
) -> None:
    meta = MetaConnector(spec("meta"))
    base = {
        "campaign_id": campaign,
        "campaign_name": name,
        "spend": spend,
        "impressions": impressions,
        "clicks": clicks,
    }
    hourly = {**base, "hourly_stats_aggregated_by_advertiser_time_zone": bucket}
    daily = {
        **base,
        "actions": [{"action_type": "omni_purchase", "7d_click": purchases, "1d_view": "1"}],
        "action_values": [{"action_type": "omni_purchase", "7d_click": value}],
    }
    assert_storable(parsed(lambda: meta._hourly_facts([hourly], WINDOW)))
    assert_storable(parsed(lambda: meta._daily_facts([daily], WINDOW)))


@settings(max_examples=300, deadline=None)
@given(
    total=hostile,
    refund=hostile,
    status=st.one_of(st.sampled_from(["processing", "completed", "refunded"]), hostile),
    created=st.one_of(st.just("2026-03-09T10:15:00"), hostile),
    currency=st.one_of(st.just("USD"), hostile),
)
def test_woo_orders(total: Any, refund: Any, status: Any, created: Any, currency: Any) -> None:
    woo = WooConnector(spec("woo", currency="USD"))
    order = {
        "id": 7,
        "status": status,
        "date_created_gmt": created,
        "currency": currency,
        "total": total,
        "refunds": [{"total": refund}],
    }

    def facts() -> list[FactRow]:
        hours = woo._by_hour([order], WINDOW, "USD")
        return [
            FactRow(
                Grain.hour,
                hour,
                currency="USD",
                orders=h.orders,
                revenue=h.revenue,
                refunds=h.refunds,
            )
            for hour, h in hours.items()
        ]

    assert_storable(parsed(facts))


def ga_row(dims: list[Any], metrics: list[Any]) -> SimpleNamespace:
    return SimpleNamespace(
        dimension_values=[SimpleNamespace(value=d) for d in dims],
        metric_values=[SimpleNamespace(value=m) for m in metrics],
    )


@settings(max_examples=300, deadline=None)
@given(
    figures=st.lists(st.one_of(st.sampled_from(HOSTILE_TEXT), st.text(max_size=12)), max_size=6),
    channel=hostile_text,
)
def test_ga_rows(figures: list[str], channel: str) -> None:
    ga = GaConnector(spec("ga", timezone="UTC"))
    hour = ga_row(["2026030906", channel], figures)
    day = ga_row(["20260309", channel], figures)
    assert_storable(parsed(lambda: [ga._hour_fact(hour, "USD")]))
    assert_storable(parsed(lambda: [ga._day_fact(day, WINDOW, "USD")]))
