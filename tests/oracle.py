"""What the rollups should hold, computed in plain Python from the fact rows (no SQL).

The rules, restated independently of dpo.rollup.aggregate: an hour fact counts on the local date of
its start, a day fact on the local date of its middle (start + 12 h); in a fact whose currency
is set and differs from the organization's, counts count as they are and money is multiplied by
the rate of that local date, or left out (and the fact counted) when there is none; on a local
date, a segment's
metric is the sum of its day facts where any reported it, else the sum of its hour facts;
revenue, orders and refunds of the organization come from its stores, else its GA sources.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from dpo import metrics

# Which metrics there are, and which the revenue owner alone counts, is declared in dpo.metrics;
# how they are rolled up is restated here.
SUMS = metrics.SHARED
OWNED = metrics.OWNED
MEASURES = (*SUMS, *OWNED, *(f"source_{m}" for m in OWNED), "skipped_facts")
SIX = Decimal("0.000001")


def norm(value: Any) -> Any:
    """Numbers as comparable values: Decimals to 6 places, ints as ints, None as None."""
    if value is None or isinstance(value, int):
        return value
    if isinstance(value, float):
        raise AssertionError(f"a float {value!r} where an exact number was expected")
    return Decimal(value).quantize(SIX)


def _add(row: dict[str, Any], name: str, value: Any) -> None:
    if value is None:
        row.setdefault(name, None)
        return
    row[name] = value if row.get(name) is None else row[name] + value


def expected(
    facts: Iterable[Mapping[str, Any]],
    *,
    tz: ZoneInfo,
    currency: str,
    owners: set[int],
    daily: bool,
    rates: Mapping[tuple[str, date], Decimal] | None = None,
) -> dict[tuple[Any, ...], dict[str, Any]]:
    """{(period, source_id, channel, campaign): measures} including totals (source_id 0).

    `rates`: (currency, local date) → how much of `currency` one unit of the fact's is worth.
    """
    # Per segment and period, a metric's facts of each grain added up apart: on a day, a day
    # fact's figure stands for the day and the hours are only its shape.
    by_grain: dict[tuple[Any, ...], dict[str, dict[str, Any]]] = {}
    skipped: dict[tuple[Any, ...], int] = {}
    for f in facts:
        if not daily and f["grain"] != "hour":
            continue
        key_time = _period(f, tz) if daily else f["period_start"]
        key = (key_time, f["source_id"], f["channel"], f["campaign"])
        values = {m: f[m] for m in (*SUMS, *OWNED)}
        if f["currency"] is not None and f["currency"] != currency:
            rate = (rates or {}).get((f["currency"], _period(f, tz)))
            money = [m for m in values if metrics.BY_NAME[m].is_money]
            if rate is None and any(values[m] is not None for m in money):
                skipped[key] = skipped.get(key, 0) + 1
            for m in money:
                values[m] = None if rate is None or values[m] is None else values[m] * rate
        grains = by_grain.setdefault(key, {})
        parts = grains.setdefault(f["grain"], {})
        for m, value in values.items():
            _add(parts, m, value)
    out: dict[tuple[Any, ...], dict[str, Any]] = {}
    for key, grains in by_grain.items():
        figure = {
            m: grains.get("day", {}).get(m)
            if grains.get("day", {}).get(m) is not None
            else grains.get("hour", {}).get(m)
            for m in (*SUMS, *OWNED)
        }
        row = out.setdefault(key, {"skipped_facts": skipped.get(key, 0)})
        total = out.setdefault((key[0], 0, "", ""), {"skipped_facts": 0})
        total["skipped_facts"] += skipped.get(key, 0)
        is_owner = key[1] in owners
        for m in SUMS:
            _add(row, m, figure[m])
            _add(total, m, figure[m])
        for m in OWNED:
            _add(row, f"source_{m}", figure[m])
            _add(row, m, figure[m] if is_owner else None)
            _add(total, m, figure[m] if is_owner else None)
    return {k: {m: norm(v.get(m)) for m in MEASURES} for k, v in out.items()}


def _period(fact: Mapping[str, Any], tz: ZoneInfo) -> Any:
    start: datetime = fact["period_start"]
    if fact["grain"] == "day":
        start += timedelta(hours=12)
    return start.astimezone(tz).date()
