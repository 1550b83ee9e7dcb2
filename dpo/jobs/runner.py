"""Run units of work as jobs: a non-blocking lock, a job_run row, a status and an exit code.

Every cron-facing command goes through here. A job whose lock is held elsewhere is skipped
(exit 75) without touching data; a failure is recorded with a scrubbed message; the exit code
of a run over many sources is the most serious of its jobs'.
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine, func, update
from sqlmodel import Session, col, select

from dpo import connectors
from dpo.connectors.base import Connector
from dpo.errors import (
    EXIT_CONFIG,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_TRY_LATER,
    EXIT_UNEXPECTED,
    ConfigError,
    DpoError,
    InvalidInputError,
    LockHeldError,
    NotFoundError,
    describe,
)
from dpo.ingest.sync import OnWindow, SyncRequest, sync_source
from dpo.ops import monitoring
from dpo.resources.orgs import get_org
from dpo.resources.sources import sources_to_sync, spec_for
from dpo.rollup.aggregate import AggregateRequest, OnRange, aggregate_org, is_stale
from dpo.settings import get_settings
from dpo.storage.db import ready_engine
from dpo.storage.locks import hold_lock
from dpo.storage.models import JobRun, Organization, Source, utcnow
from dpo.storage.types import UTCDateTime
from dpo.vocab import Grain, JobStatus

log = logging.getLogger(__name__)

_SEVERITY = (EXIT_UNEXPECTED, EXIT_CONFIG, EXIT_REFUSED, EXIT_TRY_LATER)
_HEALTHY = (EXIT_OK, EXIT_TRY_LATER)


@dataclass
class Work:
    """What a job's body reports back."""

    status: JobStatus = JobStatus.ok
    rows_read: int = 0
    rows_written: int = 0
    windows: int = 0
    message: str = ""
    warnings: list[str] = field(default_factory=list)


@dataclass
class JobResult:
    """How one job ended, as the CLI and API report it."""

    job: str
    label: str
    status: JobStatus
    exit_code: int
    message: str = ""
    rows_written: int = 0
    windows: int = 0
    seconds: float = 0.0
    run_id: int | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class JobTarget:
    """Who a job is for: its lock name, its label and the ids on its job_run row."""

    job: str
    lock: str
    label: str
    org_id: int | None = None
    source_id: int | None = None


def overall_exit_code(results: Sequence[JobResult]) -> int:
    """The most serious exit code among the jobs: 1 > 3 > 4 > 75 > 0."""
    return overall_exit_code_of(r.exit_code for r in results)


def overall_exit_code_of(codes: Iterable[int]) -> int:
    """The most serious of some exit codes: 1 > 3 > 4 > 75 > 0."""
    seen = set(codes)
    return next((c for c in _SEVERITY if c in seen), EXIT_OK)


def run_job(
    engine: Engine,
    target: JobTarget,
    body: Callable[[], Work],
    *,
    on_start: Callable[[int], None] | None = None,
) -> JobResult:
    """Run `body` under the target's lock, recording a job_run row.

    `on_start` is called with the job_run id once the lock is held and the row exists.
    """
    started = time.monotonic()
    try:
        with hold_lock(engine, target.lock):
            _bury_dead_runs(engine, target)
            run_id = _start_run(engine, target)
            if on_start is not None:
                on_start(run_id)
            result = _run_body(target, body, run_id)
            _finish_run(engine, run_id, result)
    except LockHeldError as exc:
        message = f"another process is running {target.job} for {target.label}"
        result = JobResult(target.job, target.label, JobStatus.skipped, exc.exit_code, message)
        result.run_id = _start_run(engine, target, status=JobStatus.skipped)
        _finish_run(engine, result.run_id, result)
    result.seconds = time.monotonic() - started
    log.info(
        "job %s %s: %s",
        target.job,
        target.label,
        result.status.value,
        extra={
            "job": target.job,
            "target": target.label,
            "status": result.status.value,
            "rows_written": result.rows_written,
            "seconds": round(result.seconds, 3),
        },
    )
    monitoring.export_textfile(engine)
    return result


