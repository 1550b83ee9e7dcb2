"""KPI definitions: what each KPI is made of, its unit, and which direction is good.

A KPI is either a plain sum of one rollup *part* (spend, revenue, orders, …) or a ratio of
summed parts, computed only after summing (never an average of ratios) and undefined (None)
when its denominator is zero. A part nobody reports is None too, never zero.

Some ratios mean different things for the organization as a whole and for one segment
(channel, campaign or source): the organization's ROAS is its revenue over all ad spend (MER),
a campaign's is what the ad platform attributes to it over its spend. A denominator can name
fallbacks, used only when the first part is not reported at all: an organization without a
store divides spend by GA key events for its CPA.

Money KPIs are in the organization's one currency: rollups convert others (`storage/fx.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Literal

from dpo import metrics
from dpo.errors import InvalidInputError

Unit = Literal["money", "count", "ratio", "percent"]
Level = Literal["org", "segment"]
Value = Decimal | int | None

PARTS: tuple[str, ...] = metrics.SUMMED
"""The additive parts every KPI is computed from (the measures of agg_hourly / agg_daily)."""

# How many decimals a KPI's value keeps in reports (percent KPIs are fractions: 0.0123 = 1.23 %).
_PLACES: dict[str, Decimal] = {
    "money": Decimal("0.01"),
    "count": Decimal("0.01"),
    "ratio": Decimal("0.01"),
    "percent": Decimal("0.0001"),
}


@dataclass(frozen=True)
class Ratio:
    """The first reported numerator, times scale, over the first reported denominator."""

    numerators: tuple[str, ...]
    denominators: tuple[str, ...]
    scale: int = 1

    def apply(self, parts: Mapping[str, Value]) -> Decimal | None:
        """The ratio, or None when a part is not reported or the denominator is zero."""
        num, den = _first(parts, self.numerators), _first(parts, self.denominators)
        if num is None or den is None or den == 0:
            return None
        return Decimal(num) * self.scale / Decimal(den)


def _first(parts: Mapping[str, Value], names: tuple[str, ...]) -> Value:
    return next((parts[n] for n in names if parts.get(n) is not None), None)


@dataclass(frozen=True)
class Kpi:
    """One KPI: a summed part, or a ratio (possibly defined differently for segments)."""

    name: str
    label: str
    unit: Unit
    higher_is_better: bool
    part: str | None = None
    ratio: Ratio | None = None
    segment_ratio: Ratio | None = None
    description: str = ""

    @property
    def is_additive(self) -> bool:
        """True for plain sums, which can be added across periods and segments."""
        return self.part is not None

    def compute(self, parts: Mapping[str, Value], *, level: Level = "org") -> Decimal | None:
        """The KPI's value from summed parts (None when undefined or not reported)."""
        if self.part is not None:
            value = parts.get(self.part)
            return None if value is None else Decimal(value)
        ratio = self.segment_ratio if level == "segment" and self.segment_ratio else self.ratio
        assert ratio is not None
        return ratio.apply(parts)

    def rounded(self, value: Decimal | None) -> Decimal | None:
        """The value with the decimals reports show (integers stay integers)."""
        if value is None:
            return None
        if self.unit == "count" and value == value.to_integral_value():
            return value.quantize(Decimal(1))
        return value.quantize(_PLACES[self.unit], rounding=ROUND_HALF_EVEN)


def _r(num: str | tuple[str, ...], *dens: str, scale: int = 1) -> Ratio:
    return Ratio(num if isinstance(num, tuple) else (num,), dens, scale)


SUMS: tuple[Kpi, ...] = tuple(
    Kpi(m.name, m.label, m.unit, m.higher_is_better, m.name, description=m.description)
    for m in metrics.METRICS
    if m.name in PARTS
)
"""A KPI per metric that adds up: its plain sum."""

KPIS: dict[str, Kpi] = {
    k.name: k
    for k in (
        *SUMS,
        Kpi(
            "roas",
            "ROAS",
            "ratio",
            True,
            ratio=_r("revenue", "spend"),
            segment_ratio=_r("attributed_revenue", "spend"),
        ),
        Kpi("mer", "MER", "ratio", True, ratio=_r("revenue", "spend")),
        Kpi(
            "cpa",
            "CPA",
            "money",
            False,
            ratio=_r("spend", "orders", "conversions"),
            segment_ratio=_r("spend", "attributed_conversions", "conversions"),
        ),
        Kpi("cpc", "CPC", "money", False, ratio=_r("spend", "clicks")),
        Kpi("cpm", "CPM", "money", False, ratio=_r("spend", "impressions", scale=1000)),
        Kpi("ctr", "CTR", "percent", True, ratio=_r("clicks", "impressions")),
        Kpi(
            "conversion_rate",
            "Conversion rate",
            "percent",
            True,
            ratio=_r(("orders", "conversions"), "sessions"),
            segment_ratio=_r(("conversions", "orders"), "sessions"),
        ),
        Kpi("aov", "AOV", "money", True, ratio=_r("revenue", "orders")),
        Kpi("refund_rate", "Refund rate", "percent", False, ratio=_r("refunds", "revenue")),
    )
}


def get_kpi(name: str) -> Kpi:
    """The KPI called `name` (case-insensitive), or an error listing the known ones."""
    kpi = KPIS.get(name.strip().lower())
    if kpi is None:
        raise InvalidInputError(f"unknown KPI {name!r}; known KPIs: {', '.join(KPIS)}")
    return kpi


def compute_kpis(parts: Mapping[str, Value], *, level: Level = "org") -> dict[str, Decimal | None]:
    """Every KPI from summed parts, rounded as reports show them."""
    return {name: kpi.rounded(kpi.compute(parts, level=level)) for name, kpi in KPIS.items()}


def add_parts(into: dict[str, Value], more: Mapping[str, Value]) -> dict[str, Value]:
    """Add `more` to `into` part by part, None meaning "not reported" (not zero)."""
    for name in PARTS:
        value = more.get(name)
        if value is not None:
            current = into.get(name)
            into[name] = value if current is None else current + value
    return into


def change(current: Decimal | None, before: Decimal | None) -> Decimal | None:
    """The relative change from `before` to `current` (None when `before` is 0 or missing)."""
    if current is None or before is None or before == 0:
        return None
    return ((current - before) / abs(before)).quantize(Decimal("0.0001"))
