"""Hourly and daily rollups of an organization's facts, incremental from `fact_change`.

Every sync window records the UTC range it rewrote in `fact_change`. `aggregate_org` reads
the organization's pending changes, rebuilds only the hours (or local days) they touch with a
few set-based statements per range (see `rollups`), and marks those changes consumed, all in
one transaction: a crash leaves the changes pending, and a sync that commits meanwhile leaves
its own change for the next run. Its cost follows the new data, not the history.

A full rebuild happens on `--full`, on the first run, and whenever what the rollups depend on
has changed (the organization's time zone or currency, or which sources own its revenue).

Revenue has one owner per organization: its store (WooCommerce) when it has one, else GA4.
Only the owner's revenue, orders and refunds count as the organization's; every source's own
figures are kept beside them, and ad platforms' claims (attributed revenue) are never added.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy import Connection, Engine

from dpo import connectors, localdays
from dpo.connectors.base import Role
from dpo.rollup import statements
from dpo.storage import fx, tables
from dpo.storage.models import utcnow
from dpo.vocab import Grain

log = logging.getLogger(__name__)

HOUR_CHUNK = timedelta(days=7)
DAY_CHUNK = 31  # days per statement: bounds the work of one statement and paces progress
_ID_BATCH = 500

_CHANGE = tables.fact_change
_STATE = tables.agg_state
_ORG = tables.organization
_SOURCE = tables.source
_FACT = statements.FACT

OnRange = Callable[[int, int], None]
Change = tuple[int, datetime, datetime]  # fact_change id, range start, range end


@dataclass(frozen=True)
class AggregateRequest:
    """What a run was asked to do beyond the pending changes."""

    full: bool = False
    since: date | None = None  # rebuild from this local date on


@dataclass
class AggregateOutcome:
    """What a run did for one organization."""

    mode: str = "incremental"  # incremental, full, since
    reason: str = ""
    changes: int = 0
    ranges: int = 0
    rows_written: int = 0
    skipped_facts: int = 0


@dataclass(frozen=True)
class OrgContext:
    """An organization as its rollups see it."""

    id: int
    timezone: ZoneInfo
    currency: str
    owner_ids: tuple[int, ...]

    def fingerprint(self, grain: Grain) -> str:
        """What the grain's rollups depend on besides the facts themselves."""
        owners = ",".join(map(str, self.owner_ids))
        zone = f"tz={self.timezone.key};" if grain is Grain.day else ""
        return f"{zone}currency={self.currency};owners={owners}"

    @property
    def scope(self) -> statements.Scope:
        """The part the SQL statements need."""
        return statements.Scope(self.id, self.currency, self.owner_ids)


@dataclass
class _Plan:
    mode: str
    reason: str = ""
    clear_from: datetime | date | None = None  # delete rows from here on first (None: none)
    clear_all: bool = False
    ranges: list[tuple[Any, Any]] = field(default_factory=list)


def source_role(kind: str, account: str) -> Role | None:
    """What a source is, for the revenue-owner rule (None: a kind this dpo cannot sync)."""
    if not connectors.is_available(kind):
        return None
    return connectors.connector_class(kind).role_for(account)


def revenue_owners(sources: Iterable[tuple[int, str, str]]) -> tuple[int, ...]:
    """The ids of the sources whose revenue is the organization's: its stores, else its GA."""
    by_role: dict[Role | None, list[int]] = {}
    for source_id, kind, account in sources:
        by_role.setdefault(source_role(kind, account), []).append(source_id)
    return tuple(sorted(by_role.get(Role.store) or by_role.get(Role.analytics) or []))


def load_context(conn: Connection, org_id: int) -> OrgContext:
    """The organization's time zone, currency and revenue owners."""
    org = conn.execute(sa.select(_ORG.c.timezone, _ORG.c.currency).where(_ORG.c.id == org_id)).one()
    sources = conn.execute(
        sa.select(_SOURCE.c.id, _SOURCE.c.kind, _SOURCE.c.account).where(_SOURCE.c.org_id == org_id)
    )
    owners = revenue_owners((s.id, s.kind, s.account) for s in sources)
    return OrgContext(org_id, ZoneInfo(org.timezone), org.currency, owners)