def _run_body(target: JobTarget, body: Callable[[], Work], run_id: int) -> JobResult:
    try:
        work = body()
    except DpoError as exc:
        return JobResult(
            target.job, target.label, JobStatus.failed, exc.exit_code, describe(exc), run_id=run_id
        )
    except Exception as exc:
        log.debug("job %s failed", target.label, exc_info=True)
        return JobResult(
            target.job,
            target.label,
            JobStatus.failed,
            EXIT_UNEXPECTED,
            describe(exc),
            run_id=run_id,
        )
    code = EXIT_TRY_LATER if work.status is JobStatus.partial else EXIT_OK
    return JobResult(
        target.job,
        target.label,
        work.status,
        code,
        work.message,
        rows_written=work.rows_written,
        windows=work.windows,
        run_id=run_id,
        warnings=work.warnings,
    )


def _bury_dead_runs(engine: Engine, target: JobTarget) -> None:
    """Mark earlier runs of this job still 'running' as dead: we hold their lock, so they are."""
    with Session(engine) as session, session.begin():
        session.execute(
            update(JobRun)
            .where(
                col(JobRun.job) == target.job,
                col(JobRun.org_id) == target.org_id,
                col(JobRun.source_id) == target.source_id,
                col(JobRun.status) == JobStatus.running.value,
            )
            .values(status=JobStatus.dead.value, error="the process died during the run")
        )


def _start_run(engine: Engine, target: JobTarget, *, status: JobStatus = JobStatus.running) -> int:
    with Session(engine) as session, session.begin():
        run = JobRun(
            job=target.job,
            org_id=target.org_id,
            source_id=target.source_id,
            started_at=utcnow(),  # the clock the run's `now` comes from (peers compare them)
            status=status.value,
            host=socket.gethostname(),
            pid=os.getpid(),
        )
        session.add(run)
        session.flush()
        assert run.id is not None
        return run.id


def _finish_run(engine: Engine, run_id: int, result: JobResult) -> None:
    with Session(engine) as session, session.begin():
        run = session.get(JobRun, run_id)
        assert run is not None
        run.status = result.status.value
        run.finished_at = utcnow()
        run.rows_written = result.rows_written
        run.rows_read = result.rows_written
        run.windows = result.windows
        run.error = result.message if result.exit_code != EXIT_OK else None
        session.add(run)


# --- sync --------------------------------------------------------------------------------------

WindowProgress = Callable[[str], OnWindow]


