"""dpo's jobs as Celery tasks: `dpo worker` runs them, `dpo schedule` (beat) and `dpo enqueue`
queue them.

A task is one job of the job runner (`jobs/runner.py`): one source's sync or verification, one
organization's rollup or insights, with the same body, lock and job_run row as the command's
(the row also names the worker). What the job's exit code means becomes what the task does:

- 0: done (a source someone synced since the task's tick counts as done: it is skipped).
- 75 (another run holds the lock, the upstream rate limits, the time budget ran out): retried
  after `[workers] retry_seconds`, doubling, up to `max_retries` times. A sync deferred by a
  lock finds, when it comes back, that the holder synced the source, and stops there.
- 1, 3, 4: failed and not retried (the next tick tries again): the task ends in FAILURE and the
  job_run row and `dpo status` say why.

Messages are acknowledged when the task ends (`acks_late`), so a worker killed mid-task leaves
its message for another worker; a sync replaces whole windows atomically, so the rerun
finishes what the dead one began and doubles nothing. Each kind of job has its own queue, so a
long insights run never holds the syncs back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from dpo import config
from dpo.errors import (
    EXIT_CONFIG,
    EXIT_OK,
    EXIT_TRY_LATER,
    EXIT_UNEXPECTED,
    ConfigError,
    InvalidInputError,
    TryLaterError,
)
from dpo.settings import DEFAULT_SCHEDULE, Settings, get_settings

if TYPE_CHECKING:
    from celery import Celery
    from celery import Task as _Task

    from dpo.jobs.runner import JobResult
    from dpo.ops.doctor import Check

if TYPE_CHECKING:
    Task = _Task[Any, Any]

log = logging.getLogger(__name__)

DEFAULT_BROKER = "redis://127.0.0.1:6379/0"
QUEUES = ("dpo.sync", "dpo.aggregate", "dpo.insights", "dpo.verify")
"""One queue per kind of job: `dpo worker --queues` picks some, e.g. insights on their own."""

_TASKS = {
    "sync": "dpo.sync",
    "aggregate": "dpo.aggregate",
    "insights": "dpo.insights",
    "sources": "dpo.verify",
}
_JOBS_HELP = "sync KIND, aggregate hourly|daily, insights generate or sources verify"


class JobFailed(Exception):
    """A job that ended with exit code 1, 3 or 4: not retried; its message says why."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message, exit_code)
        self.message, self.exit_code = message, exit_code

    def __str__(self) -> str:
        return f"{self.message} (exit {self.exit_code})"


@dataclass(frozen=True)
class Planned:
    """One task to queue: which, with what, for whom."""

    task: str
    args: tuple[Any, ...]
    label: str

    @property
    def queue(self) -> str:
        return self.task


# --- the app --------------------------------------------------------------------------------


def app() -> Celery:
    """The Celery app for the current settings (made once per configuration)."""
    return _app(config.generation())


@lru_cache(maxsize=1)
def _app(_generation: int) -> Celery:
    from celery import Celery
    from kombu import Exchange, Queue

    settings = get_settings()
    workers = settings.workers
    broker = broker_url(settings)
    backend = settings.result_backend
    if backend is None:  # the broker's Redis, or RabbitMQ's replies to the sender
        backend = broker if broker.startswith(("redis://", "rediss://")) else "rpc://"
    celery = Celery("dpo", broker=broker, backend=backend, set_as_current=False)
    # Hard limits only: the budget stops a sync at a window boundary, the connectors' request
    # timeouts are shortened to fit it, and a process past its limit is killed (the dead run is
    # marked at the source's next run; the next tick syncs it).
    budget = settings.sync.max_seconds or workers.sync_seconds
    limit = {"time_limit": workers.task_seconds + workers.grace_seconds}
    celery.conf.update(
        task_queues=[Queue(name, Exchange(name), routing_key=name) for name in QUEUES],
        task_default_queue="dpo.sync",
        task_acks_late=True,
        task_reject_on_worker_lost=True,  # a worker process killed mid-task: queue it again
        worker_prefetch_multiplier=workers.prefetch,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_expires=86400,
        task_track_started=True,
        timezone="UTC",
        enable_utc=True,
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=5,
        task_publish_retry_policy={"max_retries": 2, "interval_start": 0.5, "interval_step": 1},
        broker_transport_options={
            "visibility_timeout": workers.visibility_timeout,
            # Redis: look for messages of dead workers every tenth of the timeout (≤ 10 s),
            # each time (kombu's default scans every 100 s).
            "unacked_restore_interval": max(1, min(10, round(workers.visibility_timeout / 10))),
            "unacked_restore_throttle": 1,
        },
        result_backend_transport_options={"visibility_timeout": workers.visibility_timeout},
        task_annotations={
            "dpo.sync": {"time_limit": budget + workers.grace_seconds},
            "dpo.aggregate": limit,
            "dpo.insights": limit,
            "dpo.verify": limit,
        },
        beat_schedule=beat_schedule(settings),
    )
    _register(celery)
    return celery


