"""Sync jobs: one job per source, for cron (`dpo sync KIND`) and for the API (in a thread).

The lock is the source's, so cron and the API never sync one source at the same time; several
servers running the same crontab share the sources by `--shard I/N` and skip a source a peer
synced in the same tick.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from dpo import connectors
from dpo.connectors.base import Connector
from dpo.errors import (
    EXIT_OK,
    EXIT_UNEXPECTED,
    ConfigError,
    InvalidInputError,
    NotFoundError,
    describe,
)
from dpo.ingest.plan import SyncRequest
from dpo.ingest.sync import OnWindow, SyncOutcome, sync_source
from dpo.jobs.runner import (
    HEALTHY,
    JobResult,
    JobTarget,
    Work,
    overall_exit_code,
    run_job,
    start_in_thread,
)
from dpo.ops import monitoring
from dpo.resources.sources import source_with_org, sources_to_sync, spec_for
from dpo.settings import get_settings
from dpo.storage.db import ready_engine
from dpo.storage.faults import named_error
from dpo.storage.models import JobRun, Organization, Source
from dpo.storage.types import UTCDateTime
from dpo.vocab import JobStatus

log = logging.getLogger(__name__)

WindowProgress = Callable[[str], OnWindow]


_SHARD = re.compile(r"[0-9]{1,6}/[0-9]{1,6}")


@dataclass(frozen=True)
class Shard:
    """Shard `index` (1-based) of `count`: a deterministic share of the organizations."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        """`I/N`, e.g. `2/3`."""
        index, _, count = text.partition("/")
        shard = cls(int(index), int(count)) if _SHARD.fullmatch(text) else cls(0, 0)
        if not 1 <= shard.index <= shard.count:
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
        results = _sync_sources(kind, request, org_slugs=org_slugs, shard=shard, progress=progress)
    except BaseException:
        monitoring.ping(job, "fail")
        raise
    monitoring.ping(job, "fail" if overall_exit_code(results) not in HEALTHY else "success")
    return results


def start_sync(kind: str, org_slug: str, request: SyncRequest) -> list[JobResult]:
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
    jobs = _sync_jobs(engine, connectors.connector_class(kind), pairs, request, progress=None)
    return [start_in_thread(engine, target, body) for target, body in jobs]


def sync_one(source_id: int, request: SyncRequest) -> JobResult:
    """Sync one source as a job (a worker's task): the same lock, body and job_run row as a
    `dpo sync` run's. A source removed or disabled since is skipped."""
    engine = ready_engine()
    with Session(engine, expire_on_commit=False) as session:
        pair = source_with_org(session, source_id)
    if pair is None or not pair[0].enabled or not connectors.is_available(pair[0].kind):
        state = "removed" if pair is None else "disabled"
        message = f"source {source_id} was {state} after this sync was queued"
        return JobResult("sync", f"source {source_id}", JobStatus.skipped, EXIT_OK, message)
    source, org = pair
    connector_cls = connectors.connector_class(source.kind)
    target, body = _sync_job(
        engine,
        f"sync {source.kind}",
        connector_cls=connector_cls,
        source=source,
        org=org,
        request=request,
        progress=None,
    )
    return run_job(engine, target, body)


def _sync_sources(
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
            hint=f"add one with `dpo sources add {kind} --org ORG --account …`",
        )
    if shard is not None:
        pairs = [(s, o) for s, o in pairs if shard.owns(o.slug)]
    jobs = _sync_jobs(engine, connector_cls, pairs, request, progress=progress)
    return [run_job(engine, target, body) for target, body in jobs]


def _sync_jobs(
    engine: Engine,
    connector_cls: type[Connector],
    pairs: Sequence[tuple[Source, Organization]],
    request: SyncRequest,
    *,
    progress: WindowProgress | None,
) -> list[tuple[JobTarget, Callable[[], Work]]]:
    """Each source's sync as a job: its lock and label (the same for cron and the API), and
    body."""
    return [
        _sync_job(
            engine,
            f"sync {connector_cls.kind}",
            connector_cls=connector_cls,
            source=source,
            org=org,
            request=request,
            progress=progress,
        )
        for source, org in pairs
    ]


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
        outcome = SyncOutcome()
        try:
            sync_source(
                engine,
                connector,
                request,
                lookback_days=lookback,
                initial_days=settings.sync.initial_days,
                on_window=on_window,
                outcome=outcome,
            )
        except Exception as exc:
            if not outcome.windows_done:
                raise
            return _failed_after_windows(exc, outcome)
        finally:
            connector.close()
        work = Work(rows_written=outcome.rows_written, windows=outcome.windows_done)
        if not outcome.is_complete:
            work.status = JobStatus.partial
            work.message = (
                f"time budget spent after {outcome.windows_done} of "
                f"{outcome.windows_planned} windows; the next run carries on"
            )
        return work

    return body


def _failed_after_windows(exc: Exception, outcome: SyncOutcome) -> Work:
    """A run that failed after committing some windows: the failure, with what it kept."""
    log.debug("sync failed after %d windows", outcome.windows_done, exc_info=True)
    error = named_error(exc)
    return Work(
        JobStatus.failed,
        rows_written=outcome.rows_written,
        windows=outcome.windows_done,
        message=describe(error or exc),
        exit_code=EXIT_UNEXPECTED if error is None else error.exit_code,
    )


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
