"""The data-quality flags upstreams raised per source and day, as reports and status say them.

A connector reports flags for each window it fetches (`Connector.data_quality`); the sync
engine stores them with the window's facts (`window_quality`), so a re-fetch that comes back
complete clears them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from sqlalchemy import Connection

from dpo.storage import tables
from dpo.vocab import DataQuality

_QUALITY = tables.window_quality
_SOURCE = tables.source
_SHOWN_DAYS = 5


@dataclass(frozen=True)
class QualityNote:
    """One source's flag of one kind over some days."""

    source_id: int
    source: str  # the source's name
    kind: str
    flag: DataQuality
    days: tuple[date, ...]

    @property
    def text(self) -> str:
        """E.g. `ga:123 (ga) withheld rows for privacy (thresholding) on 2 days: 2026-03-05, …`."""
        shown = ", ".join(d.isoformat() for d in self.days[:_SHOWN_DAYS])
        more = f" and {len(self.days) - _SHOWN_DAYS} more" if len(self.days) > _SHOWN_DAYS else ""
        count = f"{len(self.days)} day" + ("" if len(self.days) == 1 else "s")
        return f"{self.source} ({self.kind}) {self.flag.text} on {count}: {shown}{more}"


def quality_notes(
    conn: Connection,
    *,
    first: date,
    last: date,
    org_id: int | None = None,
    source_id: int | None = None,
) -> list[QualityNote]:
    """The flags raised on days first…last, per source and flag, oldest source first."""
    q, s = _QUALITY.c, _SOURCE.c
    query = (
        sa.select(q.source_id, s.name, s.kind, q.flag, q.day)
        .join(_SOURCE, s.id == q.source_id)
        .where(q.day >= first, q.day <= last)
        .order_by(q.source_id, q.flag, q.day)
    )
    if org_id is not None:
        query = query.where(s.org_id == org_id)
    if source_id is not None:
        query = query.where(q.source_id == source_id)
    grouped: dict[tuple[int, str, str, str], list[date]] = {}
    for row in conn.execute(query):
        grouped.setdefault((row.source_id, row.name, row.kind, row.flag), []).append(
            date.fromisoformat(str(row.day)[:10])
        )
    return [
        QualityNote(sid, name, kind, DataQuality(flag), tuple(days))
        for (sid, name, kind, flag), days in grouped.items()
        if flag in DataQuality.__members__
    ]