def broker_url(settings: Settings | None = None) -> str:
    """The broker: `broker_url` (DPO_BROKER_URL), else Redis on this machine."""
    return (settings or get_settings()).broker_url or DEFAULT_BROKER


def schedule_of(settings: Settings) -> dict[str, str]:
    """The jobs beat starts and when (cron expressions): the defaults, as `[schedule]`
    changes them; entries set to "" are off."""
    merged = {**DEFAULT_SCHEDULE, **settings.schedule}
    return {job: when for job, when in merged.items() if when.strip()}


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    """Celery beat's schedule: one fan-out (`dpo.tick`) per scheduled job."""
    from celery.schedules import crontab

    entries = {}
    for job, when in schedule_of(settings).items():
        task = _task_of(job, where="[schedule]")
        fields = when.split()
        if len(fields) != 5:
            raise ConfigError(
                f"[schedule] {job!r}: {when!r} is not a cron expression",
                hint="five fields, minute hour day-of-month month day-of-week, e.g. '*/15 * * * *'",
            )
        minute, hour, day_of_month, month, day_of_week = fields
        try:
            schedule = crontab(minute, hour, day_of_week, day_of_month, month)
        except ValueError as exc:
            raise ConfigError(f"[schedule] {job!r}: {when!r}: {exc}") from None
        entries[job] = {
            "task": "dpo.tick",
            "schedule": schedule,
            "args": (job,),
            "options": {"queue": task},
        }
    return entries


def _task_of(job: str, *, where: str) -> str:
    """The task of a job named as in the schedule (`sync meta`, `aggregate daily`…)."""
    from dpo import connectors

    words = job.split()
    task = _TASKS.get(words[0]) if words else None
    valid = len(words) == 2 and task is not None
    if valid and words[0] == "sync":
        valid = connectors.is_available(words[1])
    elif valid and words[0] == "aggregate":
        valid = words[1] in ("hourly", "daily")
    elif valid:
        valid = words[1] == {"insights": "generate", "sources": "verify"}[words[0]]
    if not valid or task is None:
        raise ConfigError(f"unknown job {job!r} in {where}", hint=f"use {_JOBS_HELP}")
    return task


# --- what to queue --------------------------------------------------------------------------


def plan(
    job: str,
    *,
    org_slugs: Sequence[str] | None = None,
    now: datetime,
    since: date | None = None,
    until: date | None = None,
) -> list[Planned]:
    """The tasks of one run of `job` (as the schedule names it), one per source or
    organization. `now` is the run's tick: a plain sync skips a source synced since (less
    `[workers] skip_recent_seconds`); `since`/`until` make the syncs fetch that range, as
    `dpo sync --since/--until` does."""
    from sqlmodel import Session

    from dpo.jobs.runner import organizations
    from dpo.resources.sources import sources_to_sync
    from dpo.storage.db import ready_engine

    task = _task_of(job, where="the jobs dpo can queue")
    what = job.split()[1]
    engine = ready_engine()
    if task == "dpo.sync":
        with Session(engine) as session:
            pairs = sources_to_sync(session, what, org_slugs=org_slugs)
            days = [None if d is None else d.isoformat() for d in (since, until)]
            planned = [
                Planned(task, (s.id, now.isoformat(), *days), f"{o.slug}/{s.name}")
                for s, o in pairs
            ]
        if not planned:
            scope = f"of {', '.join(org_slugs)} " if org_slugs else ""
            raise ConfigError(f"no enabled {what} sources {scope}to sync")
        return planned
    if task == "dpo.verify":
        return _verifications(engine, org_slugs)
    orgs = organizations(engine, org_slugs, what=job)
    if task == "dpo.aggregate":
        return [Planned(task, (o.slug, what), f"{o.slug}/{what}") for o in orgs]
    return [Planned(task, (o.slug, now.isoformat()), f"{o.slug}/insights") for o in orgs]


