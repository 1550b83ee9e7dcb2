"""The validation boundary: every value a connector reports is checked here, against the
metric table, before a window's facts are written.

One set of rules for every upstream and both databases:
- a metric is a finite number within its column (`NUMERIC(20, 6)`: below 1e14; `BIGINT`),
  not negative unless the metric may be (`Metric.signed`: revenue, refunds), and a whole
  number where the metric counts things (`"1.5e3"` is 1500; `"1.5"` is refused) —
  `Metric.coerce`, which connectors also use where they parse;
- text (channel, campaign, campaign name) loses NUL and other control characters and is cut
  to its column's length, the same on SQLite (which would store anything) and PostgreSQL
  (which refuses NUL and over-long text).

A value that breaks a rule stops the window before anything is written (the previous facts
stay) with an `UpstreamDataError` (exit 75) that names the source, the day, the field and the
value: `Meta sent spend 'NaN' for campaign 222 on 2026-03-07`.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Iterator
from datetime import date

from dpo.connectors.base import FactRow
from dpo.connectors.upstream import checked_number, short

TEXT_LIMITS = {"channel": 200, "campaign": 200, "campaign_name": 500}


def checked(rows: Iterable[FactRow], *, upstream: str, day: date) -> Iterator[FactRow]:
    """`rows` with every metric a valid number of its column's type and clean text; the first
    value that cannot be stored raises UpstreamDataError naming it."""
    for row in rows:
        where = where_of(row.campaign, row.channel, day)
        for name, value in row.metrics.items():
            if value is not None:
                row.metrics[name] = checked_number(name, value, upstream=upstream, where=where)
        row.channel = clean_text(row.channel, TEXT_LIMITS["channel"])
        row.campaign = clean_text(row.campaign, TEXT_LIMITS["campaign"])
        if row.campaign_name is not None:
            row.campaign_name = clean_text(row.campaign_name, TEXT_LIMITS["campaign_name"])
        yield row


def where_of(campaign: str, channel: str, day: date) -> str:
    """`for campaign 222 on 2026-03-07`, `for channel Email on …`, or `on …`."""
    if campaign:
        return f"for campaign {short(campaign, 60)} on {day.isoformat()}"
    if channel:
        return f"for channel {short(channel, 60)} on {day.isoformat()}"
    return f"on {day.isoformat()}"


def clean_text(value: object, limit: int) -> str:
    """`value` as text without control characters (tabs and newlines become spaces), at most
    `limit` characters."""
    text = value if isinstance(value, str) else str(value)
    if not text.isprintable():
        text = "".join(_printable(c) for c in text)
    return text[:limit]


def _printable(char: str) -> str:
    if char in "\t\n\r":
        return " "
    return "" if unicodedata.category(char) in ("Cc", "Cs") else char
