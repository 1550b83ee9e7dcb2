"""What the rollups should hold, computed in plain Python from the fact rows (no SQL).

The rules, restated independently of dpo.rollup.aggregate: an hour fact counts on the local date of
its start, a day fact on the local date of its middle (start + 12 h); a fact whose currency is
set and differs from the organization's is left out and counted; revenue, orders and refunds
of the organization come from its stores, else its GA sources.
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
    out: dict[tuple[Any, ...], dict[str, Any]] = {}
    for f in facts:
        if not daily and f["grain"] != "hour":
            continue
        key_time = _period(f, tz) if daily else f["period_start"]
        total = out.setdefault((key_time, 0, "", ""), {"skipped_facts": 0})
        if f["currency"] is not None and f["currency"] != currency:
            total["skipped_facts"] += 1
            continue
        row = out.setdefault(
            (key_time, f["source_id"], f["channel"], f["campaign"]), {"skipped_facts": 0}
        )
        for m in SUMS:
            _add(row, m, f[m])
            _add(total, m, f[m])
        is_owner = f["source_id"] in owners
        for m in OWNED:
            _add(row, f"source_{m}", f[m])
            _add(row, m, f[m] if is_owner else None)
            _add(total, m, f[m] if is_owner else None)
    return {k: {m: norm(v.get(m)) for m in MEASURES} for k, v in out.items()}


def _period(fact: Mapping[str, Any], tz: ZoneInfo) -> Any:
    start: datetime = fact["period_start"]
    if fact["grain"] == "day":
        start += timedelta(hours=12)
    return start.astimezone(tz).date()