def _verifications(engine: Any, org_slugs: Sequence[str] | None) -> list[Planned]:
    from sqlmodel import Session

    from dpo.ops.verify import is_verifiable
    from dpo.resources.sources import enabled_sources

    with Session(engine) as session:
        planned = [
            Planned("dpo.verify", (s.id,), f"{o.slug}/{s.name}")
            for s, o in enabled_sources(session, org_slugs=org_slugs)
            if is_verifiable(s.kind)
        ]
    if not planned:
        raise ConfigError("no enabled sources that can be verified")
    return planned


def send(planned: Sequence[Planned], *, keep_results: bool = False) -> list[str]:
    """Queue the planned tasks; their task ids, in order. Their results are kept (a day) only
    when asked, for `wait_for`: a thousand sources every 15 minutes would otherwise leave
    close to a hundred thousand results a day in the backend."""
    from kombu.exceptions import OperationalError

    celery = app()
    try:
        # First, once, quickly: sending retries, and with a Redis result backend each send
        # subscribes to its result, which retries for 20 seconds more.
        with celery.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return [
            celery.send_task(p.task, args=p.args, queue=p.queue, ignore_result=not keep_results).id
            for p in planned
        ]
    except OperationalError as exc:
        raise _unreachable(exc) from None


def wait_for(task_ids: Sequence[str], *, timeout: float) -> list[dict[str, Any]]:
    """Each task's outcome once it ends (through its retries), in order; a task still
    pending after `timeout` seconds in all is reported as such (exit 75)."""
    from celery.exceptions import TimeoutError as Pending
    from celery.result import AsyncResult
    from kombu.exceptions import OperationalError

    celery = app()
    if not celery.conf.result_backend:
        raise ConfigError(
            "--wait needs a result backend", hint="set result_backend (DPO_RESULT_BACKEND)"
        )
    deadline = time.monotonic() + timeout
    outcomes: list[dict[str, Any]] = []
    for task_id in task_ids:
        result: AsyncResult[Any] = AsyncResult(task_id, app=celery)
        try:
            value = result.get(
                timeout=max(0.1, deadline - time.monotonic()), propagate=False, interval=0.2
            )
        except Pending:
            message = f"still {result.state.lower()} after {timeout:g} s (task {task_id})"
            outcomes.append({"status": "waiting", "exit_code": EXIT_TRY_LATER, "message": message})
            continue
        except OperationalError as exc:
            raise _unreachable(exc) from None
        if result.successful():
            outcomes.append(value)
        elif isinstance(value, JobFailed):
            outcomes.append({"status": "failed", "exit_code": value.exit_code,
                             "message": value.message})  # fmt: skip
        else:
            outcomes.append({"status": "failed", "exit_code": EXIT_UNEXPECTED,
                             "message": _failure(value)})  # fmt: skip
    return outcomes


def _failure(exc: object) -> str:
    """What ended a task that did not end as its job did."""
    from billiard.exceptions import TimeLimitExceeded, WorkerLostError

    if isinstance(exc, TimeLimitExceeded):
        limit = exc.args[0] if exc.args else None
        return f"stopped at its time limit ({limit:g} s)" if isinstance(limit, float) else str(exc)
    if isinstance(exc, WorkerLostError):
        return "its worker process died"
    return f"{type(exc).__name__}: {exc}"


def _unreachable(exc: Exception) -> TryLaterError:
    from dpo.storage.db import safe_url

    return TryLaterError(
        f"the broker at {safe_url(broker_url())} cannot be reached: {exc}",
        hint="is Redis (or RabbitMQ) running? DPO_BROKER_URL says where",
    )


# --- the tasks ------------------------------------------------------------------------------


