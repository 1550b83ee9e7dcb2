"""KPIs: ratios of summed parts, undefined on zero denominators, never mixing levels."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dpo import localdays
from dpo.errors import InvalidInputError
from dpo.kpis import KPIS, PARTS, Kpi, Level, add_parts, change, compute_kpis, get_kpi

RATIOS = [k for k in KPIS.values() if not k.is_additive]


def test_every_kpi_has_a_unit_and_a_direction() -> None:
    assert set(KPIS) >= {
        "spend", "revenue", "orders", "sessions", "conversions", "impressions", "clicks",
        "roas", "mer", "cpa", "cpc", "cpm", "ctr", "conversion_rate", "aov", "refund_rate",
    }  # fmt: skip
    for kpi in KPIS.values():
        assert kpi.unit in ("money", "count", "ratio", "percent")
        assert isinstance(kpi.higher_is_better, bool)
    assert not KPIS["cpa"].higher_is_better and KPIS["roas"].higher_is_better


@pytest.mark.parametrize("level", ["org", "segment"])
@pytest.mark.parametrize("kpi", RATIOS, ids=lambda k: k.name)
def test_ratios_are_undefined_on_a_zero_denominator(kpi: Kpi, level: Level) -> None:
    parts = {name: Decimal(7) for name in PARTS}
    ratio = kpi.segment_ratio if level == "segment" and kpi.segment_ratio else kpi.ratio
    assert ratio is not None
    assert kpi.compute(parts, level=level) is not None
    assert kpi.compute(parts | {ratio.denominators[0]: 0}, level=level) is None


def test_not_reported_is_not_zero() -> None:
    kpis = compute_kpis({"spend": Decimal(100)})
    assert kpis["spend"] == Decimal("100.00")
    assert kpis["revenue"] is None and kpis["roas"] is None and kpis["cpc"] is None
    assert compute_kpis({"spend": 0, "revenue": Decimal(10)})["mer"] is None


def test_ratios_come_from_summed_parts_not_averages() -> None:
    monday = {"clicks": 1, "impressions": 100}  # CTR 1 %
    tuesday = {"clicks": 90, "impressions": 1000}  # CTR 9 %
    week = add_parts(add_parts({}, monday), tuesday)
    assert compute_kpis(week)["ctr"] == Decimal("0.0827")  # 91 / 1100, not (1 % + 9 %) / 2


def test_org_and_segment_levels() -> None:
    parts: dict[str, Decimal | int | None] = {
        "spend": Decimal(100),
        "revenue": Decimal(300),
        "attributed_revenue": Decimal(450),
        "orders": 10,
        "attributed_conversions": Decimal(20),
        "conversions": Decimal(40),
        "sessions": 1000,
    }
    org, segment = compute_kpis(parts), compute_kpis(parts, level="segment")
    assert org["roas"] == org["mer"] == Decimal("3.00")  # the organization's ROAS is its MER
    assert segment["roas"] == Decimal("4.50")  # a campaign's is what the platform claims
    assert org["cpa"] == Decimal("10.00") and segment["cpa"] == Decimal("5.00")
    assert org["conversion_rate"] == Decimal("0.0100")
    assert segment["conversion_rate"] == Decimal("0.0400")
    # Without a store, the organization's CPA and conversion rate fall back on GA key events.
    no_store = {k: v for k, v in parts.items() if k != "orders"}
    assert compute_kpis(no_store)["cpa"] == Decimal("2.50")
    assert compute_kpis(no_store)["conversion_rate"] == Decimal("0.0400")
    # …but only when orders are not reported at all: zero orders leave CPA undefined.
    assert compute_kpis(no_store | {"orders": 0})["cpa"] is None


def test_cpm_scale_and_rounding() -> None:
    kpis = compute_kpis({"spend": Decimal("12.345"), "impressions": 1000, "clicks": 3})
    assert kpis["cpm"] == Decimal("12.34")  # half-even, to the cent
    assert kpis["cpc"] == Decimal("4.12")
    assert kpis["impressions"] == 1000


def test_change() -> None:
    assert change(Decimal(110), Decimal(100)) == Decimal("0.1000")
    assert change(Decimal(5), Decimal(-10)) == Decimal("1.5000")
    assert change(Decimal(5), Decimal(0)) is None
    assert change(None, Decimal(3)) is None


def test_unknown_kpi() -> None:
    with pytest.raises(InvalidInputError, match="unknown KPI 'rosa'"):
        get_kpi("rosa")
    assert get_kpi(" ROAS ").name == "roas"


# --- local days ---------------------------------------------------------------------------------


@given(
    zone=st.sampled_from(
        ["Europe/Berlin", "America/Santiago", "Australia/Lord_Howe", "Asia/Kolkata", "UTC"]
    ),
    first=st.dates(min_value=date(2025, 1, 1), max_value=date(2027, 12, 1)),
    length=st.integers(min_value=1, max_value=400),
)
def test_pieces_put_every_hour_on_its_local_date(zone: str, first: date, length: int) -> None:
    tz = ZoneInfo(zone)
    last = first + timedelta(days=length - 1)
    pieces = [p for p in localdays.pieces_for_days(first, last, tz) if p.grain == "hour"]
    assert pieces[0].start == localdays.day_start(first, tz)
    assert pieces[-1].end == localdays.day_start(last + timedelta(days=1), tz)
    for a, b in itertools.pairwise(pieces):
        assert a.end == b.start
    for piece in pieces:
        moment = piece.start
        while moment < piece.end:
            local = moment + timedelta(seconds=piece.offset_seconds)
            assert local.date() == moment.astimezone(tz).date(), (piece, moment)
            moment += timedelta(minutes=30)
        end = piece.end - timedelta(seconds=1)
        assert (end + timedelta(seconds=piece.offset_seconds)).date() == end.astimezone(tz).date()


def test_berlin_has_one_offset_change_in_spring() -> None:
    tz = ZoneInfo("Europe/Berlin")
    pieces = localdays.offset_pieces(
        datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC), tz
    )
    assert [(p[1], p[2]) for p in pieces] == [
        (datetime(2026, 3, 29, 1, tzinfo=UTC), 3600),
        (datetime(2026, 4, 1, tzinfo=UTC), 7200),
    ]