def is_stale(engine: Engine, org_id: int, grain: Grain) -> bool:
    """True when the organization's rollups of `grain` lag behind its facts or settings."""
    with engine.connect() as conn:
        ctx = load_context(conn, org_id)
        if _saved_fingerprint(conn, org_id, grain) != ctx.fingerprint(grain):
            return _has_facts(conn, org_id) or _has_rollups(conn, org_id, grain)
        return bool(_pending(conn, org_id, grain))


def aggregate_org(
    engine: Engine,
    org_id: int,
    grain: Grain,
    request: AggregateRequest,
    *,
    on_range: OnRange | None = None,
) -> AggregateOutcome:
    """Bring one organization's rollups of `grain` up to date, in one transaction."""
    with engine.begin() as conn:
        ctx = load_context(conn, org_id)
        changes = _pending(conn, org_id, grain)
        plan = _plan(conn, ctx, grain, request, changes)
        outcome = AggregateOutcome(mode=plan.mode, reason=plan.reason, changes=len(changes))
        table = statements.DAILY if grain is Grain.day else statements.HOURLY
        if plan.clear_all:
            statements.clear(conn, table, org_id)
        elif plan.clear_from is not None:
            _clear_from(conn, table, org_id, plan.clear_from)
        chunks = _chunks(plan.ranges, grain)
        for done, (lo, hi) in enumerate(chunks, 1):
            outcome.rows_written += _rebuild(conn, ctx, grain, lo, hi)
            if on_range:
                on_range(done, len(chunks))
        outcome.ranges = len(chunks)
        outcome.skipped_facts = _skipped(conn, table, org_id, chunks)
        _consume(conn, org_id, grain, [c[0] for c in changes])
        _save_fingerprint(conn, org_id, grain, ctx.fingerprint(grain))
    return outcome


# --- planning ---------------------------------------------------------------------------


def _plan(
    conn: Connection,
    ctx: OrgContext,
    grain: Grain,
    request: AggregateRequest,
    changes: Sequence[Change],
) -> _Plan:
    saved = _saved_fingerprint(conn, ctx.id, grain)
    if request.full or saved != ctx.fingerprint(grain):
        reason = "" if request.full else ("first run" if saved is None else "settings changed")
        plan = _Plan("full", reason, clear_all=True)
        span = _fact_span(conn, ctx.id)
        if span:
            plan.ranges.append(_as_range(span[0], span[1], ctx, grain))
        return plan
    plan = _Plan("incremental")
    plan.ranges = [_as_range(start, end, ctx, grain) for _, start, end in changes]
    if request.since is not None:
        plan.mode = "since"
        start = localdays.day_start(request.since, ctx.timezone)
        plan.clear_from = start if grain is Grain.hour else request.since
        span = _fact_span(conn, ctx.id)
        if span and span[1] > start:
            plan.ranges.append(_as_range(start, span[1], ctx, grain))
    return plan


def _as_range(start: datetime, end: datetime, ctx: OrgContext, grain: Grain) -> tuple[Any, Any]:
    """A UTC range of facts as the hours [start, end) or the local days it touches."""
    if grain is Grain.hour:
        return start, end
    return localdays.days_touched(start, end, ctx.timezone)


def _chunks(ranges: list[tuple[Any, Any]], grain: Grain) -> list[tuple[Any, Any]]:
    """Merge overlapping or adjacent ranges, then cut them into statement-sized chunks."""
    step: Any = HOUR_CHUNK if grain is Grain.hour else timedelta(days=DAY_CHUNK)
    gap: Any = timedelta(0) if grain is Grain.hour else timedelta(days=1)
    merged: list[list[Any]] = []
    for lo, hi in sorted(ranges):
        if merged and lo <= merged[-1][1] + gap:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    out = []
    for first, hi in merged:
        lo = first
        while True:
            cut = lo + step if grain is Grain.hour else lo + step - gap
            if cut >= hi:
                out.append((lo, hi))
                break
            out.append((lo, cut))
            lo = cut if grain is Grain.hour else cut + gap
    return out


def _rebuild(conn: Connection, ctx: OrgContext, grain: Grain, lo: Any, hi: Any) -> int:
    if grain is Grain.hour:
        return statements.rebuild_hours(conn, ctx.scope, lo, hi, spans=_spans(conn, ctx, lo, hi))
    pieces = localdays.pieces_for_days(lo, hi, ctx.timezone)
    start, end = min(p.start for p in pieces), max(p.end for p in pieces)
    spans = _spans(conn, ctx, start, end)
    return statements.rebuild_days(conn, ctx.scope, lo, hi, pieces, spans=spans)