def _register(celery: Celery) -> None:
    """The tasks a worker runs (registered on each app)."""
    common: dict[str, Any] = {"bind": True, "throws": (JobFailed,)}

    @celery.task(name="dpo.tick", ignore_result=True, **common)
    def tick(task: Task, job: str) -> int:
        """Beat's fan-out: queue the job's tasks, one per source or organization."""
        try:
            planned = plan(job, now=datetime.now(UTC))
        except ConfigError as exc:  # nothing to do yet (no sources, no organizations)
            log.info("%s: nothing queued: %s", job, exc.message)
            return 0
        send(planned)
        log.info("%s: queued %d tasks", job, len(planned))
        return len(planned)

    @celery.task(name="dpo.sync", **common)
    def sync(
        task: Task, source_id: int, tick: str, since: str | None = None, until: str | None = None
    ) -> dict[str, Any]:
        """Sync one source; `tick` is when its run was queued (ISO 8601), `since`/`until` an
        explicit range of days (a backfill or re-fetch)."""
        from dpo.ingest.plan import SyncRequest
        from dpo.jobs.sync import sync_one
        from dpo.storage.models import utcnow

        settings = get_settings()
        budget = settings.sync.max_seconds or settings.workers.sync_seconds
        request = SyncRequest(
            now=utcnow(),
            since=None if since is None else date.fromisoformat(since),
            until=None if until is None else date.fromisoformat(until),
            deadline=time.monotonic() + budget,
            launched=_instant(tick),
            skip_recent=settings.workers.skip_recent_seconds,
        )
        return _ran(task, lambda: sync_one(source_id, request))

    @celery.task(name="dpo.aggregate", **common)
    def aggregate(task: Task, org_slug: str, rollup: str) -> dict[str, Any]:
        """Bring one organization's hourly or daily rollups up to date."""
        from dpo.jobs.aggregate import ROLLUP_NAMES, run_aggregate
        from dpo.rollup.aggregate import AggregateRequest

        grain = next(g for g, name in ROLLUP_NAMES.items() if name == rollup)
        return _ran(task, lambda: run_aggregate(grain, AggregateRequest(), org_slugs=[org_slug])[0])

    @celery.task(name="dpo.insights", **common)
    def insights(task: Task, org_slug: str, tick: str) -> dict[str, Any]:
        """Generate one organization's insights (its rollups refreshed first)."""
        from dpo.jobs.insights import run_insights
        from dpo.storage.models import utcnow

        del tick  # judged as of when it runs, as `dpo insights generate` is
        return _ran(task, lambda: run_insights(now=utcnow(), org_slugs=[org_slug], jobs=1)[0])

    @celery.task(name="dpo.verify", **common)
    def verify(task: Task, source_id: int) -> dict[str, Any]:
        """Compare one source's last 28 days with its upstream's, repairing drifting days."""
        return _settle(task, _verify(source_id))

    del tick, sync, aggregate, insights, verify  # registered on the app


def _ran(task: Task, run: Any) -> dict[str, Any]:
    """Run a job on this worker and settle the task by its exit code."""
    from dpo.jobs.runner import on_worker

    worker = task.request.hostname or "worker"
    with on_worker(worker):
        result: JobResult = run()
    outcome = {
        "worker": worker,
        "job": result.job,
        "label": result.label,
        "status": result.status.value,
        "exit_code": result.exit_code,
        "message": result.message,
        "rows_written": result.rows_written,
        "windows": result.windows,
        "seconds": round(result.seconds, 3),
        "run_id": result.run_id,
        "warnings": result.warnings,
    }
    return _settle(task, outcome)


def _verify(source_id: int) -> dict[str, Any]:
    from sqlmodel import Session

    from dpo.ops.verify import VerifyRequest, verify_source
    from dpo.resources.sources import source_with_org
    from dpo.storage.db import ready_engine
    from dpo.storage.models import utcnow

    engine = ready_engine()
    with Session(engine, expire_on_commit=False) as session:
        pair = source_with_org(session, source_id)
    if pair is None:
        return {"job": "sources verify", "label": f"source {source_id}", "status": "skipped",
                "exit_code": EXIT_OK, "message": "the source was removed"}  # fmt: skip
    result = verify_source(engine, *pair, VerifyRequest(now=utcnow(), repair=True))
    return {
        "job": "sources verify",
        "label": result.label,
        "status": result.status.value,
        "exit_code": result.exit_code,
        "message": result.message,
    }


