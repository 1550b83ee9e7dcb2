"""The rollup statements: set-based SQL that turns facts into agg_hourly / agg_daily rows.

Each range is rebuilt with three statements, whatever its size: delete the range's rows,
insert one row per source, channel and campaign (hour facts as they are, or facts grouped by
local date: a day fact's figure, where the source reported one, else the sum of the hours), then
insert the organization's totals, grouped from those rows. The statements are the same on
SQLite and PostgreSQL except for "instant + offset → date".

Money in a currency other than the organization's is converted with the rate of its local day
(`storage/fx.py` gives the rates as UTC spans, joined like the local-day pieces); counts are
never touched. Money no rate converts is left out (NULL), and the facts it came from are counted
in `skipped_facts`, per source row and in the total, so reports can say so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy import ColumnElement, Connection, Select, Table

from dpo.localdays import Piece
from dpo.metrics import BY_NAME, OWNED, SHARED
from dpo.storage import tables
from dpo.storage.fx import MONEY, Span
from dpo.storage.tables import ROLLUP_MEASURES, SOURCE_OWNED, TOTAL
from dpo.storage.types import FX_RATE, UTCDateTime

FACT = tables.fact
DAILY = tables.agg_daily
HOURLY = tables.agg_hourly


@dataclass(frozen=True)
class Scope:
    """Whose facts a statement reads: one organization, its currency, its revenue owners."""

    org_id: int
    currency: str
    owner_ids: tuple[int, ...]


def rebuild_hours(
    conn: Connection, scope: Scope, start: datetime, end: datetime, *, spans: Sequence[Span] = ()
) -> int:
    """Recompute the organization's agg_hourly rows for hours starting in [start, end), money
    in other currencies converted with `spans` (see `storage/fx.py`)."""
    key = HOURLY.c.hour_start
    conn.execute(sa.delete(HOURLY).where(HOURLY.c.org_id == scope.org_id, key >= start, key < end))
    f = FACT.c
    rate = _rates_table(spans, conn.dialect.name)
    rows = (
        sa.select(
            f.org_id,
            f.period_start,
            f.source_id,
            f.channel,
            f.campaign,
            f.campaign_name,
            *(_converted(m, scope, rate) for m in SHARED),
            *(sa.case((_is_owner(scope), _converted(m, scope, rate))) for m in OWNED),
            *(_converted(m, scope, rate) for m in OWNED),
            _unconverted(scope, rate),
        )
        .select_from(FACT.outerjoin(rate, _rate_applies(rate)))
        .where(
            f.org_id == scope.org_id,
            f.grain == "hour",
            f.period_start >= start,
            f.period_start < end,
        )
    )
    written = _insert(conn, HOURLY, "hour_start", rows)
    totals = _totals(HOURLY, key, scope, (key >= start, key < end))
    return written + _insert(conn, HOURLY, "hour_start", totals)


def rebuild_days(
    conn: Connection,
    scope: Scope,
    first: date,
    last: date,
    pieces: Sequence[Piece],
    *,
    spans: Sequence[Span] = (),
) -> int:
    """Recompute the organization's agg_daily rows for local dates first…last.

    `pieces` (from `localdays.pieces_for_days`) say which instants fall on which local date;
    `spans` (from `storage/fx.py`) which rate converts money in another currency.
    """
    key = DAILY.c.day
    conn.execute(sa.delete(DAILY).where(DAILY.c.org_id == scope.org_id, key >= first, key <= last))
    piece = _pieces_table(pieces, conn.dialect.name)
    f = FACT.c
    day = _local_date(f.period_start, piece, conn.dialect.name)
    joined = FACT.join(
        piece,
        sa.and_(
            f.grain == piece.c.grain,
            f.period_start >= piece.c.utc_from,
            f.period_start < piece.c.utc_to,
        ),
    )
    lo, hi = min(p.start for p in pieces), max(p.end for p in pieces)
    rate = _rates_table(spans, conn.dialect.name)
    rows = (
        sa.select(
            f.org_id,
            day,
            f.source_id,
            f.channel,
            f.campaign,
            sa.func.max(f.campaign_name),
            *(_day_figure(m, scope, rate) for m in SHARED),
            *(sa.case((_is_owner(scope), _day_figure(m, scope, rate))) for m in OWNED),
            *(_day_figure(m, scope, rate) for m in OWNED),
            sa.func.sum(_unconverted(scope, rate)),
        )
        .select_from(joined.outerjoin(rate, _rate_applies(rate)))
        .where(f.org_id == scope.org_id, f.period_start >= lo, f.period_start < hi)
        .group_by(f.org_id, day, f.source_id, f.channel, f.campaign)
    )
    written = _insert(conn, DAILY, "day", rows)
    totals = _totals(DAILY, key, scope, (key >= first, key <= last))
    return written + _insert(conn, DAILY, "day", totals)


def clear(conn: Connection, table: Table, org_id: int) -> None:
    """Delete every rollup row of an organization (before a full rebuild)."""
    conn.execute(sa.delete(table).where(table.c.org_id == org_id))


def _insert(conn: Connection, table: Table, key: str, select: Select[Any]) -> int:
    columns = ["org_id", key, "source_id", "channel", "campaign", *ROLLUP_MEASURES]
    result = conn.execute(sa.insert(table).from_select(columns, select))
    return max(result.rowcount, 0)


def _totals(
    table: Table,
    key: ColumnElement[Any],
    scope: Scope,
    in_range: tuple[ColumnElement[bool], ...],
) -> Select[Any]:
    """The organization's total rows: its source rows summed."""
    t = table.c
    return (
        sa.select(
            sa.literal(scope.org_id),
            key,
            sa.literal(TOTAL),
            sa.literal(""),
            sa.literal(""),
            sa.null(),
            *(sa.func.sum(t[m]) for m in (*SHARED, *OWNED)),
            *(sa.null() for _ in SOURCE_OWNED),
            sa.func.sum(t.skipped_facts),
        )
        .where(t.org_id == scope.org_id, t.source_id != TOTAL, *in_range)
        .group_by(key)
    )


