"""Workers benchmark: the sync throughput of one and of two `dpo worker` processes, and what a
task costs beyond calling its job directly, measured in one run.

    python bench/workers.py [--backend sqlite|pg] [--orgs 40] [--latency 0.05] [--days 2]

Builds ORGS organizations, each with a demo source whose upstream answers each day window after
LATENCY seconds (what a real upstream makes a sync wait), DAYS day windows a sync. Then three
ticks, each syncing every source once:

1. direct: the job bodies `dpo sync` runs, one source after another in this process
   (`jobs.sync.sync_one`, with its lock and job_run row): the baseline;
2. one worker process (`dpo worker --concurrency 1`), the tasks queued through Redis;
3. two worker processes.

Workers are started and answering before their tick's clock starts. Prints each tick's seconds
and syncs per second, the ratio two workers / one, and one worker / direct with the overhead
per task it implies (queueing, the result, the worker's bookkeeping).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.api import bench_env, run  # noqa: E402
from bench.figures import record  # noqa: E402

BROKER = os.environ.get("DPO_BENCH_BROKER_URL", "redis://127.0.0.1:6379/15")


def prepare(env: dict[str, str], orgs: int, latency: float) -> None:
    run(env, "init")
    for i in range(orgs):
        slug = f"org-{i:03d}"
        run(env, "orgs", "add", slug, "--name", slug, "--timezone", "UTC", "--currency", "EUR")
        run(env, "sources", "add", "demo", "--org", slug, "--account", "woo", "--setting",
            f"latency_seconds={latency}", "--no-check")  # fmt: skip


def start_workers(env: dict[str, str], count: int) -> list[subprocess.Popen[bytes]]:
    from dpo.jobs import tasks

    argv = [sys.executable, "-m", "dpo", "worker", "--concurrency", "1", "--loglevel", "warning"]
    procs = [
        subprocess.Popen(
            [*argv, "--name", f"bench{n}@%h"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for n in range(count)
    ]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        replies = tasks.app().control.ping(timeout=0.5) or []
        if len(replies) >= count:
            return procs
    raise SystemExit(f"{count} workers did not answer in 120 s")


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        proc.wait(timeout=60)


def tick_on_workers(orgs: int) -> float:
    """Seconds from queueing a sync of every source to the last one's outcome."""
    from dpo.jobs import tasks
    from dpo.storage.models import utcnow

    began = time.perf_counter()
    ids = tasks.send(tasks.plan("sync demo", now=utcnow()), keep_results=True)
    outcomes = tasks.wait_for(ids, timeout=1800)
    seconds = time.perf_counter() - began
    bad = [o for o in outcomes if o["status"] != "ok"]
    if len(outcomes) != orgs or bad:
        raise SystemExit(f"not every sync ended ok: {bad[:3]}")
    return seconds


def tick_direct() -> float:
    """Seconds to sync every source by calling the job directly, one after another."""
    from sqlmodel import Session, select

    from dpo.ingest.plan import SyncRequest
    from dpo.jobs.sync import sync_one
    from dpo.storage.db import ready_engine
    from dpo.storage.models import Source, utcnow

    with Session(ready_engine()) as session:
        ids = [s.id for s in session.exec(select(Source).order_by(Source.id))]
    began = time.perf_counter()
    for source_id in ids:
        assert source_id is not None
        now = utcnow()
        result = sync_one(source_id, SyncRequest(now=now, launched=now))
        if result.status.value != "ok":
            raise SystemExit(f"{result.label}: {result.status.value}: {result.message}")
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "pg"), default="sqlite")
    parser.add_argument("--orgs", type=int, default=40)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--days", type=int, default=2)
    args = parser.parse_args()

    import redis

    redis.Redis.from_url(BROKER).flushdb()
    with bench_env(args.backend, "bench_workers") as env:
        env |= {
            "DPO_BROKER_URL": BROKER,
            "DPO_SYNC__INITIAL_DAYS": str(args.days),
            "DPO_WORKERS__SKIP_RECENT_SECONDS": "0",  # ticks seconds apart: sync every time
        }
        prepare(env, args.orgs, args.latency)
        os.environ.update(env)
        from dpo.config import configure

        configure(config_file=None)
        tick_direct()  # the first sync of each source: history, not a tick
        direct = tick_direct()
        seconds = {}
        for count in (1, 2):
            procs = start_workers(env, count)
            try:
                seconds[count] = tick_on_workers(args.orgs)
            finally:
                stop(procs)
    redis.Redis.from_url(BROKER).flushdb()

    n = args.orgs
    print(f"{n} sources, {args.days} day windows each, upstream latency {args.latency:g} s "
          f"a window, {args.backend}:")  # fmt: skip
    print(f"  direct (one process, no queue)  {direct:6.2f} s  {n / direct:6.1f} syncs/s")
    for count, s in seconds.items():
        print(f"  {count} worker process{'es' if count > 1 else '  '}             "
              f"{s:6.2f} s  {n / s:6.1f} syncs/s")  # fmt: skip
    scaling = seconds[1] / seconds[2]
    overhead = seconds[1] / direct
    per_task = (seconds[1] - direct) / n * 1000
    print(f"  two workers / one: {scaling:.2f}x the throughput")
    print(f"  one worker / direct: {overhead:.2f}x the time ({per_task:+.0f} ms a task)")
    record("workers", f"{args.backend}: throughput of 2 worker processes vs 1 ({n} syncs)",
           f"{n / seconds[2]:.1f} syncs/s", f"{n / seconds[1]:.1f} syncs/s", scaling,
           at_least=1.3)  # fmt: skip
    record("workers", f"{args.backend}: a sync as a task vs called directly ({n} syncs)",
           f"{seconds[1]:.2f} s", f"{direct:.2f} s", overhead, at_most=1.5)  # fmt: skip


if __name__ == "__main__":
    main()
