"""Prometheus metrics of the API: requests and latency per route, plus job and sync health.

Request metrics are counted in-process; with several workers (`dpo serve --workers N`) they
live in PROMETHEUS_MULTIPROC_DIR and are summed over the workers at scrape time. Job runs and
sync ages are read from the database at scrape time, so every worker answers the same.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlmodel import Session

from dpo.errors import describe
from dpo.ops import monitoring
from dpo.settings import get_settings
from dpo.storage.db import ready_engine
from dpo.storage.models import utcnow

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def is_multiprocess() -> bool:
    """True when request metrics are shared by several worker processes."""
    return "PROMETHEUS_MULTIPROC_DIR" in os.environ


class DatabaseCollector(Collector):
    """Job runs by job and status, and seconds since each source's last successful sync."""

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("dpo_database_up", "1 when the database answered this scrape.")
        runs = GaugeMetricFamily(
            "dpo_job_runs", "Job runs recorded, by job and status.", labels=["job", "status"]
        )
        ages = GaugeMetricFamily(
            "dpo_sync_last_success_age_seconds",
            "Seconds since the source last synced successfully.",
            labels=["org", "source", "kind"],
        )
        try:
            now = utcnow()
            with Session(ready_engine()) as session:
                for job, status, count in monitoring.job_run_counts(session):
                    runs.add_metric([job, status], count)
                for org, source, kind, when in monitoring.last_sync_successes(session):
                    ages.add_metric([org, source, kind], (now - when).total_seconds())
        except Exception as exc:  # a scrape must answer even when the database does not
            log.warning("metrics: cannot read the database: %s", describe(exc))
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield from (up, runs, ages)


class WorkersCollector(Collector):
    """With a broker configured: messages waiting per queue, and each worker's running tasks."""

    def collect(self) -> Iterator[Metric]:
        from dpo.jobs.tasks import inspect_workers

        report = inspect_workers(timeout=1.0)
        up = GaugeMetricFamily("dpo_broker_up", "1 when the workers' broker answered this scrape.")
        up.add_metric([], 0 if report.problem and not report.queues else 1)
        waiting = GaugeMetricFamily(
            "dpo_queue_messages", "Tasks waiting in each queue.", labels=["queue"]
        )
        for queue, count in report.queues.items():
            waiting.add_metric([queue], count)
        running = GaugeMetricFamily(
            "dpo_worker_running_tasks",
            "Tasks each worker that answered is running (0: idle).",
            labels=["worker"],
        )
        for worker in report.workers:
            running.add_metric([worker.name], len(worker.running))
        yield from (up, waiting, running)


class Metrics:
    """The API's metrics and their rendering."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        # In multiprocess mode values go to files, not to a registry.
        target = None if is_multiprocess() else self.registry
        self.requests = Counter(
            "dpo_http_requests",
            "HTTP requests, by method, route template and status.",
            ["method", "route", "status"],
            registry=target,
        )
        self.latency = Histogram(
            "dpo_http_request_duration_seconds",
            "Time to answer HTTP requests, by method, route template and status.",
            ["method", "route", "status"],
            buckets=_BUCKETS,
            registry=target,
        )
        self.registry.register(DatabaseCollector())
        if get_settings().broker_url:
            self.registry.register(WorkersCollector())

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answered request."""
        labels = (method, route, str(status))
        self.requests.labels(*labels).inc()
        self.latency.labels(*labels).observe(seconds)

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        if not is_multiprocess():
            return generate_latest(self.registry), CONTENT_TYPE
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        registry.register(DatabaseCollector())
        if get_settings().broker_url:
            registry.register(WorkersCollector())
        return generate_latest(registry), CONTENT_TYPE
