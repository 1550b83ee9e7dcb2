"""What the rollups should hold, computed in plain Python from the fact rows (no SQL).

The rules, restated independently of dpo.rollup.aggregate: an hour fact counts on the local date of
its start, a day fact on the local date of its middle (start + 12 h); a fact whose currency is
set and differs from the organization's is left out and counted; on a local date, a segment's
metric is the sum of its day facts where any reported it, else the sum of its hour facts;
revenue, orders and refunds of the organization come from its stores, else its GA sources.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
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
) -> dict[tuple[Any, ...], dict[str, Any]]:
    """{(period, source_id, channel, campaign): measures} including totals (source_id 0)."""
    # Per segment and period, a metric's facts of each grain added up apart: on a day, a day
    # fact's figure stands for the day and the hours are only its shape.
    by_grain: dict[tuple[Any, ...], dict[str, dict[str, Any]]] = {}
    skipped: dict[Any, int] = {}
    for f in facts:
        if not daily and f["grain"] != "hour":
            continue
        key_time = _period(f, tz) if daily else f["period_start"]
        skipped.setdefault(key_time, 0)
        if f["currency"] is not None and f["currency"] != currency:
            skipped[key_time] += 1
            continue
        grains = by_grain.setdefault((key_time, f["source_id"], f["channel"], f["campaign"]), {})
        parts = grains.setdefault(f["grain"], {})
        for m in (*SUMS, *OWNED):
            _add(parts, m, f[m])
    out: dict[tuple[Any, ...], dict[str, Any]] = {
        (k, 0, "", ""): {"skipped_facts": n} for k, n in skipped.items()
    }
    for key, grains in by_grain.items():
        figure = {
            m: grains.get("day", {}).get(m)
            if grains.get("day", {}).get(m) is not None
            else grains.get("hour", {}).get(m)
            for m in (*SUMS, *OWNED)
        }
        row = out.setdefault(key, {"skipped_facts": 0})
        total = out[(key[0], 0, "", "")]
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
