"""The job history: `dpo jobs list`, the jobs part of `dpo status`, and `/api/jobs/{id}`.

Plain SQL through a `Reader` (dpo.storage.quick): `dpo jobs list` opens the bare driver, so it
starts without SQLAlchemy; the others read through their session (`session_reader`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dpo.errors import NotFoundError, unknown_org
from dpo.storage.quick import Reader, reader, utc_from_db
from dpo.vocab import JobStatus

_RUNS = """
SELECT r.id, r.job, o.slug, s.name, r.status, r.started_at, r.finished_at,
       r.windows, r.rows_written, r.error, r.host, r.pid, r.worker
FROM job_run r
LEFT JOIN organization o ON o.id = r.org_id
LEFT JOIN source s ON s.id = r.source_id
"""


@dataclass(frozen=True)
class JobRunPublic:
    """One job run, with its organization's slug and source's name."""

    id: int
    job: str
    org: str | None
    source: str | None
    status: str
    started_at: datetime
    finished_at: datetime | None
    seconds: float | None
    windows: int
    rows_written: int
    error: str | None
    host: str
    pid: int
    worker: str | None = None  # the Celery worker's node name, for a run on a worker

    @property
    def ran_on(self) -> str:
        """Where it ran: the worker, else the host and process."""
        return self.worker or f"{self.host} pid {self.pid}"


def recent_runs(*, org_slug: str | None = None, limit: int = 20) -> list[JobRunPublic]:
    """The most recent job runs, newest first (only `org_slug`'s when given)."""
    with reader() as db:
        if org_slug is None:
            found = db.rows(f"{_RUNS} ORDER BY r.id DESC LIMIT ?", (limit,))
        else:
            found = db.rows(
                f"{_RUNS} WHERE r.org_id = ? ORDER BY r.id DESC LIMIT ?",
                (_org_id(db, org_slug), limit),
            )
    return [_row(values) for values in found]


def latest_runs(db: Reader, *, org_id: int | None = None) -> list[JobRunPublic]:
    """The newest run of each job (per job, organization and source), by job, org, source."""
    newest = "SELECT max(id) FROM job_run GROUP BY job, org_id, source_id"
    sql = f"{_RUNS} WHERE r.id IN ({newest})"
    params: tuple[int, ...] = ()
    if org_id is not None:
        sql, params = f"{sql} AND r.org_id = ?", (org_id,)
    found = db.rows(f"{sql} ORDER BY r.job, o.slug, s.name", params)
    return [_row(values) for values in found]


def run_by_id(db: Reader, run_id: int) -> JobRunPublic:
    """One job run, or NotFoundError."""
    from dpo.validation import is_id

    found = db.rows(f"{_RUNS} WHERE r.id = ?", (run_id,)) if is_id(run_id) else []
    if not found:
        raise unknown_job(run_id)
    return _row(found[0])


def unknown_job(run_id: int) -> NotFoundError:
    """The error for a job run that does not exist (or that the caller may not see)."""
    return NotFoundError(f"unknown job run {run_id}", hint="`dpo jobs list` shows the runs")


def _org_id(db: Reader, slug: str) -> int:
    from dpo.validation import is_slug

    org_id = None
    if is_slug(slug):  # anything else names no organization (and may not be storable text)
        org_id = db.value("SELECT id FROM organization WHERE slug = ?", (slug,))
    if org_id is None:
        raise unknown_org(slug)
    return int(org_id)


def _row(values: tuple[Any, ...]) -> JobRunPublic:
    (id_, job, org, source, status, started, finished, windows, written, error, host, pid,
     worker) = values  # fmt: skip
    started_at = utc_from_db(started)
    status = _live_status(status, host, pid)
    finished_at = None if finished is None else utc_from_db(finished)
    return JobRunPublic(
        id=id_,
        job=job,
        org=org,
        source=source,
        status=status,
        started_at=started_at,
        finished_at=finished_at,
        seconds=None if finished_at is None else (finished_at - started_at).total_seconds(),
        windows=windows,
        rows_written=written,
        error=error,
        host=host,
        pid=pid,
        worker=worker,
    )


def _live_status(status: str, host: str, pid: int) -> str:
    """A 'running' row whose process is gone (on this host) is dead; the next run of the same
    job records that in the table."""
    if status != JobStatus.running.value:
        return status
    import socket  # only for a running row: keeps `dpo jobs list` light

    if host != socket.gethostname():
        return status
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return JobStatus.dead.value
    except PermissionError:
        pass  # alive, owned by another user
    return status