@dataclass(frozen=True)
class Shard:
    """Shard `index` (1-based) of `count`: a deterministic share of the organizations."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        """`I/N`, e.g. `2/3`."""
        index, sep, count = text.partition("/")
        try:
            shard = cls(int(index), int(count))
        except ValueError:
            shard = cls(0, 0)
        if not sep or not 1 <= shard.index <= shard.count:
            raise InvalidInputError(f"invalid shard {text!r}: use I/N with 1 <= I <= N, e.g. 2/3")
        return shard

    def owns(self, org_slug: str) -> bool:
        """True when this shard handles the organization (stable across runs and servers)."""
        digest = hashlib.blake2b(org_slug.encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") % self.count == self.index - 1


def run_sync(
    kind: str,
    request: SyncRequest,
    *,
    org_slugs: Sequence[str] | None = None,
    shard: Shard | None = None,
    progress: WindowProgress | None = None,
) -> list[JobResult]:
    """Sync every enabled source of `kind` (of some organizations), one job per source."""
    job = f"sync {kind}"
    monitoring.ping(job, "start")
    try:
        results = _sync_sources(
            job, kind, request, org_slugs=org_slugs, shard=shard, progress=progress
        )
    except BaseException:
        monitoring.ping(job, "fail")
        raise
    monitoring.ping(job, "fail" if overall_exit_code(results) not in _HEALTHY else "success")
    return results


def _sync_sources(
    job: str,
    kind: str,
    request: SyncRequest,
    *,
    org_slugs: Sequence[str] | None,
    shard: Shard | None,
    progress: WindowProgress | None,
) -> list[JobResult]:
    engine = ready_engine()
    connector_cls = connectors.connector_class(kind)
    with Session(engine, expire_on_commit=False) as session:
        pairs = sources_to_sync(session, kind, org_slugs=org_slugs)
    if not pairs:
        scope = f"of {', '.join(org_slugs)} " if org_slugs else ""
        raise ConfigError(
            f"no enabled {kind} sources {scope}to sync",
            hint=f"add one with `dpo sources add ORG {kind} --account …`",
        )
    if shard is not None:
        pairs = [(s, o) for s, o in pairs if shard.owns(o.slug)]
    results = []
    for source, org in pairs:
        target, body = _sync_job(
            engine,
            job,
            connector_cls=connector_cls,
            source=source,
            org=org,
            request=request,
            progress=progress,
        )
        results.append(run_job(engine, target, body))
    return results


@dataclass
class StartedJob:
    """A job started in a background thread: its job_run row, or why it did not start."""

    run_id: int
    label: str
    status: JobStatus
    message: str = ""
    thread: threading.Thread | None = None


def start_sync(kind: str, org_slug: str, request: SyncRequest) -> list[StartedJob]:
    """Start syncing an organization's enabled sources of `kind`, each in its own thread.

    Returns once every source's run holds its lock and has its job_run row (status running),
    or was skipped because another run holds the lock (status skipped): the same lock as
    cron's, so the two never overlap. The runs carry on in their threads.
    """
    engine = ready_engine()
    with Session(engine, expire_on_commit=False) as session:
        pairs = sources_to_sync(session, kind, org_slugs=[org_slug])
    if not pairs:
        raise NotFoundError(f"organization {org_slug!r} has no enabled {kind} source")
    connector_cls = connectors.connector_class(kind)
    started = []
    for source, org in pairs:
        target, body = _sync_job(
            engine,
            f"sync {kind}",
            connector_cls=connector_cls,
            source=source,
            org=org,
            request=request,
            progress=None,
        )
        started.append(_start_in_thread(engine, target, body))
    return started


def _start_in_thread(engine: Engine, target: JobTarget, body: Callable[[], Work]) -> StartedJob:
    """Run a job in a new thread; return as soon as it holds its lock or was skipped."""
    first: queue.SimpleQueue[StartedJob | BaseException] = queue.SimpleQueue()

    def run() -> None:
        try:
            result = run_job(
                engine,
                target,
                body,
                on_start=lambda run_id: first.put(
                    StartedJob(run_id, target.label, JobStatus.running, thread=thread)
                ),
            )
        except BaseException as exc:  # the caller re-raises it; nothing else would see it
            first.put(exc)
            return
        if result.status is JobStatus.skipped:
            assert result.run_id is not None
            first.put(StartedJob(result.run_id, target.label, result.status, result.message))

    # Not a daemon: a server shutting down lets a running sync reach its end.
    thread = threading.Thread(target=run, name=f"{target.job} {target.label}", daemon=False)
    thread.start()
    outcome = first.get()
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


def _sync_job(
    engine: Engine,
    job: str,
    *,
    connector_cls: type[Connector],
    source: Source,
    org: Organization,
    request: SyncRequest,
    progress: WindowProgress | None,
) -> tuple[JobTarget, Callable[[], Work]]:
    """A source's sync as a job: its lock and label (the same for cron and the API), and body."""
    target = JobTarget(
        job=job,
        lock=f"sync:source:{source.id}",
        label=f"{org.slug}/{source.name}",
        org_id=org.id,
        source_id=source.id,
    )
    body = _sync_body(
        engine,
        target=target,
        connector_cls=connector_cls,
        source=source,
        org=org,
        request=request,
        on_window=progress(target.label) if progress else None,
    )
    return target, body