def _day_figure(metric: str, scope: Scope, rate: Any) -> ColumnElement[Any]:
    """A segment's figure for a day: its day fact's when the source reported one, else its hours.

    Upstreams that give both (GA's distinct sessions, Meta's spend, whose hourly split is an
    estimate) state the day's own figure in a fact of grain `day`; the hours keep the shape.
    """
    f = FACT.c
    value = _converted(metric, scope, rate)
    day = sa.func.sum(sa.case((f.grain == "day", value)))
    hours = sa.func.sum(sa.case((f.grain != "day", value)))
    return sa.func.coalesce(day, hours)


def _is_owner(scope: Scope) -> ColumnElement[bool]:
    return FACT.c.source_id.in_(scope.owner_ids)


def _is_foreign(scope: Scope) -> ColumnElement[bool]:
    c = FACT.c.currency
    return sa.and_(c.is_not(None), c != scope.currency)


def _converted(metric: str, scope: Scope, rate: Any) -> ColumnElement[Any]:
    """A fact's value of `metric` in the organization's currency: counts as they are, money in
    another currency times its day's rate (NULL when there is none)."""
    value = FACT.c[metric]
    if not BY_NAME[metric].is_money:
        return value
    return sa.case((_is_foreign(scope), value * rate.c.rate), else_=value)


def _unconverted(scope: Scope, rate: Any) -> ColumnElement[Any]:
    """1 for a fact with money no rate converts, else 0."""
    f = FACT.c
    has_money = sa.or_(*(f[m].is_not(None) for m in MONEY))
    return sa.case((sa.and_(_is_foreign(scope), rate.c.rate.is_(None), has_money), 1), else_=0)


def _rates_table(spans: Sequence[Span], dialect: str) -> Any:
    """The spans as a derived table (grain, currency, utc_from, utc_to, rate); with none, an
    empty one. A UNION ALL of one-row SELECTs, like the pieces: rollup ranges are a week of
    hours or a month of days, so a handful of rows per currency."""

    def row(span: Span) -> Any:
        return sa.select(
            sa.literal(span.grain, sa.String()).label("grain"),
            sa.literal(span.currency, sa.String()).label("currency"),
            sa.literal(span.start, UTCDateTime()).label("utc_from"),
            sa.literal(span.end, UTCDateTime()).label("utc_to"),
            sa.literal(span.rate, FX_RATE).label("rate"),
        )

    if not spans:
        return row(_NO_SPAN).where(sa.false()).subquery("rate")
    return sa.union_all(*(row(s) for s in spans)).subquery("rate")


def _rate_applies(rate: Any) -> ColumnElement[bool]:
    f = FACT.c
    return sa.and_(
        rate.c.grain == f.grain,
        rate.c.currency == f.currency,
        f.period_start >= rate.c.utc_from,
        f.period_start < rate.c.utc_to,
    )


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NO_SPAN = Span("", "", _EPOCH, _EPOCH, Decimal(0))


def _pieces_table(pieces: Sequence[Piece], dialect: str) -> Any:
    """The pieces as a derived table (grain, utc_from, utc_to, shift).

    A UNION ALL of one-row SELECTs rather than VALUES: SQLite names no VALUES columns, and a
    statement must start with INSERT for Python's sqlite3 to count its rows.
    """
    selects = []
    for p in pieces:
        if dialect == "sqlite":  # a date() modifier, e.g. '+3600 seconds'
            shift: Any = sa.literal(f"{p.offset_seconds:+d} seconds", sa.String())
        else:
            shift = sa.literal(timedelta(seconds=p.offset_seconds), sa.Interval())
        selects.append(
            sa.select(
                sa.literal(p.grain, sa.String()).label("grain"),
                sa.literal(p.start, UTCDateTime()).label("utc_from"),
                sa.literal(p.end, UTCDateTime()).label("utc_to"),
                shift.label("shift"),
            )
        )
    return sa.union_all(*selects).subquery("piece")


def _local_date(moment: ColumnElement[Any], piece: Any, dialect: str) -> ColumnElement[date]:
    if dialect == "sqlite":
        return sa.func.date(moment, piece.c.shift, type_=sa.Date)
    utc = sa.func.timezone(sa.literal_column("'UTC'"), moment, type_=sa.DateTime)
    return sa.cast(utc + piece.c.shift, sa.Date)
