"""The raw metrics: every number an upstream reports, declared once.

A fact row, the `fact` table's columns, the bulk-write tuples, the rollup columns, the KPIs
that are plain sums and the tests' oracle are all built from `METRICS`. Adding a raw metric is
one line here, an alembic migration for its column, and the connector that reports it.

How a metric adds up decides where it can go:
- `sum`: adds across hours, days, segments and sources (spend, clicks, orders). Rolled up.
- `distinct`: a count of distinct things (users) — an hour's users and the next hour's are
  partly the same people, so they are never added. Kept in `fact`, not rolled up.

A metric is `owned` when only the organization's revenue owner (its store, else its analytics
source) counts as the organization's figure; rollups keep every source's own figure beside it
in `source_<name>`. Money metrics are in the fact's currency; counts have none.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Literal


class AddsUp(StrEnum):
    """How a metric's values combine across periods and segments."""

    sum = "sum"
    distinct = "distinct"


MONEY_LIMIT = Decimal("1e14")
"""Exact decimals are NUMERIC(20, 6): 14 digits before the point."""
COUNT_LIMIT = 2**63 - 1
"""Whole numbers are BIGINT."""


def _decimal(value: object) -> Decimal | None:
    """A number an upstream sent (int, Decimal, float or text), or None when it is not one."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal | float | str):
        return None
    text = repr(value) if isinstance(value, float) else value
    try:
        return Decimal(text.strip() if isinstance(text, str) else text)
    except InvalidOperation:
        return None


@dataclass(frozen=True)
class Metric:
    """One raw metric: its column, how it is shown, how it adds up."""

    name: str
    label: str
    unit: Literal["count", "money"]
    integral: bool  # whole numbers (BIGINT) rather than exact decimals (NUMERIC)
    adds_up: AddsUp = AddsUp.sum
    owned: bool = False
    signed: bool = False  # may be negative (revenue net of adjustments, refund corrections)
    higher_is_better: bool = True
    description: str = ""

    @property
    def is_money(self) -> bool:
        """True when values are amounts in a currency."""
        return self.unit == "money"

    def coerce(self, value: object) -> int | Decimal:
        """`value` (int, Decimal, float or text) as this metric's column holds it, or ValueError
        saying why it cannot be: not a finite number, negative where the metric cannot be, not
        whole where it counts things (`"1.5e3"` is 1500), or beyond the column's range."""
        number = _decimal(value)
        if number is None or not number.is_finite():
            raise ValueError("not a number")
        if number < 0 and not self.signed:
            raise ValueError(f"a {self.label.lower()} figure cannot be negative")
        if self.integral:
            if number != number.to_integral_value():
                raise ValueError("a count must be a whole number")
            if abs(number) > COUNT_LIMIT:
                raise ValueError("out of range")
            return int(number)
        if abs(number) >= MONEY_LIMIT:
            raise ValueError("out of range")
        return number

    @property
    def python_type(self) -> type:
        """int for whole numbers, Decimal otherwise."""
        return int if self.integral else Decimal


METRICS: tuple[Metric, ...] = (
    Metric(
        "spend", "Spend", "money", integral=False, higher_is_better=False, description="ad spend"
    ),
    Metric(
        "revenue",
        "Revenue",
        "money",
        integral=False,
        owned=True,
        signed=True,
        description="the revenue owner's",
    ),
    Metric(
        "orders", "Orders", "count", integral=True, owned=True, description="the revenue owner's"
    ),
    Metric("sessions", "Sessions", "count", integral=True),
    Metric("users", "Users", "count", integral=True, adds_up=AddsUp.distinct),
    Metric("conversions", "Conversions", "count", integral=False, description="GA key events"),
    Metric("impressions", "Impressions", "count", integral=True),
    Metric("clicks", "Clicks", "count", integral=True),
    Metric(
        "refunds",
        "Refunds",
        "money",
        integral=False,
        owned=True,
        signed=True,
        higher_is_better=False,
    ),
    Metric(
        "attributed_revenue",
        "Attributed revenue",
        "money",
        integral=False,
        description="what ad platforms claim",
    ),
    Metric(
        "attributed_conversions",
        "Attributed purchases",
        "count",
        integral=False,
        description="what ad platforms claim",
    ),
)
"""Every raw metric, in the order reports list them (and `fact` columns are written)."""

BY_NAME: dict[str, Metric] = {m.name: m for m in METRICS}
NAMES: tuple[str, ...] = tuple(BY_NAME)
SUMMED: tuple[str, ...] = tuple(m.name for m in METRICS if m.adds_up is AddsUp.sum)
"""The metrics rollups add up: the parts every KPI is computed from."""
SHARED: tuple[str, ...] = tuple(m for m in SUMMED if not BY_NAME[m].owned)
"""Summed as every source reports them."""
OWNED: tuple[str, ...] = tuple(m for m in SUMMED if BY_NAME[m].owned)
"""Summed for the organization from its revenue owner only; per source in `source_<name>`."""
