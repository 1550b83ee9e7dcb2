"""Storing insights: upsert by fingerprint (re-runs update, never duplicate), list, acknowledge.

A detector describes each finding as an `InsightDraft` with a fingerprint that is stable for
"the same finding" (e.g. kind + KPI + segment + incident start). Saving the drafts of a run
updates the insights already known, creates the new ones, and resolves the open ones of the
kinds the run covered that it no longer finds.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session, SQLModel, col, select

from dpo.errors import NotFoundError
from dpo.resources.orgs import get_org
from dpo.storage import events
from dpo.storage.models import Insight, Organization
from dpo.vocab import EventKind, InsightKind, InsightStatus, Severity

_SEVERITY_ORDER = {Severity.critical.value: 0, Severity.warning.value: 1, Severity.info.value: 2}


@dataclass
class InsightDraft:
    """A finding as a detector reports it, before it is stored."""

    kind: InsightKind
    title: str
    severity: Severity
    fingerprint: str
    description: str = ""
    confidence: float = 0.0
    kpi: str | None = None
    channel: str | None = None
    campaign: str | None = None
    period_start: datetime | None = None
    period_end: datetime | None = None
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass
class SaveResult:
    """What saving a run's drafts changed."""

    created: int = 0
    updated: int = 0
    resolved: int = 0


class InsightPublic(SQLModel):
    id: int
    org: str
    kind: str
    title: str
    description: str
    severity: str
    confidence: float
    kpi: str | None
    channel: str | None
    campaign: str | None
    period_start: datetime | None
    period_end: datetime | None
    timezone: str  # the organization's: the zone the title's and text's times are in
    evidence: dict[str, Any]
    status: str
    created_at: datetime
    updated_at: datetime


def save_insights(
    session: Session,
    org_id: int,
    drafts: Sequence[InsightDraft],
    *,
    now: datetime,
    resolve_kinds: Collection[InsightKind] = (),
) -> SaveResult:
    """Upsert `drafts` by fingerprint; resolve open insights of `resolve_kinds` not among them.

    An acknowledged insight stays acknowledged while it still holds; a resolved one that holds
    again is reopened.
    """
    result = SaveResult()
    known = {
        i.fingerprint: i for i in session.exec(select(Insight).where(Insight.org_id == org_id))
    }
    seen = set()
    told: list[tuple[Insight, str]] = []  # (insight, what happened to it), for open dashboards
    for draft in drafts:
        seen.add(draft.fingerprint)
        insight = known.get(draft.fingerprint)
        if insight is None:
            insight = Insight(
                org_id=org_id,
                fingerprint=draft.fingerprint,
                kind=draft.kind.value,
                title=draft.title,
                severity=draft.severity.value,
                created_at=now,
            )
            result.created += 1
            told.append((insight, "raised"))
        else:
            result.updated += 1
            if insight.status == InsightStatus.resolved.value:
                insight.status = InsightStatus.open.value
                told.append((insight, "reopened"))
            elif (insight.title, insight.severity) != (draft.title[:300], draft.severity.value):
                told.append((insight, "updated"))
        _apply(insight, draft, now=now)
        session.add(insight)
    kinds = {k.value for k in resolve_kinds}
    for fingerprint, insight in known.items():
        if (
            fingerprint not in seen
            and insight.kind in kinds
            and insight.status != InsightStatus.resolved.value
        ):
            insight.status = InsightStatus.resolved.value
            insight.updated_at = now
            session.add(insight)
            result.resolved += 1
            told.append((insight, "resolved"))
    session.flush()
    for insight, action in told:
        _tell(session, insight, action)
    return result


def _tell(session: Session, insight: Insight, action: str) -> None:
    """An event for open dashboards (`dpo.storage.events`), in the change's transaction: a
    goal put at risk (or out of it) is a goal event, anything else an insight event."""
    detail: dict[str, Any] = {
        "action": action,
        "insight": insight.id,
        "kind": insight.kind,
        "title": insight.title,
        "severity": insight.severity,
    }
    kind = EventKind.insight
    if insight.kind == InsightKind.goal_risk.value:
        kind = EventKind.goal
        detail["goal"] = insight.evidence.get("goal_id")
    events.record(session.connection(), insight.org_id, kind, detail)


def _apply(insight: Insight, draft: InsightDraft, *, now: datetime) -> None:
    insight.kind = draft.kind.value
    insight.title = draft.title[:300]
    insight.description = draft.description
    insight.severity = draft.severity.value
    insight.confidence = round(min(1.0, max(0.0, draft.confidence)), 4)
    insight.kpi = draft.kpi
    insight.channel = draft.channel
    insight.campaign = draft.campaign
    insight.period_start = draft.period_start
    insight.period_end = draft.period_end
    insight.evidence = draft.evidence
    insight.updated_at = now


def list_insights(
    session: Session,
    *,
    org_slug: str | None = None,
    severity: Severity | None = None,
    status: InsightStatus | None = None,
    kind: InsightKind | None = None,
    limit: int = 100,
) -> list[InsightPublic]:
    """Insights, most severe and most recent first."""
    query = select(Insight, Organization).join(Organization)
    if org_slug is not None:
        query = query.where(Insight.org_id == get_org(session, org_slug).id)
    if severity is not None:
        query = query.where(Insight.severity == severity.value)
    if status is not None:
        query = query.where(Insight.status == status.value)
    if kind is not None:
        query = query.where(Insight.kind == kind.value)
    rows = list(session.exec(query.order_by(col(Insight.updated_at).desc(), col(Insight.id))))
    rows.sort(key=lambda pair: _SEVERITY_ORDER.get(pair[0].severity, 3))
    return [public(insight, org) for insight, org in rows[:limit]]


def get_insight(session: Session, insight_id: int) -> Insight:
    """The insight with id `insight_id`, or NotFoundError."""
    insight = session.get(Insight, insight_id)
    if insight is None:
        raise unknown_insight(insight_id)
    return insight


def unknown_insight(insight_id: int) -> NotFoundError:
    """The error for an insight that does not exist (or that the caller may not see)."""
    return NotFoundError(
        f"unknown insight {insight_id}", hint="`dpo insights list` shows the insights"
    )


def acknowledge(session: Session, insight_id: int, *, now: datetime) -> InsightPublic:
    """Mark an insight as seen: it stays listed but no longer counts as open."""
    insight = get_insight(session, insight_id)
    if insight.status == InsightStatus.open.value:
        insight.status = InsightStatus.acknowledged.value
        insight.updated_at = now
        session.add(insight)
        session.flush()
        _tell(session, insight, "acknowledged")
    org = session.get(Organization, insight.org_id)
    assert org is not None
    return public(insight, org)


def public(insight: Insight, org: Organization) -> InsightPublic:
    """The shape shown to users and API clients."""
    return InsightPublic.model_validate(
        {**insight.model_dump(), "org": org.slug, "timezone": org.timezone}
    )
