"""Freshness and health: what `dpo status` shows and a monitor can alert on."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import Session, SQLModel, col, select

from dpo.ops.history import JobRunPublic, latest_runs
from dpo.ops.verify import VerificationPublic, latest_verifications
from dpo.resources.orgs import get_org
from dpo.storage import fx, tables
from dpo.storage.models import Organization, Source, SyncState
from dpo.storage.quality import quality_notes
from dpo.storage.quick import session_reader
from dpo.storage.types import UTCDateTime

QUALITY_DAYS = 30  # how far back `dpo status` reports what upstreams withheld


class SourceHealth(SQLModel):
    id: int
    org: str
    source: str
    kind: str
    enabled: bool
    last_success_at: datetime | None
    newest_fact_at: datetime | None
    lag_minutes: float | None
    last_error: str | None
    last_error_at: datetime | None
    consecutive_failures: int
    problem: str | None
    data_quality: list[str] = []  # what the upstream withheld or estimated, recent days
    verification: VerificationPublic | None = None  # the latest `dpo sources verify`
    unconverted: list[str] = []  # money no exchange rate converts, recent days


class Status(SQLModel):
    sources: list[SourceHealth]
    jobs: list[JobRunPublic]
    stale_after_minutes: int

    @property
    def has_problems(self) -> bool:
        """True when a monitor should alert: some enabled source is stale or never synced."""
        return any(s.problem for s in self.sources)


def get_status(
    session: Session, *, now: datetime, stale_after: timedelta, org_slug: str | None = None
) -> Status:
    """Per source freshness and failures, and the latest run of every job."""
    org_id = get_org(session, org_slug).id if org_slug else None
    return Status(
        sources=_sources(session, now=now, stale_after=stale_after, org_id=org_id),
        jobs=latest_runs(session_reader(session), org_id=org_id),
        stale_after_minutes=int(stale_after.total_seconds() // 60),
    )


def _sources(
    session: Session, *, now: datetime, stale_after: timedelta, org_id: int | None
) -> list[SourceHealth]:
    query = (
        select(Source, Organization, SyncState)
        .join(Organization)
        .join(SyncState, col(SyncState.source_id) == Source.id, isouter=True)
        .order_by(Organization.slug, col(Source.id))
    )
    if org_id is not None:
        query = query.where(Source.org_id == org_id)
    out = []
    recent = (now - timedelta(days=QUALITY_DAYS)).date()
    notes = quality_notes(session.connection(), first=recent, last=now.date(), org_id=org_id)
    verified = latest_verifications(session, now=now, org_id=org_id)
    gaps: dict[int, list[fx.Unconverted]] = {}
    for source, org, state in session.exec(query):
        assert source.id is not None and org.id is not None
        if org.id not in gaps:
            gaps[org.id] = _unconverted(session, org, first=recent, last=now.date())
        newest = _newest_fact(session, source.id)
        success = state.last_success_at if state else None
        out.append(
            SourceHealth(
                id=source.id,
                org=org.slug,
                source=source.name,
                kind=source.kind,
                enabled=source.enabled,
                last_success_at=success,
                newest_fact_at=newest,
                lag_minutes=round((now - newest).total_seconds() / 60, 1) if newest else None,
                last_error=state.last_error if state else None,
                last_error_at=state.last_error_at if state else None,
                consecutive_failures=state.consecutive_failures if state else 0,
                problem=_problem(source.enabled, success, now=now, stale_after=stale_after),
                data_quality=[n.text for n in notes if n.source_id == source.id],
                verification=verified.get(source.id),
                unconverted=[g.text for g in gaps[org.id] if g.source_id == source.id],
            )
        )
    return out


def _unconverted(
    session: Session, org: Organization, *, first: date, last: date
) -> list[fx.Unconverted]:
    assert org.id is not None
    return fx.unconverted(
        session.connection(),
        org_id=org.id,
        target=org.currency,
        tz=ZoneInfo(org.timezone),
        first=first,
        last=last,
    )


def _problem(
    enabled: bool, success: datetime | None, *, now: datetime, stale_after: timedelta
) -> str | None:
    if not enabled:
        return None
    if success is None:
        return "never synced successfully"
    if now - success > stale_after:
        minutes = int((now - success).total_seconds() // 60)
        return f"stale: last successful sync {minutes} minutes ago"
    return None


def _newest_fact(session: Session, source_id: int) -> datetime | None:
    """The newest fact's start, one index lookup per grain (cheap on big tables)."""
    newest: datetime | None = None
    for grain in ("hour", "day"):
        raw = session.exec(
            select(func.max(tables.fact.c.period_start)).where(
                tables.fact.c.source_id == source_id, tables.fact.c.grain == grain
            )
        ).one()
        value = UTCDateTime().process_result_value(raw, session.get_bind().dialect)
        if value is not None and (newest is None or value > newest):
            newest = value
    return newest
