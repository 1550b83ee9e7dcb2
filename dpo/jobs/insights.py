"""Insight jobs: one job per organization, after refreshing its rollups."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from dpo.jobs.aggregate import refresh_rollups
from dpo.jobs.runner import JobResult, JobTarget, Work, organizations, run_job
from dpo.settings import get_settings
from dpo.storage.db import ready_engine
from dpo.vocab import Grain

Advance = Callable[[int, int], None]


def run_insights(
    *,
    now: datetime,
    org_slugs: Sequence[str] | None = None,
    sensitivity: float | None = None,
    report_days: int | None = None,
    progress: Callable[[str], Callable[[int, int], None]] | None = None,
) -> list[JobResult]:
    """Generate every organization's insights, one job each, after refreshing its rollups.

    `progress(label)` gives a job's progress callback, told (series judged, series)."""
    from dpo.insights.generate import generate_org

    engine = ready_engine()
    orgs = organizations(engine, org_slugs, what="generate insights for")
    settings = get_settings().insights
    if sensitivity is not None:
        settings = settings.model_copy(update={"sensitivity": sensitivity})
    if report_days is not None:
        settings = settings.model_copy(update={"report_days": report_days})
    results = []
    for org in orgs:
        assert org.id is not None
        stale = [r for g in (Grain.hour, Grain.day) if (r := refresh_rollups(org.slug, g))]
        target = JobTarget(
            job="insights generate",
            lock=f"insights:org:{org.id}",
            label=f"{org.slug}/insights",
            org_id=org.id,
        )

        advance = progress(target.label) if progress else None

        def body(org_id: int = org.id, advance: Advance | None = advance) -> Work:
            outcome = generate_org(engine, org_id, now=now, settings=settings, advance=advance)
            saved = outcome.saved
            message = (
                f"{len(outcome.drafts)} insights: {saved.created} new, {saved.updated} "
                f"updated, {saved.resolved} resolved"
            )
            if outcome.unjudged:  # short history is said, not guessed at
                message += (
                    f"; {outcome.unjudged} of {outcome.series} series have too little "
                    "history to judge yet"
                )
            return Work(
                rows_written=saved.created + saved.updated, windows=outcome.series, message=message
            )

        result = run_job(engine, target, body)
        result.warnings += [
            f"{org.slug}: rollups could not be refreshed: {r.message}" for r in stale if r.exit_code
        ]
        results.append(result)
    return results
