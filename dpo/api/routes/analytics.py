"""`/api/analytics`: the dashboard, one channel, insights, and bringing rollups up to date."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials
from sqlmodel import Session

from dpo.api.cache import NOT_MODIFIED, Computed, question, response_cache
from dpo.api.dashboard import render_dashboard
from dpo.api.deps import Credentials, EditorDep, IdPath, SessionDep, org_for
from dpo.api.errors import responses
from dpo.api.models import AggregateRequestBody, ChannelOut, DashboardOut, JobOut
from dpo.errors import DpoError, LockHeldError
from dpo.insights.store import InsightPublic, acknowledge, list_insights, unknown_insight
from dpo.jobs.aggregate import refresh_rollups, run_aggregate
from dpo.jobs.runner import JobResult
from dpo.reporting.channels import build_channel_report
from dpo.reporting.reports import MAX_DAYS, ReportRequest, build_report, parse_request
from dpo.rollup.aggregate import AggregateRequest
from dpo.storage.models import Insight, utcnow
from dpo.validation import check_day
from dpo.vocab import CompareTo, Grain, InsightKind, InsightStatus, JobStatus, Severity

router = APIRouter(prefix="/api/analytics", tags=["analytics"])

Days = Annotated[
    int | None,
    Query(ge=1, le=MAX_DAYS, description="The last N whole days (default 28, ending yesterday)"),
]
Since = Annotated[date | None, Query(description="First day (local), instead of days")]
Until = Annotated[date | None, Query(description="Last day (local; default yesterday)")]
Compare = Annotated[CompareTo, Query(description="The period before, or a year earlier")]

_refreshing: dict[str, threading.Lock] = {}
_refreshing_guard = threading.Lock()


def _fresh_rollups(session: Session, org_slug: str) -> list[str]:
    """Aggregate first if syncs wrote since the last run, as `dpo report` does.

    One request per organization at a time in this process: the others wait and find the
    rollups current, instead of each being refused by the job lock.
    """
    _release(session)
    with _refreshing_guard:
        lock = _refreshing.setdefault(org_slug, threading.Lock())
    with lock:
        result = refresh_rollups(org_slug, Grain.day)
    if result is not None and result.exit_code:
        return [f"the rollups could not be brought up to date: {result.message}"]
    return []


def _request(
    days: int | None, since: date | None, until: date | None, compare: CompareTo, *, by: str
) -> ReportRequest:
    for option, day in (("since", since), ("until", until)):
        if day is not None:
            check_day(day, option=option)
    return parse_request(days=days, since=since, until=until, by=by, compare=compare.value)


CACHED = {**NOT_MODIFIED, **responses(401, 404, 422)}


@router.get("/dashboard/{org}", response_model=DashboardOut, responses=CACHED)
def dashboard(
    *,
    request: Request,
    org: str,
    credentials: Credentials,
    days: Days = None,
    since: Since = None,
    until: Until = None,
    compare: Compare = CompareTo.previous,
) -> Response:
    """KPI tiles (value, change, daily trend), charts, channels, campaigns and open insights.

    The numbers are those of `dpo report --json` for the same period. Answered from memory
    while the organization's data is unchanged; `ETag`/`If-None-Match` give 304.
    """

    def build(session: Session, asked: ReportRequest, warnings: list[str]) -> Computed:
        report = build_report(session, org, asked, now=utcnow())
        insights = list_insights(session, org_slug=org, status=InsightStatus.open, limit=20)
        return Computed(render_dashboard(report, insights, warnings=warnings), keep=not warnings)

    asked = partial(_request, days, since, until, compare, by="channel")
    return _over_fresh_rollups(request, credentials, org, asked, build)


@router.get("/channel/{channel}", response_model=ChannelOut, responses=CACHED)
def channel(
    *,
    request: Request,
    channel: str,
    org: str,
    credentials: Credentials,
    days: Days = None,
    since: Since = None,
    until: Until = None,
    compare: Compare = CompareTo.previous,
) -> Response:
    """One channel of an organization (`?org=`): KPIs compared, per day, and its campaigns."""

    def build(session: Session, asked: ReportRequest, warnings: list[str]) -> Computed:
        data = build_channel_report(session, org, channel, asked, now=utcnow())
        return Computed(ChannelOut.model_validate(data.as_dict()), keep=not warnings)

    asked = partial(_request, days, since, until, compare, by="channel")
    return _over_fresh_rollups(request, credentials, org, asked, build)


def _over_fresh_rollups(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None,
    org: str,
    asked: Callable[[], ReportRequest],
    build: Callable[[Session, ReportRequest, list[str]], Computed],
) -> Response:
    """An answer built over the rollups, brought up to date first when syncs wrote since the
    last run (as `dpo report` does); the question is judged once the caller is known."""
    warnings: list[str] = []
    return response_cache(request).answer(
        request,
        credentials,
        org,
        question(request),
        lambda session: build(session, asked(), warnings),
        check=asked,
        before=lambda session: warnings.extend(_fresh_rollups(session, org)),
    )


@router.get("/insights/{org}", response_model=list[InsightPublic], responses=CACHED)
def insights(
    *,
    request: Request,
    org: str,
    credentials: Credentials,
    status: InsightStatus | None = None,
    severity: Severity | None = None,
    kind: InsightKind | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    """The organization's stored insights, most severe and most recent first."""

    def compute(session: Session) -> Computed:
        found = list_insights(
            session, org_slug=org, status=status, severity=severity, kind=kind, limit=limit
        )
        return Computed(found)

    return response_cache(request).answer(request, credentials, org, question(request), compute)


@router.post("/insights/{insight_id}/ack", responses=responses(401, 403, 404, 422))
def acknowledge_insight(
    insight_id: IdPath, session: SessionDep, principal: EditorDep
) -> InsightPublic:
    """Acknowledge an insight: seen, no longer open (it stays listed)."""
    insight = session.get(Insight, insight_id)
    if insight is None or not (principal.is_admin or insight.org_id == principal.org_id):
        raise unknown_insight(insight_id)
    return acknowledge(session, insight_id, now=utcnow())


@router.post("/aggregate", responses=responses(401, 403, 404, 409, 422))
def aggregate(body: AggregateRequestBody, session: SessionDep, principal: EditorDep) -> JobOut:
    """Roll an organization's facts up now (only what syncs changed, or `full`)."""
    org = org_for(session, principal, body.org)
    _release(session)
    grain = Grain.hour if body.rollup == "hourly" else Grain.day
    request = AggregateRequest(full=body.full, since=body.since)
    result = run_aggregate(grain, request, org_slugs=[org.slug])[0]
    if result.status is JobStatus.skipped:
        raise LockHeldError(result.message)
    if result.status is JobStatus.failed:
        raise DpoError(f"{result.job} failed: {result.message}")
    return job_out(result)


def _release(session: Session) -> None:
    """End the request's transaction, giving its connection back, before a job uses its own.

    A request holding one pooled connection while it waits for a second deadlocks once as
    many requests as the pool has connections do the same.
    """
    session.commit()


def job_out(result: JobResult) -> JobOut:
    """A job's result as the API shows it."""
    return JobOut(
        job=result.job,
        label=result.label,
        status=result.status.value,
        job_run_id=result.run_id,
        message=result.message,
        rows_written=result.rows_written,
        ranges=result.windows,
        seconds=round(result.seconds, 3),
        warnings=result.warnings,
    )
