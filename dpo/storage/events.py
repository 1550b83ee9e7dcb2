"""Events: what a dashboard hears of at once through `GET /api/events/{org}`.

An event is written in the transaction of the change it tells of, so it is seen exactly when
the change is. Its `seq` is the organization's data version (`org_version`) right after the
event raised it: the raise holds that row until the transaction ends, so an organization's
events become visible in `seq` order and a reader that has seen `seq` n has seen every event
before it. Events older than `RETENTION` are removed as new ones are written; `events_pruned`
remembers up to where, so a client coming back after that long is told to start afresh.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from dpo.storage.models import OrgEvent, OrgVersion, utcnow
from dpo.vocab import EventKind

RETENTION = timedelta(days=7)
MAX_READ = 500  # events per read; a stream reads again at once while there are more

_EVENT = OrgEvent.__table__  # type: ignore[attr-defined]
_VERSION = OrgVersion.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Event:
    """One event as a stream sends it."""

    seq: int
    kind: str
    at: datetime
    detail: dict[str, Any]


def record(
    conn: Connection,
    org_id: int,
    kind: EventKind,
    detail: Mapping[str, Any],
    *,
    now: datetime | None = None,
) -> int:
    """Add an event for `org_id` in `conn`'s transaction; its `seq`. `now` is the wall clock
    (what the event's age is judged by), never a run's notion of the present."""
    now = now or utcnow()
    insert = (postgresql if conn.dialect.name == "postgresql" else sqlite).insert
    conn.execute(insert(_VERSION).values(org_id=org_id, version=0).on_conflict_do_nothing())
    conn.execute(
        sa.update(_VERSION)
        .where(_VERSION.c.org_id == org_id)
        .values(version=_VERSION.c.version + 1)
    )
    seq = int(
        conn.execute(sa.select(_VERSION.c.version).where(_VERSION.c.org_id == org_id)).scalar_one()
    )
    conn.execute(
        sa.insert(_EVENT).values(org_id=org_id, seq=seq, kind=kind.value, at=now, detail=detail)
    )
    _prune(conn, org_id, now - RETENTION)
    return seq


def _prune(conn: Connection, org_id: int, before: datetime) -> None:
    last = conn.execute(
        sa.select(sa.func.max(_EVENT.c.seq)).where(_EVENT.c.org_id == org_id, _EVENT.c.at < before)
    ).scalar()
    if last is None:
        return
    conn.execute(sa.delete(_EVENT).where(_EVENT.c.org_id == org_id, _EVENT.c.seq <= last))
    conn.execute(sa.update(_VERSION).where(_VERSION.c.org_id == org_id).values(events_pruned=last))


def since(conn: Connection, org_id: int, after: int) -> tuple[list[Event], bool]:
    """The organization's events after `seq` `after` (at most `MAX_READ`, oldest first), and
    whether some after it were already removed (the reader missed them: it starts afresh)."""
    pruned = conn.execute(
        sa.select(_VERSION.c.events_pruned).where(_VERSION.c.org_id == org_id)
    ).scalar()
    rows = conn.execute(
        sa.select(_EVENT.c.seq, _EVENT.c.kind, _EVENT.c.at, _EVENT.c.detail)
        .where(_EVENT.c.org_id == org_id, _EVENT.c.seq > after)
        .order_by(_EVENT.c.seq)
        .limit(MAX_READ)
    ).all()
    events = [Event(int(seq), kind, at, dict(detail)) for seq, kind, at, detail in rows]
    return events, after < int(pruned or 0)