def _settle(task: Task, outcome: dict[str, Any]) -> dict[str, Any]:
    """Exit 75: retry with backoff; 1, 3, 4: fail without retrying; 0: the outcome."""
    workers = get_settings().workers
    code = outcome["exit_code"]
    if code == EXIT_TRY_LATER and task.request.retries < workers.max_retries:
        countdown = workers.retry_seconds * 2**task.request.retries
        # Redis hands a message out again after visibility_timeout: retry well before that.
        countdown = min(countdown, workers.visibility_timeout / 2)
        log.info("%s: %s; again in %.0f s", outcome["label"], outcome["message"], countdown)
        raise task.retry(countdown=countdown, max_retries=workers.max_retries)
    if code not in (EXIT_OK, EXIT_TRY_LATER):
        raise JobFailed(f"{outcome['label']}: {outcome['message']}", code)
    return outcome


def _instant(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInputError(f"{text!r} is not an ISO 8601 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# --- what the workers are doing ---------------------------------------------------------------


@dataclass(frozen=True)
class WorkerState:
    """One worker that answered: its node name and the tasks it is running."""

    name: str
    running: list[str]

    @property
    def state(self) -> str:
        return "busy" if self.running else "idle"


@dataclass(frozen=True)
class WorkersReport:
    """The queues' depths and the workers' states, as `dpo status` and `/metrics` show them."""

    broker: str
    queues: dict[str, int]
    workers: list[WorkerState]
    problem: str | None = None


def inspect_workers(*, timeout: float = 1.0) -> WorkersReport:
    """Messages waiting in each queue, and which workers answer (within `timeout` seconds)
    with what they are running. Never raises: a broker that cannot be reached is a problem."""
    from dpo.storage.db import safe_url

    where = safe_url(broker_url())
    try:
        celery = app()
        queues = _queue_depths(celery)
        replies = celery.control.inspect(timeout=timeout).active() or {}
    except Exception as exc:  # the broker, or the settings: either way, say so
        message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        return WorkersReport(where, {}, [], f"the broker cannot be reached: {message}")
    workers = [
        WorkerState(name, [_running(t) for t in tasks]) for name, tasks in sorted(replies.items())
    ]
    problem = None if workers else "no worker answered"
    return WorkersReport(where, queues, workers, problem)


def _queue_depths(celery: Celery) -> dict[str, int]:
    depths = {}
    with celery.connection_for_read() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
        for name in QUEUES:
            channel: Any = conn.channel()
            try:
                depths[name] = channel.queue_declare(queue=name, passive=True).message_count
            except Exception:  # never declared: nothing has been queued there
                depths[name] = 0
            finally:
                channel.close()
    return depths


def _running(task: Mapping[str, Any]) -> str:
    args = ", ".join(str(a) for a in task.get("args") or ())
    return f"{task.get('name')}({args})"


def doctor_check() -> Check:
    """`dpo doctor`'s verdict on the workers: the schedule parses, the broker answers, and
    some worker does."""
    from dpo.ops.doctor import Check

    try:
        entries = beat_schedule(get_settings())
    except ConfigError as exc:
        return Check("workers", exc.message, exc.exit_code, exc.hint)
    if not get_settings().broker_url:
        return Check("workers", f"[schedule] has {len(entries)} entries (no broker_url set)")
    report = inspect_workers(timeout=1.0)
    if report.problem and not report.queues:
        return Check("workers", f"{report.broker}: {report.problem}", EXIT_TRY_LATER,
                     "start Redis (or RabbitMQ), or point DPO_BROKER_URL at it")  # fmt: skip
    if not report.workers:
        return Check("workers", f"{report.broker}: no worker answered", EXIT_CONFIG,
                     "start `dpo worker` (README: Growing past one machine)")  # fmt: skip
    waiting = sum(report.queues.values())
    names = ", ".join(w.name for w in report.workers)
    return Check("workers", f"{report.broker}: {names} answered; {waiting} tasks waiting")
