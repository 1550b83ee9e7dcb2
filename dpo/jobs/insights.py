"""Insight jobs: one job per organization, after refreshing its rollups."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session

from dpo import config
from dpo.jobs.aggregate import refresh_rollups
from dpo.jobs.runner import JobResult, JobTarget, Work, organizations, run_job
from dpo.resources.orgs import get_org
from dpo.settings import InsightsSettings, get_settings
from dpo.storage.db import ready_engine
from dpo.storage.models import Organization
from dpo.vocab import Grain

Advance = Callable[[int, int], None]
MAX_AUTO_JOBS = 4  # processes when `jobs` is 0 (auto): one per core, at most this many


def run_insights(
    *,
    now: datetime,
    org_slugs: Sequence[str] | None = None,
    sensitivity: float | None = None,
    report_days: int | None = None,
    jobs: int | None = None,
    progress: Callable[[str], Callable[[int, int], None]] | None = None,
) -> list[JobResult]:
    """Generate every organization's insights, one job each, after refreshing its rollups.

    Organizations are independent: with `jobs` (default `[insights] jobs`; 0: one per core,
    at most `MAX_AUTO_JOBS`) above 1 and several organizations, they run in that many
    processes. `progress(label)` gives a job's progress callback, told (series judged,
    series): as it goes in one process, once each is done in several."""
    engine = ready_engine()
    orgs = organizations(engine, org_slugs, what="generate insights for")
    settings = get_settings().insights
    if sensitivity is not None:
        settings = settings.model_copy(update={"sensitivity": sensitivity})
    if report_days is not None:
        settings = settings.model_copy(update={"report_days": report_days})
    wanted = settings.jobs if jobs is None else jobs
    workers = min(len(orgs), wanted or min(os.cpu_count() or 1, MAX_AUTO_JOBS))
    if workers <= 1:
        return [_one(engine, org, now=now, settings=settings, progress=progress) for org in orgs]
    return _in_processes([org.slug for org in orgs], now, settings, workers, progress)


def _one(
    engine: Engine,
    org: Organization,
    *,
    now: datetime,
    settings: InsightsSettings,
    progress: Callable[[str], Advance] | None,
) -> JobResult:
    """One organization's insights job (its rollups refreshed first)."""
    from dpo.insights.generate import generate_org

    assert org.id is not None
    stale = [r for g in (Grain.hour, Grain.day) if (r := refresh_rollups(org.slug, g))]
    target = JobTarget(
        job="insights generate",
        lock=f"insights:org:{org.id}",
        label=f"{org.slug}/insights",
        org_id=org.id,
    )
    advance = progress(target.label) if progress else None

    def body(org_id: int = org.id) -> Work:
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
    return result


def _in_processes(
    slugs: list[str],
    now: datetime,
    settings: InsightsSettings,
    workers: int,
    progress: Callable[[str], Advance] | None,
) -> list[JobResult]:
    """The organizations' jobs in `workers` fresh processes (spawned: nothing of this
    process's connections, threads or locks is shared), results in the organizations' order."""
    path, explicit = config.config_path()
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_start, initargs=(path if explicit else None,)
    ) as pool:
        futures = {pool.submit(_run_one, slug, now, settings): slug for slug in slugs}
        for future in as_completed(futures):
            result = future.result()
            if progress is not None:
                progress(result.label)(result.windows, result.windows)
        return [future.result() for future in futures]


def _start(config_file: Path | None) -> None:
    """A worker process reads the same settings as the command that started it."""
    config.configure(config_file=config_file)


def _run_one(slug: str, now: datetime, settings: InsightsSettings) -> JobResult:
    engine = ready_engine()
    with Session(engine) as session:
        org = get_org(session, slug)
    return _one(engine, org, now=now, settings=settings, progress=None)
