"""Aggregate jobs: one job per organization and rollup, and a refresh when rollups lag."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import Engine
from sqlmodel import Session

from dpo.jobs.runner import JobResult, JobTarget, Work, organizations, run_job
from dpo.resources.orgs import get_org
from dpo.rollup.aggregate import AggregateRequest, OnRange, aggregate_org, is_stale
from dpo.storage.db import ready_engine
from dpo.storage.models import Organization
from dpo.vocab import Grain

RangeProgress = Callable[[str], OnRange]
ROLLUP_NAMES = {Grain.hour: "hourly", Grain.day: "daily"}


def run_aggregate(
    grain: Grain,
    request: AggregateRequest,
    *,
    org_slugs: Sequence[str] | None = None,
    progress: RangeProgress | None = None,
) -> list[JobResult]:
    """Bring the rollups of `grain` up to date, one job per organization."""
    engine = ready_engine()
    orgs = organizations(engine, org_slugs, what="aggregate")
    results = []
    for org in orgs:
        assert org.id is not None
        target = JobTarget(
            job=f"aggregate {ROLLUP_NAMES[grain]}",
            lock=f"aggregate:{grain.value}:org:{org.id}",
            label=f"{org.slug}/{ROLLUP_NAMES[grain]}",
            org_id=org.id,
        )
        on_range = progress(target.label) if progress else None
        body = _aggregate_body(engine, org, grain, request, on_range)
        results.append(run_job(engine, target, body))
    return results


def refresh_rollups(
    org_slug: str, grain: Grain, *, progress: RangeProgress | None = None
) -> JobResult | None:
    """Aggregate an organization first if its rollups lag behind (None when they are current)."""
    engine = ready_engine()
    with Session(engine) as session:
        org = get_org(session, org_slug)
    assert org.id is not None
    if not is_stale(engine, org.id, grain):
        return None
    return run_aggregate(grain, AggregateRequest(), org_slugs=[org_slug], progress=progress)[0]


def _aggregate_body(
    engine: Engine,
    org: Organization,
    grain: Grain,
    request: AggregateRequest,
    on_range: OnRange | None,
) -> Callable[[], Work]:
    def body() -> Work:
        assert org.id is not None
        outcome = aggregate_org(engine, org.id, grain, request, on_range=on_range)
        what = {"full": "full rebuild", "since": "rebuilt from --since"}.get(outcome.mode, "")
        if outcome.reason:
            what = f"{what}: {outcome.reason}"
        work = Work(rows_written=outcome.rows_written, windows=outcome.ranges, message=what)
        if outcome.skipped_facts:
            n = outcome.skipped_facts
            facts = "1 fact has" if n == 1 else f"{n:,} facts have"
            work.warnings.append(
                f"{org.slug}: {facts} money in a currency no rate converts into {org.currency}: "
                "left out of its money totals (`dpo report` says which; `dpo fx set` adds a rate)"
            )
        return work

    return body
