"""The demo walk-through: a demo organization with GA-, Meta- and Woo-shaped demo sources."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlmodel import Session, select

from dpo.connectors.demo import DemoConnector, Incident
from dpo.errors import NotFoundError
from dpo.ingest.plan import SyncRequest
from dpo.insights.store import InsightPublic, list_insights
from dpo.jobs.aggregate import RangeProgress, run_aggregate
from dpo.jobs.insights import run_insights
from dpo.jobs.runner import JobResult
from dpo.jobs.sync import WindowProgress, run_sync
from dpo.reporting.reports import Report, build_report, parse_request
from dpo.resources.orgs import add_org, get_org
from dpo.resources.sources import add_source, spec_for
from dpo.rollup.aggregate import AggregateRequest
from dpo.storage.db import session_scope
from dpo.storage.models import Organization, Source
from dpo.vocab import Grain, InsightKind, InsightStatus

ORG = {"slug": "demo", "name": "Demo Shop", "timezone": "Europe/Berlin", "currency": "EUR"}
SOURCES = (("ga", "GA4 (demo)"), ("meta", "Meta Ads (demo)"), ("woo", "WooCommerce (demo)"))


@dataclass
class DemoRun:
    """What `dpo demo` did."""

    org: str
    created: bool
    days: int
    results: list[JobResult] = field(default_factory=list)
    rollups: list[JobResult] = field(default_factory=list)
    incidents: list[Incident] = field(default_factory=list)
    insights: list[JobResult] = field(default_factory=list)
    found: list[tuple[Incident, InsightPublic | None]] = field(default_factory=list)
    others: list[InsightPublic] = field(default_factory=list)
    movements: list[InsightPublic] = field(default_factory=list)
    """The open trends and recommendations: the demo's slow movements (a traffic season
    starting, one campaign's purchases fading, a campaign buying dearly) as dpo told them."""
    timezone: str = ORG["timezone"]


def run_demo(
    *,
    now: datetime,
    days: int = 90,
    progress: WindowProgress | None = None,
    aggregate_progress: RangeProgress | None = None,
) -> DemoRun:
    """Set up (or reuse) the demo organization, sync `days` days of it, roll them up and
    generate its insights."""
    today = now.date()
    with session_scope() as session:
        created = _ensure_org(session)
        _ensure_sources(session, today=today)
    since = today - timedelta(days=days - 1)
    request = SyncRequest(now=now, since=since)
    run = DemoRun(org=ORG["slug"], created=created, days=days)
    run.results = run_sync("demo", request, org_slugs=[ORG["slug"]], progress=progress)
    for grain in (Grain.hour, Grain.day):
        run.rollups += run_aggregate(
            grain, AggregateRequest(), org_slugs=[ORG["slug"]], progress=aggregate_progress
        )
    # Report the incidents of the whole demo (up to four weeks): they are what it is about.
    run.insights = run_insights(now=now, org_slugs=[ORG["slug"]], report_days=min(days, 28))
    with session_scope() as session:
        run.incidents = demo_incidents(session, ORG["slug"], since=since)
        listed = list_insights(session, org_slug=ORG["slug"], limit=1000)
        run.found, run.others = match_incidents(listed, run.incidents)
        run.movements = [
            i
            for i in listed
            if i.kind in (InsightKind.trend.value, InsightKind.recommendation.value)
            and i.status == InsightStatus.open.value
        ]
        run.timezone = get_org(session, ORG["slug"]).timezone
    return run


def match_incidents(
    listed: list[InsightPublic], incidents: list[Incident]
) -> tuple[list[tuple[Incident, InsightPublic | None]], list[InsightPublic]]:
    """Each injected incident with the anomaly insight (of `listed`, the organization's
    insights) that found it (if any), and the anomaly insights that match no injected one."""
    kinds = (InsightKind.anomaly, InsightKind.data_quality)
    open_ = [i for i in listed if i.kind in kinds and i.status != InsightStatus.resolved.value]
    used: set[int] = set()
    found: list[tuple[Incident, InsightPublic | None]] = []
    for incident in incidents:
        match = next((i for i in open_ if _overlaps(i, incident)), None)
        if match is not None:
            used.add(match.id)
        found.append((incident, match))
    return found, [i for i in open_ if i.id not in used]


def _overlaps(insight: InsightPublic, incident: Incident) -> bool:
    if insight.period_start is None or insight.period_end is None:
        return False
    return insight.period_start < incident.end and incident.start < insight.period_end


def _ensure_org(session: Session) -> bool:
    try:
        get_org(session, ORG["slug"])
    except NotFoundError:
        add_org(session, ORG)
        return True
    return False


def _ensure_sources(session: Session, *, today: date) -> None:
    org = get_org(session, ORG["slug"])
    have = set(
        session.exec(select(Source.account).where(Source.org_id == org.id, Source.kind == "demo"))
    )
    for account, name in SOURCES:
        if account not in have:
            add_source(
                session, org.slug, {"kind": "demo", "account": account, "name": name}, today=today
            )


def demo_incidents(session: Session, org_slug: str, *, since: date) -> list[Incident]:
    """The incidents injected into an organization's demo sources since `since`."""
    org = get_org(session, org_slug)
    query = (
        select(Source, Organization)
        .join(Organization)
        .where(Source.org_id == org.id, Source.kind == "demo")
    )
    found = []
    for source, owner in session.exec(query):
        connector = DemoConnector(spec_for(source, owner))
        found += [i for i in connector.incidents() if i.start.date() >= since]
    return sorted(found, key=lambda i: i.start)


def demo_report(*, now: datetime, days: int) -> Report:
    """The report `dpo demo` ends with: by channel, over at most the last half of the data."""
    request = parse_request(days=max(1, min(28, days // 2)), by="channel")
    with session_scope() as session:
        return build_report(session, ORG["slug"], request, now=now)
