"""The rollup statements: set-based SQL that turns facts into agg_hourly / agg_daily rows.

Each range is rebuilt with three statements, whatever its size: delete the range's rows,
insert one row per source, channel and campaign (hour facts as they are, or facts grouped by
local date: a day fact's figure, where the source reported one, else the sum of the hours), then
insert the organization's totals, grouped from those rows, together with a
count of the facts left out because of their currency. The statements are the same on SQLite
and PostgreSQL except for "instant + offset → date".

A fact whose currency is set and is not the organization's is left out whole (dpo does not
convert currencies) and counted in the total row's `skipped_facts`, so reports can say so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import ColumnElement, Connection, Select, Table

from dpo.localdays import Piece
from dpo.metrics import OWNED, SHARED
from dpo.storage import tables
from dpo.storage.tables import ROLLUP_MEASURES, SOURCE_OWNED, TOTAL
from dpo.storage.types import UTCDateTime

FACT = tables.fact
DAILY = tables.agg_daily
HOURLY = tables.agg_hourly


@dataclass(frozen=True)
class Scope:
    """Whose facts a statement reads: one organization, its currency, its revenue owners."""

    org_id: int
    currency: str
    owner_ids: tuple[int, ...]


def rebuild_hours(conn: Connection, scope: Scope, start: datetime, end: datetime) -> int:
    """Recompute the organization's agg_hourly rows for hours starting in [start, end)."""
    key = HOURLY.c.hour_start
    conn.execute(sa.delete(HOURLY).where(HOURLY.c.org_id == scope.org_id, key >= start, key < end))
    f = FACT.c
    where = (
        f.org_id == scope.org_id,
        f.grain == "hour",
        f.period_start >= start,
        f.period_start < end,
    )
    rows = sa.select(
        f.org_id,
        f.period_start,
        f.source_id,
        f.channel,
        f.campaign,
        f.campaign_name,
        *(f[m] for m in SHARED),
        *(sa.case((_is_owner(scope), f[m])) for m in OWNED),
        *(f[m] for m in OWNED),
        sa.literal(0),
    ).where(*where, _same_currency(scope))
    foreign = (
        sa.select(f.period_start.label("k"), *_nulls(), sa.func.count().label("skipped"))
        .where(*where, _other_currency(scope))
        .group_by(f.period_start)
    )
    written = _insert(conn, HOURLY, "hour_start", rows)
    totals = _totals(HOURLY, key, scope, (key >= start, key < end), foreign)
    return written + _insert(conn, HOURLY, "hour_start", totals)


def rebuild_days(
    conn: Connection, scope: Scope, first: date, last: date, pieces: Sequence[Piece]
) -> int:
    """Recompute the organization's agg_daily rows for local dates first…last.

    `pieces` (from `localdays.pieces_for_days`) say which instants fall on which local date.
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
    where = (f.org_id == scope.org_id, f.period_start >= lo, f.period_start < hi)
    rows = (
        sa.select(
            f.org_id,
            day,
            f.source_id,
            f.channel,
            f.campaign,
            sa.func.max(f.campaign_name),
            *(_day_figure(m) for m in SHARED),
            *(sa.case((_is_owner(scope), _day_figure(m))) for m in OWNED),
            *(_day_figure(m) for m in OWNED),
            sa.literal(0),
        )
        .select_from(joined)
        .where(*where, _same_currency(scope))
        .group_by(f.org_id, day, f.source_id, f.channel, f.campaign)
    )
    foreign = (
        sa.select(day.label("k"), *_nulls(), sa.func.count().label("skipped"))
        .select_from(joined)
        .where(*where, _other_currency(scope))
        .group_by(day)
    )
    written = _insert(conn, DAILY, "day", rows)
    totals = _totals(DAILY, key, scope, (key >= first, key <= last), foreign)
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
    foreign: Select[Any],
) -> Select[Any]:
    """The organization's total rows: its source rows summed, plus the facts left out."""
    t = table.c
    parts = (*SHARED, *OWNED)
    rows = sa.select(key.label("k"), *(t[m] for m in parts), sa.literal(0).label("skipped")).where(
        t.org_id == scope.org_id, t.source_id != TOTAL, *in_range
    )
    both = sa.union_all(rows, foreign).subquery("both_")
    return sa.select(
        sa.literal(scope.org_id),
        both.c.k,
        sa.literal(TOTAL),
        sa.literal(""),
        sa.literal(""),
        sa.null(),
        *(sa.func.sum(both.c[m]) for m in parts),
        *(sa.null() for _ in SOURCE_OWNED),
        sa.func.sum(both.c.skipped),
    ).group_by(both.c.k)


def _day_figure(metric: str) -> ColumnElement[Any]:
    """A segment's figure for a day: its day fact's when the source reported one, else its hours.

    Upstreams that give both (GA's distinct sessions, Meta's spend, whose hourly split is an
    estimate) state the day's own figure in a fact of grain `day`; the hours keep the shape.
    """
    f = FACT.c
    day = sa.func.sum(sa.case((f.grain == "day", f[metric])))
    hours = sa.func.sum(sa.case((f.grain != "day", f[metric])))
    return sa.func.coalesce(day, hours)


def _nulls() -> list[ColumnElement[Any]]:
    return [sa.null().label(m) for m in (*SHARED, *OWNED)]


def _is_owner(scope: Scope) -> ColumnElement[bool]:
    return FACT.c.source_id.in_(scope.owner_ids)


def _same_currency(scope: Scope) -> ColumnElement[bool]:
    c = FACT.c.currency
    return sa.or_(c.is_(None), c == scope.currency)


def _other_currency(scope: Scope) -> ColumnElement[bool]:
    c = FACT.c.currency
    return sa.and_(c.is_not(None), c != scope.currency)


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
