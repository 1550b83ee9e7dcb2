"""Run units of work as jobs: a non-blocking lock, a job_run row, a status and an exit code.

Every cron-facing command goes through here; the bodies of the job kinds live beside it
(`jobs/sync.py`, `jobs/aggregate.py`, `jobs/insights.py`). A job whose lock is held elsewhere is
skipped (exit 75) without touching data; a failure is recorded with a scrubbed message; the exit
code of a run over many sources is the most serious of its jobs'.

Three levels, one result type each: a job's body returns `Work` (what it did), `run_job` turns
it into a `JobResult` (how the job ended: status, exit code, job_run id), and the library calls
inside the body have their own outcomes (`SyncOutcome`, `AggregateOutcome`).
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from dpo.errors import (
    EXIT_CONFIG,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_TRY_LATER,
    EXIT_UNEXPECTED,
    ConfigError,
    DpoError,
    LockHeldError,
    describe,
)
from dpo.ops import monitoring
from dpo.resources.orgs import get_org
from dpo.storage import events
from dpo.storage.faults import named_error
from dpo.storage.locks import hold_lock
from dpo.storage.models import JobRun, Organization, utcnow
from dpo.vocab import EventKind, JobStatus

log = logging.getLogger(__name__)

_SEVERITY = (EXIT_UNEXPECTED, EXIT_CONFIG, EXIT_REFUSED, EXIT_TRY_LATER)
HEALTHY = (EXIT_OK, EXIT_TRY_LATER)

_WORKER: ContextVar[str | None] = ContextVar("dpo_worker", default=None)


@contextmanager
def on_worker(name: str) -> Iterator[None]:
    """Runs started inside record `name` (a Celery worker's node name) as where they ran."""
    token = _WORKER.set(name)
    try:
        yield
    finally:
        _WORKER.reset(token)


@dataclass
class Work:
    """What a job's body reports back."""

    status: JobStatus = JobStatus.ok
    rows_written: int = 0
    windows: int = 0
    message: str = ""
    warnings: list[str] = field(default_factory=list)
    exit_code: int | None = None  # a failed body's own (None: from the status)


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
    thread: threading.Thread | None = field(default=None, repr=False, compare=False)
    """The thread still running the job, for one started with `start_in_thread`."""


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
    except Exception as exc:
        if not isinstance(exc, DpoError):
            log.debug("job %s failed", target.label, exc_info=True)
        error = named_error(exc)
        return JobResult(
            target.job,
            target.label,
            JobStatus.failed,
            EXIT_UNEXPECTED if error is None else error.exit_code,
            describe(error or exc),
            run_id=run_id,
        )
    code = EXIT_TRY_LATER if work.status is JobStatus.partial else EXIT_OK
    if work.exit_code is not None:
        code = work.exit_code
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
            worker=_WORKER.get(),
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
        run.windows = result.windows
        run.error = result.message if result.exit_code != EXIT_OK else None
        session.add(run)
        _tell(session, run, result)


def _tell(session: Session, run: JobRun, result: JobResult) -> None:
    """An event for open dashboards (`dpo.storage.events`) when a sync or a rollup run of an
    organization ends, in the transaction that records its end."""
    kind = {"sync": EventKind.sync, "aggregate": EventKind.rollups}.get(run.job.split()[0])
    if kind is None or run.org_id is None or result.status is JobStatus.skipped:
        return
    detail = {
        "job": run.job,
        "target": result.label,
        "status": result.status.value,
        "rows": result.rows_written,
        "windows": result.windows,
        "run": run.id,
    }
    events.record(session.connection(), run.org_id, kind, detail, now=run.finished_at)


def start_in_thread(engine: Engine, target: JobTarget, body: Callable[[], Work]) -> JobResult:
    """Run a job in a new thread; return as soon as it holds its lock (status running, with
    its thread) or was skipped because another run holds it (status skipped)."""
    first: queue.SimpleQueue[JobResult | BaseException] = queue.SimpleQueue()

    def started(run_id: int) -> None:
        first.put(JobResult(target.job, target.label, JobStatus.running, EXIT_OK, run_id=run_id,
                            thread=thread))  # fmt: skip

    def run() -> None:
        try:
            result = run_job(engine, target, body, on_start=started)
        except BaseException as exc:  # the caller re-raises it; nothing else would see it
            first.put(exc)
            return
        if result.status is JobStatus.skipped:
            first.put(result)

    # Not a daemon: a server shutting down lets a running sync reach its end.
    thread = threading.Thread(target=run, name=f"{target.job} {target.label}", daemon=False)
    thread.start()
    outcome = first.get()
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


def organizations(
    engine: Engine, org_slugs: Sequence[str] | None, *, what: str
) -> list[Organization]:
    """The organizations named (each must exist), else all of them (there must be some)."""
    with Session(engine, expire_on_commit=False) as session:
        if org_slugs:
            return [get_org(session, slug) for slug in org_slugs]
        orgs = list(session.exec(select(Organization).order_by(Organization.slug)))
    if not orgs:
        raise ConfigError(f"no organizations to {what}", hint="add one with `dpo orgs add ORG …`")
    return orgs
