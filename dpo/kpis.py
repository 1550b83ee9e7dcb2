"""KPI definitions: what each KPI is made of, its unit, and which direction is good.

Ratios are always computed from summed parts (never averaged) and are undefined (None) when
the denominator is zero. Additive KPIs are plain sums of a fact column.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from dpo.errors import InvalidInputError

Unit = Literal["money", "count", "ratio", "percent"]


@dataclass(frozen=True)
class Kpi:
    """One KPI: either a sum of a metric, or numerator / denominator (times scale)."""

    name: str
    label: str
    unit: Unit
    higher_is_better: bool
    numerator: str
    denominator: str | None = None
    scale: int = 1

    @property
    def is_additive(self) -> bool:
        """True for plain sums, which can be added across periods and segments."""
        return self.denominator is None

    def compute(self, parts: dict[str, Decimal | int | None]) -> Decimal | None:
        """The KPI's value from summed parts; None when a part is missing or a denominator is 0."""
        num = parts.get(self.numerator)
        if num is None:
            return None
        if self.denominator is None:
            return Decimal(num)
        den = parts.get(self.denominator)
        if den is None or den == 0:
            return None
        return Decimal(num) * self.scale / Decimal(den)


KPIS: dict[str, Kpi] = {
    k.name: k
    for k in (
        Kpi("spend", "Spend", "money", False, "spend"),
        Kpi("revenue", "Revenue", "money", True, "revenue"),
        Kpi("orders", "Orders", "count", True, "orders"),
        Kpi("sessions", "Sessions", "count", True, "sessions"),
        Kpi("conversions", "Conversions", "count", True, "conversions"),
        Kpi("impressions", "Impressions", "count", True, "impressions"),
        Kpi("clicks", "Clicks", "count", True, "clicks"),
        Kpi("refunds", "Refunds", "money", False, "refunds"),
        Kpi("roas", "ROAS", "ratio", True, "attributed_revenue", "spend"),
        Kpi("mer", "MER", "ratio", True, "revenue", "spend"),
        Kpi("cpa", "CPA", "money", False, "spend", "orders"),
        Kpi("cpc", "CPC", "money", False, "spend", "clicks"),
        Kpi("cpm", "CPM", "money", False, "spend", "impressions", 1000),
        Kpi("ctr", "CTR", "percent", True, "clicks", "impressions"),
        Kpi("conversion_rate", "Conversion rate", "percent", True, "orders", "sessions"),
        Kpi("aov", "AOV", "money", True, "revenue", "orders"),
        Kpi("refund_rate", "Refund rate", "percent", False, "refunds", "revenue"),
    )
}


def get_kpi(name: str) -> Kpi:
    """The KPI called `name` (case-insensitive), or an error listing the known ones."""
    kpi = KPIS.get(name.strip().lower())
    if kpi is None:
        raise InvalidInputError(f"unknown KPI {name!r}; known KPIs: {', '.join(KPIS)}")
    return kpi