def _spans(conn: Connection, ctx: OrgContext, start: datetime, end: datetime) -> list[fx.Span]:
    """The rates that convert the range's money in other currencies (none when all is in the
    organization's own)."""
    currencies = fx.foreign_currencies(conn, ctx.id, ctx.currency, start, end)
    if not currencies:
        return []
    first = localdays.local_date(start, ctx.timezone)
    last = localdays.local_date(end, ctx.timezone)
    book = fx.RateBook(conn, ctx.currency, first, last)
    return fx.spans(book, currencies, first, last, ctx.timezone)


# --- state ---------------------------------------------------------------------------


def _pending(conn: Connection, org_id: int, grain: Grain) -> list[Change]:
    done = _CHANGE.c.hourly_done if grain is Grain.hour else _CHANGE.c.daily_done
    rows = conn.execute(
        sa.select(_CHANGE.c.id, _CHANGE.c.range_start, _CHANGE.c.range_end).where(
            _CHANGE.c.org_id == org_id, done == sa.false()
        )
    )
    return [(r.id, r.range_start, r.range_end) for r in rows]


def _consume(conn: Connection, org_id: int, grain: Grain, ids: list[int]) -> None:
    """Mark changes done for this grain; forget those both rollups have consumed.

    Only this organization's rows are touched: jobs of other organizations run concurrently.
    """
    column = "hourly_done" if grain is Grain.hour else "daily_done"
    for i in range(0, len(ids), _ID_BATCH):
        batch = ids[i : i + _ID_BATCH]
        conn.execute(sa.update(_CHANGE).where(_CHANGE.c.id.in_(batch)).values({column: True}))
    if ids:
        conn.execute(
            sa.delete(_CHANGE).where(
                _CHANGE.c.org_id == org_id,
                _CHANGE.c.hourly_done == sa.true(),
                _CHANGE.c.daily_done == sa.true(),
            )
        )


def _saved_fingerprint(conn: Connection, org_id: int, grain: Grain) -> str | None:
    return conn.execute(
        sa.select(_STATE.c.fingerprint).where(
            _STATE.c.org_id == org_id, _STATE.c.grain == grain.value
        )
    ).scalar()


def _save_fingerprint(conn: Connection, org_id: int, grain: Grain, fingerprint: str) -> None:
    where = (_STATE.c.org_id == org_id, _STATE.c.grain == grain.value)
    values = {"fingerprint": fingerprint, "updated_at": utcnow()}
    if conn.execute(sa.update(_STATE).where(*where).values(values)).rowcount == 0:
        conn.execute(sa.insert(_STATE).values(org_id=org_id, grain=grain.value, **values))


def _fact_span(conn: Connection, org_id: int) -> tuple[datetime, datetime] | None:
    """[first fact's start, last fact's start + 1 hour) of an organization, if it has facts."""
    first, last = conn.execute(
        sa.select(sa.func.min(_FACT.c.period_start), sa.func.max(_FACT.c.period_start)).where(
            _FACT.c.org_id == org_id
        )
    ).one()
    if first is None:
        return None
    return first, last + timedelta(hours=1)


def _has_facts(conn: Connection, org_id: int) -> bool:
    return _fact_span(conn, org_id) is not None


def _has_rollups(conn: Connection, org_id: int, grain: Grain) -> bool:
    table = statements.DAILY if grain is Grain.day else statements.HOURLY
    query = sa.select(table.c.org_id).where(table.c.org_id == org_id).limit(1)
    return conn.execute(query).first() is not None


def _clear_from(conn: Connection, table: sa.Table, org_id: int, start: datetime | date) -> None:
    key = table.c.day if table is statements.DAILY else table.c.hour_start
    conn.execute(sa.delete(table).where(table.c.org_id == org_id, key >= start))


def _skipped(conn: Connection, table: sa.Table, org_id: int, chunks: list[tuple[Any, Any]]) -> int:
    """Facts whose money no rate converts, in the rebuilt ranges."""
    if not chunks:
        return 0
    key = table.c.day if table is statements.DAILY else table.c.hour_start
    upper = key <= chunks[-1][1] if table is statements.DAILY else key < chunks[-1][1]
    total = conn.execute(
        sa.select(sa.func.sum(table.c.skipped_facts)).where(
            table.c.org_id == org_id,
            table.c.source_id == tables.TOTAL,
            key >= chunks[0][0],
            upper,
        )
    ).scalar()
    return int(total or 0)
