"""Telling the outside world how jobs went: a Prometheus textfile and healthchecks-style pings.

Both are optional (`[monitoring]` in the config) and neither may break a job: a failure to
write the file or reach a ping URL is logged and otherwise ignored.
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime
from typing import Literal

from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from dpo.errors import register_secret, scrub
from dpo.settings import get_settings
from dpo.storage.models import JobRun, Organization, Source, SyncState

log = logging.getLogger(__name__)

PingEvent = Literal["start", "success", "fail"]


def ping(job: str, event: PingEvent) -> None:
    """Ping the job's URL: `<url>/start`, `<url>` on success, `<url>/fail` (healthchecks.io)."""
    settings = get_settings().monitoring
    base = settings.ping.get(job)
    if not base:
        return
    url = base.rstrip("/") + {"start": "/start", "success": "", "fail": "/fail"}[event]
    try:
        with urllib.request.urlopen(url, timeout=settings.ping_timeout) as response:
            response.read()
    except (urllib.error.URLError, OSError, ValueError) as exc:
        # A ping URL's path is its credential (healthchecks' check UUID): name the host only.
        where = urllib.parse.urlsplit(url).hostname or "the ping URL"
        register_secret(urllib.parse.urlsplit(base).path.strip("/"))
        log.warning("could not ping %s for %s: %s", where, job, scrub(str(exc)))


def export_textfile(engine: Engine) -> None:
    """Rewrite the Prometheus textfile with the latest run of every job (if configured)."""
    path = get_settings().monitoring.textfile
    if path is None:
        return
    from prometheus_client import CollectorRegistry, Gauge, write_to_textfile

    registry = CollectorRegistry()
    labels = ["job", "org", "source"]
    last_run = Gauge("dpo_job_last_run_timestamp_seconds", "When the job last finished.",
                     [*labels, "status"], registry=registry)  # fmt: skip
    last_ok = Gauge("dpo_job_last_success_timestamp_seconds", "When the job last succeeded.",
                    labels, registry=registry)  # fmt: skip
    duration = Gauge("dpo_job_last_duration_seconds", "How long the job's last run took.",
                     labels, registry=registry)  # fmt: skip
    rows = Gauge("dpo_job_last_rows_written", "Rows the job's last run wrote.", labels,
                 registry=registry)  # fmt: skip
    for run, org, source, success in _latest_runs(engine):
        key = [run.job, org or "", source or ""]
        if run.finished_at is not None:
            last_run.labels(*key, run.status).set(run.finished_at.timestamp())
            duration.labels(*key).set((run.finished_at - run.started_at).total_seconds())
        rows.labels(*key).set(run.rows_written)
        if success is not None:
            last_ok.labels(*key).set(success.timestamp())
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_to_textfile(str(path), registry)  # writes a temp file, then renames
    except OSError as exc:
        log.warning("could not write the metrics file %s: %s", path, exc)


def _latest_runs(
    engine: Engine,
) -> list[tuple[JobRun, str | None, str | None, datetime | None]]:
    """The newest finished run of each (job, org, source), with its last success time."""
    with Session(engine) as session:
        newest = (
            select(func.max(JobRun.id))
            .where(col(JobRun.finished_at).is_not(None))
            .group_by(col(JobRun.job), col(JobRun.org_id), col(JobRun.source_id))
        )
        runs = session.exec(
            select(JobRun, Organization.slug, Source.name)
            .join(Organization, col(JobRun.org_id) == Organization.id, isouter=True)
            .join(Source, col(JobRun.source_id) == Source.id, isouter=True)
            .where(col(JobRun.id).in_(newest))
        ).all()
        ok = session.exec(
            select(JobRun.job, JobRun.org_id, JobRun.source_id, func.max(JobRun.finished_at))
            .where(JobRun.status == "ok")
            .group_by(col(JobRun.job), col(JobRun.org_id), col(JobRun.source_id))
        ).all()
    success = {(j, o, s): _aware(t) for j, o, s, t in ok}
    return [
        (run, org, source, success.get((run.job, run.org_id, run.source_id)))
        for run, org, source in runs
    ]


def _aware(value: datetime | str | None) -> datetime | None:
    """Aggregates bypass the column type on SQLite: normalise to an aware UTC datetime."""
    from dpo.storage.types import UTCDateTime

    return UTCDateTime().process_result_value(value, None)  # type: ignore[arg-type]


def job_run_counts(session: Session) -> list[tuple[str, str, int]]:
    """How many job runs ended (or are) in each status, per job: (job, status, count)."""
    rows = session.exec(
        select(JobRun.job, JobRun.status, func.count())
        .group_by(col(JobRun.job), col(JobRun.status))
        .order_by(col(JobRun.job), col(JobRun.status))
    ).all()
    return [(job, status, int(count)) for job, status, count in rows]


def last_sync_successes(session: Session) -> list[tuple[str, str, str, datetime]]:
    """When each source last synced successfully: (org, source, kind, time), synced ones only."""
    rows = session.exec(
        select(Organization.slug, Source.name, Source.kind, func.max(SyncState.last_success_at))
        .join(Source, col(Source.org_id) == Organization.id)
        .join(SyncState, col(SyncState.source_id) == Source.id)
        .where(col(SyncState.last_success_at).is_not(None))
        .group_by(col(Organization.slug), col(Source.id), col(Source.name), col(Source.kind))
        .order_by(col(Organization.slug), col(Source.name))
    ).all()
    out = []
    for org, source, kind, when in rows:
        aware = _aware(when)
        if aware is not None:
            out.append((org, source, kind, aware))
    return out