def _sync_body(
    engine: Engine,
    *,
    target: JobTarget,
    connector_cls: type[Connector],
    source: Source,
    org: Organization,
    request: SyncRequest,
    on_window: OnWindow | None,
) -> Callable[[], Work]:
    def body() -> Work:
        if request.deadline is not None and time.monotonic() >= request.deadline:
            return Work(JobStatus.partial, message="time budget spent before this source began")
        done_at = _is_scheduled(request) and _done_by_peer(
            engine, target, since=_fresh_since(request)
        )
        if done_at:
            when = done_at.strftime("%Y-%m-%d %H:%M:%S UTC")
            return Work(JobStatus.skipped, message=f"another run synced it at {when}")
        settings = get_settings()
        connector = connector_cls(spec_for(source, org))
        lookback = source.lookback_days
        if lookback is None:
            lookback = settings.connector(source.kind).lookback_days
        if lookback is None:
            lookback = connector_cls.default_lookback_days
        try:
            outcome = sync_source(
                engine,
                connector,
                request,
                lookback_days=lookback,
                initial_days=settings.sync.initial_days,
                on_window=on_window,
            )
        finally:
            connector.close()
        work = Work(
            rows_read=outcome.rows_read,
            rows_written=outcome.rows_written,
            windows=outcome.windows_done,
        )
        if not outcome.is_complete:
            work.status = JobStatus.partial
            work.message = (
                f"time budget spent after {outcome.windows_done} of "
                f"{outcome.windows_planned} windows; the next run carries on"
            )
        return work

    return body


def _is_scheduled(request: SyncRequest) -> bool:
    """A plain run (as cron starts it), not an explicit backfill or re-fetch."""
    return request.since is None and request.until is None


def _fresh_since(request: SyncRequest) -> datetime:
    """Runs that started after this moment count as already done for this run."""
    since = request.launched or request.now
    if request.skip_recent:
        since = min(since, request.now - timedelta(seconds=request.skip_recent))
    return since


def _done_by_peer(engine: Engine, target: JobTarget, *, since: datetime) -> datetime | None:
    """When another run began a successful sync of this source after `since` (else None).

    Several servers run the same crontab; the lock stops them syncing one source at the same
    time, and this stops the later one syncing it again right after. `since` is when this
    command was launched (cron starts the peers together, so a peer that began the source after
    that is syncing the same tick's data), or earlier with --skip-recent.
    """
    with Session(engine) as session:
        found = session.exec(
            select(func.max(JobRun.started_at)).where(
                JobRun.job == target.job,
                JobRun.source_id == target.source_id,
                JobRun.status == JobStatus.ok.value,
                col(JobRun.started_at) >= since,
            )
        ).one()
    return UTCDateTime().process_result_value(found, engine.dialect)


# --- aggregate -----------------------------------------------------------------------------------

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
    with Session(engine, expire_on_commit=False) as session:
        if org_slugs:
            orgs = [get_org(session, slug) for slug in org_slugs]
        else:
            orgs = list(session.exec(select(Organization).order_by(Organization.slug)))
    if not orgs:
        raise ConfigError("no organizations to aggregate", hint="add one with `dpo orgs add ORG …`")
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
            work.warnings.append(
                f"{org.slug}: {outcome.skipped_facts:,} facts in a currency other than "
                f"{org.currency} were left out of the rollups (dpo does not convert currencies)"
            )
        return work

    return body


# --- insights ----------------------------------------------------------------------------------


def run_insights(
    *,
    now: datetime,
    org_slugs: Sequence[str] | None = None,
    sensitivity: float | None = None,
    report_days: int | None = None,
) -> list[JobResult]:
    """Generate every organization's insights, one job each, after refreshing its rollups."""
    from dpo.insights.generate import generate_org

    engine = ready_engine()
    orgs = _orgs(engine, org_slugs, what="generate insights for")
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

        def body(org_id: int = org.id) -> Work:
            outcome = generate_org(engine, org_id, now=now, settings=settings)
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


def _orgs(engine: Engine, org_slugs: Sequence[str] | None, *, what: str) -> list[Organization]:
    with Session(engine, expire_on_commit=False) as session:
        if org_slugs:
            return [get_org(session, slug) for slug in org_slugs]
        orgs = list(session.exec(select(Organization).order_by(Organization.slug)))
    if not orgs:
        raise ConfigError(f"no organizations to {what}", hint="add one with `dpo orgs add ORG …`")
    return orgs
